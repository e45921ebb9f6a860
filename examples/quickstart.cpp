// The README's example: create a page, fork, change the fork, merge it back.
#include <cstdio>
#include <string_view>

#include "mmsb/mmsb.hpp"

int main() {
  mmsb::Fork writer(mmsb::State{});
  mmsb::PageId page = writer.create_page({.type = 1, .size_bytes = 64}).value();
  mmsb::State v1 = writer.commit();  // tick 1: one zero-filled page

  mmsb::Fork what_if = v1.fork();  // O(1): shares every page
  auto hello = mmsb::as_bytes(std::string_view("hello"));
  if (!what_if.write(page, 0, hello).is_ok()) return 1;
  mmsb::State v2 = what_if.commit();  // first write copied the page

  auto merged = mmsb::merge(/*base=*/v1, /*ours=*/v1, /*theirs=*/v2);
  if (!merged.is_ok()) return std::fprintf(stderr, "%s\n", merged.status().to_string().c_str()), 1;
  const mmsb::State& now = merged->state;
  std::printf("v1 still reads %d; merged reads '%.5s' at epoch %llu\n",
              static_cast<int>(v1.read(page).value()[0]),
              reinterpret_cast<const char*>(now.read(page).value().data()),
              static_cast<unsigned long long>(now.page(page)->epoch.value()));
  std::printf("root %s\n", now.root().to_hex().c_str());
  return 0;
}

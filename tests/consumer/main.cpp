// A program outside mmsb's build that uses the installed library: an engine in a temporary
// directory, a commit, a reopen that recovers it. Built by tests/consumer/run.sh with
// find_package (cmake/) and with pkg-config.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string_view>

#include "mmsb/mmsb.hpp"

int main() {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mmsb-consumer-" + std::to_string(static_cast<long>(::getpid())));
  std::filesystem::remove_all(dir);
  mmsb::EngineOptions options;
  options.dir = dir.string();
  mmsb::PageId page;
  {
    auto engine = mmsb::Engine::open(options).value();
    mmsb::Transaction txn = engine->begin();
    txn.create_page({.type = 1, .size_bytes = 16});
    page = txn.commit().value().created_pages[0];
    mmsb::Transaction write = engine->begin();
    write.write(page, 0, mmsb::as_bytes(std::string_view("from outside")));
    if (!write.commit().is_ok()) return 1;
  }
  auto engine = mmsb::Engine::open(options).value();
  const auto bytes = engine->snapshot().read(page).value();
  const bool ok =
      std::string_view(reinterpret_cast<const char*>(bytes.data()), 12) == "from outside";
  std::printf("mmsb %s: recovered tick %llu, page %llu reads '%.12s'\n", mmsb::kVersion,
              static_cast<unsigned long long>(engine->snapshot().tick().value()),
              static_cast<unsigned long long>(page.value()),
              reinterpret_cast<const char*>(bytes.data()));
  engine.reset();
  std::filesystem::remove_all(dir);
  return ok ? 0 : 1;
}

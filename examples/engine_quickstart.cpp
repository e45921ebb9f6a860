// The engine in a few lines: open a data directory, commit, read a snapshot, reopen.
#include <cstdio>
#include <filesystem>
#include <string_view>

#include "mmsb/mmsb.hpp"

int main() {
  const auto dir = std::filesystem::temp_directory_path() / "mmsb-example-engine";
  std::filesystem::remove_all(dir);
  mmsb::EngineOptions options;
  options.dir = dir.string();  // durability defaults to fsync: commit() returns once durable
  {
    auto engine = mmsb::Engine::open(options).value();
    mmsb::Transaction txn = engine->begin();
    mmsb::PageId page = txn.create_page({.type = 1, .size_bytes = 16});  // provisional id
    txn.write(page, 0, mmsb::as_bytes(std::string_view("hello, engine")));
    mmsb::CommitInfo info = txn.commit().value();
    std::printf("tick %llu created page %llu\n", static_cast<unsigned long long>(info.tick.value()),
                static_cast<unsigned long long>(info.created_pages[0].value()));
  }
  mmsb::OpenReport report;
  auto engine = mmsb::Engine::open(options, &report).value();  // recovery: replays the log
  mmsb::State state = engine->snapshot();
  std::printf("recovered tick %llu, page 1 reads '%s', root %s\n",
              static_cast<unsigned long long>(report.tick.value()),
              reinterpret_cast<const char*>(state.read(mmsb::PageId(1)).value().data()),
              state.root().to_hex().c_str());
  std::filesystem::remove_all(dir);
  return report.tick == mmsb::TickId(1) ? 0 : 1;
}

// Derived pages: a total kept equal to the sum of two counters, recomputed in the same tick
// as every write to them, with events telling a subscriber what changed.
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "mmsb/mmsb.hpp"

namespace {

std::uint64_t word(std::span<const std::byte> bytes) {
  std::uint64_t value;
  std::memcpy(&value, bytes.data(), sizeof(value));
  return value;
}

}  // namespace

int main() {
  const auto dir = std::filesystem::temp_directory_path() / "mmsb-example-derived";
  std::filesystem::remove_all(dir);
  mmsb::EngineOptions options;
  options.dir = dir.string();
  auto engine = mmsb::Engine::open(options).value();

  // Functions are code: register them after every open. They must be pure.
  auto sum = [](const mmsb::DeriveInput& input, std::vector<std::byte>& out) {
    std::uint64_t total = 0;
    for (std::span<const std::byte> parent : input.parents) total += word(parent);
    out.resize(sizeof(total));
    std::memcpy(out.data(), &total, sizeof(total));
    return mmsb::Status::ok();
  };
  if (!engine->register_function("sum", sum).is_ok()) return 1;

  mmsb::Transaction setup = engine->begin();
  mmsb::PageId a = setup.create_page({.size_bytes = 8});
  mmsb::PageId b = setup.create_page({.size_bytes = 8});
  mmsb::PageId total = setup.create_page({.size_bytes = 8});
  setup.derive(total, std::vector{a, b}, "sum");  // Data edges a -> total, b -> total
  auto created = setup.commit().value().created_pages;
  a = created[0], b = created[1], total = created[2];

  (void)engine->subscribe({.pages = {total}}, [](const mmsb::EventBatch& batch) {
    for (const mmsb::Event& event : batch.events) {
      std::printf("tick %llu: %s page %llu at epoch %llu\n",
                  static_cast<unsigned long long>(batch.tick.value()),
                  std::string(mmsb::event_type_name(event.type)).c_str(),
                  static_cast<unsigned long long>(event.page.value()),
                  static_cast<unsigned long long>(event.epoch.value()));
    }
  });
  for (std::uint64_t value : {20, 22}) {
    mmsb::Transaction txn = engine->begin();
    txn.put(value == 20 ? a : b, std::as_bytes(std::span(&value, 1)));
    if (!txn.commit().is_ok()) return 1;
  }
  const std::uint64_t result = word(engine->snapshot().read(total).value());
  std::printf("total = %llu after %llu recomputes\n", static_cast<unsigned long long>(result),
              static_cast<unsigned long long>(engine->stats().derived_recomputes));
  if (!engine->close().is_ok()) return 1;
  std::filesystem::remove_all(dir);
  return result == 42 ? 0 : 1;
}

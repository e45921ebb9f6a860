// `mmsb demo`: the main job on an embedded default. Builds a state, takes a snapshot and a
// fork, changes a share of the pages on each side, merges three-way and prints what it cost.
#include "tools/mmsb/demo.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "mmsb/mmsb.hpp"

namespace mmsb::cli {
namespace {

using Clock = std::chrono::steady_clock;

double elapsed_ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

double elapsed_ns(Clock::time_point since) {
  return std::chrono::duration<double, std::nano>(Clock::now() - since).count();
}

// Writes a 16-byte stamp (side, tick, page) at an offset chosen by the page id, so the two
// sides touch different pages and the demo is the same on every run.
Status stamp(Fork& fork, PageId page, std::uint64_t side, std::uint64_t page_size) {
  std::uint64_t words[2] = {side, page.value()};
  std::uint64_t offset = (page.value() * 64) % (page_size - sizeof(words) + 1);
  return fork.write(page, offset, std::as_bytes(std::span(words)));
}

void row(const char* what, const std::string& value) { fmt::print("  {:<34} {}\n", what, value); }

}  // namespace

int run_demo(const DemoOptions& options) {
  fmt::print("mmsb demo: {} pages of {} bytes, {}% changed on each side\n\n", options.pages,
             options.page_size_bytes, options.change_percent);

  auto start = Clock::now();
  Fork builder(State{});
  std::vector<std::byte> initial(options.page_size_bytes);
  for (std::uint64_t i = 0; i < options.pages; ++i) {
    std::memcpy(initial.data(), &i, sizeof(i));
    auto created =
        builder.create_page({.type = 1, .size_bytes = options.page_size_bytes, .initial = initial});
    if (!created.is_ok()) return fmt::print(stderr, "{}\n", created.status().to_string()), 1;
  }
  State v1 = builder.commit();
  double build_ms = elapsed_ms(start);

  start = Clock::now();
  Snapshot snapshot = v1.snapshot();
  double snapshot_ns = elapsed_ns(start);
  start = Clock::now();
  Fork what_if = v1.fork();
  double fork_ns = elapsed_ns(start);

  // The fork changes pages 1, 1 + step, ...; the parent changes the pages halfway between.
  auto step = static_cast<std::uint64_t>(100.0 / std::max(options.change_percent, 1e-9));
  step = std::max<std::uint64_t>(step, 2);
  std::uint64_t changed_each_side = 0;
  Fork parent = v1.fork();
  start = Clock::now();
  for (std::uint64_t id = 1; id <= options.pages; id += step) {
    if (!stamp(what_if, PageId(id), 2, options.page_size_bytes).is_ok()) return 1;
    ++changed_each_side;
  }
  State theirs = what_if.commit();
  double fork_write_ms = elapsed_ms(start);
  for (std::uint64_t id = 1 + step / 2; id <= options.pages; id += step) {
    if (!stamp(parent, PageId(id), 1, options.page_size_bytes).is_ok()) return 1;
  }
  State ours = parent.commit();

  start = Clock::now();
  auto merged = merge(v1, ours, theirs);
  double merge_ms = elapsed_ms(start);
  if (!merged.is_ok()) return fmt::print(stderr, "{}\n", merged.status().to_string()), 1;

  bool snapshot_intact = snapshot.root() == v1.root() && snapshot.page_count() == options.pages;
  fmt::print("  {:<34} {}\n", "step", "result");
  row("build state (create + commit)",
      fmt::format("{} pages in {:.1f} ms", v1.page_count(), build_ms));
  row("snapshot", fmt::format("{:.0f} ns", snapshot_ns));
  row("fork", fmt::format("{:.0f} ns", fork_ns));
  row("fork: change pages + commit",
      fmt::format("{} pages in {:.2f} ms", changed_each_side, fork_write_ms));
  row("merge (three-way)",
      fmt::format("{} from fork, {} merged, {:.2f} ms", merged->pages_taken_from_theirs,
                  merged->pages_merged, merge_ms));
  row("snapshot unchanged after merge", snapshot_intact ? "yes" : "NO");
  row("tick", std::to_string(merged->state.tick().value()));
  row("state root", merged->state.root().to_hex());
  return snapshot_intact ? 0 : 1;
}

}  // namespace mmsb::cli

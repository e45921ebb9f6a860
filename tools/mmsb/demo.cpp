// `mmsb demo`: the main job on an embedded default. Builds a state, takes a snapshot and a
// fork, changes a share of the pages on each side, merges three-way and prints what it cost.
#include "tools/mmsb/demo.hpp"

#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "mmsb/mmsb.hpp"
#include "particles.hpp"
#include "tools/mmsb/cli_util.hpp"
#include "tools/mmsb/ingest.hpp"

namespace mmsb::cli {
namespace {

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

int run_state_demo(const DemoOptions& options) {
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

// The derived layer: one page per region holding the sum of the 8-byte words of its
// entities, a page per region with the low bit of that sum (often unchanged: early
// cutoff), and a total over the regions.
constexpr std::uint64_t kRegions = 10;

Status sum_words(const DeriveInput& input, std::vector<std::byte>& out) {
  std::uint64_t sum = 0;
  for (std::span<const std::byte> parent : input.parents) {
    for (std::size_t at = 0; at + 8 <= parent.size(); at += 8) {
      std::uint64_t word;
      std::memcpy(&word, parent.data() + at, 8);
      sum += word;
    }
  }
  out.resize(8);
  std::memcpy(out.data(), &sum, 8);
  return Status::ok();
}

Status low_bit(const DeriveInput& input, std::vector<std::byte>& out) {
  out.assign(8, std::byte{0});
  out[0] = input.parents[0][0] & std::byte{1};
  return Status::ok();
}

const std::pair<const char*, DeriveFunction> kDemoFunctions[] = {
    {"demo.sum_words", sum_words}, {"demo.low_bit", low_bit}};

Status register_demo_functions(Engine& engine) {
  for (const auto& [name, function] : kDemoFunctions) {
    MMSB_RETURN_IF_ERROR(engine.register_function(name, function));
  }
  return Status::ok();
}

// Creates the derived pages over the entities, once per data directory.
Status add_derived_layer(Engine& engine, std::uint64_t first_page, std::uint64_t pages) {
  if (engine.snapshot().derivation_count() != 0) return Status::ok();
  Transaction txn = engine.begin();
  std::vector<PageId> sums;
  for (std::uint64_t region = 0; region < kRegions; ++region) {
    std::vector<PageId> entities;
    for (std::uint64_t i = region * pages / kRegions; i < (region + 1) * pages / kRegions; ++i) {
      entities.push_back(PageId(first_page + i));
    }
    sums.push_back(txn.create_page({.type = 2, .size_bytes = 8}));
    txn.derive(sums.back(), entities, "demo.sum_words");
    PageId bit = txn.create_page({.type = 3, .size_bytes = 8});
    txn.derive(bit, std::vector{sums.back()}, "demo.low_bit");
  }
  PageId total = txn.create_page({.type = 4, .size_bytes = 8});
  txn.derive(total, sums, "demo.sum_words");
  return txn.commit().status();
}

// Part 2: the engine on a data directory.
int run_engine_demo(const DemoOptions& options) {
  fmt::print("\nmmsb demo: engine on {}, {} threads x {} commits with fsync\n\n", options.dir,
             options.threads, options.commits_per_thread);
  EngineOptions engine_options;
  engine_options.dir = options.dir;
  OpenReport report;
  auto opened = Engine::open(engine_options, &report);
  if (!opened.is_ok()) {
    fmt::print(stderr, "{}\n", opened.status().to_string());
    if (opened.status().message().find("version") != std::string::npos) {
      fmt::print(stderr, "{} was written by another version of mmsb; remove it (or pass --dir) to "
                         "run the demo\n", options.dir);
    }
    return 1;
  }
  auto engine = std::move(opened).value();
  constexpr std::uint64_t kPages = 1000;
  fmt::print("  {:<34} {}\n", "step", "result");
  row("open", report.created ? std::string("new data directory")
                             : fmt::format("recovered tick {} ({} ticks replayed)",
                                           report.tick.value(), report.ticks_replayed));
  if (engine->snapshot().page_count() < kPages) {
    Transaction setup = engine->begin();
    for (std::uint64_t i = 0; i < kPages; ++i) setup.create_page({.type = 1, .size_bytes = 1024});
    auto created = setup.commit();
    if (!created.is_ok()) return fmt::print(stderr, "{}\n", created.status().to_string()), 1;
  }
  const std::uint64_t first_page = 1;  // the entities are the directory's first pages
  Status derived = register_demo_functions(*engine);
  if (derived.is_ok()) derived = add_derived_layer(*engine, first_page, kPages);
  if (!derived.is_ok()) return fmt::print(stderr, "{}\n", derived.to_string()), 1;
  const EngineStats before = engine->stats();

  auto start = Clock::now();
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < options.threads; ++t) {
    writers.emplace_back([&, t] {
      std::uint64_t seed = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(t + 1);
      for (int i = 0; i < options.commits_per_thread; ++i) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Transaction txn = engine->begin();
        std::uint64_t words[2] = {seed, static_cast<std::uint64_t>(i)};
        txn.write(PageId(first_page + seed % kPages), 16 * (seed % 64),
                  std::as_bytes(std::span(words)));
        if (!txn.commit().is_ok()) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  const double commit_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EngineStats stats = engine->stats();
  const int commits = options.threads * options.commits_per_thread;
  row("concurrent commits", fmt::format("{} in {:.2f} s ({:.0f}/s), {} failed", commits,
                                        commit_seconds, commits / commit_seconds, failures.load()));
  row("ticks / fsyncs", fmt::format("{} / {}", stats.ticks, stats.fsyncs));
  row("derived: recomputed / changed",
      fmt::format("{} / {} ({} region sums, bits and a total over {} entities)",
                  stats.derived_recomputes - before.derived_recomputes,
                  stats.derived_changed - before.derived_changed, 2 * kRegions + 1, kPages));
  row("derived: cut off / skipped",
      fmt::format("{} / {}", stats.derived_cutoffs - before.derived_cutoffs,
                  stats.derived_skipped - before.derived_skipped));
  row("commit latency p50 / p99 / p999",
      fmt::format("{:.0f} / {:.0f} / {:.0f} us", stats.commit_latency_ns_p50 / 1e3,
                  stats.commit_latency_ns_p99 / 1e3, stats.commit_latency_ns_p999 / 1e3));
  auto checkpoint = engine->checkpoint();
  if (!checkpoint.is_ok()) return fmt::print(stderr, "{}\n", checkpoint.status().to_string()), 1;
  row("checkpoint", fmt::format("tick {}", checkpoint->value()));
  for (int i = 0; i < 10; ++i) {
    Transaction txn = engine->begin();
    std::uint64_t stamp = static_cast<std::uint64_t>(i);
    txn.write(PageId(first_page), 0, std::as_bytes(std::span(&stamp, 1)));
    if (!txn.commit().is_ok()) failures.fetch_add(1);
  }
  const Hash128 root = engine->snapshot().root();
  const TickId tick = engine->snapshot().tick();
  if (!engine->close().is_ok()) return 1;
  row("close at", fmt::format("tick {}, root {}", tick.value(), root.to_hex()));

  start = Clock::now();
  OpenReport reopened;
  auto again = Engine::open(engine_options, &reopened);
  if (!again.is_ok()) return fmt::print(stderr, "{}\n", again.status().to_string()), 1;
  row("reopen", fmt::format("checkpoint {} + {} ticks in {:.1f} ms",
                            reopened.checkpoint ? reopened.checkpoint->value() : 0,
                            reopened.ticks_replayed, elapsed_ms(start)));
  row("reopened root", reopened.root.to_hex());
  (void)(*again)->close();

  start = Clock::now();
  ReplayOptions replay_options;
  replay_options.reexecute = true;
  replay_options.ignore_checkpoints = true;
  for (const auto& [name, function] : kDemoFunctions) {
    replay_options.functions.emplace_back(name, function);
  }
  ReplaySummary summary;
  auto replayed = replay(options.dir, replay_options, &summary);
  if (!replayed.is_ok()) return fmt::print(stderr, "{}\n", replayed.status().to_string()), 1;
  row("replay of the whole log",
      fmt::format("{} ticks, {:.1f} MB in {:.1f} ms", summary.ticks_applied,
                  summary.bytes_read / 1e6, elapsed_ms(start)));
  row("replay re-ran derivations",
      fmt::format("{} recomputes, every derived delta equal to the log",
                  summary.derived_recomputes));
  row("replayed root", replayed->root().to_hex());
  const bool match = reopened.root == root && replayed->root() == root && failures.load() == 0;
  row("roots match", match ? "yes" : "NO");
  fmt::print("\n  inspect it: mmsb log inspect {0} | mmsb verify {0} | mmsb replay {0} --verify\n",
             options.dir);
  return match ? 0 : 1;
}

// Part 3: the particle world (rules). What one run of it gives.
struct ParticleRun {
  Hash128 root;
  TickId tick;
  double seconds = 0;
  EngineStats stats;
  std::uint64_t contacts_applied = 0;  // collide candidates from the driver's transactions
  PageId grid;
};

Result<ParticleRun> run_particles(const DemoOptions& options, const std::string& dir,
                                  std::size_t workers, const std::string& telemetry) {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  EngineOptions engine_options;
  engine_options.dir = dir;
  engine_options.durability = Durability::kFlush;
  engine_options.rule_workers = workers;
  engine_options.rule_telemetry_path = telemetry;
  MMSB_ASSIGN_OR_RETURN(auto engine, Engine::open(engine_options));
  MMSB_ASSIGN_OR_RETURN(particles::World world,
                        particles::create_world(*engine, options.particles, 2026));
  MMSB_RETURN_IF_ERROR(particles::register_rules(*engine, world));
  ParticleRun run;
  run.grid = world.grid;
  const auto start = Clock::now();
  for (int tick = 0; tick < options.particle_ticks; ++tick) {
    MMSB_ASSIGN_OR_RETURN(CommitInfo info, particles::step(*engine, world));
    for (const RuleReceipt& receipt : info.receipts) {
      run.contacts_applied += receipt.outcome == ReceiptOutcome::kApplied;
    }
  }
  // Let the last retries run out.
  while (!engine->snapshot().pending_retries().empty()) {
    MMSB_RETURN_IF_ERROR(engine->begin().commit().status());
  }
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.stats = engine->stats();
  run.root = engine->snapshot().root();
  run.tick = engine->snapshot().tick();
  MMSB_RETURN_IF_ERROR(engine->close());
  return run;
}

int run_particle_demo(const DemoOptions& options) {
  const std::string dir = options.dir + ".particles";
  fmt::print("\nmmsb demo: rules, {} particles for {} ticks in {} (motion/update standing, "
             "collide at close pairs)\n\n",
             options.particles, options.particle_ticks, dir);
  fmt::print("  {:<34} {}\n", "step", "result");
  const std::string telemetry = dir + "/telemetry.jsonl";
  auto one = run_particles(options, dir + "/w1", 1, "");
  if (!one.is_ok()) return fmt::print(stderr, "{}\n", one.status().to_string()), 1;
  auto four = run_particles(options, dir + "/w4", 4, telemetry);
  if (!four.is_ok()) return fmt::print(stderr, "{}\n", four.status().to_string()), 1;
  const EngineStats& stats = four->stats;
  const std::uint64_t conflicts = stats.rules_rejected + stats.rules_deferred;
  row("candidates / applied",
      fmt::format("{} / {} ({} collisions applied)", stats.rule_candidates, stats.rules_applied,
                  four->contacts_applied));
  row("conflicts", fmt::format("{} ({:.2f}% of reserve decisions): {} deferred, {} rejected",
                               conflicts,
                               100.0 * static_cast<double>(conflicts) /
                                   static_cast<double>(std::max<std::uint64_t>(
                                       1, stats.rules_applied + conflicts)),
                               stats.rules_deferred, stats.rules_rejected));
  row("retries", fmt::format("{} candidates tried again", stats.rule_retries));
  row("last tick reserve/execute/apply",
      fmt::format("{:.0f} / {:.0f} / {:.0f} us", stats.last_rule_tick.reservation_ns / 1e3,
                  stats.last_rule_tick.execution_ns / 1e3, stats.last_rule_tick.commit_ns / 1e3));
  row("ticks per second (1 / 4 workers)",
      fmt::format("{:.0f} / {:.0f}", one->tick.value() / one->seconds,
                  four->tick.value() / four->seconds));
  row("root with 1 worker", one->root.to_hex());
  row("root with 4 workers", four->root.to_hex());

  // Re-execute the 4-worker log with the rules: every receipt and write must match.
  ReplayOptions replay_options;
  replay_options.reexecute = true;
  replay_options.rules = {particles::motion_rule(), particles::collide_rule(four->grid)};
  ReplaySummary summary;
  auto replayed = replay(dir + "/w4", replay_options, &summary);
  if (!replayed.is_ok()) return fmt::print(stderr, "{}\n", replayed.status().to_string()), 1;
  row("replay re-ran the rules",
      fmt::format("{} candidates, every receipt and write equal to the log",
                  summary.rule_candidates_checked));
  row("telemetry", fmt::format("{} (reserved and conflict events)", telemetry));
  const bool match = one->root == four->root && replayed->root() == four->root;
  row("roots match", match ? "yes" : "NO");
  return match ? 0 : 1;
}

int run_demo(const DemoOptions& options) {
  int state_result = run_state_demo(options);
  if (state_result != 0) return state_result;
  int engine_result = run_engine_demo(options);
  if (engine_result != 0) return engine_result;
  int particle_result = run_particle_demo(options);
  if (particle_result != 0) return particle_result;
  return run_ingest_demo(options.dir + ".ingest");
}

}  // namespace mmsb::cli

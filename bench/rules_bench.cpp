// Benchmarks of the rules step (issue: rules and the deterministic scheduler).
//   BM_reserve/<candidates>/<conflict pct>: the reserve gate alone over candidates with
//     4-page footprints (2 written, 2 read); a conflicting candidate writes a page an
//     earlier one wrote. Counter per_candidate (seconds, printed with an SI prefix).
//   BM_schedule_sort/<candidates>: canonical order (radix), beside
//     BM_schedule_sort_comparison (std::sort) in the same run; both include copying the
//     unsorted batch in.
//   BM_tick_rules/<entities>/<workers>: a whole engine tick (durability none) with the
//     standing motion rule on every particle: collect, match, footprint, sort, reserve,
//     execute in parallel, apply, commit and seal with the incremental root. Counters: the
//     last tick's phases, and heap allocations (all threads) per entity in steady state.
//   BM_tick_rules_bulk/<entities>/<workers>: the same with the motion rule's bulk executor.
//   BM_tick_rules_resting/<entities>/<promise>: 1% of the particles move; the rule's
//     matcher skips resting ones; with the promise (Rule::depends_only_on_footprint) the
//     unchanged ones are not matched again.
//   BM_particle_world/<particles>/<workers>: the `mmsb demo` particle world's tick (the
//     driver's collide transaction, the standing motion rule, durability flush): the demo's
//     ticks a second as a benchmark.
//   BM_worker_pool_loop/<tasks>/<workers>: one parallel loop of small tasks on the pool (what
//     a hand-off to the workers costs), against workers:1 of the same run.
//   BM_motion_plain/<entities>: the physical baseline of BM_tick_rules: the same motion
//     update (particles::move) as a plain loop over a std::vector of the same particles,
//     the loop one would write by hand. Report BM_tick_rules as a ratio to it.
// Read them next to BM_memcpy from the same run.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <functional>
#include <random>

#include "alloc_count.hpp"
#include "bench_dir.hpp"
#include "mmsb/mmsb.hpp"
#include "particles.hpp"
#include "sched/order.hpp"
#include "sched/reserve_gate.hpp"
#include "sched/scheduler.hpp"

namespace {

using mmsb::Footprint;
using mmsb::PageId;

// Counter `name`: the time of one iteration divided by `count` (seconds, SI prefix).
void per_item(benchmark::State& state, const char* name, std::size_t count) {
  state.counters[name] = benchmark::Counter(
      static_cast<double>(count),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// An engine with no durability and room for a long run in one segment, in a fresh
// directory (mmsb-bench-<name>).
mmsb::EngineOptions rules_engine_options(const std::string& name, std::size_t rule_workers) {
  mmsb::EngineOptions options;
  options.dir = mmsb::bench::bench_dir(name);
  options.durability = mmsb::Durability::kNone;
  options.rule_workers = rule_workers;
  options.segment_size_max_bytes = 1ull << 30;
  return options;
}

// Counters of the engine's last rule tick: its phases (reserve: match, footprint, sort and
// gate; execute; apply).
void report_rule_phases(benchmark::State& state, const mmsb::Engine& engine) {
  const mmsb::EngineStats::RuleTick last = engine.stats().last_rule_tick;
  state.counters["reserve_ns"] = static_cast<double>(last.reservation_ns);
  state.counters["execute_ns"] = static_cast<double>(last.execution_ns);
  state.counters["apply_ns"] = static_cast<double>(last.commit_ns);
}

std::vector<Footprint> reserve_workload(std::size_t count, int conflict_pct) {
  std::mt19937_64 random(42);
  std::vector<Footprint> footprints(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t base = 4 * i + 1;
    Footprint& footprint = footprints[i];
    footprint.write(PageId(base)).write(PageId(base + 1)).read(PageId(base + 2)).read(PageId(base + 3));
    if (i > 0 && static_cast<int>(random() % 100) < conflict_pct) {
      footprint.pages_written[1] = PageId(4 * (random() % i) + 1);  // an earlier write
    }
    (void)footprint.normalize();
  }
  return footprints;
}

void BM_reserve(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  const std::vector<Footprint> footprints = reserve_workload(count, static_cast<int>(state.range(1)));
  mmsb::sched::ReserveGate gate;
  std::uint64_t rejected = 0;
  for (auto _ : state) {
    gate.begin_tick();
    rejected = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      rejected += gate.reserve(footprints[i], i) != mmsb::sched::ReserveGate::kReserved;
    }
    benchmark::DoNotOptimize(rejected);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
  per_item(state, "per_candidate", count);
  state.counters["rejected_pct"] = 100.0 * static_cast<double>(rejected) / static_cast<double>(count);
}
BENCHMARK(BM_reserve)
    ->ArgsProduct({{10, 100, 1000, 10000, 30000}, {0, 10, 50}})
    ->ArgNames({"candidates", "conflict_pct"});

std::vector<mmsb::sched::Candidate> sort_workload(std::size_t count) {
  std::mt19937_64 random(7);
  std::vector<mmsb::sched::Candidate> candidates;
  for (std::size_t i = 0; i < count; ++i) {
    const PageId scope(1 + random() % (count * 4));
    candidates.push_back(mmsb::sched::make_candidate(scope, random() % 4, i, 0, 1, 0));
  }
  return candidates;
}

// <repeat> 0: two inputs in turn, each sorted afresh; 1: the same input every time (a
// standing rule over unchanged pages), whose order the scratch keeps.
void BM_schedule_sort(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  std::vector<mmsb::sched::Candidate> inputs[2] = {sort_workload(count), sort_workload(count)};
  for (mmsb::sched::Candidate& candidate : inputs[1]) ++candidate.key.nonce;
  const bool repeat = state.range(1) != 0;
  std::vector<mmsb::sched::Candidate> candidates;
  mmsb::sched::CandidateSortScratch scratch;
  std::size_t turn = 0;
  for (auto _ : state) {
    candidates = inputs[repeat ? 0 : turn++ % 2];
    mmsb::sched::sort_candidates(candidates, scratch);
    benchmark::DoNotOptimize(candidates.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}
BENCHMARK(BM_schedule_sort)
    ->ArgsProduct({{100, 1000, 10000, 30000}, {0, 1}})
    ->ArgNames({"candidates", "repeat"});

void BM_schedule_sort_comparison(benchmark::State& state) {
  const std::vector<mmsb::sched::Candidate> input = sort_workload(static_cast<std::size_t>(state.range(0)));
  std::vector<mmsb::sched::Candidate> candidates;
  for (auto _ : state) {
    candidates = input;
    mmsb::sched::comparison_sort_candidates(candidates);
    benchmark::DoNotOptimize(candidates.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
}
BENCHMARK(BM_schedule_sort_comparison)->Arg(100)->Arg(1000)->Arg(10000)->Arg(30000);

// The rules step alone (Scheduler::run) over the motion rule at <candidates> particles, with
// <workers> threads: match, footprint, sort, reserve and execute, without applying. Counters:
// the last step's phases (reserve_ns: sort, match and the gate; execute_ns).
void BM_rules_step(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  mmsb::state::ForkCore fork{mmsb::State{}};
  for (std::size_t i = 0; i < count; ++i) {
    particles::Particle p{static_cast<std::int64_t>(i), 0, 1, 1};
    (void)fork.create_page({.type = particles::kParticleType, .size_bytes = 32,
                            .initial = particles::encode(p)});
  }
  const mmsb::State world = fork.commit();
  mmsb::sched::RuleTable table;
  (void)table.add(particles::motion_rule());
  const auto rules = table.snapshot();
  const auto workers = static_cast<std::size_t>(state.range(1));
  std::unique_ptr<mmsb::core::WorkerPool> pool;
  if (workers > 1) pool = std::make_unique<mmsb::core::WorkerPool>(workers);
  mmsb::sched::Scheduler scheduler(pool.get());
  mmsb::sched::RulesStep step;
  const mmsb::state::ForkCore reader(world);
  std::vector<mmsb::sched::Candidate> candidates;
  for (std::uint64_t id = 1; id <= count; ++id) {
    candidates.push_back(mmsb::sched::make_candidate(PageId(id), rules->rules[0].family, id - 1, 0,
                                                     1, mmsb::sched::kOriginStanding));
  }
  for (auto _ : state) {
    step.input = candidates;
    scheduler.run(reader.tables(), *rules, mmsb::TickId(2), step);
    if (step.counters.applied != count) state.SkipWithError("not all applied");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
  per_item(state, "per_candidate", count);
  state.counters["reserve_ns"] = static_cast<double>(step.counters.reservation_ns);
  state.counters["execute_ns"] = static_cast<double>(step.counters.execution_ns);
}
BENCHMARK(BM_rules_step)
    ->ArgsProduct({{100, 1000, 10000, 30000}, {1, 2}})
    ->ArgNames({"candidates", "workers"})
    ->UseRealTime();

// One parallel loop of the worker pool as the rules step runs them: <tasks> tasks of about
// 64 candidates' worth of work (~1 us each), on <workers> threads (the caller's included).
// Against workers:1 of the same run it shows what handing a loop to the pool costs or gains
// (the wake-ups, and waiting for threads the scheduler has not run yet).
void BM_worker_pool_loop(benchmark::State& state) {
  const auto tasks = static_cast<std::size_t>(state.range(0));
  const auto workers = static_cast<std::size_t>(state.range(1));
  mmsb::core::WorkerPool pool(workers);
  std::vector<std::uint64_t> results(tasks * 8);  // a line per task: no false sharing
  const std::function<void(std::size_t)> body = [&](std::size_t task) {
    std::uint64_t x = task + 1;
    for (int i = 0; i < 400; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
    results[task * 8] = x;
  };
  for (auto _ : state) {
    pool.run(tasks, body);
    benchmark::DoNotOptimize(results.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * tasks));
}
BENCHMARK(BM_worker_pool_loop)
    ->ArgsProduct({{4, 16, 157}, {1, 2, 4}})
    ->ArgNames({"tasks", "workers"})
    ->UseRealTime();

void BM_motion_plain(benchmark::State& state) {
  const auto entities = static_cast<std::size_t>(state.range(0));
  std::vector<particles::Particle> world(entities);
  std::uint64_t seed = 3;
  for (particles::Particle& p : world) {
    p.x = static_cast<std::int64_t>(particles::next_random(seed) % particles::kSize);
    p.y = static_cast<std::int64_t>(particles::next_random(seed) % particles::kSize);
    p.vx = static_cast<std::int64_t>(particles::next_random(seed) % 257) - 128;
    p.vy = static_cast<std::int64_t>(particles::next_random(seed) % 257) - 128;
  }
  for (auto _ : state) {
    for (particles::Particle& p : world) particles::move(p);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * entities));
  per_item(state, "per_entity", entities);
}
BENCHMARK(BM_motion_plain)->Arg(1000)->Arg(10000)->Arg(100000)->ArgName("entities");

void tick_rules(benchmark::State& state, mmsb::Rule motion) {
  const auto entities = static_cast<std::size_t>(state.range(0));
  const mmsb::EngineOptions options =
      rules_engine_options("rules", static_cast<std::size_t>(state.range(1)));
  {
    auto engine = mmsb::Engine::open(options).value();
    auto world = particles::create_world(*engine, entities, 3).value();
    if (!engine->register_rule(std::move(motion)).is_ok()) state.SkipWithError("register");
    if (!engine->begin().commit().is_ok()) state.SkipWithError("tick");  // buffers grown
    const std::uint64_t allocations_before = mmsb::bench::allocations_in_process();
    for (auto _ : state) {
      if (!engine->begin().commit().is_ok()) state.SkipWithError("tick");
    }
    state.counters["allocs_per_entity"] =
        static_cast<double>(mmsb::bench::allocations_in_process() - allocations_before) /
        static_cast<double>(state.iterations() * entities);
    report_rule_phases(state, *engine);
  }
  std::filesystem::remove_all(options.dir);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * entities));
  per_item(state, "per_entity", entities);
}
void BM_tick_rules(benchmark::State& state) { tick_rules(state, particles::motion_rule()); }
BENCHMARK(BM_tick_rules)
    ->ArgsProduct({{1000, 10000, 100000}, {1, 2, 4}})
    ->ArgNames({"entities", "workers"})
    ->UseRealTime();

void BM_tick_rules_bulk(benchmark::State& state) {
  tick_rules(state, particles::motion_rule_bulk());
}
BENCHMARK(BM_tick_rules_bulk)
    ->ArgsProduct({{10000, 100000}, {1, 2}})
    ->ArgNames({"entities", "workers"})
    ->UseRealTime();

// The `mmsb demo` particle world, a tick as the demo runs it (durability flush): the driver
// reads every neighbouring pair from the snapshot and applies `collide` at the close ones,
// and the standing motion rule moves every particle. What the demo's ticks a second measure.
void BM_particle_world(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  mmsb::EngineOptions options =
      rules_engine_options("particle-world", static_cast<std::size_t>(state.range(1)));
  options.durability = mmsb::Durability::kFlush;
  {
    auto engine = mmsb::Engine::open(options).value();
    auto world = particles::create_world(*engine, count, 2026).value();
    if (!particles::register_rules(*engine, world).is_ok()) state.SkipWithError("register");
    if (!particles::step(*engine, world).is_ok()) state.SkipWithError("tick");  // buffers grown
    for (auto _ : state) {
      if (!particles::step(*engine, world).is_ok()) state.SkipWithError("tick");
    }
    report_rule_phases(state, *engine);
    const mmsb::EngineStats stats = engine->stats();
    state.counters["candidates"] = static_cast<double>(stats.last_rule_tick.candidates);
    state.counters["applied"] = static_cast<double>(stats.last_rule_tick.applied);
  }
  std::filesystem::remove_all(options.dir);
  per_item(state, "per_entity", count);
}
BENCHMARK(BM_particle_world)
    ->ArgsProduct({{2000}, {1, 2}})
    ->ArgNames({"particles", "workers"})
    ->UseRealTime();

// A world at rest: 1% of the particles move, and the motion rule's matcher skips the rest.
// <promise> 1: the rule declares it depends only on its footprint, so the resting particles
// (unchanged) are not matched again; 0: every particle is matched every tick (the same
// ticks). Counter reused: matches reused in the last tick.
void BM_tick_rules_resting(benchmark::State& state) {
  const auto entities = static_cast<std::size_t>(state.range(0));
  const mmsb::EngineOptions options = rules_engine_options("resting", 1);
  {
    auto engine = mmsb::Engine::open(options).value();
    mmsb::Transaction create = engine->begin();
    for (std::size_t i = 0; i < entities; ++i) {
      const auto at = static_cast<std::int64_t>(i % (particles::kSize - 1));
      particles::Particle p{at, at, i % 100 == 0 ? 3 : 0, 0};
      create.create_page({.type = particles::kParticleType, .size_bytes = sizeof(p),
                          .initial = particles::encode(p)});
    }
    if (!create.commit().is_ok()) state.SkipWithError("create");
    mmsb::Rule motion = particles::motion_rule();
    motion.matcher = [](const mmsb::RuleView& view, PageId scope) {
      const particles::Particle p = particles::decode(view.read(scope).value());
      return p.vx != 0 || p.vy != 0;
    };
    motion.depends_only_on_footprint = state.range(1) != 0;
    if (!engine->register_rule(std::move(motion)).is_ok()) state.SkipWithError("register");
    if (!engine->begin().commit().is_ok()) state.SkipWithError("tick");  // buffers grown
    for (auto _ : state) {
      if (!engine->begin().commit().is_ok()) state.SkipWithError("tick");
    }
    state.counters["reused"] =
        static_cast<double>(engine->stats().last_rule_tick.matches_reused);
    report_rule_phases(state, *engine);
  }
  std::filesystem::remove_all(options.dir);
  per_item(state, "per_entity", entities);
}
BENCHMARK(BM_tick_rules_resting)
    ->ArgsProduct({{10000, 100000}, {0, 1}})
    ->ArgNames({"entities", "promise"})
    ->UseRealTime();

}  // namespace

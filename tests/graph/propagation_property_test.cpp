// The propagation oracle: for random DAGs and random updates, every derived page equals a
// from-scratch recompute after each tick, and the roots agree across worker counts, after
// a re-executing replay and after a reopen.
#include <array>

#include "engine/replay.hpp"
#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/rapidcheck_gtest.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

constexpr std::size_t kPageBytes = 8;
using Bytes = std::vector<std::byte>;

// Position-mixing sum: every parent byte matters.
Bytes mix(const std::vector<std::span<const std::byte>>& parents) {
  Bytes out(kPageBytes);
  for (std::size_t k = 0; k < kPageBytes; ++k) {
    unsigned sum = 1;
    for (std::size_t j = 0; j < parents.size(); ++j) {
      sum += std::to_integer<unsigned>(parents[j][(k + j) % kPageBytes]) * (j + 1);
    }
    out[k] = static_cast<std::byte>(sum);
  }
  return out;
}

// Parity of the sum: often unchanged, so it exercises the early cutoff.
Bytes parity(const std::vector<std::span<const std::byte>>& parents) {
  Bytes out(kPageBytes);
  for (std::size_t k = 0; k < kPageBytes; ++k) {
    unsigned sum = 0;
    for (std::span<const std::byte> parent : parents) sum += std::to_integer<unsigned>(parent[k]);
    out[k] = static_cast<std::byte>(sum & 1);
  }
  return out;
}

const std::array<std::pair<const char*, Bytes (*)(const std::vector<std::span<const std::byte>>&)>,
                 2>
    kFunctions = {{{"mix", mix}, {"parity", parity}}};

DeriveFunction as_derive_function(Bytes (*f)(const std::vector<std::span<const std::byte>>&)) {
  return [f](const DeriveInput& input, std::vector<std::byte>& out) {
    out = f({input.parents.begin(), input.parents.end()});
    return Status::ok();
  };
}

struct Derived {
  std::vector<std::size_t> parents;  // indices of earlier pages
  std::size_t function;
};

struct World {
  std::size_t sources;
  std::vector<Bytes> initial;  // of the sources
  std::vector<Derived> derived;
  std::vector<std::vector<std::pair<std::size_t, unsigned char>>> ticks;  // (source, value)
};

World generate() {
  World world;
  world.sources = *rc::gen::inRange<std::size_t>(1, 16);
  const auto derived = *rc::gen::inRange<std::size_t>(1, 200);
  for (std::size_t i = 0; i < world.sources; ++i) {
    world.initial.push_back(test::filled(kPageBytes, *rc::gen::inRange(0, 4)));
  }
  for (std::size_t i = 0; i < derived; ++i) {
    const std::size_t before = world.sources + i;
    const auto count = *rc::gen::inRange<std::size_t>(1, 5);
    Derived page{*rc::gen::container<std::vector<std::size_t>>(
                     count, rc::gen::inRange<std::size_t>(before > 8 ? before - 8 : 0, before)),
                 *rc::gen::inRange<std::size_t>(0, kFunctions.size())};
    std::sort(page.parents.begin(), page.parents.end());
    page.parents.erase(std::unique(page.parents.begin(), page.parents.end()), page.parents.end());
    world.derived.push_back(std::move(page));
  }
  const auto ticks = *rc::gen::inRange(1, 10);
  for (int t = 0; t < ticks; ++t) {
    world.ticks.push_back(*rc::gen::container<std::vector<std::pair<std::size_t, unsigned char>>>(
        *rc::gen::inRange<std::size_t>(1, 4),
        rc::gen::pair(rc::gen::inRange<std::size_t>(0, world.sources),
                      rc::gen::inRange<unsigned char>(0, 4))));
  }
  return world;
}

// Every derived page recomputed from the sources in `state`.
void check_against_scratch(const World& world, const State& state,
                           const std::vector<PageId>& ids) {
  std::vector<Bytes> expected;
  for (std::size_t i = 0; i < world.sources; ++i) {
    expected.push_back(test::to_vector(state.read(ids[i]).value()));
  }
  for (const Derived& page : world.derived) {
    std::vector<std::span<const std::byte>> parents;
    for (std::size_t parent : page.parents) parents.emplace_back(expected[parent]);
    expected.push_back(kFunctions[page.function].second(parents));
  }
  for (std::size_t i = world.sources; i < ids.size(); ++i) {
    RC_ASSERT(test::to_vector(state.read(ids[i]).value()) == expected[i]);
  }
}

// Runs the world on a fresh engine with `workers`; returns the final root.
Hash128 run(const World& world, const test::TempDir& dir, std::size_t workers) {
  EngineOptions options;
  options.dir = dir.path();
  options.durability = Durability::kNone;
  options.propagation_workers = workers;
  auto engine = Engine::open(options).value();
  for (const auto& [name, function] : kFunctions) {
    RC_ASSERT(engine->register_function(name, as_derive_function(function)).is_ok());
  }
  Transaction create = engine->begin();
  const std::size_t pages = world.sources + world.derived.size();
  for (std::size_t i = 0; i < pages; ++i) {
    create.create_page({.size_bytes = kPageBytes,
                        .initial = i < world.sources ? world.initial[i] : Bytes{}});
  }
  const std::vector<PageId> ids = create.commit().value().created_pages;
  Transaction derive = engine->begin();
  for (std::size_t i = 0; i < world.derived.size(); ++i) {
    std::vector<PageId> parents;
    for (std::size_t parent : world.derived[i].parents) parents.push_back(ids[parent]);
    derive.derive(ids[world.sources + i], parents, kFunctions[world.derived[i].function].first);
  }
  RC_ASSERT(derive.commit().is_ok());
  check_against_scratch(world, engine->snapshot(), ids);
  for (const auto& writes : world.ticks) {
    Transaction txn = engine->begin();
    for (const auto& [source, value] : writes) txn.put(ids[source], test::filled(kPageBytes, value));
    RC_ASSERT(txn.commit().is_ok());
    check_against_scratch(world, engine->snapshot(), ids);
  }
  const Hash128 root = engine->snapshot().root();
  RC_ASSERT(engine->close().is_ok());
  return root;
}

RC_GTEST_PROP(PropagationProperty, DerivedPagesEqualAFromScratchRecompute, ()) {
  const World world = generate();
  test::TempDir one, two, eight;
  const Hash128 root = run(world, one, 1);
  RC_ASSERT(run(world, two, 2) == root);
  RC_ASSERT(run(world, eight, 8) == root);

  // Re-execution re-runs every function and compares with the logged derived deltas.
  graph::FunctionTable functions;
  for (const auto& [name, function] : kFunctions) {
    RC_ASSERT(functions.add(name, as_derive_function(function)).is_ok());
  }
  auto table = functions.snapshot();
  engine::ReplayOptions replay_options;
  replay_options.reexecute = true;
  replay_options.functions = table.get();
  replay_options.propagation_workers = 4;
  engine::ReplaySummary summary;
  auto replayed = engine::replay(*Env::posix(), two.path(), {}, replay_options, &summary);
  RC_ASSERT(replayed.is_ok());
  RC_ASSERT(replayed->root() == root);
  RC_ASSERT(summary.derived_taken_from_log == 0u);

  EngineOptions options;
  options.dir = eight.path();
  RC_ASSERT(Engine::open(options).value()->snapshot().root() == root);
}

}  // namespace
}  // namespace mmsb

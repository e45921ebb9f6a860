// Benchmarks of propagation (issue: derived pages). Each iteration is one tick's step 3 as
// the sequencer runs it: write a source page, propagate, seal the tick (commit), so the
// figures include the copy-on-write of every derived page changed and the incremental root.
// BM_tick_without_derivation is the same tick with nothing derived: the difference is what
// propagation costs. Read each next to BM_memcpy/1024 from the same run.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "graph/dependency_graph.hpp"
#include "graph/functions.hpp"
#include "graph/propagator.hpp"
#include "state/tables.hpp"

namespace {

using mmsb::PageId;
using mmsb::State;
using mmsb::state::ForkCore;

// Byte-wise sum of the parents: a cheap user function that reads every parent byte.
mmsb::Status add_parents(const mmsb::DeriveInput& input, std::vector<std::byte>& out) {
  out.assign(input.parents[0].begin(), input.parents[0].end());
  for (std::size_t j = 1; j < input.parents.size(); ++j) {
    for (std::size_t k = 0; k < out.size(); ++k) {
      out[k] = static_cast<std::byte>(std::to_integer<unsigned>(out[k]) +
                                      std::to_integer<unsigned>(input.parents[j][k]));
    }
  }
  return mmsb::Status::ok();
}

// A world under construction: pages, Data edges and derivations written straight into a
// fork, then frozen with the graph built from it.
class World {
 public:
  World() : fork_(State{}) {}
  PageId page(std::size_t size_bytes) {
    return fork_.create_page({.type = 1, .size_bytes = size_bytes}).value();
  }
  void derive(PageId child, const std::vector<PageId>& parents, const std::string& function) {
    for (PageId parent : parents) (void)fork_.add_edge(mmsb::kEdgeKindData, parent, child).value();
    fork_.set_derivation(child, function);
  }
  // Runs ticks that write `source` (or rewrite it unchanged) and propagate.
  void run(benchmark::State& state, PageId source, bool change = true) {
    State frozen = fork_.commit();
    mmsb::graph::DependencyGraph graph;
    if (!graph.build(frozen).is_ok()) state.SkipWithError("graph");
    mmsb::graph::FunctionTable functions;
    (void)functions.add("add", add_parents);
    auto table = functions.snapshot();
    mmsb::graph::Propagator propagator;
    mmsb::graph::PropagationInput input;
    input.functions = table.get();
    mmsb::graph::PropagationOutput out;
    ForkCore fork(frozen);  // derived pages start as zeros, which their zero sources give
    std::uint64_t value = 1;
    for (auto _ : state) {
      if (change) ++value;
      (void)fork.write(source, 0, std::as_bytes(std::span(&value, 1)));
      propagator.give_back(std::move(out.derived));  // as the sequencer does once logged
      out.clear();
      mmsb::Status status = propagator.run(fork, graph, input, out);
      if (!status.is_ok()) state.SkipWithError(status.to_string().c_str());
      benchmark::DoNotOptimize(fork.commit());
      recomputes_ += out.counters.recomputes;
      skipped_ += out.counters.skipped;
    }
    state.counters["recomputes_per_tick"] =
        benchmark::Counter(static_cast<double>(recomputes_) / state.iterations());
    state.counters["skipped_per_tick"] =
        benchmark::Counter(static_cast<double>(skipped_) / state.iterations());
  }

 private:
  ForkCore fork_;
  std::uint64_t recomputes_ = 0;
  std::uint64_t skipped_ = 0;
};

void BM_tick_without_derivation(benchmark::State& state) {
  World world;
  PageId source = world.page(static_cast<std::size_t>(state.range(0)));
  (void)world.page(static_cast<std::size_t>(state.range(0)));
  world.run(state, source);
}
BENCHMARK(BM_tick_without_derivation)->Arg(1024);

void BM_propagate_single_hop(benchmark::State& state) {
  World world;
  const auto size = static_cast<std::size_t>(state.range(0));
  PageId source = world.page(size);
  world.derive(world.page(size), {source}, "mmsb.passthrough");
  world.run(state, source);
}
BENCHMARK(BM_propagate_single_hop)->Arg(1024);

void BM_propagate_chain(benchmark::State& state) {
  World world;
  const auto size = static_cast<std::size_t>(state.range(1));
  PageId source = world.page(size);
  PageId previous = source;
  for (std::int64_t i = 0; i < state.range(0); ++i) {
    PageId next = world.page(size);
    world.derive(next, {previous}, "mmsb.passthrough");
    previous = next;
  }
  world.run(state, source);
}
BENCHMARK(BM_propagate_chain)->Args({10, 1024});

void BM_propagate_fanout(benchmark::State& state) {
  World world;
  const auto size = static_cast<std::size_t>(state.range(1));
  PageId source = world.page(size);
  for (std::int64_t i = 0; i < state.range(0); ++i) {
    world.derive(world.page(size), {source}, "mmsb.passthrough");
  }
  world.run(state, source);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_propagate_fanout)->Args({1000, 64});

// `depth` layers of `width` pages; each page adds two neighbours of the layer above, so
// every page is reached along several paths and must still be recomputed once.
void BM_propagate_diamond_lattice(benchmark::State& state) {
  World world;
  const auto width = static_cast<std::size_t>(state.range(0));
  const auto depth = static_cast<std::size_t>(state.range(1));
  PageId source = world.page(64);
  std::vector<PageId> layer(width);
  for (PageId& page : layer) {
    page = world.page(64);
    world.derive(page, {source}, "mmsb.passthrough");
  }
  for (std::size_t d = 1; d < depth; ++d) {
    std::vector<PageId> next(width);
    for (std::size_t i = 0; i < width; ++i) {
      next[i] = world.page(64);
      world.derive(next[i], {layer[i], layer[(i + 1) % width]}, "add");
    }
    layer = std::move(next);
  }
  world.run(state, source);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * width * depth));
}
BENCHMARK(BM_propagate_diamond_lattice)->Args({8, 8})->Args({32, 4});

// The source is rewritten with the bytes it has: its child is reached and skipped.
void BM_propagate_skip(benchmark::State& state) {
  World world;
  PageId source = world.page(1024);
  world.derive(world.page(1024), {source}, "mmsb.passthrough");
  world.run(state, source, /*change=*/false);
}
BENCHMARK(BM_propagate_skip);

}  // namespace

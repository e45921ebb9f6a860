// What running ticks needs and keeps from tick to tick: the dependency graph that mirrors the
// State, the worker pools, the propagator, the rules scheduler and its buffers, and the
// governor. One per caller of run_tick (the sequencer; a replay), used by that thread only.
#pragma once

#include <cstddef>
#include <memory>

#include "core/thread_pool.hpp"
#include "engine/tick.hpp"
#include "graph/dependency_graph.hpp"
#include "graph/functions.hpp"
#include "graph/propagator.hpp"
#include "ingest/ruleset.hpp"
#include "sched/rule_table.hpp"
#include "sched/scheduler.hpp"

namespace mmsb::engine {

class TickMachinery {
 public:
  // For ticks after `state`; its dependency edges build the graph unless `mirror_graph` is
  // false (kApply, which needs no graph).
  static Result<std::unique_ptr<TickMachinery>> create(const State& state,
                                                       std::size_t propagation_workers,
                                                       std::size_t rule_workers,
                                                       bool mirror_graph = true);

  // The context for ticks run with these functions and rules (either may be null where
  // the mode does not need it: see TickContext).
  TickContext context(const graph::FunctionMap* functions, const sched::RuleMap* rules);

  graph::DependencyGraph& graph() { return graph_; }
  ingest::Governor& governor() { return governor_; }
  // A logged tick's rule outcomes, given back once the tick is written: the next rules step
  // overwrites them instead of allocating (the larger of what it has and `outcomes` is
  // kept).
  void give_back(std::vector<log::RuleOutcome>&& outcomes) {
    if (outcomes.capacity() > rules_step_.outcomes.capacity()) {
      rules_step_.outcomes = std::move(outcomes);
    }
  }
  // A logged tick's derived deltas, given back the same way: the propagator's next deltas
  // are computed into them.
  void give_back(std::vector<Delta>&& derived) { propagator_.give_back(std::move(derived)); }

 private:
  TickMachinery(std::size_t propagation_workers, std::size_t rule_workers);

  graph::DependencyGraph graph_;
  std::unique_ptr<core::WorkerPool> propagation_pool_;  // null: one worker
  graph::Propagator propagator_;
  std::unique_ptr<core::WorkerPool> rule_pool_;  // null: one worker
  sched::Scheduler scheduler_;
  sched::RulesStep rules_step_;
  ingest::Governor governor_;
};

}  // namespace mmsb::engine

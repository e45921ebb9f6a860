// Propagator: step 3 of the tick pipeline. After a tick's transactions (or merge) are
// applied to the fork, recomputes the derived pages they affect, in topological order,
// each at most once, and writes the changes into the same tick (docs/SEMANTICS.md
// "Derived pages"). Shared by the engine's sequencer and the re-executing replay.
//
// Thread-safety: one owner thread. Derivation functions run on the worker pool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.hpp"
#include "graph/dependency_graph.hpp"
#include "graph/functions.hpp"
#include "mmsb/delta.hpp"
#include "mmsb/derive.hpp"
#include "state/tables.hpp"

namespace mmsb::graph {

struct PropagationCounters {
  std::uint64_t recomputes = 0;  // functions run
  std::uint64_t skipped = 0;     // reached, but no Data parent changed (signature unchanged)
  std::uint64_t cutoffs = 0;     // recomputed to identical bytes: nothing written, stops there
  std::uint64_t changed = 0;     // recomputed to new bytes: a derived delta
  std::uint64_t stale = 0;       // marked stale (Control edges, underived Data children)
  PropagationCounters& operator+=(const PropagationCounters& other);
};

struct PropagationInput {
  // Pages a merge set in this tick (installed records, not fork writes).
  std::span<const PageId> also_changed;
  const FunctionMap* functions = nullptr;
  // Replay only: the tick's logged derived deltas, used for a page whose function is not in
  // `functions` (a user function the replaying process does not have).
  const std::vector<Delta>* logged = nullptr;
  bool collect_events = false;
};

struct PropagationOutput {
  std::vector<Delta> derived;  // in commit order
  std::vector<Event> events;   // in the documented order (if collected)
  PropagationCounters counters;
  std::uint64_t taken_from_log = 0;  // replay: pages whose logged delta stood in for a function
  void clear();
};

class Propagator {
 public:
  // A pool of more than one worker recomputes the pages of one level in parallel.
  explicit Propagator(core::WorkerPool* pool = nullptr) : pool_(pool) {}

  // Recomputes what the fork's tick so far affects and writes the results into the fork.
  // On error (a function failed, returned the wrong size, or is not registered) returns a
  // Status naming the page and the function; the fork is then partly written and the
  // caller must drop the tick.
  Status run(state::ForkCore& fork, const DependencyGraph& graph, const PropagationInput& input,
             PropagationOutput& out);
  // Deltas of an earlier run's output, once their tick no longer needs them: later runs
  // compute into them instead of allocating (at most as many as one run produced are kept).
  void give_back(std::vector<Delta>&& deltas);

 private:
  struct Item {
    PageId page;
    std::uint32_t node;
    std::uint32_t pending = 0;  // parents in the affected set not yet processed
    bool changed = false;       // its bytes change in this tick
    bool forced = false;        // recompute whatever the parents did
  };
  struct Job {
    std::size_t item = 0;
    const DeriveFunction* function = nullptr;
    const std::string* function_name = nullptr;
    std::vector<std::span<const std::byte>> parents;
    std::span<const std::byte> current;
    std::vector<std::byte> output;
    Status status;
  };

  void collect(const state::ForkCore& fork, const DependencyGraph& graph,
               const PropagationInput& input);
  std::size_t add_item(PageId page, std::uint32_t node);
  // Decides what each page of a level does; fills jobs_ (jobs_used_ of them).
  void plan_level(const state::ForkCore& fork, const DependencyGraph& graph,
                  const PropagationInput& input, std::uint32_t level, PropagationOutput& out);
  void run_job(Job& job, PageId page) const;
  Status commit_level(state::ForkCore& fork, const PropagationInput& input, std::uint32_t level,
                      PropagationOutput& out);
  // Records an event if events are collected; `epoch()` gives its epoch, asked only then
  // (the epoch after a write costs two page lookups).
  template <typename EpochFn>
  void emit(bool collect, std::uint32_t level, EventType type, PageId page, EpochFn epoch) {
    if (collect) keyed_events_.push_back(Keyed{level, Event{type, page, epoch()}});
  }
  Epoch epoch_after_write(const state::ForkCore& fork, PageId page) const;

  core::WorkerPool* pool_;
  std::vector<PageId> seeds_;
  std::vector<PageId> touched_;
  std::vector<PageId> also_changed_;
  std::vector<Item> items_;
  std::vector<std::uint32_t> item_of_node_;
  std::vector<std::uint32_t> node_stamp_;
  std::uint32_t stamp_ = 0;
  std::vector<std::size_t> frontier_, next_frontier_;
  std::vector<Job> jobs_;
  std::size_t jobs_used_ = 0;
  struct Keyed {
    std::uint32_t level;
    Event event;
  };
  std::vector<Keyed> keyed_events_;
  std::vector<Delta> spare_;  // storage for the next deltas (see give_back)
  std::size_t kept_max_ = 0;  // the most deltas one run produced
};

}  // namespace mmsb::graph

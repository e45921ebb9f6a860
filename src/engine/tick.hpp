// The tick step: the one place where a tick's steps run, in the one documented order
// (docs/SEMANTICS.md "Ticks and epochs", docs/ARCHITECTURE.md "engine"):
//
//   1. inputs: the tick's transactions in sequence order, or the packets it drained
//      (judged by governance, admitted ones applied), or a merge's effect;
//   2. the rules step (not in a merge tick);
//   3. propagation of derived pages;
//   4. seal: the State after the tick, and in replay its root checked against the log.
//
// The sequencer builds ticks with it (kBuild), replay applies and re-executes logged ticks
// with it (kApply, kReexecute), and a follower applying replicated ticks will call it too.
// It is pure in the State: `before` is never changed, and a failed tick leaves the
// dependency graph as it found it. Replay may run it on a working version instead, which
// it changes in place.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "graph/dependency_graph.hpp"
#include "graph/propagator.hpp"
#include "ingest/ruleset.hpp"
#include "log/tick_record.hpp"
#include "mmsb/engine.hpp"
#include "sched/scheduler.hpp"
#include "state/tables.hpp"

namespace mmsb::engine {

enum class TickMode : std::uint8_t {
  // Live: compute every result (ids, epochs, outcomes, verdicts, receipts, derived deltas)
  // and write it into the record beside the inputs.
  kBuild,
  // Replay: apply the committed transactions (their results must come out as logged), judge
  // the packets again, take the logged rule writes and derived deltas; check the root.
  kApply,
  // Replay as the determinism oracle: run every step again (failed transactions too) and
  // require every logged result; check the root.
  kReexecute,
};

// The tick's steps, in order (for failures and for the test that pins the order).
enum class TickStage : std::uint8_t { kNone, kInputs, kRules, kPropagation, kSeal };

// Test hook: told as each stage of each tick begins (on the thread running the tick).
using StageObserver = std::function<void(TickId tick, TickStage stage)>;

// What a tick uses besides the State: owned by the caller, changed only through the step.
// A pointer a mode does not use may be null (kApply needs only `governor` for ingest ticks).
struct TickContext {
  graph::DependencyGraph* graph = nullptr;  // mirrors `before`'s dependency edges
  graph::Propagator* propagator = nullptr;
  const graph::FunctionMap* functions = nullptr;
  sched::Scheduler* scheduler = nullptr;
  sched::RulesStep* rules_step = nullptr;
  // kBuild: the engine's rules (candidates come from them); kReexecute: the rules known
  // (null: none), a tick whose candidates all have their rule here is scheduled again.
  const sched::RuleMap* rules = nullptr;
  // Ingest ticks: its ruleset set by the caller (the one in force, or the logged one).
  ingest::Governor* governor = nullptr;
  std::span<const Packet> packets;          // kBuild ingest tick: the drained packets, in order
  bool collect_events = false;              // kBuild: propagation collects change events
  const StageObserver* observer = nullptr;  // test hook: null in production
};

struct TickResult {
  Status status;  // ok: `state` is the State after the tick
  TickStage failed_at = TickStage::kNone;
  bool damaged = false;  // the allocator refused (ResourceExhausted): nothing can be kept
  State state;
  // kBuild: per transaction, its ids and receipts, or why it failed.
  std::vector<Result<CommitInfo>> transactions;
  std::uint64_t deltas = 0;  // writes of its committed transactions
  // kBuild, failed_at == kRules: the candidate whose rule failed.
  std::uint32_t failed_origin = 0;
  RuleFamilyId failed_family = 0;
  // kBuild ingest tick: packets by topic (the per-topic statistics), sorted by topic.
  std::vector<EngineStats::IngestTopic> topic_counts;
  sched::RuleCounters rules;
  std::uint64_t rule_commit_ns = 0;
  graph::PropagationCounters propagation;
  std::vector<Event> events;
  // Replay.
  std::uint64_t derived_taken_from_log = 0;
  std::uint64_t rule_candidates_checked = 0;
  bool rules_taken_from_log = false;
  std::uint64_t packets_checked = 0;
  bool ok() const { return status.is_ok(); }
};

// Runs the tick `record.tick` on `before`. In kBuild the record holds the inputs (the
// transactions, a merge's effect, or an ingest section with its time and ruleset; the
// packets come from `ctx.packets`) and gets the results; in the replay modes it is a logged
// record, and a difference from it is Corruption naming the tick and what differs.
TickResult run_tick(const State& before, log::TickRecord& record, TickContext& ctx, TickMode mode);

// Replay on a working version (state::ForkCore::working): the tick is applied to `working`
// itself and sealed there, its root checked, and no State is made (`state` in the result
// stays empty; working.publish() makes one when it is wanted). A failed tick leaves
// `working` part-way through it: drop it.
TickResult run_tick(state::ForkCore& working, log::TickRecord& record, TickContext& ctx,
                    TickMode mode);

}  // namespace mmsb::engine

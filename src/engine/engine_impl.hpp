// Engine internals shared by engine.cpp (the API), sequencer.cpp (the commit thread) and
// transaction.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "core/thread_pool.hpp"
#include "engine/events.hpp"
#include "engine/latency.hpp"
#include "engine/log_committer.hpp"
#include "engine/tick.hpp"
#include "engine/tick_machinery.hpp"
#include "graph/dependency_graph.hpp"
#include "graph/functions.hpp"
#include "graph/propagator.hpp"
#include "ingest/producer.hpp"
#include "ingest/ruleset.hpp"
#include "log/log_file.hpp"
#include "log/tick_record.hpp"
#include "mmsb/engine.hpp"
#include "sched/rule_table.hpp"
#include "sched/scheduler.hpp"
#include "sched/telemetry.hpp"

namespace mmsb::engine {

using SteadyClock = std::chrono::steady_clock;

// Ticks one batch writes before a single sync: group commit across ticks.
inline constexpr std::size_t kTicksPerSyncMax = 64;

// How long the sequencer looks for work before it sleeps (wait_for_work): about the time a
// writer it just answered takes to come back with its next request. Sleeping instead
// costs that writer a wake-up of the sequencer, 10-20 us on the machines measured
// (BM_durable_commit/1: 117 -> 101 us a commit, against an 83 us sync).
inline constexpr std::chrono::microseconds kSequencerSpin{40};

// One queued request: a transaction, a merge of a fork, or a log sync barrier. It lives on
// the submitting thread's stack until its promise is fulfilled.
struct Request {
  // Who waits for the answer; makes that promise only (a promise allocates its state).
  enum class Waiter : std::uint8_t { kCallback, kCommit, kMerge, kSync };
  explicit Request(Waiter waiter)
      : is_merge(waiter == Waiter::kMerge),
        is_sync(waiter == Waiter::kSync),
        done(made<Result<CommitInfo>>(waiter == Waiter::kCommit)),
        merged(made<Result<MergeResult>>(is_merge)),
        synced(made<Status>(is_sync)) {}
  template <typename T>
  static std::optional<std::promise<T>> made(bool wanted) {
    return wanted ? std::optional<std::promise<T>>(std::in_place) : std::nullopt;
  }

  std::vector<log::Op> ops;
  std::uint64_t encoded_bound = 0;  // log::encoded_size_bound(ops), taken at commit
  bool is_merge = false;
  bool is_sync = false;  // make every tick logged so far durable (before a checkpoint)
  State merge_base;
  State merge_theirs;
  MergeOptions merge_options;
  SteadyClock::time_point submitted = SteadyClock::now();
  // How a transaction is answered: the callback of Transaction::commit_async (called on the
  // sequencer thread; the request was allocated for it and is deleted after), or the promise
  // commit() waits on.
  CommitCallback on_done;
  std::optional<std::promise<Result<CommitInfo>>> done;
  std::optional<std::promise<Result<MergeResult>>> merged;
  std::optional<std::promise<Status>> synced;
  // Answers a transaction request; a callback request no longer exists afterwards.
  void finish(Result<CommitInfo> outcome) {
    if (!on_done) {
      done->set_value(std::move(outcome));
      return;
    }
    CommitCallback callback = std::move(on_done);
    delete this;
    callback(std::move(outcome));
  }
};

// A tick being built by the sequencer.
struct PendingTick {
  log::TickRecord record;
  std::vector<Request*> requests;
  // What the tick step gave: per transaction request its CommitInfo or why it failed (a
  // dropped tick's one transaction: the failure), counters, events, per-topic ingest counts.
  TickResult built;
  State state;  // the State after it
  std::optional<Result<MergeResult>> merge_outcome;
  bool dropped = false;  // failed as a whole (a rule or derivation failed): answered, not logged
  bool dropped_by_rule = false;
  // An ingest tick: the producers of its packets (from the drain's snapshot).
  std::shared_ptr<const ingest::ProducerRegistry::List> producers;
  bool logged() const { return !dropped && !(merge_outcome && !merge_outcome->is_ok()); }
};

// The sequencer's own ingest state: used by the sequencer thread only.
struct SequencerIngest {
  std::vector<Packet> drained;  // the drain's buffer
  std::uint64_t time_ns = 0;    // the last ingest tick's logical time (never goes back)
  Hash128 ruleset_logged;       // logged in full by this process (zero: none yet)
  // Kept from tick to tick (megabytes for a full ingest tick: allocating it anew would
  // fault in fresh pages every tick).
  log::IngestSection spare;
};

// Ingest counters the sequencer keeps (under Engine::Impl::stats_mutex).
struct IngestTotals {
  EngineStats::Ingest totals;  // topics, producers, queue depth and latency filled by stats()
  std::map<std::uint32_t, EngineStats::IngestTopic> topics;
  // Backpressure counters of producers already removed (refused, dropped, transitions).
  EngineStats::Ingest gone;
  std::map<std::uint32_t, std::uint64_t> refused_gone;  // by topic
  LatencyHistogram latency;
  // Per-topic rate windows: (start, admitted at start).
  std::map<std::uint32_t, std::pair<SteadyClock::time_point, std::uint64_t>> windows;
};

}  // namespace mmsb::engine

namespace mmsb {

struct Engine::Impl {
  EngineOptions options;
  Env* env = nullptr;
  Clock* clock = nullptr;
  // The sequencer thread's own: the log committer (close() uses it after the thread
  // stopped) and what the tick step keeps from tick to tick.
  std::unique_ptr<engine::LogCommitter> committer;
  std::unique_ptr<engine::TickMachinery> machinery;

  mutable std::mutex publish_mutex;
  // Every State published carries the lineage given at open (state::lineage_of): a fork's
  // base tells whether the fork came from this engine, in this open.
  State published;

  // The doorbell's mutex and condition variable are the request queue's, so one wait
  // covers requests and packets.
  std::shared_ptr<ingest::Doorbell> doorbell = std::make_shared<ingest::Doorbell>();
  std::mutex& queue_mutex = doorbell->mutex;
  std::condition_variable& queue_changed = doorbell->cv;
  std::deque<engine::Request*> queue;
  // queue.size(), kept with it under the mutex, read without it by the sequencer's spin.
  std::atomic<std::size_t> queued{0};
  bool stopping = false;
  bool closed = false;
  // Test hooks (engine/test_hooks.hpp): a paused sequencer takes no batch; it says when it
  // waits, so pause() can return once it is between batches.
  bool paused = false;
  bool sequencer_waiting = false;
  std::condition_variable sequencer_idle;
  struct BuildCounters {
    std::atomic<std::uint64_t> batches{0}, largest_batch{0}, retried_alone{0}, rebuilt{0};
  } build_counters;
  engine::StageObserver stage_observer;
  Status failure;  // sticky: a log write or sync failed; commits are refused until reopen
  std::thread sequencer;

  std::mutex checkpoint_mutex;  // one checkpoint at a time

  // Derived pages and rules: what is registered (snapshotted by each batch).
  graph::FunctionTable functions;
  engine::EventHub events;
  sched::RuleTable rules;
  std::unique_ptr<sched::TelemetryWriter> telemetry;

  // Ingest. set_ruleset publishes a compiled ruleset in `pending_ruleset` (owned; an
  // unseen one is replaced and freed by the next set_ruleset); the sequencer, the only
  // reader of rulesets, takes it at its next ingest tick and frees the one it replaces.
  ingest::ProducerRegistry producers{doorbell};
  mutable std::mutex ruleset_mutex;  // serializes set_ruleset; guards ruleset_set
  std::shared_ptr<const ingest::CompiledRuleset> ruleset_set;
  std::atomic<std::shared_ptr<const ingest::CompiledRuleset>*> pending_ruleset{nullptr};
  engine::SequencerIngest own_ingest;  // sequencer thread only (the governor is the machinery's)
  // Group commit under Durability::kFsync (sequencer thread only): the writers the last
  // synced batch answered, and how long the next batch may wait for them to come back.
  std::size_t answered_by_sync = 0;
  std::chrono::nanoseconds return_window{0};
  // How long work took to come after a batch, on average over the last few (sequencer thread
  // only; wait_for_work): the sequencer spins before it sleeps while this is under a spin.
  std::chrono::nanoseconds idle_gap{0};

  mutable std::mutex stats_mutex;
  EngineStats stats;
  engine::LatencyHistogram latency;
  engine::IngestTotals ingest;

  State head() const {
    std::lock_guard<std::mutex> lock(publish_mutex);
    return published;
  }

  // Queues a request for the sequencer, or says why it cannot.
  Status submit(engine::Request* request);
  ~Impl() { delete pending_ruleset.load(); }
  // A State's tables, for checking a ruleset against it.
  static const state::Tables& tables_of(const State& state);

  // sequencer.cpp
  void run_sequencer();
  void wait_for_work(std::unique_lock<std::mutex>& lock);
  void spin_for(std::size_t requests, std::chrono::nanoseconds limit,
                std::unique_lock<std::mutex>& lock);
  void sync_barrier(engine::Request* barrier);
  void wait_for_returning_writers(std::unique_lock<std::mutex>& lock);
  using ProducerList = std::shared_ptr<const ingest::ProducerRegistry::List>;
  void process(std::vector<engine::Request*>& batch, std::span<const Packet> packets,
               const ProducerList& producers);
  // Builds the batch's ticks on `state` (the packets' tick first); false if the allocator
  // gave out (batch failed).
  bool build_ticks(std::vector<engine::Request*>& batch, std::span<const Packet> packets,
                   const ProducerList& producers, State state,
                   std::vector<engine::PendingTick>& ticks);
  enum class Built { kTick, kRetryAlone, kRebuild, kDamaged };
  // The tick step's context for this batch: the sequencer's graph, propagator, scheduler and
  // governor, and the batch's functions and rules.
  engine::TickContext tick_context(const graph::FunctionMap& functions,
                                   const sched::RuleMap& rules_now);
  // Builds one tick of transactions from batch[next...]. On kRetryAlone (a rule or
  // derivation failed in a tick of several transactions) and kRebuild (a standing or retry
  // rule failed and was suspended) nothing is consumed.
  Built build_transaction_tick(std::vector<engine::Request*>& batch, std::size_t& next,
                               std::size_t limit, const State& state, engine::PendingTick& tick,
                               engine::TickContext& ctx, Status* damage);
  void build_merge_tick(engine::Request* request, const State& state, engine::PendingTick& tick,
                        engine::TickContext& ctx);
  // A standing or retry rule failed the tick: it is suspended (true).
  bool suspend_failed_rule(const engine::TickResult& result);
  // Ingest: whether a ring holds packets; drains up to ingest_tick_packets_max in
  // round-robin order into `drained`; builds the tick that judges and applies them.
  bool packets_waiting() const;
  std::size_t drain(ProducerList& producers);
  Built build_ingest_tick(std::span<const Packet> packets, const State& state,
                          engine::PendingTick& tick, engine::TickContext& ctx, Status* damage);
  // Tells the tick's producers what became of their packets; stats_mutex held.
  void complete_ingest(engine::PendingTick& tick, engine::SteadyClock::time_point now);
  // The packets of a batch that failed as a whole: denied (tick_failed), completed.
  void fail_packets(std::span<const Packet> packets, const ProducerList& producers);
  // Packets left in rings after the sequencer stopped are refused (close).
  void refuse_leftovers();
  Status write_ticks(std::vector<engine::PendingTick>& ticks);
  void complete(std::vector<engine::PendingTick>& ticks, std::uint64_t bytes_logged);
  void fail_all(std::vector<engine::Request*>& batch, const Status& status);
};

struct Transaction::Impl {
  std::shared_ptr<Engine::Impl> engine;  // outlives the Engine: commit() then says closed
  State snapshot;  // what read() reads
  log::OpRecorder recorder;  // the ops, with the provisional ids and sizes of its creations
  Status deferred;  // an error found while recording (a put of the wrong size)
  // The rules apply() checks names against, taken once per transaction (rules are never
  // unregistered, so a later snapshot only has more).
  std::shared_ptr<const sched::RuleMap> rules;
  bool committed = false;

  // Records FailedPrecondition if the last op applies `family`, which is not registered;
  // the message names the rule by `name`, or by its family id without one (built only then).
  void check_rule(RuleFamilyId family, std::optional<std::string_view> name);
  // The checks of commit; the request to submit.
  Result<std::unique_ptr<engine::Request>> seal(engine::Request::Waiter waiter);
};

struct EngineInternals {
  static Engine::Impl& of(Engine& engine) { return *engine.impl_; }
};

}  // namespace mmsb

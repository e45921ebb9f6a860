// Engine: the one place where state changes. Transactions from any number of threads are
// ordered by one sequencer thread into ticks; each tick is applied to the current State,
// written to the write-ahead log, made durable as configured, and only then acknowledged
// and published to readers. Opening a data directory recovers it from the newest checkpoint
// and the log. Contracts: docs/SEMANTICS.md "Engine"; layouts: docs/FORMAT.md.
//
// Thread-safety: every Engine call may be made from any thread. A Transaction belongs to
// the thread that uses it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mmsb/clock.hpp"
#include "mmsb/derive.hpp"
#include "mmsb/env.hpp"
#include "mmsb/fork.hpp"
#include "mmsb/ingest.hpp"
#include "mmsb/merge.hpp"
#include "mmsb/rule.hpp"
#include "mmsb/state.hpp"
#include "mmsb/tick_record.hpp"

namespace mmsb {

enum class Durability : std::uint8_t {
  kNone,   // acknowledged once written to the process's buffers: lost on a process crash
  kFlush,  // acknowledged once handed to the OS: survives a process crash, not power loss
  kFsync,  // acknowledged once synced to stable storage (group commit: one fsync, many ticks)
};

// Most propagation or rule workers an engine may have.
inline constexpr std::size_t kPropagationWorkersMax = 256;
inline constexpr std::size_t kRuleWorkersMax = 256;

struct EngineOptions {
  std::string dir = "./mmsb-data";
  Durability durability = Durability::kFsync;
  Env* env = nullptr;  // nullptr: Env::posix()
  Clock* clock = nullptr;  // nullptr: Clock::system(); must outlive the engine
  StateOptions state;
  // Most transactions one tick takes (group commit bound).
  std::size_t tick_transactions_max = 4096;
  std::uint64_t segment_size_max_bytes = 64ull << 20;
  // Checkpoints kept after a new one is written (at least 1).
  std::size_t checkpoints_kept = 2;
  // Remove log segments whose ticks are all covered by the oldest kept checkpoint.
  bool remove_covered_segments = false;
  // Threads that recompute the derived pages of one topological level (1: the sequencer
  // alone). The result never depends on it.
  std::size_t propagation_workers = 1;
  // Threads that match, footprint and execute rule candidates (1: the sequencer alone).
  // The result never depends on it. Above 1, the engine measures whether the threads make
  // its rule steps faster and uses them only while they do (docs/SEMANTICS.md "Rules and
  // scheduling").
  std::size_t rule_workers = 1;
  // Rule telemetry (docs/SEMANTICS.md "Rules and scheduling"): if set, `reserved` and
  // `conflict` events are appended to this file as JSON lines by a thread of their own.
  std::string rule_telemetry_path;
  // Undelivered event batches one subscriber may have queued before batches are dropped
  // (1 to kEventQueueBatchesMax).
  std::size_t event_queue_batches = 1024;
  // Most packets one ingest tick drains from the producers' rings (1 to
  // kIngestTickPacketsMax).
  std::size_t ingest_tick_packets_max = 65536;
};

inline constexpr std::size_t kIngestTickPacketsMax = 1u << 20;
// An ingest tick stops draining once its packets carry this many payload bytes (it may
// pass it by one round of 64 packets a producer).
inline constexpr std::uint64_t kIngestTickPayloadBytes = 64ull << 20;

// What open() found and did.
struct OpenReport {
  bool created = false;              // the directory held no data
  std::optional<TickId> checkpoint;  // the checkpoint recovery started from
  std::uint64_t ticks_replayed = 0;  // log records applied after it
  TickId tick;                       // the recovered tick
  Hash128 root;                      // its root (equal to the logged one)
  std::string torn_segment;          // non-empty if a torn tail was truncated
  std::uint64_t torn_offset = 0;
  std::uint64_t torn_bytes_dropped = 0;
};

struct EngineStats {
  std::uint64_t ticks = 0;
  std::uint64_t transactions = 0;  // submitted
  std::uint64_t transactions_committed = 0;
  std::uint64_t conflicts = 0;
  std::uint64_t failed = 0;  // rejected for another reason (bad input, I/O)
  std::uint64_t deltas = 0;  // writes applied
  std::uint64_t bytes_logged = 0;
  std::uint64_t fsyncs = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t commit_latency_ns_p50 = 0;  // submit to acknowledgement
  std::uint64_t commit_latency_ns_p99 = 0;
  std::uint64_t commit_latency_ns_p999 = 0;
  // Propagation (docs/SEMANTICS.md "Derived pages").
  std::uint64_t derived_recomputes = 0;  // derivation functions run
  std::uint64_t derived_skipped = 0;     // reached, but no Data parent changed: not run
  std::uint64_t derived_cutoffs = 0;     // recomputed to identical bytes: propagation stops
  std::uint64_t derived_changed = 0;     // recomputed to new bytes (derived deltas)
  std::uint64_t derived_stale = 0;       // marked stale through Control edges
  std::uint64_t derive_failures = 0;     // ticks a derivation function failed (not applied)
  // Events (Engine::subscribe).
  std::uint64_t event_batches_delivered = 0;
  std::uint64_t event_batches_dropped = 0;  // a subscriber's queue was full
  std::uint64_t subscriber_errors = 0;      // callbacks that threw
  // Rules (docs/SEMANTICS.md "Rules and scheduling"); totals over all ticks.
  std::uint64_t rule_candidates = 0;
  std::uint64_t rules_applied = 0;
  std::uint64_t rules_rejected = 0;  // for good
  std::uint64_t rules_deferred = 0;  // rejected, retried later
  std::uint64_t rule_retries = 0;    // candidates on a second or later attempt
  // Transactions refused because a rule they applied failed, plus rules suspended.
  std::uint64_t rule_failures = 0;
  std::uint64_t telemetry_dropped = 0;  // telemetry events dropped: the writer fell behind
  // The last tick that had candidates.
  struct RuleTick {
    std::uint64_t candidates = 0;
    std::uint64_t applied = 0;
    std::uint64_t conflicts = 0;  // rejected or deferred
    std::uint64_t retries = 0;
    double conflict_rate = 0;  // conflicts / (applied + conflicts)
    std::uint64_t skipped = 0;     // the matcher said no, or the scope is gone
    std::uint64_t duplicates = 0;  // repeats of a (rule, scope), collapsed
    std::uint64_t gate_probes = 0;     // reserve-gate marks looked up (footprint entries checked)
    std::uint64_t mask_fast_path = 0;  // reserved by the factor mask alone, no probe
    // Matches reused from the previous tick (Rule::depends_only_on_footprint)
    std::uint64_t matches_reused = 0;
    std::uint64_t reservation_ns = 0;  // match, footprint, canonical sort and reserve gate
    std::uint64_t execution_ns = 0;    // executors, in parallel
    std::uint64_t commit_ns = 0;       // applying the buffers (in page order)
  } last_rule_tick;
  // Ingest (docs/SEMANTICS.md "Ingest and governance"); totals since open.
  struct IngestTopic {
    std::uint32_t topic = 0;
    std::uint64_t admitted = 0;
    std::uint64_t denied = 0;
    std::uint64_t throttled = 0;
    std::uint64_t refused = 0;
    std::uint64_t bytes_admitted = 0;
    double admitted_per_second = 0;  // over the last whole second with packets
  };
  struct Ingest {
    std::uint64_t producers = 0;  // handles in use
    std::uint64_t ticks = 0;      // logged ticks with packets
    std::uint64_t packets = 0;    // judged (drained from the rings)
    std::uint64_t admitted = 0;
    std::uint64_t denied = 0;
    std::uint64_t throttled = 0;
    std::uint64_t refused = 0;  // backpressure: fail fast plus dropped
    std::uint64_t dropped = 0;  // of which drop-oldest
    std::uint64_t denied_by_reason[kDenyReasons] = {};
    std::uint64_t queue_depth = 0;      // packets in the rings now
    std::uint64_t queue_depth_max = 0;  // the most one drain found
    std::uint64_t backpressure_transitions = 0;  // a producer found its ring full
    std::uint64_t latency_ns_p50 = 0;  // submit to durable outcome (sampled)
    std::uint64_t latency_ns_p99 = 0;
    std::uint64_t latency_ns_p999 = 0;
    std::uint64_t ruleset_swaps = 0;  // rulesets put in force by the sequencer
    Hash128 ruleset;                  // the one in force (zero: none)
    std::vector<IngestTopic> topics;  // by topic id
  } ingest;
};

// What a committed transaction became.
struct CommitInfo {
  TickId tick;
  Hash128 root;  // the state root after its tick (State::root of that tick's State)
  std::vector<PageId> created_pages;  // in the order create_page was called
  std::vector<EdgeId> created_edges;  // in the order add_edge was called
  std::vector<RuleReceipt> receipts;  // of its apply() calls, in canonical order
};

// Receives the outcome of Transaction::commit_async.
using CommitCallback = std::function<void(Result<CommitInfo>)>;

class Engine;

// A batch of changes applied atomically: all of it in one tick, or none of it.
//
// Pages and edges it creates get their ids at commit; until then create_page and add_edge
// return provisional ids (top bit set) that the other calls of the same transaction accept.
// read() returns bytes from the snapshot the transaction started on and records the epoch
// seen: if the page changes before the transaction's tick, commit() fails with Conflict.
// A Transaction must not outlive the Engine that began it.
class Transaction {
 public:
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) noexcept;
  ~Transaction();

  PageId create_page(const PageSpec& spec);
  void write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes);
  void put(PageId page, std::span<const std::byte> bytes);
  void delete_page(PageId page);
  EdgeId add_edge(EdgeKind kind, PageId from, PageId to);
  void remove_edge(EdgeId edge);
  // Makes `child` a derived page: from this tick on, propagation keeps it equal to
  // `function` (registered with Engine::register_function, or a built-in) applied to
  // `parents`' bytes in this order. Replaces the child's Data parents (Data edges
  // parent -> child are added, the old ones removed) and any earlier function; an edge that
  // would close a cycle fails the commit with InvalidArgument naming the cycle. The child is
  // computed in the same tick. An empty `function` with no parents makes it underived.
  // Transactions may not write a derived page (InvalidArgument).
  void derive(PageId child, std::span<const PageId> parents, std::string_view function);
  // Asks for `rule` (registered with Engine::register_rule) to run at `scope` in this
  // transaction's tick, after its other operations. The candidate goes through the reserve
  // gate like every other: CommitInfo::receipts says whether it was applied, rejected or
  // deferred. FailedPrecondition at commit if the rule is not registered.
  void apply(std::string_view rule, PageId scope);
  Result<std::span<const std::byte>> read(PageId page);

  // Submits the transaction and waits until its tick is durable at the engine's level.
  // Conflict: a page it read changed first. InvalidArgument / NotFound: an operation was
  // invalid (named in the message). IOError: the log failed; the engine refuses further
  // commits until it is reopened. A derivation function that fails in this transaction's
  // tick fails it with the function's Status naming the page (FailedPrecondition if the
  // function is not registered). In every failure nothing of the transaction is applied.
  Result<CommitInfo> commit();
  // commit() without waiting: `done` gets the same outcome once the tick is durable, on the
  // sequencer thread (so it must be quick and must not wait for the engine: hand the outcome
  // to a thread of your own), or on the calling thread, before commit_async returns, if the
  // transaction is refused before it is submitted. Commits of one thread are ticked in the
  // order they were made.
  void commit_async(CommitCallback done);

  // Appends an operation recorded elsewhere (decoded from the wire protocol, say), as the
  // call of its kind would: ids it creates are the next provisional ones. FailedPrecondition
  // after commit.
  Status add(log::Op op);

  // The snapshot reads come from.
  const State& snapshot() const;

 private:
  friend class Engine;
  struct Impl;
  explicit Transaction(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Applies a transaction's ops to `fork` as a commit would (validated first: all or none;
// ids are assigned from the fork's counters, reads check the fork's epochs), then
// Fork::commit(). CommitInfo has the fork's new tick and root and the ids created. Derive
// and apply (rule) ops are InvalidArgument: a fork has no propagation or rules step.
// FailedPrecondition if the fork has uncommitted changes; ResourceExhausted if the
// allocator refused midway (the fork is then partly written: drop it).
Result<CommitInfo> commit_to_fork(Fork& fork, const std::vector<log::Op>& ops);

class Engine {
 public:
  // Opens or creates the data directory and recovers it (see OpenReport). Corruption names
  // the file and byte offset of anything damaged that is not a torn tail; the engine then
  // refuses to open rather than lose or invent data.
  static Result<std::unique_ptr<Engine>> open(const EngineOptions& options,
                                              OpenReport* report = nullptr);
  ~Engine();  // close()

  // Finishes the pending commits, waits for a running checkpoint, syncs and closes the log.
  Status close();

  Transaction begin();
  // O(1); never waits for a commit.
  State snapshot() const;
  Fork fork() const;
  // Merges a fork of this engine (three-way against the fork's base) as one logged tick.
  // FailedPrecondition if the fork has uncommitted changes (Fork::commit them first);
  // InvalidArgument if it was not made from this engine's states (another engine's, or this
  // directory's before it was reopened, or one built by hand).
  Result<MergeResult> merge(const Fork& fork, const MergeOptions& options = {});

  // Writes a checkpoint of the current State on the calling thread and returns its tick
  // once it is durable. It works from a snapshot, so commits from other threads go on
  // meanwhile; one checkpoint runs at a time (a second call waits for the first).
  Result<TickId> checkpoint();

  // Derived pages (docs/SEMANTICS.md "Derived pages"). Functions are code: register them
  // after every open, before a tick needs them. AlreadyExists if the name is taken.
  Status register_function(const std::string& name, DeriveFunction function);
  // One transaction that derives `child` (Transaction::derive) and commits.
  Result<CommitInfo> derive(PageId child, std::span<const PageId> parents,
                            std::string_view function);

  // Rules (docs/SEMANTICS.md "Rules and scheduling"). Rules are code: register them after
  // every open, before a tick needs them. InvalidArgument for a malformed rule;
  // AlreadyExists if the name (or its family id) is taken. A standing rule gets candidates
  // from the next tick on.
  Status register_rule(Rule rule);
  // One transaction that applies `rule` at `scope` (Transaction::apply) and commits.
  Result<CommitInfo> apply(std::string_view rule, PageId scope);
  // OK for a registered rule that runs; NotFound if not registered; the failure that
  // suspended it otherwise (a standing rule or retry whose rule fails is suspended: it gets
  // no standing or retry candidates until the engine is reopened).
  Status rule_status(std::string_view rule) const;

  // Events: `callback` receives one batch per tick with the events `filter` selects, on a
  // thread of its own, after the tick is durable (docs/SEMANTICS.md "Events"). Returns the
  // subscription's id.
  Result<std::uint64_t> subscribe(EventFilter filter, EventCallback callback);
  // Delivers nothing more to it; waits for a callback in progress (do not call it from the
  // subscriber's own callback). NotFound if there is no such subscription.
  Status unsubscribe(std::uint64_t subscription);

  // Ingest (docs/SEMANTICS.md "Ingest and governance"). A handle for one producer thread;
  // InvalidArgument for bad options, AlreadyExists if the id has a handle, Unavailable
  // after close.
  Result<Producer> producer(const ProducerOptions& options = {});
  // Checks `ruleset` (InvalidArgument naming the topic: duplicate topics, impossible rates,
  // a mapping to a missing or derived page or past its end, against the current State),
  // stores it durably in the data directory and hands it to the sequencer, which puts it in
  // force at its next ingest tick; the data path never waits for it. Returns its hash.
  // Setting the ruleset already set (the same hash) only checks it. On error the ruleset in
  // force stays.
  Result<Hash128> set_ruleset(const Ruleset& ruleset);
  // The last ruleset set (or recovered at open); nullopt if none.
  std::optional<Ruleset> ruleset() const;

  EngineStats stats() const;
  const EngineOptions& options() const;

 private:
  friend class Transaction;
  friend struct EngineInternals;  // engine/engine_impl.hpp: the engine's own code and tests
  struct Impl;
  explicit Engine(std::shared_ptr<Impl> impl);
  // Shared with its transactions, which may outlive it: after close() they get Unavailable.
  std::shared_ptr<Impl> impl_;
};

}  // namespace mmsb

/* mmsb's C ABI: the embedded engine from C and from any language with a C FFI.
 *
 * Library: libmmsb.so (SONAME libmmsb.so.0, the CMake target mmsb::mmsb_c), which exports
 * only the mmsb_* functions below. Contracts: docs/SEMANTICS.md "C ABI".
 *
 * Conventions:
 * - Every fallible call returns an mmsb_status (MMSB_OK is 0). On failure, mmsb_last_error()
 *   on the same thread returns the engine's message naming what went wrong; it stays valid
 *   until the next mmsb_* call on that thread. Out-parameters are written only on success,
 *   and a failed call leaves every handle as it was. No C++ exception crosses this ABI.
 * - Handles are opaque and freed by their *_free (or mmsb_engine_close). Free the handles
 *   made from an engine (transactions, snapshots, forks, producers) before or after closing
 *   it: after mmsb_engine_close their calls fail with MMSB_UNAVAILABLE, and they must still be
 *   freed. Passing NULL where a handle or out-parameter is required is MMSB_INVALID_ARGUMENT.
 * - Bytes returned by reads point into the engine's storage without a copy; they stay valid
 *   as long as the handle they came from (docs/SEMANTICS.md "C ABI").
 * - Ids are uint64_t (0: none); a root is 16 bytes (docs/FORMAT.md "Hash128").
 * - Thread-safety: an engine may be used from any number of threads; each other handle by
 *   one thread at a time. Callbacks run on engine threads and must not call back into the
 *   engine they came from (except mmsb_last_error and the view/sink/footprint calls given
 *   to them).
 */
#ifndef MMSB_MMSB_H
#define MMSB_MMSB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI's version: bumped when a function's signature or a struct's layout changes. */
#define MMSB_ABI_VERSION 1u

/* Every enum ends in a *_MAX_ enumerator that is never a valid argument: it makes the enum
 * 32 bits wide with every int value representable, so an out-of-range value from another
 * language is refused with MMSB_INVALID_ARGUMENT rather than being undefined. */

typedef enum mmsb_status {
  MMSB_OK = 0,
  MMSB_INVALID_ARGUMENT = 1,
  MMSB_NOT_FOUND = 2,
  MMSB_ALREADY_EXISTS = 3,
  MMSB_CONFLICT = 4,
  MMSB_CORRUPTION = 5,
  MMSB_IO_ERROR = 6,
  MMSB_RESOURCE_EXHAUSTED = 7,
  MMSB_PERMISSION_DENIED = 8,
  MMSB_UNAVAILABLE = 9,
  MMSB_FAILED_PRECONDITION = 10,
  MMSB_INTERNAL = 11,
  MMSB_STATUS_MAX_ = 0x7fffffff
} mmsb_status;

uint32_t mmsb_abi_version(void);
/* "0.2.0" */
const char* mmsb_version(void);
/* The stable name of a status ("Conflict"); "Unknown" for a value that is none. */
const char* mmsb_status_name(mmsb_status status);
/* The message of the last failed call on this thread ("" if none). */
const char* mmsb_last_error(void);

typedef struct mmsb_engine mmsb_engine;
typedef struct mmsb_txn mmsb_txn;
typedef struct mmsb_snapshot mmsb_snapshot;
typedef struct mmsb_fork mmsb_fork;
typedef struct mmsb_producer mmsb_producer;

typedef struct mmsb_hash {
  uint8_t bytes[16];
} mmsb_hash;

/* ---- Engine ---------------------------------------------------------------------------- */

typedef enum mmsb_durability {
  MMSB_DURABILITY_NONE = 0,
  MMSB_DURABILITY_FLUSH = 1,
  MMSB_DURABILITY_FSYNC = 2,
  MMSB_DURABILITY_MAX_ = 0x7fffffff
} mmsb_durability;

typedef struct mmsb_engine_options {
  uint32_t struct_size; /* sizeof(mmsb_engine_options): set by mmsb_engine_options_init */
  uint32_t durability;  /* mmsb_durability */
  uint32_t propagation_workers;
  uint32_t rule_workers;
  uint64_t page_size_max_bytes;
  uint64_t ingest_tick_packets_max;
} mmsb_engine_options;

/* The defaults of EngineOptions (durability fsync, one worker each). */
void mmsb_engine_options_init(mmsb_engine_options* options);
/* Opens or creates data directory `dir` and recovers it; `options` may be NULL (defaults). */
mmsb_status mmsb_engine_open(const char* dir, const mmsb_engine_options* options,
                             mmsb_engine** out);
/* Closes the engine (finishing its pending commits) and frees the handle, even on error. */
mmsb_status mmsb_engine_close(mmsb_engine* engine);
/* Writes a checkpoint; its tick in *tick. */
mmsb_status mmsb_engine_checkpoint(mmsb_engine* engine, uint64_t* tick);

typedef struct mmsb_stats {
  uint64_t ticks, transactions, transactions_committed, conflicts, failed, deltas;
  uint64_t bytes_logged, fsyncs, checkpoints;
  uint64_t commit_latency_ns_p50, commit_latency_ns_p99;
  uint64_t derived_recomputes, derived_changed, derive_failures;
  uint64_t event_batches_delivered, event_batches_dropped, subscriber_errors;
  uint64_t rule_candidates, rules_applied, rules_rejected, rule_failures;
  uint64_t ingest_packets, ingest_admitted, ingest_denied, ingest_throttled, ingest_refused;
} mmsb_stats;
mmsb_status mmsb_engine_stats(const mmsb_engine* engine, mmsb_stats* out);

/* ---- Transactions ---------------------------------------------------------------------- */

/* What a committed transaction became. The arrays belong to the transaction handle and stay
 * valid until it is freed. */
typedef struct mmsb_receipt {
  uint64_t family;
  uint64_t scope;
  uint32_t outcome; /* 1 applied, 2 rejected, 3 deferred, 4 skipped, 5 duplicate */
  uint32_t attempt;
  uint64_t retry_at;
} mmsb_receipt;

typedef struct mmsb_commit_info {
  uint64_t tick;
  mmsb_hash root;
  const uint64_t* created_pages; /* in the order mmsb_txn_create_page was called */
  size_t created_pages_count;
  const uint64_t* created_edges;
  size_t created_edges_count;
  const mmsb_receipt* receipts;
  size_t receipts_count;
} mmsb_commit_info;

mmsb_status mmsb_txn_begin(mmsb_engine* engine, mmsb_txn** out);
/* Frees the transaction; one not committed is abandoned (nothing of it is applied). */
void mmsb_txn_free(mmsb_txn* txn);
/* A page of `size` bytes, zero-filled (initial NULL) or a copy of `initial` (size bytes).
 * *page is provisional (top bit set) until commit; the transaction's other calls take it. */
mmsb_status mmsb_txn_create_page(mmsb_txn* txn, uint32_t type, uint64_t size, const void* initial,
                                 uint64_t* page);
mmsb_status mmsb_txn_write(mmsb_txn* txn, uint64_t page, uint64_t offset, const void* bytes,
                           size_t length);
mmsb_status mmsb_txn_put(mmsb_txn* txn, uint64_t page, const void* bytes, size_t length);
mmsb_status mmsb_txn_delete_page(mmsb_txn* txn, uint64_t page);
mmsb_status mmsb_txn_add_edge(mmsb_txn* txn, uint32_t kind, uint64_t from, uint64_t to,
                              uint64_t* edge);
mmsb_status mmsb_txn_remove_edge(mmsb_txn* txn, uint64_t edge);
mmsb_status mmsb_txn_derive(mmsb_txn* txn, uint64_t child, const uint64_t* parents,
                            size_t parents_count, const char* function);
mmsb_status mmsb_txn_apply(mmsb_txn* txn, const char* rule, uint64_t scope);
/* The page's bytes in the transaction's snapshot (valid while the transaction lives); the
 * epoch seen is recorded: the commit fails with MMSB_CONFLICT if the page changes first. */
mmsb_status mmsb_txn_read(mmsb_txn* txn, uint64_t page, const void** bytes, size_t* length);
/* Commits and waits until the tick is durable. *info may be NULL. A transaction commits once
 * (MMSB_FAILED_PRECONDITION after). */
mmsb_status mmsb_txn_commit(mmsb_txn* txn, mmsb_commit_info* info);

/* ---- Snapshots ------------------------------------------------------------------------- */

typedef struct mmsb_page {
  uint64_t id;
  uint32_t type;
  uint64_t epoch;
  const void* bytes; /* zero-copy: valid while the snapshot or fork lives (a fork: until its
                      * next write to the page) */
  uint64_t size;
} mmsb_page;

/* O(1); never waits for a commit. */
mmsb_status mmsb_engine_snapshot(const mmsb_engine* engine, mmsb_snapshot** out);
void mmsb_snapshot_free(mmsb_snapshot* snapshot);
uint64_t mmsb_snapshot_tick(const mmsb_snapshot* snapshot);
mmsb_hash mmsb_snapshot_root(const mmsb_snapshot* snapshot);
uint64_t mmsb_snapshot_page_count(const mmsb_snapshot* snapshot);
mmsb_status mmsb_snapshot_page(const mmsb_snapshot* snapshot, uint64_t page, mmsb_page* out);
/* Calls `visit` for every page in id order; a non-zero return stops the walk and is
 * returned as MMSB_FAILED_PRECONDITION. */
mmsb_status mmsb_snapshot_for_each_page(const mmsb_snapshot* snapshot,
                                        int (*visit)(void* user, const mmsb_page* page),
                                        void* user);

/* ---- Forks and merge ------------------------------------------------------------------- */

typedef enum mmsb_merge_policy {
  MMSB_MERGE_FAIL = 0,
  MMSB_MERGE_PREFER_OURS = 1,
  MMSB_MERGE_PREFER_THEIRS = 2,
  MMSB_MERGE_POLICY_MAX_ = 0x7fffffff
} mmsb_merge_policy;

typedef struct mmsb_merge_info {
  uint64_t tick;
  mmsb_hash root;
  uint32_t path; /* 0 theirs unchanged, 1 ours unchanged, 2 three-way */
  uint64_t pages_taken_from_theirs, pages_merged, clashes_resolved;
} mmsb_merge_info;

/* A private branch of the engine's current state (O(1)). */
mmsb_status mmsb_engine_fork(const mmsb_engine* engine, mmsb_fork** out);
void mmsb_fork_free(mmsb_fork* fork);
mmsb_status mmsb_fork_create_page(mmsb_fork* fork, uint32_t type, uint64_t size,
                                  const void* initial, uint64_t* page);
mmsb_status mmsb_fork_write(mmsb_fork* fork, uint64_t page, uint64_t offset, const void* bytes,
                            size_t length);
mmsb_status mmsb_fork_put(mmsb_fork* fork, uint64_t page, const void* bytes, size_t length);
mmsb_status mmsb_fork_delete_page(mmsb_fork* fork, uint64_t page);
/* Reads see the fork's own writes. */
mmsb_status mmsb_fork_page(const mmsb_fork* fork, uint64_t page, mmsb_page* out);
/* Seals the fork's writes into its next version (its head); *tick and *root may be NULL. */
mmsb_status mmsb_fork_commit(mmsb_fork* fork, uint64_t* tick, mmsb_hash* root);
/* Merges the fork's committed head into the engine as one logged tick. */
mmsb_status mmsb_engine_merge(mmsb_engine* engine, const mmsb_fork* fork, mmsb_merge_policy policy,
                              mmsb_merge_info* info);

/* ---- Replay and verification (a data directory no engine has open) --------------------- */

typedef struct mmsb_replay_info {
  uint64_t tick;
  mmsb_hash root;
  uint64_t ticks_applied;
  uint64_t bytes_read;
  uint64_t checkpoint; /* the tick of the checkpoint it started from; 0: none */
} mmsb_replay_info;

/* The state of `dir` at tick `to` (0: the last), every tick checked against its logged root;
 * reexecute != 0 runs every tick again (built-in functions only) instead of applying it.
 * *snapshot (may be NULL) receives the replayed state. */
mmsb_status mmsb_replay(const char* dir, uint64_t to, int reexecute, mmsb_replay_info* info,
                        mmsb_snapshot** snapshot);
/* Re-executes what open would recover and checks every checkpoint. *ok is 1 if the directory
 * verifies; if not, mmsb_last_error() says why (the call itself returns MMSB_OK). */
mmsb_status mmsb_verify(const char* dir, int* ok, mmsb_replay_info* info);

/* ---- Derived pages and rules ----------------------------------------------------------- */

/* Writes the child's new content (exactly out_length bytes, the child's size) into `out`.
 * A non-zero return fails the tick; `message` (if set, NUL-terminated) says why. */
typedef int (*mmsb_derive_fn)(void* user, uint64_t child, const void* const* parents,
                              const size_t* parent_lengths, size_t parents_count, void* out,
                              size_t out_length, char* message, size_t message_capacity);
mmsb_status mmsb_engine_register_function(mmsb_engine* engine, const char* name,
                                          mmsb_derive_fn function, void* user);

typedef struct mmsb_rule_view mmsb_rule_view;
typedef struct mmsb_footprint mmsb_footprint;
typedef struct mmsb_delta_sink mmsb_delta_sink;
/* Inside callbacks only. A page outside the executor's footprint fails (and aborts the tick). */
mmsb_status mmsb_rule_view_page(const mmsb_rule_view* view, uint64_t page, mmsb_page* out);
mmsb_status mmsb_footprint_read(mmsb_footprint* footprint, uint64_t page);
mmsb_status mmsb_footprint_write(mmsb_footprint* footprint, uint64_t page);
mmsb_status mmsb_delta_sink_write(mmsb_delta_sink* sink, uint64_t page, uint64_t offset,
                                  const void* bytes, size_t length);

typedef struct mmsb_rule {
  const char* name;
  /* Declares what a candidate at `scope` may touch; non-zero fails it. */
  int (*footprint)(void* user, const mmsb_rule_view* view, uint64_t scope, mmsb_footprint* out);
  /* The rewrite; non-zero aborts the tick. */
  int (*executor)(void* user, const mmsb_rule_view* view, uint64_t scope, mmsb_delta_sink* out);
  void* user;
  int standing; /* non-zero: a candidate at every page of standing_type, every tick */
  uint32_t standing_type;
} mmsb_rule;
mmsb_status mmsb_engine_register_rule(mmsb_engine* engine, const mmsb_rule* rule);

/* ---- Subscriptions ----------------------------------------------------------------------- */

typedef struct mmsb_event {
  uint32_t type; /* 0 invalidated, 1 applied, 2 changed, 3 stale */
  uint64_t page;
  uint64_t epoch;
} mmsb_event;

/* One tick's events, on the subscription's own thread, after the tick is durable. */
typedef void (*mmsb_event_fn)(void* user, uint64_t tick, const mmsb_event* events,
                              size_t events_count, uint64_t batches_dropped_before);
/* `pages` (pages_count of them; 0: every page) and `types` (bit 1 << type; 0: all) filter. */
mmsb_status mmsb_engine_subscribe(mmsb_engine* engine, const uint64_t* pages, size_t pages_count,
                                  uint32_t types, mmsb_event_fn callback, void* user,
                                  uint64_t* subscription);
/* Waits for a callback in progress (do not call it from the callback). */
mmsb_status mmsb_engine_unsubscribe(mmsb_engine* engine, uint64_t subscription);

/* ---- Ingest ------------------------------------------------------------------------------ */

typedef enum mmsb_topic_action {
  MMSB_TOPIC_OVERWRITE = 1,
  MMSB_TOPIC_WRITE_AT_OFFSET = 2,
  MMSB_TOPIC_APPEND = 3,
  MMSB_TOPIC_ACTION_MAX_ = 0x7fffffff
} mmsb_topic_action;

typedef struct mmsb_topic_rule {
  uint32_t topic;
  int allow;
  uint32_t action; /* mmsb_topic_action */
  uint64_t page;
  uint32_t record_bytes; /* MMSB_TOPIC_APPEND */
  uint32_t max_payload_bytes;
  uint64_t rate_per_second, burst; /* 0, 0: no limit */
} mmsb_topic_rule;

/* Puts a governance ruleset in force (replacing the last one). */
mmsb_status mmsb_engine_set_ruleset(mmsb_engine* engine, const mmsb_topic_rule* topics,
                                    size_t topics_count);

typedef enum mmsb_backpressure {
  MMSB_BACKPRESSURE_BLOCK = 0,
  MMSB_BACKPRESSURE_FAIL_FAST = 1,
  MMSB_BACKPRESSURE_DROP_OLDEST = 2,
  MMSB_BACKPRESSURE_MAX_ = 0x7fffffff
} mmsb_backpressure;

typedef struct mmsb_producer_counters {
  uint64_t submitted, admitted, denied, throttled, refused, dropped, completed_sequence;
} mmsb_producer_counters;

/* A producer handle (one thread at a time); ring_packets 0: the default. */
mmsb_status mmsb_engine_producer(mmsb_engine* engine, mmsb_backpressure backpressure,
                                 size_t ring_packets, mmsb_producer** out);
void mmsb_producer_free(mmsb_producer* producer);
/* One packet, payload inline (at most 40 bytes); its sequence in *sequence (may be NULL). */
mmsb_status mmsb_producer_submit(mmsb_producer* producer, uint32_t topic, const void* payload,
                                 size_t length, uint64_t* sequence);
/* `count` packets of `record_bytes` bytes each (at most 40), laid out back to back. *accepted
 * (may be NULL) says how many entered the ring (fewer only in fail-fast mode). */
mmsb_status mmsb_producer_submit_many(mmsb_producer* producer, uint32_t topic, const void* records,
                                      size_t record_bytes, size_t count, size_t* accepted);
/* Waits until every submitted packet has its outcome. */
mmsb_status mmsb_producer_flush(mmsb_producer* producer);
mmsb_status mmsb_producer_counters_get(const mmsb_producer* producer, mmsb_producer_counters* out);

#ifdef __cplusplus
}
#endif

#endif /* MMSB_MMSB_H */

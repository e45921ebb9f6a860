// The Engine: a sequencer thread that turns queued transactions into ticks, logs them and
// publishes the result. See include/mmsb/engine.hpp and docs/ARCHITECTURE.md "engine".
#include "mmsb/engine.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "engine/apply.hpp"
#include "engine/latency.hpp"
#include "engine/replay.hpp"
#include "log/checkpoint.hpp"
#include "log/log_file.hpp"
#include "log/tick_record.hpp"

namespace mmsb {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t wall_time_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// One queued request: a transaction, a merge of a fork, or a log sync barrier.
struct Request {
  std::vector<log::Op> ops;
  bool is_merge = false;
  bool is_sync = false;  // make every tick logged so far durable (before a checkpoint)
  std::promise<Status> synced;
  State merge_base;
  State merge_theirs;
  MergeOptions merge_options;
  Clock::time_point submitted = Clock::now();
  std::promise<Result<CommitInfo>> done;
  std::promise<Result<MergeResult>> merged;
};

// Ticks one batch writes before a single sync: group commit across ticks.
constexpr std::size_t kTicksPerSyncMax = 64;

}  // namespace

struct Engine::Impl {
  EngineOptions options;
  Env* env = nullptr;
  std::unique_ptr<log::LogWriter> writer;
  Hash128 previous_record_hash;

  mutable std::mutex publish_mutex;
  State published;

  std::mutex queue_mutex;
  std::condition_variable queue_changed;
  std::deque<Request*> queue;
  bool stopping = false;
  bool closed = false;
  Status failure;  // sticky: a log write or sync failed; commits are refused until reopen
  std::thread sequencer;

  std::mutex checkpoint_mutex;  // one checkpoint at a time

  mutable std::mutex stats_mutex;
  EngineStats stats;
  engine::LatencyHistogram latency;

  State head() const {
    std::lock_guard<std::mutex> lock(publish_mutex);
    return published;
  }

  Status submit(Request* request) {
    std::lock_guard<std::mutex> lock(queue_mutex);
    if (closed || stopping) return Status(StatusCode::kUnavailable, "engine is closed");
    if (!failure.is_ok()) {
      return io_error("engine refuses commits after a log failure (reopen to recover): " +
                      failure.message());
    }
    queue.push_back(request);
    queue_changed.notify_one();
    return Status::ok();
  }

  void run_sequencer();
  void process(std::vector<Request*>& batch);
  void fail_all(std::vector<Request*>& batch, const Status& status);
};

namespace {

// A tick being built from transactions.
struct PendingTick {
  log::TickRecord record;
  std::vector<Request*> requests;
  std::vector<Result<CommitInfo>> outcomes;
  State state;
  std::optional<Result<MergeResult>> merge_outcome;
};

}  // namespace

void Engine::Impl::run_sequencer() {
  const std::size_t batch_max = options.tick_transactions_max * kTicksPerSyncMax;
  std::vector<Request*> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(queue_mutex);
      queue_changed.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping and drained
      if (queue.front()->is_sync) {
        Request* barrier = queue.front();
        queue.pop_front();
        lock.unlock();
        Status synced = writer->sync();
        if (!synced.is_ok()) {
          std::lock_guard<std::mutex> relock(queue_mutex);
          failure = synced;
        }
        barrier->synced.set_value(synced);
        continue;
      }
      while (!queue.empty() && !queue.front()->is_sync && batch.size() < batch_max) {
        batch.push_back(queue.front());
        queue.pop_front();
      }
    }
    process(batch);
    batch.clear();
  }
}

void Engine::Impl::fail_all(std::vector<Request*>& batch, const Status& status) {
  for (Request* request : batch) {
    if (request->is_merge) {
      request->merged.set_value(status);
    } else {
      request->done.set_value(status);
    }
  }
}

void Engine::Impl::process(std::vector<Request*>& batch) {
  {
    std::lock_guard<std::mutex> lock(queue_mutex);
    if (!failure.is_ok()) {
      fail_all(batch, io_error("engine refuses commits after a log failure: " + failure.message()));
      return;
    }
  }
  State state = head();
  std::vector<PendingTick> ticks;
  std::size_t next = 0;
  while (next < batch.size()) {
    PendingTick tick;
    tick.record.tick = TickId(state.tick().value() + 1);
    if (batch[next]->is_merge) {
      Request* request = batch[next++];
      auto merged =
          ::mmsb::merge(request->merge_base, state, request->merge_theirs, request->merge_options);
      tick.requests.push_back(request);
      if (!merged.is_ok()) {
        tick.merge_outcome = merged.status();
        tick.state = state;  // nothing to log
        ticks.push_back(std::move(tick));
        continue;
      }
      tick.record.has_merge = true;
      tick.record.merge = engine::merge_effect(state, merged->state);
      tick.state = merged->state;
      tick.merge_outcome = std::move(merged);
    } else {
      state::ForkCore fork(state);
      std::uint64_t tick_bytes = 0;
      while (next < batch.size() && !batch[next]->is_merge &&
             tick.requests.size() < options.tick_transactions_max) {
        const std::uint64_t request_bytes = log::encoded_size_bound(batch[next]->ops);
        if (!tick.requests.empty() && tick_bytes + request_bytes > log::kTickBytesMax) break;
        tick_bytes += request_bytes;
        Request* request = batch[next++];
        CommitInfo info;
        bool damaged = false;
        Status outcome = engine::apply_transaction(fork, request->ops, &info, &damaged);
        if (damaged) {
          // The allocator refused mid-transaction: drop every tick of this batch.
          fail_all(batch, outcome);
          return;
        }
        info.tick = tick.record.tick;
        tick.record.transactions.push_back(log::TransactionInput{request->ops, outcome.code()});
        tick.requests.push_back(request);
        if (outcome.is_ok()) {
          tick.outcomes.emplace_back(std::move(info));
        } else {
          tick.outcomes.emplace_back(outcome);
        }
      }
      tick.state = fork.commit_as(tick.record.tick);
    }
    state = tick.state;
    ticks.push_back(std::move(tick));
  }

  // Log every tick of the batch, then make them durable once.
  Status logged;
  std::uint64_t bytes_before = writer->bytes_written();
  std::vector<std::byte> payload;
  Hash128 chain = previous_record_hash;
  for (PendingTick& tick : ticks) {
    if (tick.merge_outcome && !tick.merge_outcome->is_ok()) continue;
    tick.record.previous = chain;
    tick.record.root = tick.state.root();
    tick.record.wall_time_ns = wall_time_ns();
    payload.clear();
    log::encode_tick_record(tick.record, payload);
    logged = writer->append(tick.record.tick, payload);
    if (!logged.is_ok()) break;
    chain = xxh3_128(payload);
  }
  if (logged.is_ok()) {
    if (options.durability == Durability::kFlush) logged = writer->flush();
    if (options.durability == Durability::kFsync) logged = writer->sync();
  }
  if (!logged.is_ok()) {
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      failure = logged;
    }
    fail_all(batch, logged);
    return;
  }
  previous_record_hash = chain;
  {
    std::lock_guard<std::mutex> lock(publish_mutex);
    published = state;
  }
  const Clock::time_point now = Clock::now();
  std::lock_guard<std::mutex> lock(stats_mutex);
  stats.bytes_logged += writer->bytes_written() - bytes_before;
  stats.fsyncs = writer->syncs();
  for (PendingTick& tick : ticks) {
    bool logged_tick = !(tick.merge_outcome && !tick.merge_outcome->is_ok());
    if (logged_tick) ++stats.ticks;
    if (tick.merge_outcome) {
      tick.requests[0]->merged.set_value(std::move(*tick.merge_outcome));
      continue;
    }
    for (std::size_t i = 0; i < tick.requests.size(); ++i) {
      Request* request = tick.requests[i];
      ++stats.transactions;
      const Result<CommitInfo>& outcome = tick.outcomes[i];
      if (outcome.is_ok()) {
        ++stats.transactions_committed;
        for (const log::Op& op : request->ops) stats.deltas += op.kind == log::OpKind::kWrite;
      } else if (outcome.status().code() == StatusCode::kConflict) {
        ++stats.conflicts;
      } else {
        ++stats.failed;
      }
      latency.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - request->submitted).count()));
      request->done.set_value(std::move(tick.outcomes[i]));
    }
  }
}

// ---- Transaction ----

struct Transaction::Impl {
  Engine::Impl* engine;
  State snapshot;
  std::vector<log::Op> ops;
  std::uint64_t pages_created = 0;
  std::uint64_t edges_created = 0;
  bool committed = false;
};

Transaction::Transaction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Transaction::Transaction(Transaction&&) noexcept = default;
Transaction& Transaction::operator=(Transaction&&) noexcept = default;
Transaction::~Transaction() = default;

PageId Transaction::create_page(const PageSpec& spec) {
  log::Op op;
  op.kind = log::OpKind::kCreatePage;
  op.type = spec.type;
  op.size_bytes = spec.size_bytes;
  op.bytes.assign(spec.initial.begin(), spec.initial.end());
  impl_->ops.push_back(std::move(op));
  return PageId(log::kProvisionalBit | impl_->pages_created++);
}

void Transaction::write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes) {
  log::Op op;
  op.kind = log::OpKind::kWrite;
  op.page = page.value();
  op.offset = offset;
  op.bytes.assign(bytes.begin(), bytes.end());
  impl_->ops.push_back(std::move(op));
}

void Transaction::put(PageId page, std::span<const std::byte> bytes) {
  // A put is a write of the whole page; a size mismatch is caught at commit.
  if (!log::is_provisional(page.value())) {
    auto view = impl_->snapshot.page(page);
    if (view.is_ok() && view->size_bytes != bytes.size()) {
      log::Op op;  // a write that cannot fit, so commit reports it with the page named
      op.kind = log::OpKind::kWrite;
      op.page = page.value();
      op.offset = view->size_bytes;
      op.bytes.assign(bytes.begin(), bytes.end());
      if (bytes.size() < view->size_bytes) op.offset = view->size_bytes + 1;
      impl_->ops.push_back(std::move(op));
      return;
    }
  }
  write(page, 0, bytes);
}

void Transaction::delete_page(PageId page) {
  log::Op op;
  op.kind = log::OpKind::kDeletePage;
  op.page = page.value();
  impl_->ops.push_back(std::move(op));
}

EdgeId Transaction::add_edge(EdgeKind kind, PageId from, PageId to) {
  log::Op op;
  op.kind = log::OpKind::kAddEdge;
  op.edge_kind = kind;
  op.from = from.value();
  op.to = to.value();
  impl_->ops.push_back(std::move(op));
  return EdgeId(log::kProvisionalBit | impl_->edges_created++);
}

void Transaction::remove_edge(EdgeId edge) {
  log::Op op;
  op.kind = log::OpKind::kRemoveEdge;
  op.edge = edge.value();
  impl_->ops.push_back(std::move(op));
}

Result<std::span<const std::byte>> Transaction::read(PageId page) {
  MMSB_ASSIGN_OR_RETURN(PageView view, impl_->snapshot.page(page));
  log::Op op;
  op.kind = log::OpKind::kRead;
  op.page = page.value();
  op.epoch = view.epoch.value();
  impl_->ops.push_back(std::move(op));
  return view.bytes;
}

const State& Transaction::snapshot() const { return impl_->snapshot; }

Result<CommitInfo> Transaction::commit() {
  if (impl_->committed) return failed_precondition("transaction already committed");
  impl_->committed = true;
  if (impl_->ops.size() > log::kOpsPerTransactionMax) {
    return resource_exhausted("transaction of " + std::to_string(impl_->ops.size()) +
                              " operations exceeds the limit of " +
                              std::to_string(log::kOpsPerTransactionMax));
  }
  if (log::encoded_size_bound(impl_->ops) > log::kTransactionBytesMax) {
    return resource_exhausted(
        "transaction of about " + std::to_string(log::encoded_size_bound(impl_->ops)) +
        " bytes exceeds the limit of " + std::to_string(log::kTransactionBytesMax));
  }
  Request request;
  request.ops = std::move(impl_->ops);
  std::future<Result<CommitInfo>> result = request.done.get_future();
  MMSB_RETURN_IF_ERROR(impl_->engine->submit(&request));
  return result.get();
}

// ---- Engine ----

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() { close().ignore(); }

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& options, OpenReport* report) {
  if (options.tick_transactions_max == 0 || options.checkpoints_kept == 0) {
    return invalid_argument(
        "engine options: tick_transactions_max and checkpoints_kept must be >= 1");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->env = options.env != nullptr ? options.env : Env::posix();
  Env& env = *impl->env;
  MMSB_RETURN_IF_ERROR(env.create_dir(options.dir));
  OpenReport local;
  OpenReport& out = report != nullptr ? *report : local;
  out = OpenReport{};
  out.created = !env.file_exists(engine::log_dir_of(options.dir)) &&
                !env.file_exists(engine::checkpoint_dir_of(options.dir));

  engine::ReplaySummary summary;
  MMSB_ASSIGN_OR_RETURN(State state, engine::replay(env, options.dir, options.state, {}, &summary));
  if (summary.torn) {
    const log::TornTail& torn = *summary.torn;
    if (torn.offset == 0) {
      MMSB_RETURN_IF_ERROR(env.remove_file(torn.path));
    } else {
      MMSB_RETURN_IF_ERROR(env.truncate_file(torn.path, torn.offset));
    }
    MMSB_RETURN_IF_ERROR(env.sync_dir(engine::log_dir_of(options.dir)));
    out.torn_segment = torn.path;
    out.torn_offset = torn.offset;
    out.torn_bytes_dropped = torn.bytes_dropped;
  }
  out.checkpoint = summary.checkpoint;
  out.ticks_replayed = summary.ticks_applied;
  out.tick = state.tick();
  out.root = state.root();

  MMSB_ASSIGN_OR_RETURN(impl->writer, log::LogWriter::open(&env, engine::log_dir_of(options.dir),
                                                           options.segment_size_max_bytes));
  impl->previous_record_hash = summary.last_record_hash;
  impl->published = state;
  Impl* raw = impl.get();
  impl->sequencer = std::thread([raw] { raw->run_sequencer(); });
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Status Engine::close() {
  {
    std::lock_guard<std::mutex> lock(impl_->queue_mutex);
    if (impl_->closed) return Status::ok();
    impl_->stopping = true;
    impl_->queue_changed.notify_all();
  }
  if (impl_->sequencer.joinable()) impl_->sequencer.join();
  std::lock_guard<std::mutex> checkpoint_lock(impl_->checkpoint_mutex);
  std::lock_guard<std::mutex> lock(impl_->queue_mutex);
  impl_->closed = true;
  // A clean close leaves everything durable, whatever the durability level of commits.
  Status synced = impl_->failure.is_ok() ? impl_->writer->sync() : Status::ok();
  Status closed = impl_->writer->close();
  return synced.is_ok() ? closed : synced;
}

Transaction Engine::begin() {
  auto impl = std::make_unique<Transaction::Impl>();
  impl->engine = impl_.get();
  impl->snapshot = impl_->head();
  return Transaction(std::move(impl));
}

State Engine::snapshot() const { return impl_->head(); }

Fork Engine::fork() const { return Fork(impl_->head()); }

Result<MergeResult> Engine::merge(const Fork& fork, const MergeOptions& options) {
  Request request;
  request.is_merge = true;
  request.merge_base = fork.base();
  request.merge_theirs = fork.head();
  request.merge_options = options;
  std::future<Result<MergeResult>> result = request.merged.get_future();
  MMSB_RETURN_IF_ERROR(impl_->submit(&request));
  return result.get();
}

Result<TickId> Engine::checkpoint() {
  std::lock_guard<std::mutex> lock(impl_->checkpoint_mutex);
  {
    std::lock_guard<std::mutex> queue_lock(impl_->queue_mutex);
    if (impl_->closed) return Status(StatusCode::kUnavailable, "engine is closed");
  }
  State state = impl_->head();
  // Whatever the durability level, the log must hold every tick the checkpoint covers, so
  // the log stays replayable on its own (mmsb verify) after a crash.
  Request barrier;
  barrier.is_sync = true;
  std::future<Status> synced = barrier.synced.get_future();
  MMSB_RETURN_IF_ERROR(impl_->submit(&barrier));
  MMSB_RETURN_IF_ERROR(synced.get());
  Env& env = *impl_->env;
  const std::string dir = engine::checkpoint_dir_of(impl_->options.dir);
  MMSB_RETURN_IF_ERROR(log::write_checkpoint(env, dir, state));
  // Retention: keep the newest checkpoints_kept, then optionally the segments they cover.
  MMSB_ASSIGN_OR_RETURN(std::vector<TickId> kept, log::list_checkpoints(env, dir));
  while (kept.size() > impl_->options.checkpoints_kept) {
    MMSB_RETURN_IF_ERROR(env.remove_file(dir + "/" + log::checkpoint_file_name(kept.front())));
    kept.erase(kept.begin());
  }
  if (impl_->options.remove_covered_segments && !kept.empty()) {
    const std::string log_dir = engine::log_dir_of(impl_->options.dir);
    MMSB_ASSIGN_OR_RETURN(std::vector<log::SegmentFile> segments, log::list_segments(env, log_dir));
    for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
      // Segment i holds ticks [first_i, first_{i+1}); removable when the oldest kept
      // checkpoint covers all of them.
      if (segments[i + 1].first_tick.value() - 1 > kept.front().value()) break;
      MMSB_RETURN_IF_ERROR(env.remove_file(log_dir + "/" + segments[i].name));
    }
  }
  std::lock_guard<std::mutex> stats_lock(impl_->stats_mutex);
  ++impl_->stats.checkpoints;
  return state.tick();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mutex);
  EngineStats stats = impl_->stats;
  stats.commit_latency_ns_p50 = impl_->latency.percentile(0.50);
  stats.commit_latency_ns_p99 = impl_->latency.percentile(0.99);
  stats.commit_latency_ns_p999 = impl_->latency.percentile(0.999);
  return stats;
}

const EngineOptions& Engine::options() const { return impl_->options; }

}  // namespace mmsb

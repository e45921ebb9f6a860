// The sequencer: the one thread that changes the engine's state. It takes the requests
// queued since its last batch, builds their ticks, logs them with one sync, publishes the
// last State and then completes every request (docs/ARCHITECTURE.md "engine").
#include "engine/apply.hpp"
#include "engine/engine_impl.hpp"

namespace mmsb {
namespace {

std::uint64_t wall_time_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

using engine::Clock;
using engine::PendingTick;
using engine::Request;

Status Engine::Impl::submit(Request* request) {
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

void Engine::Impl::run_sequencer() {
  const std::size_t batch_max = options.tick_transactions_max * engine::kTicksPerSyncMax;
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
        sync_barrier(barrier);
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

void Engine::Impl::sync_barrier(Request* barrier) {
  Status synced = writer->sync();
  if (!synced.is_ok()) {
    std::lock_guard<std::mutex> lock(queue_mutex);
    failure = synced;
  }
  barrier->synced.set_value(synced);
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
  std::vector<PendingTick> ticks;
  if (!build_ticks(batch, head(), ticks)) return;
  const std::uint64_t bytes_before = writer->bytes_written();
  Status logged = write_ticks(ticks);
  if (!logged.is_ok()) {
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      failure = logged;
    }
    fail_all(batch, logged);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(publish_mutex);
    published = ticks.back().state;
  }
  complete(ticks, writer->bytes_written() - bytes_before);
}

bool Engine::Impl::build_ticks(std::vector<Request*>& batch, State state,
                               std::vector<PendingTick>& ticks) {
  std::size_t next = 0;
  while (next < batch.size()) {
    PendingTick tick;
    tick.record.tick = TickId(state.tick().value() + 1);
    if (batch[next]->is_merge) {
      // A merge is a tick of its own, against the state the batch has reached.
      Request* request = batch[next++];
      tick.requests.push_back(request);
      auto merged =
          ::mmsb::merge(request->merge_base, state, request->merge_theirs, request->merge_options);
      if (merged.is_ok()) {
        tick.record.has_merge = true;
        tick.record.merge = engine::merge_effect(state, merged->state);
        tick.state = merged->state;
      } else {
        tick.state = state;  // nothing happened, nothing is logged
      }
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
          // The allocator refused mid-transaction: the whole batch fails, nothing is logged.
          fail_all(batch, outcome);
          return false;
        }
        tick.requests.push_back(request);
        if (outcome.is_ok()) {
          for (const log::Op& op : request->ops) tick.deltas += op.kind == log::OpKind::kWrite;
          info.tick = tick.record.tick;
          tick.outcomes.emplace_back(std::move(info));
        } else {
          tick.outcomes.emplace_back(outcome);
        }
        // The inputs move into the record; the request no longer needs them.
        tick.record.transactions.push_back(
            log::TransactionInput{std::move(request->ops), outcome.code()});
      }
      tick.state = fork.commit_as(tick.record.tick);
    }
    state = tick.state;
    ticks.push_back(std::move(tick));
  }
  return true;
}

Status Engine::Impl::write_ticks(std::vector<PendingTick>& ticks) {
  std::vector<std::byte> payload;
  Hash128 chain = previous_record_hash;
  for (PendingTick& tick : ticks) {
    if (!tick.logged()) continue;
    tick.record.previous = chain;
    tick.record.root = tick.state.root();
    tick.record.wall_time_ns = wall_time_ns();
    payload.clear();
    log::encode_tick_record(tick.record, payload);
    MMSB_RETURN_IF_ERROR(writer->append(tick.record.tick, payload));
    chain = xxh3_128(payload);
  }
  if (options.durability == Durability::kFlush) MMSB_RETURN_IF_ERROR(writer->flush());
  if (options.durability == Durability::kFsync) MMSB_RETURN_IF_ERROR(writer->sync());
  previous_record_hash = chain;
  return Status::ok();
}

void Engine::Impl::complete(std::vector<PendingTick>& ticks, std::uint64_t bytes_logged) {
  const Clock::time_point now = Clock::now();
  std::lock_guard<std::mutex> lock(stats_mutex);
  stats.bytes_logged += bytes_logged;
  stats.fsyncs = writer->syncs();
  for (PendingTick& tick : ticks) {
    if (tick.logged()) ++stats.ticks;
    stats.deltas += tick.deltas;
    if (tick.merge_outcome) {
      tick.requests[0]->merged.set_value(std::move(*tick.merge_outcome));
      continue;
    }
    for (std::size_t i = 0; i < tick.requests.size(); ++i) {
      ++stats.transactions;
      const Result<CommitInfo>& outcome = tick.outcomes[i];
      if (outcome.is_ok()) {
        ++stats.transactions_committed;
      } else if (outcome.status().code() == StatusCode::kConflict) {
        ++stats.conflicts;
      } else {
        ++stats.failed;
      }
      latency.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - tick.requests[i]->submitted)
              .count()));
      tick.requests[i]->done.set_value(std::move(tick.outcomes[i]));
    }
  }
}

}  // namespace mmsb

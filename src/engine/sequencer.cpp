// The sequencer: the one thread that changes the engine's state. It takes the requests
// queued since its last batch and drains the producers' rings, builds the batch's ticks
// (tick_builder.cpp), logs them with one sync (LogCommitter), publishes the last State and
// then completes every request (completion.cpp). docs/ARCHITECTURE.md "engine".
#include "engine/engine_impl.hpp"

namespace mmsb {

using engine::kSequencerSpin;
using engine::PendingTick;
using engine::Request;
using engine::SteadyClock;

Status Engine::Impl::submit(Request* request) {
  std::lock_guard<std::mutex> lock(queue_mutex);
  if (closed || stopping) return Status(StatusCode::kUnavailable, "engine is closed");
  if (!failure.is_ok()) {
    return io_error("engine refuses commits after a log failure (reopen to recover): " +
                    failure.message());
  }
  queue.push_back(request);
  queued.store(queue.size(), std::memory_order_relaxed);
  queue_changed.notify_one();
  return Status::ok();
}

void Engine::Impl::run_sequencer() {
  const std::size_t batch_max = options.tick_transactions_max * engine::kTicksPerSyncMax;
  std::vector<Request*> batch;
  ProducerList producers_now;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(queue_mutex);
      wait_for_work(lock);
      if (queue.empty() && !packets_waiting()) return;  // stopping and drained
      wait_for_returning_writers(lock);
      if (!queue.empty() && queue.front()->is_sync) {
        Request* barrier = queue.front();
        queue.pop_front();
        queued.store(queue.size(), std::memory_order_relaxed);
        lock.unlock();
        sync_barrier(barrier);
        continue;
      }
      while (!queue.empty() && !queue.front()->is_sync && batch.size() < batch_max) {
        batch.push_back(queue.front());
        queue.pop_front();
      }
      queued.store(queue.size(), std::memory_order_relaxed);
    }
    const std::size_t packets = drain(producers_now);
    build_counters.batches.fetch_add(1, std::memory_order_relaxed);
    if (batch.size() > build_counters.largest_batch.load(std::memory_order_relaxed)) {
      build_counters.largest_batch.store(batch.size(), std::memory_order_relaxed);
    }
    process(batch, std::span<const Packet>(own_ingest.drained.data(), packets), producers_now);
    batch.clear();
  }
}

// Group commit: a sync answers its batch's writers, which come back a wake-up later (tens of
// microseconds); a batch taken at the first arrival would leave the rest to the sync after,
// and the writers would settle into groups that take turns. So the next batch waits, at
// most half the last sync (and 500 us), until as many requests are queued as that sync
// answered. A lone writer never waits: it is the one that came back.
void Engine::Impl::wait_for_returning_writers(std::unique_lock<std::mutex>& lock) {
  if (answered_by_sync < 2 || queue.size() >= answered_by_sync || stopping) return;
  const SteadyClock::time_point until = SteadyClock::now() + return_window;
  spin_for(answered_by_sync, std::min<std::chrono::nanoseconds>(return_window, kSequencerSpin),
           lock);
  queue_changed.wait_until(lock, until,
                           [&] { return stopping || queue.size() >= answered_by_sync; });
}

// Waits until there is work (or the engine stops): looks for it for a spin first where
// spinning pays (spin_for), then sleeps on the queue's condition variable. How long work
// took to come is kept as idle_gap, an average over the last few waits, each counted up to
// four spins (so a long idle spell is forgotten after a few busy batches).
void Engine::Impl::wait_for_work(std::unique_lock<std::mutex>& lock) {
  auto has_work = [&] { return stopping || (!paused && (!queue.empty() || packets_waiting())); };
  if (has_work()) return;
  const SteadyClock::time_point idle = SteadyClock::now();
  if (!paused) spin_for(1, kSequencerSpin, lock);
  if (!has_work()) {
    // The doorbell protocol (ingest/producer.hpp): say so, then look again in wait().
    doorbell->sleeping.store(true, std::memory_order_seq_cst);
    sequencer_waiting = true;
    if (paused) sequencer_idle.notify_all();  // pause_sequencer waits for this
    queue_changed.wait(lock, has_work);
    sequencer_waiting = false;
    doorbell->sleeping.store(false, std::memory_order_relaxed);
  }
  const auto gap =
      std::min<std::chrono::nanoseconds>(SteadyClock::now() - idle, 4 * kSequencerSpin);
  idle_gap = (3 * idle_gap + gap) / 4;
}

// Looks, without the lock, for `requests` queued requests or a producer's packets, for at
// most `limit`, yielding the processor between looks; only where spinning pays: while work
// has come within a spin on average (idle_gap), as it does when writers commit one after
// another, and not where it comes later (a server's clients a network round trip away), so
// the spin does not take a processor they need. Called and returns with `lock` held.
void Engine::Impl::spin_for(std::size_t requests, std::chrono::nanoseconds limit,
                            std::unique_lock<std::mutex>& lock) {
  if (idle_gap >= kSequencerSpin) return;
  lock.unlock();
  const SteadyClock::time_point until = SteadyClock::now() + limit;
  while (SteadyClock::now() < until) {
    std::this_thread::yield();
    if (queued.load(std::memory_order_relaxed) >= requests || packets_waiting()) break;
  }
  lock.lock();
}

bool Engine::Impl::packets_waiting() const {
  const ProducerList list = producers.snapshot();
  for (const auto& producer : *list) {
    if (producer->ring.size_approx() != 0) return true;
  }
  return false;
}

std::size_t Engine::Impl::drain(ProducerList& list) {
  std::vector<std::shared_ptr<ingest::ProducerState>> gone = producers.remove_finished();
  if (!gone.empty()) {
    std::lock_guard<std::mutex> lock(stats_mutex);
    for (const auto& producer : gone) {
      ingest::add_backpressure_counters(*producer, ingest.gone, ingest.refused_gone);
    }
  }
  list = producers.snapshot();
  const std::size_t max = options.ingest_tick_packets_max;
  if (own_ingest.drained.size() < max) own_ingest.drained.resize(max);
  // Round-robin by producer id, a quantum each per round, so one busy producer cannot
  // starve the others; the order follows from the rings' contents alone.
  // Payload bytes are bounded too (referenced payloads are up to 1 MiB): past
  // kIngestTickPayloadBytes the drain stops, so a tick's record, overshooting by at most one
  // quantum of the largest packets, stays under the log's limits.
  constexpr std::size_t kQuantum = 64;
  std::size_t count = 0;
  std::uint64_t bytes = 0;
  for (bool progress = true; progress && count < max && bytes < kIngestTickPayloadBytes;) {
    progress = false;
    for (const auto& producer : *list) {
      const std::size_t room = std::min(kQuantum, max - count);
      if (room == 0 || bytes >= kIngestTickPayloadBytes) break;
      const std::size_t taken =
          producer->ring.pop(std::span<Packet>(own_ingest.drained.data() + count, room));
      for (std::size_t i = count; i < count + taken; ++i) bytes += own_ingest.drained[i].length;
      count += taken;
      progress |= taken != 0;
    }
  }
  if (count != 0) {
    std::lock_guard<std::mutex> lock(stats_mutex);
    ingest.totals.queue_depth_max = std::max<std::uint64_t>(ingest.totals.queue_depth_max, count);
  }
  return count;
}

void Engine::Impl::sync_barrier(Request* barrier) {
  Status synced = committer->sync();
  if (!synced.is_ok()) {
    std::lock_guard<std::mutex> lock(queue_mutex);
    failure = synced;
  }
  barrier->synced->set_value(synced);
}

void Engine::Impl::process(std::vector<Request*>& batch, std::span<const Packet> packets,
                           const ProducerList& producers_now) {
  {
    std::lock_guard<std::mutex> lock(queue_mutex);
    if (!failure.is_ok()) {
      fail_all(batch, io_error("engine refuses commits after a log failure: " + failure.message()));
      fail_packets(packets, producers_now);
      return;
    }
  }
  std::vector<PendingTick> ticks;
  if (!build_ticks(batch, packets, producers_now, head(), ticks)) {
    own_ingest.ruleset_logged =
        Hash128{};  // a ruleset "logged" by a tick that was not: log it again
    fail_packets(packets, producers_now);
    return;
  }
  const std::uint64_t bytes_before = committer->bytes_written();
  const SteadyClock::time_point writing = SteadyClock::now();
  Status logged = write_ticks(ticks);
  if (options.durability == Durability::kFsync) {
    constexpr std::chrono::microseconds kReturnWindowMax{500};
    answered_by_sync = batch.size();
    return_window = std::min<std::chrono::nanoseconds>(kReturnWindowMax,
                                                       (SteadyClock::now() - writing) / 2);
  }
  if (!logged.is_ok()) {
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      failure = logged;
    }
    fail_all(batch, logged);
    own_ingest.ruleset_logged = Hash128{};
    fail_packets(packets, producers_now);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(publish_mutex);
    published = ticks.back().state;
  }
  machinery->graph().clear_journal();
  complete(ticks, committer->bytes_written() - bytes_before);
  if (!ticks.empty() && ticks.front().record.has_ingest) {
    own_ingest.spare = std::move(ticks.front().record.ingest);
  }
  for (PendingTick& tick : ticks) {
    machinery->give_back(std::move(tick.record.rules));
    machinery->give_back(std::move(tick.record.derived));
  }
}

Status Engine::Impl::write_ticks(std::vector<PendingTick>& ticks) {
  for (PendingTick& tick : ticks) {
    if (tick.logged()) MMSB_RETURN_IF_ERROR(committer->append(tick.record, tick.state.root()));
  }
  return committer->finish_batch();
}

}  // namespace mmsb

// The sequencer: the one thread that changes the engine's state. It takes the requests
// queued since its last batch, builds their ticks, logs them with one sync, publishes the
// last State and then completes every request (docs/ARCHITECTURE.md "engine").
#include "core/byte_reader.hpp"
#include "engine/apply.hpp"
#include "engine/engine_impl.hpp"
#include "engine/tick.hpp"

namespace mmsb {

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
      auto has_work = [&] {
        return stopping || (!paused && (!queue.empty() || packets_waiting()));
      };
      if (!has_work()) {
        // The doorbell protocol (ingest/producer.hpp): say so, then look again in wait().
        doorbell->sleeping.store(true, std::memory_order_seq_cst);
        sequencer_waiting = true;
        sequencer_idle.notify_all();
        queue_changed.wait(lock, has_work);
        sequencer_waiting = false;
        doorbell->sleeping.store(false, std::memory_order_relaxed);
      }
      if (queue.empty() && !packets_waiting()) return;  // stopping and drained
      if (!queue.empty() && queue.front()->is_sync) {
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
    const std::size_t packets = drain(producers_now);
    build_counters.batches.fetch_add(1, std::memory_order_relaxed);
    if (batch.size() > build_counters.largest_batch.load(std::memory_order_relaxed)) {
      build_counters.largest_batch.store(batch.size(), std::memory_order_relaxed);
    }
    process(batch, std::span<const Packet>(drained.data(), packets), producers_now);
    batch.clear();
  }
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
  if (drained.size() < max) drained.resize(max);
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
      const std::size_t taken = producer->ring.pop(std::span<Packet>(drained.data() + count, room));
      for (std::size_t i = count; i < count + taken; ++i) bytes += drained[i].length;
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
    ruleset_logged = Hash128{};  // a ruleset "logged" by a tick that was not: log it again
    fail_packets(packets, producers_now);
    return;
  }
  const std::uint64_t bytes_before = writer->bytes_written();
  Status logged = write_ticks(ticks);
  if (!logged.is_ok()) {
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      failure = logged;
    }
    fail_all(batch, logged);
    ruleset_logged = Hash128{};
    fail_packets(packets, producers_now);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(publish_mutex);
    published = ticks.back().state;
  }
  graph.clear_journal();
  complete(ticks, writer->bytes_written() - bytes_before);
  if (!ticks.empty() && ticks.front().record.has_ingest) {
    spare_ingest = std::move(ticks.front().record.ingest);
  }
}

bool Engine::Impl::build_ticks(std::vector<Request*>& batch, std::span<const Packet> packets,
                               const ProducerList& producers_now, State state,
                               std::vector<PendingTick>& ticks) {
  const std::size_t graph_mark = graph.mark();
  const std::shared_ptr<const graph::FunctionMap> functions_now = functions.snapshot();
  std::shared_ptr<const sched::RuleMap> rules_now = rules.snapshot();
  engine::TickContext ctx = tick_context(*functions_now, *rules_now);
  while (!packets.empty()) {  // the packets drained before this batch: a tick of their own
    PendingTick tick;
    tick.record.tick = TickId(state.tick().value() + 1);
    tick.producers = producers_now;
    Status damage;
    const Built built = build_ingest_tick(packets, state, tick, ctx, &damage);
    if (built == Built::kRebuild) {
      rules_now = rules.snapshot();
      ctx.rules = rules_now.get();
      continue;
    }
    if (built == Built::kDamaged) {
      graph.undo_to(graph_mark);
      fail_all(batch, damage);
      return false;
    }
    state = tick.state;
    ticks.push_back(std::move(tick));
    break;
  }
  std::size_t next = 0;
  std::size_t alone_until = 0;  // requests before this index get a tick each
  while (next < batch.size()) {
    PendingTick tick;
    tick.record.tick = TickId(state.tick().value() + 1);
    if (batch[next]->is_merge) {
      // A merge is a tick of its own, against the state the batch has reached.
      build_merge_tick(batch[next++], state, tick, ctx);
    } else {
      const std::size_t first = next;
      const std::size_t limit = next < alone_until ? 1 : options.tick_transactions_max;
      Status damage;
      switch (build_transaction_tick(batch, next, limit, state, tick, ctx, &damage)) {
        case Built::kTick:
          break;
        case Built::kRebuild:
          // A standing or retry rule failed and is suspended: build the tick without it.
          rules_now = rules.snapshot();
          ctx.rules = rules_now.get();
          continue;
        case Built::kRetryAlone:
          // A rule or derivation failed: give each of these transactions its own tick, so
          // only the ones whose changes make it fail are refused.
          alone_until = first + tick.requests.size();
          continue;
        case Built::kDamaged:
          // The allocator refused mid-transaction: the whole batch fails, nothing is logged.
          graph.undo_to(graph_mark);
          fail_all(batch, damage);
          return false;
      }
    }
    state = tick.state;
    ticks.push_back(std::move(tick));
  }
  return true;
}

engine::TickContext Engine::Impl::tick_context(const graph::FunctionMap& functions,
                                               const sched::RuleMap& rules_now) {
  engine::TickContext ctx;
  ctx.graph = &graph;
  ctx.propagator = propagator.get();
  ctx.functions = &functions;
  ctx.scheduler = scheduler.get();
  ctx.rules_step = &rules_step;
  ctx.rules = &rules_now;
  ctx.governor = &governor;
  ctx.collect_events = events.has_subscribers();
  ctx.observer = &stage_observer;
  return ctx;
}

// What the tick step produced that the tick's completion reports.
void engine::PendingTick::take(engine::TickResult& result) {
  outcomes = std::move(result.transactions);
  deltas = result.deltas;
  propagation = result.propagation;
  rules = result.rules;
  rule_commit_ns = result.rule_commit_ns;
  events = std::move(result.events);
  topic_counts = std::move(result.topic_counts);
}

bool Engine::Impl::suspend_failed_rule(const engine::TickResult& result) {
  if (result.failed_at != engine::TickStage::kRules ||
      (result.failed_origin != sched::kOriginStanding &&
       result.failed_origin != sched::kOriginRetry)) {
    return false;
  }
  rules.suspend(result.failed_family, result.status);
  std::lock_guard<std::mutex> lock(stats_mutex);
  ++stats.rule_failures;
  return true;
}

Engine::Impl::Built Engine::Impl::build_transaction_tick(std::vector<Request*>& batch,
                                                         std::size_t& next, std::size_t limit,
                                                         const State& state, PendingTick& tick,
                                                         engine::TickContext& ctx,
                                                         Status* damage) {
  std::uint64_t tick_bytes = 0;
  while (next < batch.size() && !batch[next]->is_merge && tick.requests.size() < limit) {
    const std::uint64_t request_bytes = log::encoded_size_bound(batch[next]->ops);
    if (!tick.requests.empty() && tick_bytes + request_bytes > log::kTickBytesMax) break;
    tick_bytes += request_bytes;
    Request* request = batch[next++];
    tick.requests.push_back(request);
    // The inputs move into the record (and back, unchanged, if the tick is built again).
    tick.record.transactions.push_back(log::LoggedTransaction{{std::move(request->ops)}, {}});
  }
  engine::TickResult result = engine::run_tick(state, tick.record, ctx, engine::TickMode::kBuild);
  if (result.ok()) {
    tick.take(result);
    tick.state = std::move(result.state);
    return Built::kTick;
  }
  if (result.damaged) {
    *damage = result.status;
    return Built::kDamaged;
  }
  auto hand_back = [&] {
    next -= tick.requests.size();
    for (std::size_t i = 0; i < tick.requests.size(); ++i) {
      tick.requests[i]->ops = std::move(tick.record.transactions[i].input.ops);
    }
  };
  if (suspend_failed_rule(result)) {  // build the tick again without that rule
    hand_back();
    build_counters.rebuilt.fetch_add(1, std::memory_order_relaxed);
    return Built::kRebuild;
  }
  if (tick.requests.size() > 1) {
    // A transaction's rule or a derivation failed: give each of these transactions its own
    // tick, so only the ones whose changes make it fail are refused.
    hand_back();
    build_counters.retried_alone.fetch_add(1, std::memory_order_relaxed);
    return Built::kRetryAlone;
  }
  // A tick of one transaction that cannot be built is answered and not logged.
  tick.dropped = true;
  tick.dropped_by_rule = result.failed_at == engine::TickStage::kRules;
  tick.outcomes.clear();
  tick.outcomes.emplace_back(std::move(result.status));
  tick.state = state;
  return Built::kTick;
}

Engine::Impl::Built Engine::Impl::build_ingest_tick(std::span<const Packet> packets,
                                                    const State& state, PendingTick& tick,
                                                    engine::TickContext& ctx, Status* damage) {
  if (auto* next = pending_ruleset.exchange(nullptr, std::memory_order_acq_rel)) {
    // The only reader of rulesets is this thread, between ticks: the one replaced is freed
    // here, when nothing can hold it.
    std::unique_ptr<std::shared_ptr<const ingest::CompiledRuleset>> owned(next);
    governor.set_ruleset(std::move(*owned));
    std::lock_guard<std::mutex> lock(stats_mutex);
    ++ingest.totals.ruleset_swaps;
    ingest.totals.ruleset = governor.ruleset()->hash();
  }
  const ingest::CompiledRuleset* ruleset = governor.ruleset();
  ingest_time_ns = std::max(ingest_time_ns, clock->now_ns());  // logical time never goes back
  tick.record.has_ingest = true;
  log::IngestSection& section = tick.record.ingest;
  section = std::move(spare_ingest);  // its vectors keep their capacity
  section.ruleset = Hash128{};
  section.ruleset_bytes.clear();
  section.buckets.clear();
  section.packets.clear();
  section.payload.clear();
  section.time_ns = ingest_time_ns;
  if (ruleset != nullptr) {
    section.ruleset = ruleset->hash();
    if (section.ruleset != ruleset_logged) section.ruleset_bytes = ruleset->encoded();
  }
  ctx.packets = packets;
  engine::TickResult result = engine::run_tick(state, tick.record, ctx, engine::TickMode::kBuild);
  ctx.packets = {};
  tick.take(result);
  if (result.ok()) {
    if (!section.ruleset_bytes.empty()) ruleset_logged = section.ruleset;
    tick.state = std::move(result.state);
    return Built::kTick;
  }
  if (result.damaged) {
    governor.rollback_tick();
    *damage = result.status;
    return Built::kDamaged;
  }
  if (suspend_failed_rule(result)) {  // only standing and retry candidates are here
    governor.rollback_tick();
    return Built::kRebuild;
  }
  // A derivation failed on what the packets wrote: the tick is not applied and its packets
  // are denied (tick_failed). The tokens they took stay taken.
  for (log::IngestPacket& packet : section.packets) {
    if (packet.outcome != PacketOutcome::kAdmitted) continue;
    packet.outcome = PacketOutcome::kDenied;
    packet.reason = DenyReason::kTickFailed;
  }
  for (EngineStats::IngestTopic& count : tick.topic_counts) {
    count.denied += count.admitted;
    count.admitted = 0;
    count.bytes_admitted = 0;
  }
  tick.dropped = true;
  tick.state = state;
  return Built::kTick;
}

void Engine::Impl::build_merge_tick(Request* request, const State& state, PendingTick& tick,
                                    engine::TickContext& ctx) {
  tick.requests.push_back(request);
  tick.state = state;  // unless it succeeds: nothing happened, nothing is logged
  auto merged =
      ::mmsb::merge(request->merge_base, state, request->merge_theirs, request->merge_options);
  if (!merged.is_ok()) {
    tick.merge_outcome = std::move(merged);
    return;
  }
  // The tick is the merge's effect (as the log has it) plus the propagation it causes.
  tick.record.has_merge = true;
  tick.record.merge = engine::merge_effect(state, merged->state);
  engine::TickResult result = engine::run_tick(state, tick.record, ctx, engine::TickMode::kBuild);
  if (!result.ok()) {
    tick.merge_outcome =
        Result<MergeResult>(Status(result.status.code(), "merge: " + result.status.message()));
    return;
  }
  tick.take(result);
  tick.state = std::move(result.state);
  merged->state = tick.state;
  tick.merge_outcome = std::move(merged);
}

Status Engine::Impl::write_ticks(std::vector<PendingTick>& ticks) {
  std::vector<std::byte>& payload = record_buffer;
  Hash128 chain = previous_record_hash;
  for (PendingTick& tick : ticks) {
    if (!tick.logged()) continue;
    tick.record.previous = chain;
    tick.record.root = tick.state.root();
    tick.record.wall_time_ns = clock->now_ns();
    payload.clear();
    MMSB_RETURN_IF_ERROR(log::encode_tick_record(tick.record, payload));
    MMSB_RETURN_IF_ERROR(writer->append(tick.record.tick, payload));
    chain = xxh3_128(payload);
  }
  if (options.durability == Durability::kFlush) MMSB_RETURN_IF_ERROR(writer->flush());
  if (options.durability == Durability::kFsync) MMSB_RETURN_IF_ERROR(writer->sync());
  previous_record_hash = chain;
  return Status::ok();
}

void Engine::Impl::complete(std::vector<PendingTick>& ticks, std::uint64_t bytes_logged) {
  const SteadyClock::time_point now = SteadyClock::now();
  if (telemetry) {  // before the stats lock: readers of stats() never wait for it
    std::vector<RuleReceipt> receipts;
    for (const PendingTick& tick : ticks) {
      if (!tick.logged() || tick.record.rules.empty()) continue;
      receipts.clear();
      for (const log::RuleOutcome& rule : tick.record.rules) receipts.push_back(rule.receipt);
      telemetry->post(tick.record.tick, receipts);
    }
  }
  std::lock_guard<std::mutex> lock(stats_mutex);
  if (telemetry) stats.telemetry_dropped = telemetry->dropped();
  stats.bytes_logged += bytes_logged;
  stats.fsyncs = writer->syncs();
  for (PendingTick& tick : ticks) {
    if (tick.record.has_ingest) complete_ingest(tick, now);
    if (tick.logged()) {
      ++stats.ticks;
      stats.deltas += tick.deltas;
      stats.derived_recomputes += tick.propagation.recomputes;
      stats.derived_skipped += tick.propagation.skipped;
      stats.derived_cutoffs += tick.propagation.cutoffs;
      stats.derived_changed += tick.propagation.changed;
      stats.derived_stale += tick.propagation.stale;
      if (tick.rules.candidates != 0) {
        const sched::RuleCounters& rules = tick.rules;
        stats.rule_candidates += rules.candidates;
        stats.rules_applied += rules.applied;
        stats.rules_rejected += rules.rejected;
        stats.rules_deferred += rules.deferred;
        stats.rule_retries += rules.retries;
        EngineStats::RuleTick& last = stats.last_rule_tick;
        last.candidates = rules.candidates;
        last.applied = rules.applied;
        last.conflicts = rules.rejected + rules.deferred;
        last.retries = rules.retries;
        last.conflict_rate = last.applied + last.conflicts == 0
                                 ? 0.0
                                 : static_cast<double>(last.conflicts) /
                                       static_cast<double>(last.applied + last.conflicts);
        last.reservation_ns = rules.reservation_ns;
        last.execution_ns = rules.execution_ns;
        last.commit_ns = tick.rule_commit_ns;
      }
      if (!tick.events.empty()) events.publish(EventBatch{tick.record.tick, std::move(tick.events)});
    } else if (tick.dropped) {
      ++(tick.dropped_by_rule ? stats.rule_failures : stats.derive_failures);
    }
    if (tick.merge_outcome) {
      tick.requests[0]->merged.set_value(std::move(*tick.merge_outcome));
      continue;
    }
    if (tick.record.has_ingest) continue;
    for (std::size_t i = 0; i < tick.requests.size(); ++i) {
      ++stats.transactions;
      Result<CommitInfo>& outcome = tick.outcomes[i];
      if (outcome.is_ok()) {
        outcome->root = tick.record.root;  // a committed transaction's tick was logged
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

void Engine::Impl::complete_ingest(PendingTick& tick, SteadyClock::time_point now) {
  const log::IngestSection& section = tick.record.ingest;
  const ingest::ProducerRegistry::List& list = *tick.producers;
  struct Done {
    std::uint64_t admitted = 0, denied = 0, throttled = 0, last = 0;
  };
  std::vector<Done> done(list.size());
  engine::IngestTotals& totals = ingest;
  EngineStats::Ingest& sums = totals.totals;
  std::size_t at = 0;  // packets of one producer come in runs: remember the last one found
  for (const log::IngestPacket& packet : section.packets) {
    if (at >= list.size() || list[at]->id != packet.producer) {
      at = static_cast<std::size_t>(
          std::lower_bound(list.begin(), list.end(), packet.producer,
                           [](const auto& producer, std::uint32_t id) { return producer->id < id; }) -
          list.begin());
      MMSB_ASSERT(at < list.size() && list[at]->id == packet.producer);
    }
    Done& mine = done[at];
    mine.last = packet.sequence;
    switch (packet.outcome) {
      case PacketOutcome::kAdmitted: ++mine.admitted; break;
      case PacketOutcome::kDenied:
        ++mine.denied;
        ++sums.denied_by_reason[static_cast<std::size_t>(packet.reason)];
        break;
      default: ++mine.throttled; break;
    }
  }
  const auto now_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (done[i].last == 0) continue;
    ingest::ProducerState& producer = *list[i];
    producer.admitted.fetch_add(done[i].admitted, std::memory_order_relaxed);
    producer.denied.fetch_add(done[i].denied, std::memory_order_relaxed);
    producer.throttled.fetch_add(done[i].throttled, std::memory_order_relaxed);
    producer.completed.store(done[i].last, std::memory_order_release);
    sums.admitted += done[i].admitted;
    sums.denied += done[i].denied;
    sums.throttled += done[i].throttled;
    // Submit-to-outcome latency of the sampled packets now complete.
    for (;;) {
      if (!producer.has_held) {
        ingest::LatencySample sample;
        if (!producer.samples.pop(std::span<ingest::LatencySample>(&sample, 1))) break;
        producer.held = sample;
        producer.has_held = true;
      }
      if (producer.held.sequence > done[i].last) break;
      totals.latency.record(now_ns > producer.held.submitted_ns ? now_ns - producer.held.submitted_ns
                                                                : 0);
      producer.has_held = false;
    }
  }
  sums.packets += section.packets.size();
  if (tick.logged()) ++sums.ticks;
  for (const EngineStats::IngestTopic& count : tick.topic_counts) {
    EngineStats::IngestTopic& topic = totals.topics[count.topic];
    topic.topic = count.topic;
    topic.admitted += count.admitted;
    topic.denied += count.denied;
    topic.throttled += count.throttled;
    topic.bytes_admitted += count.bytes_admitted;
    auto [window, fresh] = totals.windows.try_emplace(count.topic, now, topic.admitted - count.admitted);
    // The rate over the window so far; a window closes after a second.
    const double seconds = std::chrono::duration<double>(now - window->second.first).count();
    if (!fresh && seconds >= 0.01) {
      topic.admitted_per_second =
          static_cast<double>(topic.admitted - window->second.second) / seconds;
      if (seconds >= 1.0) window->second = {now, topic.admitted};
    }
  }
}

void Engine::Impl::fail_packets(std::span<const Packet> packets, const ProducerList& producers_now) {
  if (packets.empty()) return;
  PendingTick tick;
  tick.producers = producers_now;
  tick.dropped = true;
  tick.record.has_ingest = true;
  std::map<std::uint32_t, EngineStats::IngestTopic> counts;
  for (const Packet& packet : packets) {
    log::IngestPacket& entry = tick.record.ingest.packets.emplace_back();
    entry.producer = packet.producer;
    entry.sequence = packet.sequence;
    entry.topic = packet.topic;
    entry.outcome = PacketOutcome::kDenied;
    entry.reason = DenyReason::kTickFailed;
    EngineStats::IngestTopic& count = counts[packet.topic];
    count.topic = packet.topic;
    ++count.denied;
  }
  for (const auto& [topic, count] : counts) tick.topic_counts.push_back(count);
  std::lock_guard<std::mutex> lock(stats_mutex);
  complete_ingest(tick, SteadyClock::now());
}

void Engine::Impl::refuse_leftovers() {
  const ProducerList list = producers.snapshot();
  Packet packet;
  for (const auto& producer : *list) {
    std::uint64_t last = 0, count = 0;
    while (producer->ring.pop(std::span<Packet>(&packet, 1)) == 1) {
      producer->count_refused(packet.topic);
      last = packet.sequence;
      ++count;
    }
    if (count == 0) continue;
    producer->refused.fetch_add(count, std::memory_order_relaxed);
    producer->completed.store(last, std::memory_order_release);
  }
}

}  // namespace mmsb

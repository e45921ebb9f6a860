// Completion on the sequencer thread, after a batch's ticks are logged and published:
// every request answered, producers told what became of their packets, events and
// statistics updated.
#include "engine/engine_impl.hpp"

namespace mmsb {

using engine::PendingTick;
using engine::Request;
using engine::SteadyClock;

void Engine::Impl::fail_all(std::vector<Request*>& batch, const Status& status) {
  for (Request* request : batch) {
    if (request->is_merge) {
      request->merged->set_value(status);
    } else {
      request->finish(status);
    }
  }
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
  stats.fsyncs = committer->syncs();
  for (PendingTick& tick : ticks) {
    if (tick.record.has_ingest) complete_ingest(tick, now);
    if (tick.logged()) {
      ++stats.ticks;
      stats.deltas += tick.built.deltas;
      stats.derived_recomputes += tick.built.propagation.recomputes;
      stats.derived_skipped += tick.built.propagation.skipped;
      stats.derived_cutoffs += tick.built.propagation.cutoffs;
      stats.derived_changed += tick.built.propagation.changed;
      stats.derived_stale += tick.built.propagation.stale;
      if (tick.built.rules.candidates != 0) {
        const sched::RuleCounters& rules = tick.built.rules;
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
        last.skipped = rules.skipped;
        last.duplicates = rules.duplicates;
        last.gate_probes = rules.gate_probes;
        last.mask_fast_path = rules.mask_fast_path;
        last.matches_reused = rules.matches_reused;
        last.reservation_ns = rules.reservation_ns;
        last.execution_ns = rules.execution_ns;
        last.commit_ns = tick.built.rule_commit_ns;
      }
      if (!tick.built.events.empty())
        events.publish(EventBatch{tick.record.tick, std::move(tick.built.events)});
    } else if (tick.dropped) {
      ++(tick.dropped_by_rule ? stats.rule_failures : stats.derive_failures);
    }
    if (tick.merge_outcome) {
      tick.requests[0]->merged->set_value(std::move(*tick.merge_outcome));
      continue;
    }
    if (tick.record.has_ingest) continue;
    for (std::size_t i = 0; i < tick.requests.size(); ++i) {
      ++stats.transactions;
      Result<CommitInfo>& outcome = tick.built.transactions[i];
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
      tick.requests[i]->finish(std::move(tick.built.transactions[i]));
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
      at = static_cast<std::size_t>(std::lower_bound(list.begin(), list.end(), packet.producer,
                                                     [](const auto& producer, std::uint32_t id) {
                                                       return producer->id < id;
                                                     }) -
                                    list.begin());
      MMSB_ASSERT(at < list.size() && list[at]->id == packet.producer);
    }
    Done& mine = done[at];
    mine.last = packet.sequence;
    // keep_verdicts bounds the packets in flight by the free verdict slots: never full.
    if (list[at]->keep_verdicts) {
      const PacketVerdict verdict{packet.outcome, packet.reason};
      const std::size_t pushed =
          list[at]->verdicts.push(std::span<const PacketVerdict>(&verdict, 1));
      MMSB_ASSERT(pushed == 1);
    }
    switch (packet.outcome) {
      case PacketOutcome::kAdmitted:
        ++mine.admitted;
        break;
      case PacketOutcome::kDenied:
        ++mine.denied;
        ++sums.denied_by_reason[static_cast<std::size_t>(packet.reason)];
        break;
      default:
        ++mine.throttled;
        break;
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
    if (producer.on_complete) producer.on_complete();
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
      totals.latency.record(
          now_ns > producer.held.submitted_ns ? now_ns - producer.held.submitted_ns : 0);
      producer.has_held = false;
    }
  }
  sums.packets += section.packets.size();
  if (tick.logged()) ++sums.ticks;
  for (const EngineStats::IngestTopic& count : tick.built.topic_counts) {
    EngineStats::IngestTopic& topic = totals.topics[count.topic];
    topic.topic = count.topic;
    topic.admitted += count.admitted;
    topic.denied += count.denied;
    topic.throttled += count.throttled;
    topic.bytes_admitted += count.bytes_admitted;
    auto [window, fresh] =
        totals.windows.try_emplace(count.topic, now, topic.admitted - count.admitted);
    // The rate over the window so far; a window closes after a second.
    const double seconds = std::chrono::duration<double>(now - window->second.first).count();
    if (!fresh && seconds >= 0.01) {
      topic.admitted_per_second =
          static_cast<double>(topic.admitted - window->second.second) / seconds;
      if (seconds >= 1.0) window->second = {now, topic.admitted};
    }
  }
}

void Engine::Impl::fail_packets(std::span<const Packet> packets,
                                const ProducerList& producers_now) {
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
  for (const auto& [topic, count] : counts) tick.built.topic_counts.push_back(count);
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

// Building a batch's ticks on the sequencer thread: the ingest tick of the packets drained
// before the batch, then ticks of transactions and merges, each through the tick step
// (engine/tick.hpp); a failed tick is rebuilt (transactions one by one, or without a
// suspended rule) or answered without being logged.
#include "engine/apply.hpp"
#include "engine/engine_impl.hpp"
#include "engine/tick.hpp"

namespace mmsb {

using engine::PendingTick;
using engine::Request;

bool Engine::Impl::build_ticks(std::vector<Request*>& batch, std::span<const Packet> packets,
                               const ProducerList& producers_now, State state,
                               std::vector<PendingTick>& ticks) {
  graph::DependencyGraph& graph = machinery->graph();
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
  engine::TickContext ctx = machinery->context(&functions, &rules_now);
  ctx.collect_events = events.has_subscribers();
  ctx.observer = &stage_observer;
  return ctx;
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
                                                         engine::TickContext& ctx, Status* damage) {
  std::uint64_t tick_bytes = 0;
  while (next < batch.size() && !batch[next]->is_merge && tick.requests.size() < limit) {
    const std::uint64_t request_bytes = batch[next]->encoded_bound;
    if (!tick.requests.empty() && tick_bytes + request_bytes > log::kTickBytesMax) break;
    tick_bytes += request_bytes;
    Request* request = batch[next++];
    tick.requests.push_back(request);
    // The inputs move into the record (and back, unchanged, if the tick is built again).
    tick.record.transactions.push_back(log::LoggedTransaction{{std::move(request->ops)}, {}});
  }
  engine::TickResult& result = tick.built;  // what completion reports
  result = engine::run_tick(state, tick.record, ctx, engine::TickMode::kBuild);
  if (result.ok()) {
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
  result.transactions.clear();
  result.transactions.emplace_back(result.status);
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
    machinery->governor().set_ruleset(std::move(*owned));
    std::lock_guard<std::mutex> lock(stats_mutex);
    ++ingest.totals.ruleset_swaps;
    ingest.totals.ruleset = machinery->governor().ruleset()->hash();
  }
  ingest::Governor& governor = machinery->governor();
  const ingest::CompiledRuleset* ruleset = governor.ruleset();
  own_ingest.time_ns =
      std::max(own_ingest.time_ns, clock->now_ns());  // logical time never goes back
  tick.record.has_ingest = true;
  log::IngestSection& section = tick.record.ingest;
  section = std::move(own_ingest.spare);  // its vectors keep their capacity
  section.ruleset = Hash128{};
  section.ruleset_bytes.clear();
  section.buckets.clear();
  section.packets.clear();
  section.payload.clear();
  section.time_ns = own_ingest.time_ns;
  if (ruleset != nullptr) {
    section.ruleset = ruleset->hash();
    if (section.ruleset != own_ingest.ruleset_logged) section.ruleset_bytes = ruleset->encoded();
  }
  ctx.packets = packets;
  engine::TickResult& result = tick.built;  // what completion reports
  result = engine::run_tick(state, tick.record, ctx, engine::TickMode::kBuild);
  ctx.packets = {};
  if (result.ok()) {
    if (!section.ruleset_bytes.empty()) own_ingest.ruleset_logged = section.ruleset;
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
  for (EngineStats::IngestTopic& count : result.topic_counts) {
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
  engine::TickResult& result = tick.built;  // what completion reports
  result = engine::run_tick(state, tick.record, ctx, engine::TickMode::kBuild);
  if (!result.ok()) {
    tick.merge_outcome =
        Result<MergeResult>(Status(result.status.code(), "merge: " + result.status.message()));
    return;
  }
  tick.state = std::move(result.state);
  merged->state = tick.state;
  tick.merge_outcome = std::move(merged);
}

}  // namespace mmsb

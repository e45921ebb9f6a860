#include "engine/tick.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include "core/byte_reader.hpp"
#include "core/prefetch.hpp"
#include "engine/apply.hpp"
#include "engine/rules.hpp"

namespace mmsb::engine {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::uint64_t ns_since(SteadyClock::time_point since) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - since).count());
}

// One tick's run: the fork, the record, and what the steps share.
struct Run {
  log::TickRecord& record;
  TickContext& ctx;
  TickMode mode;
  state::ForkCore& fork;
  TickResult result;

  bool replaying() const { return mode != TickMode::kBuild; }
  std::string at_tick() const { return "tick " + std::to_string(record.tick.value()); }
  // A difference from the log, or a logged step that cannot be applied.
  Status differs(const std::string& what) const { return corruption(at_tick() + ": " + what); }
  // A step that applies checked or logged changes was refused. The allocator's refusal
  // (ResourceExhausted) damages the tick in every mode and is returned as it is; anything
  // else is, replaying, a difference from the log (`what` names the change), and building,
  // the tick's failure.
  Status refused(Status status, const std::string& what = {}) {
    if (status.code() == StatusCode::kResourceExhausted) {
      result.damaged = true;
      return status;
    }
    if (!replaying()) return status;
    return differs(what.empty() ? status.message() : what + ": " + status.message());
  }
};

// Loads what the writes of transactions [begin, end) will touch first: each page's record
// and the line the write starts at, or, where the fork keeps versions that share its pages
// (the first write copies the page) and the page is small, every line of it. The lookups
// are independent of one another, so the processor overlaps their cache misses, where
// applying the transactions one by one waits for each page's misses in turn. The
// transactions step runs it a batch ahead of itself.
void warm_writes(const state::ForkCore& fork,
                 std::span<const log::LoggedTransaction> transactions) {
  // Larger pages are copied by a loop the hardware prefetcher follows on its own.
  constexpr std::uint64_t kWholePageBytesMax = 2048;
  const bool copies = fork.keeps_versions();
  for (const log::LoggedTransaction& transaction : transactions) {
    for (const log::Op& op : transaction.input.ops) {
      const auto* write = std::get_if<log::WriteOp>(&op);
      if (write == nullptr || log::is_provisional(write->page)) continue;
      const state::PageRecord* record = fork.tables().find_page(PageId(write->page));
      if (record == nullptr || write->offset >= record->size_bytes) continue;
      if (copies && record->size_bytes <= kWholePageBytesMax) {
        for (std::uint64_t at = 0; at < record->size_bytes; at += core::kCacheLine) {
          core::prefetch(record->data + at);
        }
      } else {
        core::prefetch(record->data + write->offset);
      }
    }
  }
}

// Transactions warmed at a time (warm_writes): far enough ahead for the misses to land,
// near enough that what they bring is still in the caches when it is used.
constexpr std::size_t kWarmBatch = 32;

// Step 1, transactions: applied in sequence order against the tick so far. Building, each
// one's op results go to the record's op_results; replaying, to a scratch array compared
// with the logged ones.
Status transactions_step(Run& run) {
  log::TickRecord& record = run.record;
  graph::DependencyGraph* graph = run.mode == TickMode::kApply ? nullptr : run.ctx.graph;
  std::vector<log::OpResult> replayed;
  if (!run.replaying()) {
    std::size_t ops = 0;
    for (const log::LoggedTransaction& transaction : record.transactions) {
      ops += transaction.input.ops.size();
    }
    record.op_results.clear();
    record.op_results.reserve(ops);  // one allocation for the tick's results
  }
  const std::span<const log::LoggedTransaction> all = record.transactions;
  warm_writes(run.fork, all.first(std::min(kWarmBatch, all.size())));
  for (std::size_t i = 0; i < record.transactions.size(); ++i) {
    if (i % kWarmBatch == 0 && i + kWarmBatch < all.size()) {
      warm_writes(run.fork,
                  all.subspan(i + kWarmBatch, std::min(kWarmBatch, all.size() - i - kWarmBatch)));
    }
    log::LoggedTransaction& transaction = record.transactions[i];
    if (run.mode == TickMode::kApply && !transaction.committed()) continue;
    CommitInfo info;
    bool damaged = false;
    const std::uint64_t first = record.op_results.size();
    replayed.clear();
    Status outcome = apply_transaction(run.fork, transaction.input.ops,
                                       run.replaying() ? replayed : record.op_results,
                                       run.replaying() ? nullptr : &info, &damaged, graph);
    if (damaged) {
      run.result.damaged = true;
      return outcome;
    }
    if (!run.replaying()) {
      transaction.result = log::TransactionResult{outcome.code(), first};
      if (outcome.is_ok()) {
        for (const log::Op& op : transaction.input.ops) {
          run.result.deltas += std::holds_alternative<log::WriteOp>(op);
        }
        info.tick = record.tick;
        run.result.transactions.emplace_back(std::move(info));
      } else {
        run.result.transactions.emplace_back(outcome);
      }
      continue;
    }
    auto txn = [&] { return run.at_tick() + " transaction " + std::to_string(i); };  // on error
    if (outcome.code() != transaction.result.outcome) {
      return corruption(txn() + ": logged outcome " +
                        std::string(status_code_name(transaction.result.outcome)) +
                        " but re-execution gives " + outcome.to_string());
    }
    const std::span<const log::OpResult> logged = record.results_of(transaction);
    for (std::size_t k = 0; k < replayed.size(); ++k) {
      if (replayed[k] != logged[k]) {
        return corruption(txn() + ": operation " + std::to_string(k) +
                          ": ids or epochs differ from the logged ones");
      }
    }
  }
  return Status::ok();
}

// Counts packets by topic for the statistics: by the deciding rule's index, packets of
// topics without a rule by topic.
struct TopicCounter {
  std::vector<EngineStats::IngestTopic> ruled;
  std::map<std::uint32_t, EngineStats::IngestTopic> unruled;

  EngineStats::IngestTopic& of(const ingest::Verdict& verdict, std::uint32_t topic) {
    return verdict.topic_index >= 0 ? ruled[static_cast<std::size_t>(verdict.topic_index)]
                                    : unruled[topic];
  }
  std::vector<EngineStats::IngestTopic> sorted(const ingest::CompiledRuleset* ruleset) {
    for (std::size_t i = 0; i < ruled.size(); ++i) ruled[i].topic = ruleset->topic(i).rule.topic;
    for (auto& [topic, count] : unruled) {
      count.topic = topic;
      ruled.push_back(count);
    }
    std::erase_if(ruled, [](const EngineStats::IngestTopic& count) {
      return count.admitted + count.denied + count.throttled == 0;
    });
    std::sort(ruled.begin(), ruled.end(),
              [](const auto& a, const auto& b) { return a.topic < b.topic; });
    return std::move(ruled);
  }
};

// kBuild: the drained packet `i`; replay: the logged one, as the governor saw it.
std::pair<Packet, std::span<const std::byte>> packet_at(const Run& run, std::size_t i) {
  if (!run.replaying()) return {run.ctx.packets[i], run.ctx.packets[i].payload()};
  const log::IngestSection& section = run.record.ingest;
  const log::IngestPacket& logged = section.packets[i];
  Packet packet;
  packet.topic = logged.topic;
  packet.producer = logged.producer;
  packet.sequence = logged.sequence;
  packet.length = logged.length;
  return {packet, logged.has_payload ? section.payload_of(logged) : std::span<const std::byte>()};
}

// Replay: the verdict must be the logged one.
Status check_verdict(const Run& run, std::size_t i, const ingest::Verdict& verdict) {
  const log::IngestPacket& logged = run.record.ingest.packets[i];
  if (verdict.outcome == logged.outcome && verdict.reason == logged.reason &&
      verdict.payload_needed == logged.has_payload) {
    return Status::ok();
  }
  const std::string name = "packet " + std::to_string(i) + " (producer " +
                           std::to_string(logged.producer) + ", sequence " +
                           std::to_string(logged.sequence) + ", topic " +
                           std::to_string(logged.topic) + ")";
  if (verdict.outcome != logged.outcome || verdict.reason != logged.reason) {
    return run.differs(name + ": logged " + std::string(packet_outcome_name(logged.outcome)) +
                       " (" + std::string(deny_reason_name(logged.reason)) +
                       "), governance gives " + std::string(packet_outcome_name(verdict.outcome)) +
                       " (" + std::string(deny_reason_name(verdict.reason)) + ")");
  }
  return run.differs(name + ": its payload is " + (logged.has_payload ? "" : "not ") +
                     "logged, but governance " + (verdict.payload_needed ? "needs" : "ignores") +
                     " it");
}

// Step 1, ingest: every packet judged in drained order against the State the earlier ones
// left; admitted ones applied. Replay starts from the logged bucket levels and requires the
// logged verdicts and the logged levels after.
Status ingest_step(Run& run) {
  log::IngestSection& section = run.record.ingest;
  ingest::Governor& governor = *run.ctx.governor;
  const ingest::CompiledRuleset* ruleset = governor.ruleset();
  governor.begin_tick(section.time_ns);
  if (run.replaying()) {
    Status loaded = governor.load_levels(section.buckets);
    if (!loaded.is_ok()) return run.differs(loaded.message());
  } else {
    section.packets.reserve(run.ctx.packets.size());
    section.payload.reserve(run.ctx.packets.size() * kPacketInlineBytes);
  }
  TopicCounter counts;
  if (!run.replaying() && ruleset != nullptr) counts.ruled.resize(ruleset->size());
  const std::size_t n = run.replaying() ? section.packets.size() : run.ctx.packets.size();
  for (std::size_t i = 0; i < n; ++i) {
    const auto [packet, payload] = packet_at(run, i);
    const ingest::Verdict verdict = governor.judge(packet, payload, run.fork.tables());
    if (run.replaying()) {
      MMSB_RETURN_IF_ERROR(check_verdict(run, i, verdict));
    } else {
      log::IngestPacket& entry = section.packets.emplace_back();
      entry.producer = packet.producer;
      entry.sequence = packet.sequence;
      entry.topic = packet.topic;
      entry.outcome = verdict.outcome;
      entry.reason = verdict.reason;
      entry.length = packet.length;
      if (verdict.payload_needed) {
        entry.has_payload = true;
        entry.payload_at = section.payload.size();
        append_bytes(section.payload, payload);
      }
      EngineStats::IngestTopic& count = counts.of(verdict, packet.topic);
      count.admitted += verdict.outcome == PacketOutcome::kAdmitted;
      count.bytes_admitted += verdict.outcome == PacketOutcome::kAdmitted ? packet.length : 0;
      count.denied += verdict.outcome == PacketOutcome::kDenied;
      count.throttled += verdict.outcome == PacketOutcome::kThrottled;
    }
    if (verdict.outcome != PacketOutcome::kAdmitted) continue;
    // Governance checked the write: only the allocator can refuse it.
    Status applied = ingest::apply_packet(
        run.fork, ruleset->topic(static_cast<std::size_t>(verdict.topic_index)), payload);
    if (!applied.is_ok()) return run.refused(std::move(applied), "packet " + std::to_string(i));
  }
  if (!run.replaying()) {
    section.buckets = governor.tick_levels();
    run.result.topic_counts = counts.sorted(ruleset);
  } else if (governor.tick_levels() != section.buckets) {
    return run.differs("the token buckets the packets used differ from the logged ones");
  }
  run.result.packets_checked = run.replaying() ? section.packets.size() : 0;
  return Status::ok();
}

// Step 1, a merge: its effect as logged.
Status merge_step(Run& run) {
  graph::DependencyGraph* graph = run.mode == TickMode::kApply ? nullptr : run.ctx.graph;
  Status applied = apply_merge_effect(run.fork, run.record.merge, graph);
  return applied.is_ok() ? applied : run.refused(std::move(applied));
}

// Replay: the candidates as the receipts name them, if every rule is known here.
bool logged_candidates(const Run& run, std::vector<sched::Candidate>& candidates) {
  const sched::RuleMap* rules = run.ctx.rules;
  if (run.mode != TickMode::kReexecute || rules == nullptr) return false;
  for (const log::RuleOutcome& outcome : run.record.rules) {
    const RuleReceipt& receipt = outcome.receipt;
    const sched::RegisteredRule* rule = rules->find(receipt.family);
    if (rule == nullptr) return false;
    candidates.push_back(sched::make_candidate(receipt.scope, receipt.family, receipt.nonce,
                                               rule->id, receipt.attempt, sched::kOriginStanding));
  }
  return true;
}

// Replay: the re-executed step must give the logged receipts and writes.
Status check_rules(const Run& run, const std::vector<log::RuleOutcome>& outcomes) {
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const RuleReceipt& logged = run.record.rules[i].receipt;
    auto candidate = [&] {  // on error only (the rule is known: logged_candidates)
      return "rule candidate " + std::to_string(i) + " ('" +
             run.ctx.rules->find(logged.family)->rule.name + "' at scope " +
             std::to_string(logged.scope.value()) + ")";
    };
    if (outcomes[i].receipt != logged) {
      return run.differs(
          candidate() + ": logged " + std::string(receipt_outcome_name(logged.outcome)) +
          ", re-execution gives " + std::string(receipt_outcome_name(outcomes[i].receipt.outcome)) +
          " or another receipt");
    }
    if (outcomes[i].writes != run.record.rules[i].writes) {
      return run.differs(candidate() + ": re-executed writes differ from the logged ones");
    }
  }
  return Status::ok();
}

// Step 2, the rules step: candidates scheduled, the reserved ones' writes applied (in page
// order; the record keeps canonical order), the retry queue moved on.
Status rules_step(Run& run) {
  sched::RulesStep& step = *run.ctx.rules_step;
  std::vector<sched::Candidate>& candidates = step.input;  // the last run's storage
  candidates.clear();
  if (!run.replaying()) {
    collect_candidates(run.fork, run.record.tick, run.record, *run.ctx.rules, candidates);
  } else if (run.record.rules.empty() || !logged_candidates(run, candidates)) {
    run.result.rules_taken_from_log = run.mode == TickMode::kReexecute && !run.record.rules.empty();
    Status applied = apply_logged_rules(run.fork, run.record.rules);
    if (!applied.is_ok()) return run.refused(std::move(applied));
    advance_retries(run.fork, run.record.tick, run.record.rules);
    return Status::ok();
  }
  if (candidates.empty()) {
    advance_retries(run.fork, run.record.tick, run.record.rules);  // none: due entries leave
    return Status::ok();
  }
  if (run.replaying()) {  // every match afresh: re-execution checks what live reused
    run.ctx.scheduler->run(run.fork.tables(), *run.ctx.rules, run.record.tick, step);
  } else {
    run.ctx.scheduler->run(run.fork, *run.ctx.rules, run.record.tick, step);
  }
  if (!step.failure.is_ok()) {
    if (run.replaying()) return run.differs("re-executed rules fail: " + step.failure.message());
    run.result.failed_origin = step.candidates[step.failed].origin;
    run.result.failed_family = step.candidates[step.failed].key.family;
    return step.failure;
  }
  const SteadyClock::time_point committing = SteadyClock::now();
  Status applied = apply_rules_step(run.fork, step);  // only the allocator refuses
  if (!applied.is_ok()) return run.refused(std::move(applied));
  if (run.replaying()) {
    MMSB_RETURN_IF_ERROR(check_rules(run, step.outcomes));
    run.result.rule_candidates_checked = step.outcomes.size();
  } else {
    // Each transaction learns what became of the candidates it applied.
    for (std::size_t i = 0; i < step.candidates.size(); ++i) {
      const std::uint32_t from = step.candidates[i].origin;
      if (from < run.result.transactions.size() && run.result.transactions[from].is_ok()) {
        run.result.transactions[from]->receipts.push_back(step.outcomes[i].receipt);
      }
    }
    run.record.rules.swap(step.outcomes);  // the step gets storage back with give_back
  }
  advance_retries(run.fork, run.record.tick, run.record.rules);
  run.result.rule_commit_ns = ns_since(committing);
  run.ctx.scheduler->step_applied(step, run.result.rule_commit_ns);
  run.result.rules = step.counters;
  return Status::ok();
}

// Replay: the first derived delta where re-execution and the log part.
Status derived_differ(const Run& run, const std::vector<Delta>& derived) {
  const std::vector<Delta>& logged = run.record.derived;
  std::size_t k = 0;
  while (k < derived.size() && k < logged.size() && derived[k] == logged[k]) ++k;
  return run.differs("re-executed propagation gives " + std::to_string(derived.size()) +
                     " derived deltas, the log has " + std::to_string(logged.size()) +
                     "; they differ from delta " + std::to_string(k));
}

// Step 3, propagation: every derived page the tick affects, recomputed in dependency order.
Status propagation_step(Run& run) {
  if (run.mode == TickMode::kApply) {
    for (const Delta& derived : run.record.derived) {
      Status applied = run.fork.apply(derived);
      if (!applied.is_ok()) {
        return run.refused(std::move(applied),
                           "derived delta of page " + std::to_string(derived.page().value()));
      }
    }
    return Status::ok();
  }
  std::vector<PageId> merged;
  for (const log::PageImage& page : run.record.merge.pages_set) merged.push_back(page.id);
  graph::PropagationInput input;
  input.also_changed = merged;
  input.functions = run.ctx.functions;
  input.collect_events = run.ctx.collect_events;
  if (run.replaying()) input.logged = &run.record.derived;
  graph::PropagationOutput out;
  Status propagated = run.ctx.propagator->run(run.fork, *run.ctx.graph, input, out);
  if (!propagated.is_ok()) return run.refused(std::move(propagated), "propagation");
  if (run.replaying() && out.derived != run.record.derived) return derived_differ(run, out.derived);
  if (!run.replaying()) run.record.derived = std::move(out.derived);
  run.result.events = std::move(out.events);
  run.result.propagation = out.counters;
  run.result.derived_taken_from_log = out.taken_from_log;
  return Status::ok();
}

void enter(Run& run, TickStage stage) {
  if (run.ctx.observer != nullptr && *run.ctx.observer) (*run.ctx.observer)(run.record.tick, stage);
}

// The steps on run.fork; the sealed tick's State is made only if `publish`.
TickResult run_steps(Run& run, bool publish) {
  log::TickRecord& record = run.record;
  TickContext& ctx = run.ctx;
  const TickMode mode = run.mode;
  const bool tracks_graph = mode != TickMode::kApply && ctx.graph != nullptr;
  const std::size_t graph_mark = tracks_graph ? ctx.graph->mark() : 0;
  auto fail = [&](TickStage stage, Status status) {
    if (tracks_graph) ctx.graph->undo_to(graph_mark);
    run.result.status = std::move(status);
    run.result.failed_at = stage;
    return std::move(run.result);
  };
  enter(run, TickStage::kInputs);
  Status status = record.has_merge    ? merge_step(run)
                  : record.has_ingest ? ingest_step(run)
                                      : transactions_step(run);
  if (!status.is_ok()) return fail(TickStage::kInputs, std::move(status));
  if (!record.has_merge) {
    enter(run, TickStage::kRules);
    status = rules_step(run);
    if (!status.is_ok()) return fail(TickStage::kRules, std::move(status));
  }
  enter(run, TickStage::kPropagation);
  status = propagation_step(run);
  if (!status.is_ok()) return fail(TickStage::kPropagation, std::move(status));
  enter(run, TickStage::kSeal);
  const Hash128 root = run.fork.seal(record.tick);
  if (run.replaying() && root != record.root) {
    return fail(TickStage::kSeal, run.differs("replayed root " + root.to_hex() +
                                              " differs from the logged " + record.root.to_hex()));
  }
  if (publish) run.result.state = run.fork.publish();
  if (tracks_graph && mode == TickMode::kReexecute) ctx.graph->clear_journal();
  return std::move(run.result);
}

}  // namespace

TickResult run_tick(const State& before, log::TickRecord& record, TickContext& ctx, TickMode mode) {
  state::ForkCore fork(before);
  Run run{record, ctx, mode, fork, {}};
  return run_steps(run, true);
}

TickResult run_tick(state::ForkCore& working, log::TickRecord& record, TickContext& ctx,
                    TickMode mode) {
  MMSB_ASSERT(mode != TickMode::kBuild);
  Run run{record, ctx, mode, working, {}};
  return run_steps(run, false);
}

}  // namespace mmsb::engine

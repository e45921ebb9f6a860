#include "engine/replay.hpp"

#include "engine/apply.hpp"
#include "engine/rules.hpp"
#include "ingest/ruleset_store.hpp"
#include "log/checkpoint.hpp"
#include "log/tick_record.hpp"

namespace mmsb::engine {
namespace {

std::string at(const std::string& path, std::uint64_t offset) {
  return path + " at byte " + std::to_string(offset);
}

// Re-execution keeps the dependency graph, functions and propagator across records.
struct Reexecution {
  graph::DependencyGraph graph;
  graph::FunctionTable builtins;
  std::shared_ptr<const graph::FunctionMap> builtin_map;
  const graph::FunctionMap* functions = nullptr;
  std::unique_ptr<core::WorkerPool> pool;
  std::unique_ptr<graph::Propagator> propagator;
  graph::PropagationOutput out;
  const sched::RuleMap* rules = nullptr;
  std::unique_ptr<core::WorkerPool> rule_pool;
  std::unique_ptr<sched::Scheduler> scheduler;
  sched::RulesStep step;
};

// Step 2 of a transaction tick. Re-executed when every logged candidate's rule is known
// (the candidates come from the receipts; the gate's decisions and the writes must match),
// applied from the log otherwise.
Status replay_rules(state::ForkCore& fork, const log::TickRecord& record,
                    Reexecution* reexecution, const std::string& at_tick,
                    ReplaySummary* summary) {
  const sched::RuleMap* rules = reexecution != nullptr ? reexecution->rules : nullptr;
  bool rerun = rules != nullptr && !record.rules.empty();
  std::vector<sched::Candidate> candidates;
  for (const log::RuleOutcome& outcome : record.rules) {
    if (!rerun) break;
    const RuleReceipt& receipt = outcome.receipt;
    const sched::RegisteredRule* rule = rules->find(receipt.family);
    if (rule == nullptr) {
      rerun = false;
      break;
    }
    candidates.push_back(sched::make_candidate(receipt.scope, receipt.family, receipt.nonce,
                                               rule->id, receipt.attempt, sched::kOriginStanding));
  }
  if (!rerun) {
    if (reexecution != nullptr && !record.rules.empty()) ++summary->rule_ticks_taken_from_log;
    Status applied = apply_logged_rules(fork, record.rules);
    if (!applied.is_ok()) return Status(applied.code(), at_tick + ": " + applied.message());
    advance_retries(fork, record.tick, record.rules);
    return Status::ok();
  }
  sched::RulesStep& step = reexecution->step;
  reexecution->scheduler->run(fork.tables(), *rules, record.tick, std::move(candidates), step);
  if (!step.failure.is_ok()) {
    return corruption(at_tick + ": re-executed rules fail: " + step.failure.message());
  }
  for (std::size_t i = 0; i < step.receipts.size(); ++i) {
    if (step.receipts[i] != record.rules[i].receipt) {
      const RuleReceipt& logged = record.rules[i].receipt;
      return corruption(at_tick + ": rule candidate " + std::to_string(i) + " (scope " +
                        std::to_string(logged.scope.value()) + "): logged " +
                        std::string(receipt_outcome_name(logged.outcome)) +
                        ", re-execution gives " +
                        std::string(receipt_outcome_name(step.receipts[i].outcome)) +
                        " or another receipt");
    }
  }
  std::vector<log::RuleOutcome> outcomes;
  MMSB_RETURN_IF_ERROR(apply_rules_step(fork, step, outcomes));
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].writes != record.rules[i].writes) {
      return corruption(at_tick + ": rule candidate " + std::to_string(i) + " (scope " +
                        std::to_string(outcomes[i].receipt.scope.value()) +
                        "): re-executed writes differ from the logged ones");
    }
  }
  advance_retries(fork, record.tick, record.rules);  // equal to the re-executed outcomes
  summary->rule_candidates_checked += outcomes.size();
  return Status::ok();
}

// Governance on replay: the rulesets met so far by hash and a governor of their own.
struct IngestReplay {
  Env& env;
  const std::string& dir;
  std::map<Hash128, std::shared_ptr<const ingest::CompiledRuleset>> known;
  ingest::Governor governor;
};

Result<std::shared_ptr<const ingest::CompiledRuleset>> ruleset_of(const log::IngestSection& section,
                                                                  IngestReplay& ingest,
                                                                  const std::string& at_tick) {
  if (section.ruleset == Hash128{}) return std::shared_ptr<const ingest::CompiledRuleset>();
  if (!section.ruleset_bytes.empty()) {
    auto decoded = ingest::CompiledRuleset::decode(section.ruleset_bytes);
    if (!decoded.is_ok()) return corruption(at_tick + ": logged " + decoded.status().message());
    if ((*decoded)->hash() != section.ruleset) {
      return corruption(at_tick + ": the logged ruleset does not hash to " +
                        section.ruleset.to_hex());
    }
    ingest.known[section.ruleset] = *decoded;
  }
  auto found = ingest.known.find(section.ruleset);
  if (found != ingest.known.end()) return found->second;
  auto loaded = ingest::load_ruleset(ingest.env, ingest.dir, section.ruleset);
  if (!loaded.is_ok()) {
    // Missing or damaged is damage to the directory; a failed read (IOError) stays one, so
    // the caller can tell a bad disk from bad data.
    const StatusCode code = loaded.status().code() == StatusCode::kNotFound
                                ? StatusCode::kCorruption
                                : loaded.status().code();
    return Status(code, at_tick + ": ruleset " + section.ruleset.to_hex() +
                            " is neither in the log before it nor loadable from " +
                            ingest::ruleset_dir_of(ingest.dir) + ": " + loaded.status().message());
  }
  ingest.known[section.ruleset] = *loaded;
  return *loaded;
}

// Step 1 of an ingest tick: every packet is judged again with the logged ruleset, time and
// bucket levels and must get its logged outcome; admitted ones are applied.
Status replay_ingest(state::ForkCore& fork, const log::TickRecord& record, IngestReplay& ingest,
                     const std::string& at_tick, ReplaySummary* summary) {
  const log::IngestSection& section = record.ingest;
  MMSB_ASSIGN_OR_RETURN(std::shared_ptr<const ingest::CompiledRuleset> ruleset,
                        ruleset_of(section, ingest, at_tick));
  ingest::Governor& governor = ingest.governor;
  const Hash128 in_force = governor.ruleset() != nullptr ? governor.ruleset()->hash() : Hash128{};
  if (in_force != section.ruleset) governor.set_ruleset(ruleset);
  governor.begin_tick(section.time_ns);
  Status loaded = governor.load_levels(section.buckets);
  if (!loaded.is_ok()) return corruption(at_tick + ": " + loaded.message());
  for (std::size_t i = 0; i < section.packets.size(); ++i) {
    const log::IngestPacket& logged = section.packets[i];
    Packet packet;
    packet.topic = logged.topic;
    packet.producer = logged.producer;
    packet.sequence = logged.sequence;
    packet.length = logged.length;
    const std::span<const std::byte> payload =
        logged.has_payload ? section.payload_of(logged) : std::span<const std::byte>();
    const ingest::Verdict verdict = governor.judge(packet, payload, fork.tables());
    const std::string name = at_tick + ": packet " + std::to_string(i) + " (producer " +
                             std::to_string(logged.producer) + ", sequence " +
                             std::to_string(logged.sequence) + ", topic " +
                             std::to_string(logged.topic) + ")";
    if (verdict.outcome != logged.outcome || verdict.reason != logged.reason) {
      return corruption(name + ": logged " + std::string(packet_outcome_name(logged.outcome)) +
                        " (" + std::string(deny_reason_name(logged.reason)) +
                        "), governance gives " + std::string(packet_outcome_name(verdict.outcome)) +
                        " (" + std::string(deny_reason_name(verdict.reason)) + ")");
    }
    if (verdict.payload_needed != logged.has_payload) {
      return corruption(name + ": its payload is " + (logged.has_payload ? "" : "not ") +
                        "logged, but governance " + (verdict.payload_needed ? "needs" : "ignores") +
                        " it");
    }
    if (verdict.outcome == PacketOutcome::kAdmitted) {
      Status applied = ingest::apply_packet(
          fork, ruleset->topic(static_cast<std::size_t>(verdict.topic_index)), payload);
      if (!applied.is_ok()) return Status(applied.code(), name + ": " + applied.message());
    }
  }
  if (governor.tick_levels() != section.buckets) {
    return corruption(at_tick + ": the token buckets the packets used differ from the logged ones");
  }
  summary->packets_checked += section.packets.size();
  return Status::ok();
}

Status reexecute_transaction(state::ForkCore& fork, log::TransactionInput& logged,
                             graph::DependencyGraph* graph, const std::string& txn) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> logged_results;
  for (const log::Op& op : logged.ops) logged_results.emplace_back(op.assigned, op.epoch);
  clear_applied_results(logged.ops);
  bool damaged = false;
  Status outcome = apply_transaction(fork, logged.ops, nullptr, &damaged, graph);
  if (damaged) return outcome;  // the allocator, not the log
  if (outcome.code() != logged.outcome) {
    return corruption(txn + ": logged outcome " + std::string(status_code_name(logged.outcome)) +
                      " but re-execution gives " + outcome.to_string());
  }
  if (!outcome.is_ok()) return Status::ok();
  for (std::size_t k = 0; k < logged.ops.size(); ++k) {
    const log::Op& op = logged.ops[k];
    if (op.assigned != logged_results[k].first || op.epoch != logged_results[k].second) {
      return corruption(txn + ": operation " + std::to_string(k) +
                        ": ids or epochs differ from the logged ones");
    }
  }
  return Status::ok();
}

// The state after `record`, applied on `state`. The record's ops are applied in place
// (their logged ids and epochs are set aside and compared afterwards), so nothing is copied.
// With `reexecution`, transactions (failed ones too) and propagation run again and must
// give what the log says; without, the committed inputs and the logged derived deltas are
// applied.
Result<State> apply_record(const State& state, log::TickRecord& record, Reexecution* reexecution,
                           IngestReplay& ingest, const std::string& where,
                           ReplaySummary* summary) {
  const std::string at_tick = where + ": tick " + std::to_string(record.tick.value());
  graph::DependencyGraph* graph = reexecution != nullptr ? &reexecution->graph : nullptr;
  state::ForkCore fork(state);
  for (std::size_t i = 0; i < record.transactions.size(); ++i) {
    log::TransactionInput& logged = record.transactions[i];
    if (reexecution == nullptr && logged.outcome != StatusCode::kOk) continue;
    MMSB_RETURN_IF_ERROR(
        reexecute_transaction(fork, logged, graph, at_tick + " transaction " + std::to_string(i)));
  }
  if (record.has_ingest) MMSB_RETURN_IF_ERROR(replay_ingest(fork, record, ingest, at_tick, summary));
  if (!record.has_merge) MMSB_RETURN_IF_ERROR(replay_rules(fork, record, reexecution, at_tick, summary));
  std::vector<PageId> merged;
  if (record.has_merge) {
    Status applied = apply_merge_effect(fork, record.merge, graph);
    if (!applied.is_ok()) return corruption(at_tick + ": " + applied.message());
    for (const log::PageImage& page : record.merge.pages_set) merged.push_back(page.id);
  }
  if (reexecution == nullptr) {
    for (const Delta& derived : record.derived) {
      Status applied = fork.apply(derived);
      if (!applied.is_ok()) {
        return corruption(at_tick + ": derived delta of page " +
                          std::to_string(derived.page().value()) + ": " + applied.message());
      }
    }
  } else {
    graph::PropagationInput input;
    input.also_changed = merged;
    input.functions = reexecution->functions;
    input.logged = &record.derived;
    graph::PropagationOutput& out = reexecution->out;
    out.clear();
    Status propagated = reexecution->propagator->run(fork, *graph, input, out);
    if (!propagated.is_ok()) return corruption(at_tick + ": propagation: " + propagated.message());
    if (out.derived != record.derived) {
      std::size_t k = 0;
      while (k < out.derived.size() && k < record.derived.size() &&
             out.derived[k] == record.derived[k]) {
        ++k;
      }
      return corruption(at_tick + ": re-executed propagation gives " +
                        std::to_string(out.derived.size()) + " derived deltas, the log has " +
                        std::to_string(record.derived.size()) + "; they differ from delta " +
                        std::to_string(k));
    }
    summary->propagation += out.counters;
    summary->derived_taken_from_log += out.taken_from_log;
    graph->clear_journal();
  }
  return fork.commit_as(record.tick);
}

}  // namespace

std::string log_dir_of(const std::string& dir) { return dir + "/log"; }
std::string checkpoint_dir_of(const std::string& dir) { return dir + "/checkpoints"; }

Result<State> replay(Env& env, const std::string& dir, const StateOptions& state_options,
                     const ReplayOptions& options, ReplaySummary* summary) {
  *summary = ReplaySummary{};
  MMSB_ASSIGN_OR_RETURN(State state, State::empty(state_options));
  if (!options.ignore_checkpoints) {
    MMSB_ASSIGN_OR_RETURN(std::vector<TickId> checkpoints,
                          log::list_checkpoints(env, checkpoint_dir_of(dir)));
    // Newest first; a damaged checkpoint is skipped in favour of an older one, because the
    // log still covers the ticks after the older one unless segments were removed (which
    // the tick check below then reports).
    for (auto it = checkpoints.rbegin(); it != checkpoints.rend(); ++it) {
      if (options.to && *it > *options.to) continue;
      auto loaded = log::load_checkpoint(
          env, checkpoint_dir_of(dir) + "/" + log::checkpoint_file_name(*it), state_options);
      if (loaded.is_ok()) {
        state = *loaded;
        summary->checkpoint = *it;
        break;
      }
      if (loaded.status().code() != StatusCode::kCorruption) return loaded.status();
    }
  }
  std::unique_ptr<Reexecution> reexecution;
  if (options.reexecute) {
    reexecution = std::make_unique<Reexecution>();
    MMSB_RETURN_IF_ERROR(reexecution->graph.build(state));
    reexecution->builtin_map = reexecution->builtins.snapshot();
    reexecution->functions =
        options.functions != nullptr ? options.functions : reexecution->builtin_map.get();
    if (options.propagation_workers > 1) {
      reexecution->pool = std::make_unique<core::WorkerPool>(options.propagation_workers);
    }
    reexecution->propagator = std::make_unique<graph::Propagator>(reexecution->pool.get());
    reexecution->rules = options.rules;
    if (options.rule_workers > 1) {
      reexecution->rule_pool = std::make_unique<core::WorkerPool>(options.rule_workers);
    }
    reexecution->scheduler = std::make_unique<sched::Scheduler>(reexecution->rule_pool.get());
  }
  IngestReplay ingest{env, dir, {}, {}};
  bool have_previous = false;
  Hash128 previous;
  bool done = false;
  Status scanned = log::read_log(
      env, log_dir_of(dir),
      [&](std::span<const std::byte> payload, const std::string& path,
          std::uint64_t offset) -> Status {
        if (done) return Status::ok();
        summary->bytes_read += payload.size() + log::kFrameHeaderBytes;
        auto decoded = log::decode_tick_record(payload);
        if (!decoded.is_ok())
          return corruption(at(path, offset) + ": " + decoded.status().message());
        log::TickRecord& record = *decoded;
        if (have_previous && record.previous != previous) {
          return corruption(at(path, offset) + ": tick " + std::to_string(record.tick.value()) +
                            " does not chain to the record before it");
        }
        have_previous = true;
        previous = xxh3_128(payload);
        summary->last_record_hash = previous;
        if (record.tick <= state.tick()) {  // covered by the checkpoint
          // A ruleset logged in full here may still judge the ticks after it.
          if (record.has_ingest && !record.ingest.ruleset_bytes.empty()) {
            auto known = ruleset_of(record.ingest, ingest, at(path, offset));
            if (!known.is_ok()) return known.status();
          }
          return Status::ok();
        }
        if (options.to && record.tick > *options.to) {
          done = true;
          return Status::ok();
        }
        if (record.tick.value() != state.tick().value() + 1) {
          return corruption(at(path, offset) + ": expected tick " +
                            std::to_string(state.tick().value() + 1) + ", found tick " +
                            std::to_string(record.tick.value()));
        }
        MMSB_ASSIGN_OR_RETURN(
            State next, apply_record(state, record, reexecution.get(), ingest, at(path, offset), summary));
        if (next.root() != record.root) {
          return corruption(at(path, offset) + ": tick " + std::to_string(record.tick.value()) +
                            ": replayed root " + next.root().to_hex() +
                            " differs from the logged " + record.root.to_hex());
        }
        state = std::move(next);
        ++summary->ticks_applied;
        if (options.progress && summary->ticks_applied % options.progress_every == 0) {
          options.progress(state.tick(), summary->bytes_read);
        }
        return Status::ok();
      },
      &summary->torn);
  MMSB_RETURN_IF_ERROR(scanned);
  return state;
}

}  // namespace mmsb::engine

#include <cstdio>

#include "sim/rules.hpp"
#include "sim/simulation.hpp"

namespace mmsb::sim {
namespace {

const char* step_name(StepKind kind) {
  switch (kind) {
    case StepKind::kTransaction:
      return "transaction";
    case StepKind::kStaleRead:
      return "stale read";
    case StepKind::kMerge:
      return "merge";
    case StepKind::kRule:
      return "rules";
    case StepKind::kIngest:
      return "ingest";
    case StepKind::kRuleset:
      return "ruleset";
    case StepKind::kClock:
      return "clock";
    case StepKind::kCheckpoint:
      return "checkpoint";
    case StepKind::kReopen:
      return "reopen";
    case StepKind::kCrash:
      return "crash";
  }
  return "?";
}

PageId engine_page(const PageRef& ref, const std::vector<PageId>& created) {
  return ref.created ? created.at(ref.value) : PageId(ref.value);
}

// Sends `ops` through `txn` and commits.
Result<CommitInfo> commit_ops(Transaction& txn, const std::vector<SimOp>& ops) {
  std::vector<PageId> created;
  for (const SimOp& op : ops) {
    switch (op.kind) {
      case SimOp::Kind::kCreate:
        created.push_back(txn.create_page({.type = op.type, .size_bytes = op.size}));
        break;
      case SimOp::Kind::kWrite:
        txn.write(engine_page(op.page, created), op.offset, op.bytes);
        break;
      case SimOp::Kind::kPut:
        txn.put(engine_page(op.page, created), op.bytes);
        break;
      case SimOp::Kind::kDelete:
        txn.delete_page(engine_page(op.page, created));
        break;
      case SimOp::Kind::kAddEdge:
        txn.add_edge(op.edge_kind, engine_page(op.page, created), engine_page(op.to, created));
        break;
      case SimOp::Kind::kRemoveEdge:
        txn.remove_edge(EdgeId(op.edge));
        break;
      case SimOp::Kind::kApply:
        txn.apply(kPullRule, engine_page(op.page, created));
        break;
      case SimOp::Kind::kDerive: {
        std::vector<PageId> parents;
        for (const PageRef& parent : op.parents) parents.push_back(engine_page(parent, created));
        txn.derive(engine_page(op.page, created), parents, op.function);
        break;
      }
    }
  }
  return txn.commit();
}

}  // namespace

void Simulation::arm_fault() {
  if (fault_percent_ == 0 || !random_.chance(fault_percent_)) return;
  switch (random_.below(4)) {
    case 0:
      env_.fail_call(env_.calls() + random_.between(1, 60));
      ++report_.faults["I/O error"];
      break;
    case 1:
      env_.fail_call(env_.calls() + random_.between(1, 60));
      env_.set_sticky(true);
      ++report_.faults["dead disk"];
      break;
    case 2:
      env_.fail_next("sync");
      ++report_.faults["fsync failure"];
      break;
    default:
      env_.set_space_bytes(random_.below(4096));
      ++report_.faults["disk full"];
  }
}

// A transaction of a few writes that applies sim.pull at one to three scopes.
bool Simulation::rule_step() {
  const std::vector<SimOp> ops = draw_rule_transaction(random_, model());
  const Outcome expected = model_transaction(model(), ops, {});
  Transaction txn = engine_->begin();
  return commit_model(expected, commit_ops(txn, ops));
}

bool Simulation::transaction_step() {
  const std::vector<SimOp> ops = draw_transaction(random_, model());
  const Outcome expected = model_transaction(model(), ops, {});
  Transaction txn = engine_->begin();
  return commit_model(expected, commit_ops(txn, ops));
}

// A transaction reads a page; another commits a write to it first (or not); the first one
// must then conflict (or commit).
bool Simulation::stale_read_step() {
  const std::vector<std::uint64_t> writable = writable_pages(model());
  if (writable.empty()) return transaction_step();
  const std::uint64_t page = random_.pick(writable);
  Transaction reader = engine_->begin();
  auto seen = reader.read(PageId(page));
  if (!seen.is_ok())
    return fail("read of page " + std::to_string(page) + ": " + seen.status().to_string());
  const std::vector<SimRead> reads{{page, model().pages.at(page).epoch}};
  if (random_.chance(60)) {
    SimOp write;
    write.page = {false, page};
    write.bytes = random_.bytes(1);
    write.offset = random_.below(model().pages.at(page).bytes.size());
    const Outcome first = model_transaction(model(), {write}, {});
    Transaction writer = engine_->begin();
    const std::uint64_t opens_before = opens_;
    if (!commit_model(first, commit_ops(writer, {write}))) return false;
    // A Transaction must not outlive its Engine (engine.hpp): after a recovery the reader
    // belongs to an engine that is gone, and is dropped unused.
    if (opens_ != opens_before) return true;
  }
  std::vector<SimOp> ops = draw_transaction(random_, model());
  const Outcome expected = model_transaction(model(), ops, reads);
  return commit_model(expected, commit_ops(reader, ops));
}

bool Simulation::merge_step() {
  const Model base = model();
  const ForkChanges changes = draw_fork_changes(random_, base);
  Fork fork = engine_->fork();
  const std::uint64_t opens_at_fork = opens_;
  for (const auto& [page, bytes] : changes.written) {
    if (!fork.put(PageId(page), bytes).is_ok()) return fail("fork put failed");
  }
  for (std::uint64_t page : changes.deleted) {
    if (!fork.delete_page(PageId(page)).is_ok()) return fail("fork delete failed");
  }
  for (const auto& [type, bytes] : changes.created) {
    if (!fork.create_page({.type = type, .size_bytes = bytes.size(), .initial = bytes}).is_ok()) {
      return fail("fork create failed");
    }
  }
  fork.commit();
  if (options_.verbose) {
    std::string what = "fork writes";
    for (const auto& [page, bytes] : changes.written) what += " " + std::to_string(page);
    what += ", deletes";
    for (std::uint64_t page : changes.deleted) what += " " + std::to_string(page);
    what += ", creates " + std::to_string(changes.created.size());
    note(what);
  }
  const std::set<std::uint64_t> avoid = touched_by(changes);
  const std::size_t between = static_cast<std::size_t>(random_.below(3));
  for (std::size_t i = 0; i < between; ++i) {
    const std::vector<SimOp> ops = draw_transaction(random_, model(), avoid);
    const Outcome expected = model_transaction(model(), ops, {});
    Transaction txn = engine_->begin();
    if (!commit_model(expected, commit_ops(txn, ops))) return false;
    if (opens_ != opens_at_fork) return true;  // recovered from a fault: the fork's engine is gone
  }
  const Outcome expected = model_merge(base, model(), changes);
  auto merged = engine_->merge(fork);
  if (merged.status().code() == StatusCode::kIOError) {
    return lost_to_fault(expected, "merge: " + merged.status().to_string());
  }
  if (!same_answer("merge", expected, merged.status())) return false;
  ++report_.outcomes[merged.is_ok() ? "merged" : "merge refused"];
  return advance(expected, "merge");
}

std::string Simulation::deny_reasons() const {
  const EngineStats stats = engine_->stats();
  std::string out;
  for (std::size_t i = 0; i < kDenyReasons; ++i) {
    if (stats.ingest.denied_by_reason[i] != 0) {
      out += " " + std::string(deny_reason_name(static_cast<DenyReason>(i))) + " " +
             std::to_string(stats.ingest.denied_by_reason[i]);
    }
  }
  return out;
}

bool Simulation::ruleset_step() {
  const std::optional<Ruleset> ruleset = IngestModel::draw_ruleset(random_, model());
  if (!ruleset) return true;
  auto set = engine_->set_ruleset(*ruleset);
  if (!set.is_ok()) {
    if (set.status().code() != StatusCode::kIOError)
      return fail("set_ruleset: " + set.status().to_string());
    rulesets_attempted_.push_back(*ruleset);  // a crash may still find it stored
    ++report_.outcomes["ruleset failed"];
    return true;
  }
  ingest_.set(*ruleset);
  ++report_.outcomes["ruleset"];
  return true;
}

// One producer submits a batch (one ring publication, so one ingest tick) and waits for
// every outcome; the counts and the State must be the model's.
bool Simulation::ingest_step() {
  std::vector<PacketDraw> packets = ingest_.draw_packets(random_, model());
  const std::uint32_t id = static_cast<std::uint32_t>(random_.between(1, IngestModel::kProducers));
  for (PacketDraw& packet : packets) packet.producer = id;
  auto found = producers_.find(id);
  if (found == producers_.end()) {
    auto made = engine_->producer({.id = id});
    if (!made.is_ok())
      return fail("producer " + std::to_string(id) + ": " + made.status().to_string());
    found = producers_.emplace(id, std::move(made).value()).first;
  }
  Producer& producer = found->second;
  std::vector<Packet> batch(packets.size());
  for (std::size_t i = 0; i < packets.size(); ++i)
    batch[i].set_inline(packets[i].topic, packets[i].payload);
  const ProducerCounters before = producer.counters();
  const std::uint64_t tick_failed_before =
      engine_->stats().ingest.denied_by_reason[static_cast<std::size_t>(DenyReason::kTickFailed)];
  std::map<std::uint32_t, PacketCounts> counts;
  const Outcome expected = ingest_.tick(model(), packets, clock_.now_ns(), counts);
  auto submitted = producer.submit_batch(batch);
  if (!submitted.is_ok() || *submitted != batch.size())
    return fail("submit_batch took less than all");
  Status flushed = producer.flush();
  const ProducerCounters after = producer.counters();
  if (!flushed.is_ok() || after.completed_sequence < before.submitted + batch.size()) {
    return lost_to_fault(expected, "ingest flush: " + flushed.to_string());
  }
  const PacketCounts seen{after.admitted - before.admitted, after.denied - before.denied,
                          after.throttled - before.throttled};
  const std::uint64_t tick_failed =
      engine_->stats().ingest.denied_by_reason[static_cast<std::size_t>(DenyReason::kTickFailed)] -
      tick_failed_before;
  if (tick_failed == batch.size() && (expected.logged || !(seen == counts[id]))) {
    // The log failed (an injected fault): the engine denies the whole drain tick_failed. Its
    // record may still have reached the disk, so recovery may or may not hold it.
    ++report_.outcomes["ingest tick lost to a log failure"];
    return lost_to_fault(expected, "ingest tick failed with the log");
  }
  if (!(seen == counts[id])) {
    return fail(
        "ingest outcomes: model admitted/denied/throttled " + std::to_string(counts[id].admitted) +
        "/" + std::to_string(counts[id].denied) + "/" + std::to_string(counts[id].throttled) +
        ", engine " + std::to_string(seen.admitted) + "/" + std::to_string(seen.denied) + "/" +
        std::to_string(seen.throttled) + " (engine's deny reasons so far:" + deny_reasons() + ")");
  }
  report_.outcomes["packets admitted"] += seen.admitted;
  report_.outcomes["packets denied"] += seen.denied;
  report_.outcomes["packets throttled"] += seen.throttled;
  return advance(expected, "ingest");
}

bool Simulation::checkpoint_step() {
  auto written = engine_->checkpoint();
  if (!written.is_ok()) {
    if (written.status().code() != StatusCode::kIOError) {
      return fail("checkpoint: " + written.status().to_string());
    }
    ++report_.outcomes["checkpoint failed"];
    return true;  // the engine goes on; a later commit finds out whether the log still works
  }
  if (written->value() != model().tick) return fail("checkpoint of the wrong tick");
  checkpoint_tick_ = written->value();
  ++report_.outcomes["checkpoint"];
  return true;
}

bool Simulation::reopen_step() {
  Status closed = engine_->close();
  if (!closed.is_ok()) return recover("close: " + closed.to_string());
  retire_engine();
  acked_tick_ = model().tick;  // close synced everything
  OpenReport opened;
  if (!open_engine(&opened)) return false;
  if (opened.tick.value() != model().tick) return fail("reopen: recovered another tick");
  ++report_.outcomes["reopen"];
  return check("reopen");
}

bool Simulation::step(StepKind kind) {
  note(step_name(kind));
  arm_fault();
  switch (kind) {
    case StepKind::kTransaction:
      return transaction_step();
    case StepKind::kStaleRead:
      return stale_read_step();
    case StepKind::kMerge:
      return merge_step();
    case StepKind::kRule:
      return rule_step();
    case StepKind::kIngest:
      return ingest_step();
    case StepKind::kRuleset:
      return ruleset_step();
    case StepKind::kClock:
      clock_.advance(random_.between(1, 2'000'000'000));
      return true;
    case StepKind::kCheckpoint:
      return checkpoint_step();
    case StepKind::kReopen:
      return reopen_step();
    case StepKind::kCrash:
      ++report_.faults["crash"];
      return recover("crash");
  }
  return true;
}

}  // namespace mmsb::sim

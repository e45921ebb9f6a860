#include "sim/simulator.hpp"

#include <cstdio>
#include <memory>
#include <optional>

#include "engine/replay.hpp"
#include "graph/functions.hpp"
#include "log/fault_env.hpp"
#include "sim/functions.hpp"
#include "sim/ingest_model.hpp"
#include "sim/workload.hpp"
#include "support/temp_dir.hpp"

namespace mmsb::sim {
namespace {

constexpr std::uint64_t kClockStartNs = 1'700'000'000'000'000'000ull;

const char* step_name(StepKind kind) {
  switch (kind) {
    case StepKind::kTransaction: return "transaction";
    case StepKind::kStaleRead: return "stale read";
    case StepKind::kMerge: return "merge";
    case StepKind::kRule: return "rules";
    case StepKind::kIngest: return "ingest";
    case StepKind::kRuleset: return "ruleset";
    case StepKind::kClock: return "clock";
    case StepKind::kCheckpoint: return "checkpoint";
    case StepKind::kReopen: return "reopen";
    case StepKind::kCrash: return "crash";
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

class Simulation {
 public:
  explicit Simulation(const SimOptions& options)
      : options_(options), random_(options.seed), env_(Env::posix()), clock_(kClockStartNs) {
    history_.emplace_back();
    engine_options_.dir = dir_.path() + "/data";
    engine_options_.env = &env_;
    engine_options_.clock = &clock_;
    const std::uint64_t durability = random_.below(10);
    engine_options_.durability = durability < 7   ? Durability::kFsync
                                 : durability < 9 ? Durability::kFlush
                                                  : Durability::kNone;
    engine_options_.segment_size_max_bytes = random_.between(1, 16) * 512;
    engine_options_.checkpoints_kept = static_cast<std::size_t>(random_.between(1, 3));
    engine_options_.remove_covered_segments = random_.chance(40);
    engine_options_.propagation_workers = static_cast<std::size_t>(random_.between(1, 3));
    engine_options_.rule_workers = static_cast<std::size_t>(random_.between(1, 3));
    fault_percent_ = static_cast<unsigned>(random_.pick(std::vector<std::uint64_t>{0, 4, 10}));
    report_.steps = random_.between(60, 240);  // drawn always, so --steps keeps the run
    if (options.steps != 0) report_.steps = options.steps;
  }

  SimReport run();

 private:
  Model& model() { return history_.back(); }
  bool fail(const std::string& what);
  bool check(const char* after);
  bool open_engine(OpenReport* report);
  bool recover(const std::string& why);
  bool commit_model(const Outcome& expected, const Result<CommitInfo>& committed);
  void arm_fault();
  bool step(StepKind kind);
  bool transaction_step();
  bool stale_read_step();
  bool merge_step();
  bool checkpoint_step();
  bool ruleset_step();
  std::string deny_reasons() const;
  bool ingest_step();
  bool reopen_step();
  bool finish();
  void note(const std::string& line) {
    if (options_.verbose) std::printf("  step %zu tick %llu: %s\n", step_, static_cast<unsigned long long>(model().tick), line.c_str());
  }

  SimOptions options_;
  Random random_;
  test::TempDir dir_;
  log::FaultEnv env_;
  ManualClock clock_;
  EngineOptions engine_options_;
  unsigned fault_percent_ = 0;
  std::unique_ptr<Engine> engine_;
  std::vector<Model> history_;  // history_[t]: the model at tick t
  std::uint64_t acked_tick_ = 0;        // the last tick acknowledged to the simulator
  std::uint64_t checkpoint_tick_ = 0;   // the last checkpoint's tick
  std::optional<Model> pending_;        // what a step that failed with IOError would give
  SimReport report_;
  std::size_t step_ = 0;
  std::uint64_t opens_ = 0;  // engines opened so far
  IngestModel ingest_;
  std::optional<Ruleset> ruleset_attempted_;  // a set_ruleset that failed: maybe stored
  std::map<std::uint32_t, Producer> producers_;  // of the engine open now
};

bool Simulation::fail(const std::string& what) {
  if (!report_.ok) return false;
  report_.ok = false;
  report_.failure = what;
  report_.failed_step = step_;
  report_.failed_tick = model().tick;
  return false;
}

bool Simulation::check(const char* after) {
  const std::string difference = first_difference(model(), engine_->snapshot());
  if (difference.empty()) return true;
  return fail(std::string("after ") + after + ": " + difference);
}

bool Simulation::open_engine(OpenReport* report) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto opened = Engine::open(engine_options_, report);
    if (opened.is_ok()) {
      engine_ = std::move(opened).value();
      ++opens_;
      producers_.clear();
      const std::optional<Ruleset> recovered = engine_->ruleset();
      const bool known = (!recovered && !ingest_.last_set()) ||
                         (recovered && ingest_.last_set() && same_ruleset(*recovered, *ingest_.last_set())) ||
                         (recovered && ruleset_attempted_ && same_ruleset(*recovered, *ruleset_attempted_));
      if (!known) return fail("open recovered a ruleset that was never set");
      ingest_.reopened(recovered);
      ruleset_attempted_.reset();
      Status registered = register_functions(*engine_);
      if (!registered.is_ok()) return fail("registering functions and rules: " + registered.to_string());
      return true;
    }
    if (opened.status().code() != StatusCode::kIOError) {
      return fail("open refused: " + opened.status().to_string());
    }
    ++report_.faults["fault during recovery"];
    env_.heal();  // the disk works again; the next open must recover from what is there
  }
  return fail("open failed three times");
}

// The process dies (nothing more reaches the disk), the power maybe with it; then the data
// directory is opened again and must hold a prefix of what was committed that keeps every
// tick that was durable.
bool Simulation::recover(const std::string& why) {
  ++report_.recoveries;
  const std::uint64_t mode = random_.below(3);  // process crash, power loss, torn power loss
  note("recover (" + why + "), mode " + std::to_string(mode));
  env_.fail_call(env_.calls() + 1);
  env_.set_sticky(true);
  engine_.reset();
  env_.heal();
  std::uint64_t floor = checkpoint_tick_;
  const bool survives_process_crash = engine_options_.durability != Durability::kNone;
  if (engine_options_.durability == Durability::kFsync || (mode == 0 && survives_process_crash)) {
    floor = acked_tick_;
  }
  if (mode == 1) (void)env_.drop_unsynced();
  if (mode == 2) (void)env_.drop_unsynced(random_.next());
  if (mode != 0) ++report_.faults[mode == 1 ? "power loss" : "torn power loss"];
  OpenReport opened;
  if (!open_engine(&opened)) return false;
  const std::uint64_t tick = opened.tick.value();
  if (tick < floor) {
    return fail("recovered tick " + std::to_string(tick) + " but tick " + std::to_string(floor) +
                " was durable (" + why + ")");
  }
  if (tick + 1 < history_.size()) {
    history_.resize(tick + 1);
  } else if (tick + 1 == history_.size() + 1 && pending_ && pending_->tick == tick) {
    history_.push_back(*pending_);
  } else if (tick + 1 != history_.size()) {
    return fail("recovered tick " + std::to_string(tick) + ", past every tick attempted");
  }
  pending_.reset();
  acked_tick_ = tick;
  if (checkpoint_tick_ > tick) checkpoint_tick_ = 0;
  if (opened.root != model().root()) return fail("recovered root differs from the model's");
  return check(("recovery: " + why).c_str());
}

// Compares a commit's result with the model's outcome and moves the model on.
bool Simulation::commit_model(const Outcome& expected, const Result<CommitInfo>& committed) {
  if (!committed.is_ok() && committed.status().code() == StatusCode::kIOError) {
    if (expected.logged) pending_ = expected.after;
    return recover("commit: " + committed.status().to_string());
  }
  if (expected.status.is_ok() != committed.is_ok() ||
      (expected.status.code() == StatusCode::kConflict &&
       committed.status().code() != StatusCode::kConflict)) {
    return fail("commit: model says " + expected.status.to_string() + ", engine says " +
                committed.status().to_string());
  }
  ++report_.outcomes[committed.is_ok() ? "committed" : status_code_name(committed.status().code()).data()];
  if (committed.is_ok()) {
    if (committed->tick.value() != expected.after.tick) return fail("commit: tick differs");
    std::vector<std::uint64_t> pages, edges;
    for (PageId page : committed->created_pages) pages.push_back(page.value());
    for (EdgeId edge : committed->created_edges) edges.push_back(edge.value());
    if (pages != expected.created_pages) return fail("commit: created page ids differ");
    if (edges != expected.created_edges) return fail("commit: created edge ids differ");
  }
  if (expected.logged) {
    history_.push_back(expected.after);
    acked_tick_ = model().tick;
  }
  return check("commit");
}

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
  if (!seen.is_ok()) return fail("read of page " + std::to_string(page) + ": " + seen.status().to_string());
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
  if (!merged.is_ok() && merged.status().code() == StatusCode::kIOError) {
    if (expected.logged) pending_ = expected.after;
    return recover("merge: " + merged.status().to_string());
  }
  if (expected.status.is_ok() != merged.is_ok()) {
    return fail("merge: model says " + expected.status.to_string() + ", engine says " +
                merged.status().to_string());
  }
  ++report_.outcomes[merged.is_ok() ? "merged" : "merge refused"];
  if (expected.logged) {
    history_.push_back(expected.after);
    acked_tick_ = model().tick;
  }
  return check("merge");
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
    if (set.status().code() != StatusCode::kIOError) return fail("set_ruleset: " + set.status().to_string());
    ruleset_attempted_ = *ruleset;  // a crash may still find it stored
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
    if (!made.is_ok()) return fail("producer " + std::to_string(id) + ": " + made.status().to_string());
    found = producers_.emplace(id, std::move(made).value()).first;
  }
  Producer& producer = found->second;
  std::vector<Packet> batch(packets.size());
  for (std::size_t i = 0; i < packets.size(); ++i) batch[i].set_inline(packets[i].topic, packets[i].payload);
  const ProducerCounters before = producer.counters();
  const std::uint64_t tick_failed_before = engine_->stats().ingest.denied_by_reason[
      static_cast<std::size_t>(DenyReason::kTickFailed)];
  std::map<std::uint32_t, PacketCounts> counts;
  const Outcome expected = ingest_.tick(model(), packets, clock_.now_ns(), counts);
  auto submitted = producer.submit_batch(batch);
  if (!submitted.is_ok() || *submitted != batch.size()) return fail("submit_batch took less than all");
  Status flushed = producer.flush();
  const ProducerCounters after = producer.counters();
  if (!flushed.is_ok() || after.completed_sequence < before.submitted + batch.size()) {
    pending_ = expected.after;
    return recover("ingest flush: " + flushed.to_string());
  }
  const PacketCounts seen{after.admitted - before.admitted, after.denied - before.denied,
                          after.throttled - before.throttled};
  const std::uint64_t tick_failed = engine_->stats().ingest.denied_by_reason[
      static_cast<std::size_t>(DenyReason::kTickFailed)] - tick_failed_before;
  if (tick_failed == batch.size() && expected.logged) {
    // The log failed (an injected fault): the engine denies the whole drain tick_failed. Its
    // record may still have reached the disk, so recovery may or may not hold it.
    ++report_.outcomes["ingest tick lost to a log failure"];
    pending_ = expected.after;
    return recover("ingest tick failed with the log");
  }
  if (!(seen == counts[id])) {
    return fail("ingest outcomes: model admitted/denied/throttled " + std::to_string(counts[id].admitted) +
                "/" + std::to_string(counts[id].denied) + "/" + std::to_string(counts[id].throttled) +
                ", engine " + std::to_string(seen.admitted) + "/" + std::to_string(seen.denied) + "/" +
                std::to_string(seen.throttled) + " (engine's deny reasons so far:" + deny_reasons() + ")");
  }
  report_.outcomes["packets admitted"] += seen.admitted;
  report_.outcomes["packets denied"] += seen.denied;
  report_.outcomes["packets throttled"] += seen.throttled;
  if (expected.logged) {
    history_.push_back(expected.after);
    acked_tick_ = model().tick;
  }
  return check("ingest");
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
  engine_.reset();
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
    case StepKind::kTransaction: return transaction_step();
    case StepKind::kStaleRead: return stale_read_step();
    case StepKind::kMerge: return merge_step();
    case StepKind::kRule: return transaction_step();
    case StepKind::kIngest: return ingest_step();
    case StepKind::kRuleset: return ruleset_step();
    case StepKind::kClock:
      clock_.advance(random_.between(1, 2'000'000'000));
      return true;
    case StepKind::kCheckpoint: return checkpoint_step();
    case StepKind::kReopen: return reopen_step();
    case StepKind::kCrash:
      ++report_.faults["crash"];
      return recover("crash");
  }
  return true;
}

// Closes cleanly, then replays the directory in both modes: each must give the model's State.
bool Simulation::finish() {
  env_.heal();
  Status closed = engine_->close();
  if (!closed.is_ok()) return fail("final close: " + closed.to_string());
  engine_.reset();
  graph::FunctionTable functions;
  (void)functions.add(std::string(kMix), [](const DeriveInput& input, std::vector<std::byte>& out) {
    out.resize(input.current.size());
    return compute_mix(input.parents, out);
  });
  (void)functions.add(std::string(kPicky), [](const DeriveInput& input, std::vector<std::byte>& out) {
    out.resize(input.current.size());
    return compute_picky(input.parents, out);
  });
  const auto function_map = functions.snapshot();
  for (bool reexecute : {false, true}) {
    engine::ReplayOptions replay_options;
    replay_options.reexecute = reexecute;
    replay_options.functions = function_map.get();
    replay_options.propagation_workers = engine_options_.propagation_workers;
    engine::ReplaySummary summary;
    auto replayed = engine::replay(env_, engine_options_.dir, {}, replay_options, &summary);
    const char* mode = reexecute ? "re-executing replay" : "replay";
    if (!replayed.is_ok()) return fail(std::string(mode) + ": " + replayed.status().to_string());
    const std::string difference = first_difference(model(), *replayed);
    if (!difference.empty()) return fail(std::string(mode) + ": " + difference);
  }
  return true;
}

SimReport Simulation::run() {
  OpenReport opened;
  if (!open_engine(&opened) || !check("open")) return report_;
  for (step_ = 1; step_ <= report_.steps; ++step_) {
    if (!step(draw_step(random_))) return report_;
  }
  step_ = report_.steps;
  env_.heal();
  if (finish()) report_.ticks = model().tick;
  return report_;
}

SimReport simulate(const SimOptions& options) { return Simulation(options).run(); }

std::string replay_command(std::uint64_t seed, std::size_t steps) {
  std::string command = "mmsb_sim --seed " + std::to_string(seed);
  if (steps != 0) command += " --steps " + std::to_string(steps);
  return command;
}

}  // namespace mmsb::sim

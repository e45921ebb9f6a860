#include "sim/simulator.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/replay.hpp"
#include "graph/functions.hpp"
#include "sched/rule_table.hpp"
#include "sim/functions.hpp"
#include "sim/rules.hpp"
#include "sim/simulation.hpp"

namespace mmsb::sim {

bool Simulation::fail(const std::string& what) {
  if (!report_.ok) return false;
  if (!options_.keep_dir.empty()) {  // the data directory as the failure left it
    std::error_code error;
    std::filesystem::remove_all(options_.keep_dir, error);
    std::filesystem::copy(engine_options_.dir, options_.keep_dir,
                          std::filesystem::copy_options::recursive, error);
  }
  report_.ok = false;
  report_.failure = what;
  report_.failed_step = step_;
  report_.failed_tick = model().tick;
  return false;
}

std::string Simulation::list_files() const {
  std::string out;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(engine_options_.dir, error)) {
    if (!entry.is_regular_file()) continue;
    out += " " + std::filesystem::relative(entry.path(), engine_options_.dir).string() + " (" +
           std::to_string(entry.file_size()) + ")";
  }
  return out;
}

void Simulation::retire_engine() {
  if (!engine_) return;
  const EngineStats stats = engine_->stats();
  report_.outcomes["rule candidates"] += stats.rule_candidates;
  report_.outcomes["rules applied"] += stats.rules_applied;
  report_.outcomes["rules rejected"] += stats.rules_rejected;
  report_.outcomes["rules deferred"] += stats.rules_deferred;
  report_.outcomes["rule retries"] += stats.rule_retries;
  engine_.reset();
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
      const bool known =
          (!recovered && !ingest_.last_set()) ||
          (recovered && ingest_.last_set() && same_ruleset(*recovered, *ingest_.last_set())) ||
          (recovered &&
           std::any_of(rulesets_attempted_.begin(), rulesets_attempted_.end(),
                       [&](const Ruleset& tried) { return same_ruleset(*recovered, tried); }));
      if (!known) return fail("open recovered a ruleset that was never set");
      ingest_.reopened(recovered);
      rulesets_attempted_.clear();
      Status registered = register_functions(*engine_);
      if (registered.is_ok()) registered = register_rules(*engine_);
      if (!registered.is_ok())
        return fail("registering functions and rules: " + registered.to_string());
      return true;
    }
    if (opened.status().code() != StatusCode::kIOError) {
      return fail("open refused: " + opened.status().to_string() + " (files:" + list_files() + ")");
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
  retire_engine();
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

bool Simulation::lost_to_fault(const Outcome& expected, const std::string& why) {
  if (expected.logged) pending_ = expected.after;
  return recover(why);
}

bool Simulation::advance(const Outcome& expected, const char* after) {
  if (expected.logged) {
    history_.push_back(expected.after);
    acked_tick_ = model().tick;
  }
  return check(after);
}

bool Simulation::same_answer(const char* what, const Outcome& expected, const Status& answer) {
  if (expected.status.is_ok() == answer.is_ok() &&
      (expected.status.code() != StatusCode::kConflict || answer.code() == StatusCode::kConflict)) {
    return true;
  }
  return fail(std::string(what) + ": model says " + expected.status.to_string() + ", engine says " +
              answer.to_string());
}

// Compares a commit's result with the model's outcome and moves the model on.
bool Simulation::commit_model(const Outcome& expected, const Result<CommitInfo>& committed) {
  if (committed.status().code() == StatusCode::kIOError) {
    return lost_to_fault(expected, "commit: " + committed.status().to_string());
  }
  if (!same_answer("commit", expected, committed.status())) return false;
  ++report_.outcomes[committed.is_ok() ? "committed"
                                       : status_code_name(committed.status().code()).data()];
  if (committed.is_ok()) {
    if (committed->tick.value() != expected.after.tick) return fail("commit: tick differs");
    std::vector<std::uint64_t> pages, edges;
    for (PageId page : committed->created_pages) pages.push_back(page.value());
    for (EdgeId edge : committed->created_edges) edges.push_back(edge.value());
    if (pages != expected.created_pages) return fail("commit: created page ids differ");
    if (edges != expected.created_edges) return fail("commit: created edge ids differ");
  }
  return advance(expected, "commit");
}

// Closes cleanly, then replays the directory in both modes: each must give the model's State.
bool Simulation::finish() {
  env_.heal();
  Status closed = engine_->close();
  if (!closed.is_ok()) return fail("final close: " + closed.to_string());
  retire_engine();
  graph::FunctionTable functions;
  (void)functions.add(std::string(kMix), mix_function());
  (void)functions.add(std::string(kPicky), picky_function());
  const auto function_map = functions.snapshot();
  sched::RuleTable rules;
  for (Rule& rule : make_rules()) (void)rules.add(std::move(rule));
  const auto rule_map = rules.snapshot();
  for (bool reexecute : {false, true}) {
    engine::ReplayOptions replay_options;
    replay_options.reexecute = reexecute;
    replay_options.functions = function_map.get();
    replay_options.propagation_workers = engine_options_.propagation_workers;
    replay_options.rules = rule_map.get();
    replay_options.rule_workers = engine_options_.rule_workers;
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

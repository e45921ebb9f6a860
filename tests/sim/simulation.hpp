// The Simulation behind simulate() (simulator.hpp): its state, and the steps it draws.
// simulator.cpp has the checks and recovery; simulation_steps.cpp the steps.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "log/fault_env.hpp"
#include "sim/ingest_model.hpp"
#include "sim/model.hpp"
#include "sim/random.hpp"
#include "sim/simulator.hpp"
#include "sim/workload.hpp"
#include "support/temp_dir.hpp"

namespace mmsb::sim {

inline constexpr std::uint64_t kClockStartNs = 1'700'000'000'000'000'000ull;

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
  // A step failed with IOError: what it would have made (if logged) may have reached the log.
  bool lost_to_fault(const Outcome& expected, const std::string& why);
  // A step the model predicted as `expected` was acknowledged: the model moves on, then check.
  bool advance(const Outcome& expected, const char* after);
  // Success or failure as the model says (and Conflict where it says Conflict), else fail.
  bool same_answer(const char* what, const Outcome& expected, const Status& answer);
  bool commit_model(const Outcome& expected, const Result<CommitInfo>& committed);
  void arm_fault();
  bool step(StepKind kind);
  // Destroys the engine, adding its rule counters to the report.
  void retire_engine();
  // The data directory's files and sizes, for failure messages.
  std::string list_files() const;
  bool transaction_step();
  bool rule_step();
  bool stale_read_step();
  bool merge_step();
  bool checkpoint_step();
  bool ruleset_step();
  std::string deny_reasons() const;
  bool ingest_step();
  bool reopen_step();
  bool finish();
  void note(const std::string& line) {
    if (options_.verbose)
      std::printf("  step %zu tick %llu: %s\n", step_,
                  static_cast<unsigned long long>(model().tick), line.c_str());
  }

  SimOptions options_;
  Random random_;
  test::TempDir dir_;
  log::FaultEnv env_;
  ManualClock clock_;
  EngineOptions engine_options_;
  unsigned fault_percent_ = 0;
  std::unique_ptr<Engine> engine_;
  std::vector<Model> history_;         // history_[t]: the model at tick t
  std::uint64_t acked_tick_ = 0;       // the last tick acknowledged to the simulator
  std::uint64_t checkpoint_tick_ = 0;  // the last checkpoint's tick
  std::optional<Model> pending_;       // what a step that failed with IOError would give
  SimReport report_;
  std::size_t step_ = 0;
  std::uint64_t opens_ = 0;  // engines opened so far
  IngestModel ingest_;
  std::vector<Ruleset>
      rulesets_attempted_;  // set_rulesets that failed since the last open: maybe stored
  std::map<std::uint32_t, Producer> producers_;  // of the engine open now
};

}  // namespace mmsb::sim

#include "engine/replay.hpp"

#include "engine/tick_machinery.hpp"
#include "ingest/ruleset_store.hpp"
#include "log/checkpoint.hpp"
#include "log/format.hpp"
#include "log/tick_reader.hpp"
#include "log/tick_record.hpp"

namespace mmsb::engine {
namespace {

// Re-execution's functions and rules: the caller's, or the built-ins and none.
struct Reexecution {
  graph::FunctionTable builtins;
  std::shared_ptr<const graph::FunctionMap> builtin_map = builtins.snapshot();
  const graph::FunctionMap* functions = nullptr;
  const sched::RuleMap* rules = nullptr;
};

// Governance on replay: the rulesets met so far by hash.
struct IngestReplay {
  Env& env;
  const std::string& dir;
  std::map<Hash128, std::shared_ptr<const ingest::CompiledRuleset>> known;
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

// Applies the logged record to the working version by the tick step.
Status apply_record(state::ForkCore& working, log::LoggedTick& logged, TickMachinery& machinery,
                    const Reexecution* reexecution, IngestReplay& ingest,
                    const StageObserver* observer, ReplaySummary* summary) {
  log::TickRecord& record = logged.record;
  TickContext ctx = reexecution != nullptr
                        ? machinery.context(reexecution->functions, reexecution->rules)
                        : machinery.context(nullptr, nullptr);
  ctx.observer = observer;
  if (record.has_ingest) {
    MMSB_ASSIGN_OR_RETURN(
        std::shared_ptr<const ingest::CompiledRuleset> ruleset,
        ruleset_of(record.ingest, ingest,
                   logged.where() + ": tick " + std::to_string(record.tick.value())));
    ingest::Governor& governor = machinery.governor();
    const Hash128 in_force = governor.ruleset() != nullptr ? governor.ruleset()->hash() : Hash128{};
    if (in_force != record.ingest.ruleset) governor.set_ruleset(std::move(ruleset));
  }
  TickResult result = run_tick(working, record, ctx,
                               reexecution != nullptr ? TickMode::kReexecute : TickMode::kApply);
  if (!result.ok()) {
    return Status(result.status.code(), logged.where() + ": " + result.status.message());
  }
  summary->derived_recomputes += result.propagation.recomputes;
  summary->derived_changed += result.propagation.changed;
  summary->derived_taken_from_log += result.derived_taken_from_log;
  summary->rule_candidates_checked += result.rule_candidates_checked;
  summary->rule_ticks_taken_from_log += result.rules_taken_from_log;
  summary->packets_checked += result.packets_checked;
  return Status::ok();
}

}  // namespace

std::string log_dir_of(const std::string& dir) { return dir + "/log"; }
std::string checkpoint_dir_of(const std::string& dir) { return dir + "/checkpoints"; }

namespace {

// Where replay starts: the newest loadable checkpoint it may use, or the empty State.
// Damaged ones passed over on the way are kept in `damaged` (newest first).
Result<State> start_state(Env& env, const std::string& dir, const StateOptions& state_options,
                          const ReplayOptions& options, ReplaySummary* summary,
                          std::vector<std::pair<TickId, std::string>>& damaged) {
  MMSB_ASSIGN_OR_RETURN(State state, State::empty(state_options));
  if (options.ignore_checkpoints) return state;
  MMSB_ASSIGN_OR_RETURN(std::vector<TickId> checkpoints,
                        log::list_checkpoints(env, checkpoint_dir_of(dir)));
  // Newest first; a damaged checkpoint is passed over in favour of an older one, because
  // the log still covers the ticks after the older one unless segments were removed (the
  // caller then names the damaged checkpoints as the cause).
  for (auto it = checkpoints.rbegin(); it != checkpoints.rend(); ++it) {
    if (options.to && *it > *options.to) continue;
    if (options.checkpoints_below && *it >= *options.checkpoints_below) continue;
    const std::string path = checkpoint_dir_of(dir) + "/" + log::checkpoint_file_name(*it);
    auto loaded = log::load_checkpoint(env, path, state_options);
    if (loaded.is_ok()) {
      summary->checkpoint = *it;
      return std::move(*loaded);
    }
    if (loaded.status().code() != StatusCode::kCorruption) return loaded.status();
    damaged.emplace_back(*it, loaded.status().message());
  }
  return state;
}

// A damaged checkpoint whose ticks the log does not hold is the cause of what follows.
Status blame_checkpoints(const std::vector<std::pair<TickId, std::string>>& damaged,
                         const std::string& what) {
  std::string names;
  for (const auto& [tick, why] : damaged) names += (names.empty() ? "" : "; ") + why;
  return corruption(names +
                    (damaged.size() == 1 ? " (the checkpoint cannot be loaded)"
                                         : " (no checkpoint can be loaded)") +
                    ", and the log does not hold the ticks it covers: " + what);
}

}  // namespace

Result<State> replay(Env& env, const std::string& dir, const StateOptions& state_options,
                     const ReplayOptions& options, ReplaySummary* summary) {
  *summary = ReplaySummary{};
  std::vector<std::pair<TickId, std::string>> damaged;
  MMSB_ASSIGN_OR_RETURN(State state,
                        start_state(env, dir, state_options, options, summary, damaged));
  MMSB_ASSIGN_OR_RETURN(std::unique_ptr<TickMachinery> machinery,
                        TickMachinery::create(state, options.propagation_workers,
                                              options.rule_workers, options.reexecute));
  std::optional<Reexecution> reexecution;
  if (options.reexecute) {
    reexecution.emplace();
    reexecution->functions =
        options.functions != nullptr ? options.functions : reexecution->builtin_map.get();
    reexecution->rules = options.rules;
  }
  IngestReplay ingest{env, dir, {}};
  // Ticks are applied to one working version and sealed there; the State is made once, at
  // the end (no intermediate one is ever read), so each tick changes in place the nodes
  // the ticks before it made.
  state::ForkCore working = state::ForkCore::working(std::move(state));
  Status scanned = log::read_tick_records(
      env, log_dir_of(dir), options.read_ahead,
      [&](log::LoggedTick& logged) -> Result<log::NextTick> {
        log::TickRecord& record = logged.record;
        summary->bytes_read += logged.bytes;
        summary->last_record_hash = logged.hash;
        if (record.tick <= working.sealed_tick()) {  // covered by the checkpoint
          // A ruleset logged in full here may still judge the ticks after it.
          if (record.has_ingest && !record.ingest.ruleset_bytes.empty()) {
            auto known = ruleset_of(record.ingest, ingest, logged.where());
            if (!known.is_ok()) return known.status();
          }
          return log::NextTick::kMore;
        }
        if (options.to && record.tick > *options.to) return log::NextTick::kNoMore;
        if (record.tick.value() != working.sealed_tick().value() + 1) {
          const std::string what = logged.where() + ": expected tick " +
                                   std::to_string(working.sealed_tick().value() + 1) +
                                   ", found tick " + std::to_string(record.tick.value());
          return damaged.empty() ? corruption(what) : blame_checkpoints(damaged, what);
        }
        MMSB_RETURN_IF_ERROR(apply_record(working, logged, *machinery,
                                          reexecution ? &*reexecution : nullptr, ingest,
                                          options.observer, summary));
        ++summary->ticks_applied;
        if (options.progress && summary->ticks_applied % options.progress_every == 0) {
          options.progress(working.sealed_tick(), summary->bytes_read);
        }
        return log::NextTick::kMore;
      },
      &summary->torn);
  MMSB_RETURN_IF_ERROR(scanned);
  const TickId last = working.sealed_tick();
  if (!damaged.empty() && last < damaged.front().first) {
    // The log ends before the damaged checkpoint's tick: the ticks it covered are lost.
    return blame_checkpoints(damaged, "the log ends at tick " + std::to_string(last.value()));
  }
  return working.publish();
}

}  // namespace mmsb::engine

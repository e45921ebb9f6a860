// The public face of replay (mmsb/replay.hpp): replay, verify and scan_log on a data
// directory, read-only, on top of engine::replay (engine/replay.hpp).
#include "engine/replay.hpp"
#include "log/checkpoint.hpp"
#include "log/format.hpp"
#include "log/log_file.hpp"
#include "log/tick_record.hpp"
#include "mmsb/replay.hpp"

namespace mmsb {
namespace {

// NotFound for a missing directory, IOError for one that cannot be read: a directory that
// cannot be listed must never look like an empty one.
Status check_readable(Env& env, const std::string& dir) {
  auto names = env.list_dir(dir);
  if (names.is_ok()) return Status::ok();
  if (names.status().code() == StatusCode::kNotFound) {
    return not_found(dir + ": no such data directory");
  }
  return names.status();
}

// The functions and rules of the public options, as the internal replay takes them.
struct Registered {
  graph::FunctionTable functions;
  sched::RuleTable rules;
  std::shared_ptr<const graph::FunctionMap> function_map;
  std::shared_ptr<const sched::RuleMap> rule_map;
};

Result<engine::ReplayOptions> internal_options(const ReplayOptions& options,
                                               Registered& registered) {
  for (const auto& [name, function] : options.functions) {
    MMSB_RETURN_IF_ERROR(registered.functions.add(name, function));
  }
  for (const Rule& rule : options.rules) MMSB_RETURN_IF_ERROR(registered.rules.add(rule));
  registered.function_map = registered.functions.snapshot();
  registered.rule_map = registered.rules.snapshot();
  engine::ReplayOptions out;
  out.to = options.to;
  out.reexecute = options.reexecute;
  out.functions = registered.function_map.get();
  out.propagation_workers = options.propagation_workers;
  out.rules = registered.rule_map.get();
  out.rule_workers = options.rule_workers;
  out.ignore_checkpoints = options.ignore_checkpoints;
  out.progress = options.progress;
  out.progress_every = options.progress_every == 0 ? 1 : options.progress_every;
  return out;
}

Env& env_of(const ReplayOptions& options) {
  return options.env != nullptr ? *options.env : *Env::posix();
}

// One checkpoint file as verification found it: its root, or why it does not load.
struct Loaded {
  TickId tick;
  std::string path;
  Result<Hash128> root;
};

// Checks `checkpoints[k]` against the log: the log's root at its tick, re-executed from the
// newest loadable checkpoint before it (or from the empty State) where the log holds the
// ticks after that start (`first_logged`: the first tick the log holds, zero: none), so
// with the whole log every tick is re-executed once across the checkpoints. A start the
// log no longer continues from leaves it unchecked; a re-execution that fails or ends
// elsewhere is a difference.
CheckpointCheck check_checkpoint(Env& env, const std::string& dir,
                                 const std::vector<Loaded>& checkpoints, std::size_t k,
                                 TickId first_logged, const ReplayOptions& options,
                                 const engine::ReplayOptions& reexecution) {
  const Loaded& target = checkpoints[k];
  CheckpointCheck check{target.tick, target.path, CheckpointCheck::Outcome::kMatches, {}};
  if (!target.root.is_ok()) {
    check.outcome = CheckpointCheck::Outcome::kDamaged;
    check.detail = target.root.status().to_string();
    return check;
  }
  TickId start(0);
  for (std::size_t i = k; i-- > 0;) {
    if (checkpoints[i].root.is_ok()) {
      start = checkpoints[i].tick;
      break;
    }
  }
  const std::string from = start.value() == 0 ? std::string("the empty state")
                                              : "checkpoint " + std::to_string(start.value());
  if (first_logged.value() == 0 || first_logged.value() > start.value() + 1) {
    check.outcome = CheckpointCheck::Outcome::kUnchecked;
    check.detail = "the log no longer holds the ticks after " + from;
    return check;
  }
  engine::ReplayOptions to_tick = reexecution;
  to_tick.to = target.tick;
  to_tick.checkpoints_below = target.tick;
  to_tick.progress = nullptr;
  engine::ReplaySummary summary;
  auto replayed = engine::replay(env, dir, options.state, to_tick, &summary);
  check.outcome = CheckpointCheck::Outcome::kDiffers;
  if (!replayed.is_ok()) {
    check.detail = "re-executing from " + from + ": " + replayed.status().to_string();
  } else if (replayed->tick() != target.tick) {
    check.detail = "the log ends at tick " + std::to_string(replayed->tick().value());
  } else if (replayed->root() != *target.root) {
    check.detail = "root " + target.root->to_hex() + ", the log's " + replayed->root().to_hex() +
                   " (re-executed from " + from + ")";
  } else {
    check.outcome = CheckpointCheck::Outcome::kMatches;
    check.detail = std::to_string(summary.ticks_applied) + " ticks re-executed from " + from;
  }
  return check;
}

}  // namespace

Result<State> replay(const std::string& dir, const ReplayOptions& options, ReplaySummary* summary) {
  Env& env = env_of(options);
  MMSB_RETURN_IF_ERROR(check_readable(env, dir));
  Registered registered;
  MMSB_ASSIGN_OR_RETURN(engine::ReplayOptions internal, internal_options(options, registered));
  ReplaySummary local;
  return engine::replay(env, dir, options.state, internal, summary != nullptr ? summary : &local);
}

std::string_view checkpoint_outcome_name(CheckpointCheck::Outcome outcome) {
  switch (outcome) {
    case CheckpointCheck::Outcome::kMatches:
      return "matches the log";
    case CheckpointCheck::Outcome::kUnchecked:
      return "loads; the log no longer holds the ticks before it";
    case CheckpointCheck::Outcome::kDamaged:
      return "damaged";
    case CheckpointCheck::Outcome::kDiffers:
      return "differs from the log";
  }
  return "unknown";
}

bool VerifyReport::ok() const {
  if (!failure.is_ok()) return false;
  for (const CheckpointCheck& check : checkpoints) {
    if (check.outcome == CheckpointCheck::Outcome::kDamaged ||
        check.outcome == CheckpointCheck::Outcome::kDiffers) {
      return false;
    }
  }
  return true;
}

Result<VerifyReport> verify(const std::string& dir, const ReplayOptions& options) {
  Env& env = env_of(options);
  MMSB_RETURN_IF_ERROR(check_readable(env, dir));
  Registered registered;
  MMSB_ASSIGN_OR_RETURN(engine::ReplayOptions internal, internal_options(options, registered));
  internal.reexecute = true;
  internal.to.reset();
  internal.ignore_checkpoints = false;  // what Engine::open recovers
  VerifyReport report;
  auto recovered = engine::replay(env, dir, options.state, internal, &report.recovery);
  if (recovered.is_ok()) {
    report.tick = recovered->tick();
    report.root = recovered->root();
  } else if (recovered.status().code() == StatusCode::kIOError) {
    return recovered.status();
  } else {
    report.failure = recovered.status();
  }
  MMSB_ASSIGN_OR_RETURN(std::vector<TickId> ticks,
                        log::list_checkpoints(env, engine::checkpoint_dir_of(dir)));
  std::vector<Loaded> checkpoints;
  for (TickId tick : ticks) {
    const std::string path = engine::checkpoint_dir_of(dir) + "/" + log::checkpoint_file_name(tick);
    auto loaded = log::load_checkpoint(env, path, options.state);
    if (!loaded.is_ok() && loaded.status().code() != StatusCode::kCorruption) {
      return loaded.status();
    }
    checkpoints.push_back(Loaded{
        tick, path,
        loaded.is_ok() ? Result<Hash128>(loaded->root()) : Result<Hash128>(loaded.status())});
  }
  MMSB_ASSIGN_OR_RETURN(std::vector<log::SegmentFile> segments,
                        log::list_segments(env, engine::log_dir_of(dir)));
  const TickId first_logged = segments.empty() ? TickId(0) : segments.front().first_tick;
  for (std::size_t k = 0; k < checkpoints.size(); ++k) {
    report.checkpoints.push_back(
        check_checkpoint(env, dir, checkpoints, k, first_logged, options, internal));
  }
  return report;
}

Result<LogScan> scan_log(const std::string& dir,
                         const std::function<Status(const log::TickRecord&)>& visit, Env* env) {
  Env& files = env != nullptr ? *env : *Env::posix();
  MMSB_RETURN_IF_ERROR(check_readable(files, dir));
  const std::string log_dir = engine::log_dir_of(dir);
  MMSB_ASSIGN_OR_RETURN(std::vector<log::SegmentFile> segments, log::list_segments(files, log_dir));
  LogScan scan;
  std::vector<std::string> paths;  // as read_log names them
  for (const log::SegmentFile& segment : segments) {
    scan.segments.push_back(LogSegmentInfo{segment.name, segment.first_tick, TickId(0), 0, 0});
    paths.push_back(log_dir + "/" + segment.name);
  }
  std::size_t current = 0;
  MMSB_RETURN_IF_ERROR(log::read_log(
      files, log_dir,
      [&](std::span<const std::byte> payload, const std::string& path,
          std::uint64_t offset) -> Status {
        while (current + 1 < paths.size() && paths[current] != path) ++current;
        auto record = log::decode_tick_record(payload);
        if (!record.is_ok()) {
          return corruption(log::at_byte(path, offset) + ": " +
                            record.status().message());
        }
        LogSegmentInfo& info = scan.segments[current];
        ++info.records;
        info.bytes += payload.size() + log::kFrameHeaderBytes;
        info.last_tick = record->tick;
        return visit ? visit(*record) : Status::ok();
      },
      &scan.torn));
  return scan;
}

}  // namespace mmsb

// Reading a data directory without opening an engine on it: replay to any tick (applying
// the logged ticks, or re-executing them as the determinism oracle), verification of what
// Engine::open would recover, and the log's ticks with their records. Nothing here writes
// to the directory. docs/SEMANTICS.md "Replay and verification".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mmsb/derive.hpp"
#include "mmsb/env.hpp"
#include "mmsb/rule.hpp"
#include "mmsb/state.hpp"
#include "mmsb/status.hpp"
#include "mmsb/tick_record.hpp"

namespace mmsb {

// The damaged end of the last log segment (a write cut short by a crash); Engine::open
// drops it.
struct TornTail {
  std::string path;
  std::uint64_t offset = 0;         // where the valid part of the file ends
  std::uint64_t bytes_dropped = 0;  // bytes after it
};

struct ReplayOptions {
  Env* env = nullptr;  // nullptr: Env::posix()
  StateOptions state;
  std::optional<TickId> to;  // stop after this tick
  // Re-execute every logged tick (failed transactions too, governance, the rules step,
  // propagation) and require every logged result, rather than applying the logged ones.
  bool reexecute = false;
  // Start from the empty State even if checkpoints exist (needs the whole log).
  bool ignore_checkpoints = false;
  // Re-execution: derivation functions besides the built-ins, and rules. A page whose
  // function is missing takes its logged delta, a tick with a candidate whose rule is missing
  // its logged rule outcomes (both counted in ReplaySummary).
  std::vector<std::pair<std::string, DeriveFunction>> functions;
  std::vector<Rule> rules;
  std::size_t propagation_workers = 1;
  std::size_t rule_workers = 1;
  // Called every `progress_every` ticks with the tick reached and the log bytes read.
  std::function<void(TickId, std::uint64_t)> progress;
  std::uint64_t progress_every = 10000;
};

struct ReplaySummary {
  std::optional<TickId> checkpoint;  // the checkpoint replay started from
  std::uint64_t ticks_applied = 0;
  std::uint64_t bytes_read = 0;
  std::optional<TornTail> torn;
  Hash128 last_record_hash;  // of the last record read (the chain continues from it)
  // Re-execution.
  std::uint64_t derived_recomputes = 0;
  std::uint64_t derived_changed = 0;
  std::uint64_t derived_taken_from_log = 0;     // function not available
  std::uint64_t rule_candidates_checked = 0;    // scheduled and executed again
  std::uint64_t rule_ticks_taken_from_log = 0;  // a rule not available
  std::uint64_t packets_checked = 0;            // ingest packets judged again (always)
};

// The State of data directory `dir` at `options.to` (default: the last logged tick): the
// newest loadable checkpoint at or before it, then every logged tick after it, each checked
// against its logged root and the record chain. NotFound if `dir` does not exist, IOError
// if it cannot be read, Corruption naming the file and tick where the directory is damaged
// (a damaged checkpoint whose ticks the log no longer holds is named as the cause).
Result<State> replay(const std::string& dir, const ReplayOptions& options = {},
                     ReplaySummary* summary = nullptr);

struct CheckpointCheck {
  enum class Outcome : std::uint8_t {
    kMatches,    // loads, and its root is the log's at its tick, re-executed (detail: from where)
    kUnchecked,  // loads, but the log no longer holds the ticks after the checkpoint before it
    kDamaged,    // does not load (detail says why)
    kDiffers,    // loads, but re-executing the log to its tick fails or gives another root
  };
  TickId tick;
  std::string path;
  Outcome outcome = Outcome::kMatches;
  std::string detail;
};
std::string_view checkpoint_outcome_name(CheckpointCheck::Outcome outcome);

struct VerifyReport {
  // What Engine::open would recover, re-executed: from `recovery.checkpoint` (none: the
  // whole log) to `tick`. `failure` is why recovery would fail (OK: it would not).
  ReplaySummary recovery;
  Status failure;
  TickId tick;
  Hash128 root;
  std::vector<CheckpointCheck> checkpoints;  // every checkpoint, by tick
  bool ok() const;
};

// Verifies data directory `dir`: re-executes what Engine::open would recover, and checks
// every checkpoint against the log re-executed from the checkpoint before it (or from
// tick 0) where the log still holds those ticks: with the whole log, every tick is
// re-executed.
// `options.reexecute` is implied and `options.to` ignored. A damaged directory is a
// report that is not ok(); the Status is an error only where `dir` is missing (NotFound) or
// unreadable (IOError).
Result<VerifyReport> verify(const std::string& dir, const ReplayOptions& options = {});

struct LogSegmentInfo {
  std::string name;
  TickId first_tick;  // as its name and header say
  TickId last_tick;   // of its last record (zero: none)
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;  // of its records, frames included
};

struct LogScan {
  std::vector<LogSegmentInfo> segments;
  std::optional<TornTail> torn;
};

// Reads every record of `dir`'s log in order, checksums and segment headers checked, and
// hands each decoded record to `visit` (if given; a non-OK Status from it stops the scan
// and is returned). Ticks are not applied: replay() checks roots and the chain.
Result<LogScan> scan_log(const std::string& dir,
                         const std::function<Status(const log::TickRecord&)>& visit = {},
                         Env* env = nullptr);

}  // namespace mmsb

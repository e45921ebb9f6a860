// Rebuilding a State from a data directory: the newest loadable checkpoint, then every
// logged tick after it, each checked against its logged root and the record chain.
// Used by Engine::open (recovery) and by the public replay API (mmsb/replay.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "engine/tick.hpp"
#include "graph/functions.hpp"
#include "graph/propagator.hpp"
#include "log/log_file.hpp"
#include "mmsb/engine.hpp"
#include "mmsb/replay.hpp"
#include "sched/rule_table.hpp"

namespace mmsb::engine {

struct ReplayOptions {
  std::optional<TickId> to;  // stop after this tick
  // Re-execute every logged transaction, failed ones too, and require the same outcomes,
  // ids and epochs (the determinism oracle), rather than only applying committed ones; then
  // re-run propagation and require the logged derived deltas.
  bool reexecute = false;
  // Derivation functions for re-execution (nullptr: the built-ins). A page whose function
  // is missing takes its logged delta instead (counted in ReplaySummary).
  const graph::FunctionMap* functions = nullptr;
  std::size_t propagation_workers = 1;
  // Rules for re-execution (nullptr: none). A tick whose candidates all have their rule here
  // is scheduled and executed again and must give the logged receipts and writes; any other
  // takes its logged rule outcomes (counted in ReplaySummary).
  const sched::RuleMap* rules = nullptr;
  std::size_t rule_workers = 1;
  // Start from the empty State even if checkpoints exist (needs the whole log).
  bool ignore_checkpoints = false;
  // Only checkpoints before this tick may be the start (verification of a checkpoint).
  std::optional<TickId> checkpoints_below;
  const StageObserver* observer = nullptr;  // test hook (engine/tick.hpp)
  // Records read, decoded and checked ahead of the one being applied, by a thread of the
  // replay's own (0: none, the caller's thread does it all; the outcome is the same).
  std::size_t read_ahead = 16;
  // Called every `progress_every` ticks with the tick reached and log bytes read.
  std::function<void(TickId, std::uint64_t)> progress;
  std::uint64_t progress_every = 10000;
};

using ReplaySummary = ::mmsb::ReplaySummary;

std::string log_dir_of(const std::string& dir);
std::string checkpoint_dir_of(const std::string& dir);

// `summary` (required) receives what the replay read and checked.
Result<State> replay(Env& env, const std::string& dir, const StateOptions& state_options,
                     const ReplayOptions& options, ReplaySummary* summary);

}  // namespace mmsb::engine

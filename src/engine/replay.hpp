// Rebuilding a State from a data directory: the newest loadable checkpoint, then every
// logged tick after it, each checked against its logged root and the record chain.
// Used by Engine::open (recovery) and by `mmsb replay` / `mmsb verify`.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "graph/functions.hpp"
#include "graph/propagator.hpp"
#include "log/log_file.hpp"
#include "mmsb/engine.hpp"
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
  // Called every `progress_every` ticks with the tick reached and log bytes read.
  std::function<void(TickId, std::uint64_t)> progress;
  std::uint64_t progress_every = 10000;
};

struct ReplaySummary {
  std::optional<TickId> checkpoint;
  std::uint64_t ticks_applied = 0;
  std::uint64_t bytes_read = 0;
  std::optional<log::TornTail> torn;
  Hash128 last_record_hash;  // of the last record read (the chain continues from it)
  graph::PropagationCounters propagation;  // re-execution only
  std::uint64_t derived_taken_from_log = 0;  // re-execution: function not available
  std::uint64_t rule_candidates_checked = 0;  // re-execution: scheduled and executed again
  std::uint64_t rule_ticks_taken_from_log = 0;  // re-execution: a rule not available
  std::uint64_t packets_checked = 0;  // ingest packets judged again (always)
};

std::string log_dir_of(const std::string& dir);
std::string checkpoint_dir_of(const std::string& dir);

Result<State> replay(Env& env, const std::string& dir, const StateOptions& state_options,
                     const ReplayOptions& options, ReplaySummary* summary);

}  // namespace mmsb::engine

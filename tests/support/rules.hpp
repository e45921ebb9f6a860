// Helpers of the rules tests: an engine for them, and re-executing replay of a data
// directory with a set of rules registered (their determinism oracle).
#pragma once

#include <string>
#include <vector>

#include "engine/replay.hpp"
#include "mmsb/engine.hpp"
#include "mmsb/rule.hpp"
#include "sched/rule_table.hpp"
#include "support/temp_dir.hpp"

namespace mmsb::test {

// An engine in `dir` with no durability and `rule_workers` rule threads.
inline EngineOptions rules_engine_options(const TempDir& dir, std::size_t rule_workers = 1) {
  EngineOptions options;
  options.dir = dir.path();
  options.durability = Durability::kNone;
  options.rule_workers = rule_workers;
  return options;
}

inline Result<State> reexecute_with_rules(const std::string& dir, std::vector<Rule> rules,
                                          engine::ReplaySummary& summary) {
  sched::RuleTable table;
  for (Rule& rule : rules) MMSB_RETURN_IF_ERROR(table.add(std::move(rule)));
  const auto snapshot = table.snapshot();
  engine::ReplayOptions options;
  options.reexecute = true;
  options.rules = snapshot.get();
  return engine::replay(*Env::posix(), dir, {}, options, &summary);
}

}  // namespace mmsb::test

// Re-executing replay of a data directory with a set of rules registered: the determinism
// oracle of the rules tests.
#pragma once

#include <string>
#include <vector>

#include "engine/replay.hpp"
#include "mmsb/rule.hpp"
#include "sched/rule_table.hpp"

namespace mmsb::test {

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

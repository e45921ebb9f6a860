// RuleTable: rules by family id, each with a compact u32 id used inside the engine (never
// serialized: logs carry family ids). Rules are code, not state: every process registers
// its own after opening an engine.
//
// Thread-safety: add() and snapshot() may be called from any thread. A snapshot is
// immutable, so a tick looks rules up without locking.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mmsb/rule.hpp"

namespace mmsb::sched {

struct RegisteredRule {
  Rule rule;
  RuleFamilyId family = 0;
  std::uint32_t id = 0;  // compact: the index in RuleMap::rules
  // Not OK once the rule failed outside a transaction: no more standing or retry candidates.
  Status suspended;
};

struct RuleMap {
  std::vector<RegisteredRule> rules;                               // by compact id
  std::vector<std::pair<RuleFamilyId, std::uint32_t>> by_family;  // sorted
  std::vector<std::uint32_t> standing;                              // compact ids, by family id
  const RegisteredRule* find(RuleFamilyId family) const;
};

// Checks a rule's fields: InvalidArgument naming the rule and the field.
Status validate_rule(const Rule& rule);

class RuleTable {
 public:
  RuleTable();
  // InvalidArgument (validate_rule); AlreadyExists if the name is taken or another
  // registered name has the same family id (both named).
  Status add(Rule rule);
  // add() with a given family id instead of the name's (tests of the collision check).
  Status add_with_family(Rule rule, RuleFamilyId family);
  // Suspends a registered rule with the failure that caused it.
  void suspend(RuleFamilyId family, const Status& why);
  std::shared_ptr<const RuleMap> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const RuleMap> rules_;
};

}  // namespace mmsb::sched

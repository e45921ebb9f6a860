#include "sched/rule_table.hpp"

#include <algorithm>

namespace mmsb::sched {

const RegisteredRule* RuleMap::find(RuleFamilyId family) const {
  auto it = std::lower_bound(by_family.begin(), by_family.end(),
                             std::pair<RuleFamilyId, std::uint32_t>(family, 0));
  if (it == by_family.end() || it->first != family) return nullptr;
  return &rules[it->second];
}

Status validate_rule(const Rule& rule) {
  const std::string name = "rule '" + rule.name + "'";
  if (rule.name.empty() || rule.name.size() > kRuleNameMaxBytes) {
    return invalid_argument(name + ": name must be 1 to " + std::to_string(kRuleNameMaxBytes) +
                            " bytes");
  }
  if (!rule.footprint) return invalid_argument(name + ": no footprint function");
  if (!rule.executor && !rule.bulk_executor) return invalid_argument(name + ": no executor");
  if (rule.policy.kind == ConflictPolicy::Kind::kRetry &&
      (rule.policy.max_attempts < 2 || rule.policy.max_attempts > kRetryAttemptsMax)) {
    return invalid_argument(name + ": retry max_attempts " +
                            std::to_string(rule.policy.max_attempts) + " is outside [2, " +
                            std::to_string(kRetryAttemptsMax) + "]");
  }
  if (rule.standing_type && *rule.standing_type == 0) {
    return invalid_argument(name + ": a standing rule needs a page type other than 0 (untyped "
                                   "pages are not indexed)");
  }
  return Status::ok();
}

RuleTable::RuleTable() : rules_(std::make_shared<RuleMap>()) {}

Status RuleTable::add(Rule rule) {
  const RuleFamilyId family = rule_family_id(rule.name);
  return add_with_family(std::move(rule), family);
}

Status RuleTable::add_with_family(Rule rule, RuleFamilyId family) {
  MMSB_RETURN_IF_ERROR(validate_rule(rule));
  std::lock_guard<std::mutex> lock(mutex_);
  if (const RegisteredRule* existing = rules_->find(family)) {
    if (existing->rule.name == rule.name) {
      return already_exists("rule '" + rule.name + "' is already registered");
    }
    return already_exists("rule '" + rule.name + "' has the family id of rule '" +
                          existing->rule.name + "'; rename one of them");
  }
  auto rules = std::make_shared<RuleMap>(*rules_);
  const auto id = static_cast<std::uint32_t>(rules->rules.size());
  const bool standing = rule.standing_type.has_value();
  rules->rules.push_back(RegisteredRule{std::move(rule), family, id, Status::ok()});
  rules->by_family.insert(std::upper_bound(rules->by_family.begin(), rules->by_family.end(),
                                           std::pair<RuleFamilyId, std::uint32_t>(family, id)),
                          {family, id});
  if (standing) {
    rules->standing.insert(
        std::upper_bound(rules->standing.begin(), rules->standing.end(), id,
                         [&](std::uint32_t a, std::uint32_t b) {
                           return rules->rules[a].family < rules->rules[b].family;
                         }),
        id);
  }
  rules_ = std::move(rules);
  return Status::ok();
}

void RuleTable::suspend(RuleFamilyId family, const Status& why) {
  std::lock_guard<std::mutex> lock(mutex_);
  const RegisteredRule* existing = rules_->find(family);
  if (existing == nullptr) return;
  auto rules = std::make_shared<RuleMap>(*rules_);
  rules->rules[existing->id].suspended = why;
  rules_ = std::move(rules);
}

std::shared_ptr<const RuleMap> RuleTable::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rules_;
}

}  // namespace mmsb::sched

#include "engine/rules.hpp"

#include "sched/retry.hpp"

namespace mmsb::engine {

void collect_candidates(const state::ForkCore& fork, TickId tick, const log::TickRecord& record,
                        const sched::RuleMap& rules, std::vector<sched::Candidate>& candidates) {
  std::uint64_t nonce = 0;
  auto add = [&](const sched::RegisteredRule& rule, PageId scope, std::uint32_t attempt,
                 std::uint32_t origin) {
    candidates.push_back(sched::make_candidate(scope, rule.family, nonce++, rule.id, attempt, origin));
  };
  const state::Tables& tables = fork.tables();
  if (tables.retries) {
    for (const PendingRetry& retry : tables.retries->items) {
      if (retry.due > tick) break;
      const sched::RegisteredRule* rule = rules.find(retry.family);
      if (rule != nullptr && rule->suspended.is_ok()) {
        add(*rule, retry.scope, retry.attempt, sched::kOriginRetry);
      }
    }
  }
  for (std::size_t i = 0; i < record.transactions.size(); ++i) {
    const log::LoggedTransaction& transaction = record.transactions[i];
    if (!transaction.committed()) continue;
    const std::vector<log::Op>& ops = transaction.input.ops;
    const std::span<const log::OpResult> results = record.results_of(transaction);
    for (std::size_t k = 0; k < ops.size(); ++k) {
      const auto* apply = std::get_if<log::ApplyRuleOp>(&ops[k]);
      if (apply == nullptr) continue;
      const sched::RegisteredRule* rule = rules.find(apply->family);
      MMSB_ASSERT(rule != nullptr);  // Transaction::apply checked, and rules stay registered
      add(*rule, PageId(results[k].assigned), 1, static_cast<std::uint32_t>(i));
    }
  }
  for (std::uint32_t id : rules.standing) {
    const sched::RegisteredRule& rule = rules.rules[id];
    if (!rule.suspended.is_ok()) continue;
    const state::TypeMembers* members = tables.types.find(*rule.rule.standing_type);
    if (members == nullptr) continue;
    members->pages.for_each(
        [&](std::uint64_t page, const auto&) { add(rule, PageId(page), 1, sched::kOriginStanding); });
  }
}

Status apply_rules_step(state::ForkCore& fork, const sched::RulesStep& step) {
  const std::vector<std::uint32_t>& order = step.order;
  for (std::size_t k = 0; k < order.size(); ++k) {
    sched::prefetch_outcomes(step, k, order.size());
    for (const log::PageWrite& write : step.outcomes[order[k]].writes) {
      MMSB_RETURN_IF_ERROR(fork.write(write.page, write.offset, write.bytes));
    }
  }
  return Status::ok();
}

Status apply_logged_rules(state::ForkCore& fork, const std::vector<log::RuleOutcome>& rules) {
  for (const log::RuleOutcome& outcome : rules) {
    for (const log::PageWrite& write : outcome.writes) {
      const state::PageRecord* page = fork.tables().find_page(write.page);
      const std::string where = "rule write to page " + std::to_string(write.page.value());
      if (page == nullptr) return corruption(where + ": the page does not exist");
      if (page->epoch != write.epoch) {
        return corruption(where + ": logged at epoch " + std::to_string(write.epoch.value()) +
                          ", the page is at " + std::to_string(page->epoch.value()));
      }
      Status written = fork.write(write.page, write.offset, write.bytes);
      if (written.code() == StatusCode::kResourceExhausted) return written;
      if (!written.is_ok()) return corruption(where + ": " + written.message());
    }
  }
  return Status::ok();
}

void advance_retries(state::ForkCore& fork, TickId tick,
                     const std::vector<log::RuleOutcome>& rules) {
  std::vector<PendingRetry> deferred;
  for (const log::RuleOutcome& outcome : rules) {
    const RuleReceipt& receipt = outcome.receipt;
    if (receipt.outcome != ReceiptOutcome::kDeferred) continue;
    deferred.push_back(
        PendingRetry{receipt.retry_at, receipt.family, receipt.scope, receipt.attempt + 1});
  }
  const state::Tables& tables = fork.tables();
  const bool any_due = tables.retries && tables.retries->items.front().due <= tick;
  if (!any_due && deferred.empty()) return;
  std::span<const PendingRetry> current;
  if (tables.retries) current = tables.retries->items;
  fork.set_retries(sched::next_retries(current, tick, deferred));
}

}  // namespace mmsb::engine

#include "sim/rules.hpp"

#include <algorithm>
#include <tuple>

#include "sched/order.hpp"
#include "sched/retry.hpp"
#include "sim/workload.hpp"

namespace mmsb::sim {
namespace {

// The rewrites, as pure functions of the scope's and the neighbour's bytes (empty: none).
std::vector<std::byte> grow(std::span<const std::byte> scope,
                            std::span<const std::byte> neighbour) {
  std::vector<std::byte> out(scope.begin(), scope.end());
  out[0] = std::byte(static_cast<std::uint8_t>(std::to_integer<unsigned>(out[0]) + 1));
  if (out.size() >= 2 && !neighbour.empty()) out[1] = neighbour[0];
  return out;
}

std::vector<std::byte> pull(std::span<const std::byte> scope,
                            std::span<const std::byte> neighbour) {
  std::vector<std::byte> out(scope.begin(), scope.end());
  const unsigned folded = neighbour.empty() ? 0x5A : std::to_integer<unsigned>(neighbour[0]);
  out.back() =
      std::byte(static_cast<std::uint8_t>(std::to_integer<unsigned>(out.back()) * 3 + folded + 1));
  return out;
}

using Rewrite = std::vector<std::byte> (*)(std::span<const std::byte>, std::span<const std::byte>);

Rule make_rule(std::string_view name, Rewrite rewrite) {
  Rule rule;
  rule.name = std::string(name);
  rule.footprint = [](const RuleView&, PageId scope, Footprint& out) {
    out.write(scope).read(PageId(scope.value() + 1));  // the neighbour, if it exists
    return Status::ok();
  };
  rule.executor = [rewrite](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    MMSB_ASSIGN_OR_RETURN(std::span<const std::byte> bytes, view.read(scope));
    std::span<const std::byte> neighbour;
    auto next = view.read(PageId(scope.value() + 1));
    if (next.is_ok()) neighbour = *next;
    return out.write(scope, 0, rewrite(bytes, neighbour));
  };
  return rule;
}

struct Candidate {
  std::uint64_t family = 0;
  std::uint64_t scope = 0;
  std::uint64_t nonce = 0;
  std::uint32_t attempt = 1;
  std::vector<std::uint64_t> reads, writes;  // the footprint
};

bool conflict(const Candidate& a, const Candidate& b) {
  auto meets = [](const std::vector<std::uint64_t>& x, const std::vector<std::uint64_t>& y) {
    for (std::uint64_t page : x) {
      if (std::find(y.begin(), y.end(), page) != y.end()) return true;
    }
    return false;
  };
  return meets(a.writes, b.writes) || meets(a.writes, b.reads) || meets(b.writes, a.reads);
}

}  // namespace

std::vector<Rule> make_rules() {
  std::vector<Rule> rules;
  rules.push_back(make_rule(kGrowRule, grow));
  rules.back().standing_type = kScopeType;
  rules.push_back(make_rule(kPullRule, pull));
  rules.back().policy = ConflictPolicy::retry(kPullAttempts);
  return rules;
}

Status register_rules(Engine& engine) {
  for (Rule& rule : make_rules()) MMSB_RETURN_IF_ERROR(engine.register_rule(std::move(rule)));
  return Status::ok();
}

void model_rules_step(Model& model, std::uint64_t tick, const std::vector<std::uint64_t>& applied) {
  static const std::uint64_t grow_family = rule_family_id(kGrowRule);
  static const std::uint64_t pull_family = rule_family_id(kPullRule);
  std::vector<Candidate> candidates;
  for (const PendingRetry& retry : model.retries) {
    if (retry.due.value() <= tick) {
      candidates.push_back(
          {retry.family, retry.scope.value(), candidates.size(), retry.attempt, {}, {}});
    }
  }
  for (std::uint64_t scope : applied)
    candidates.push_back({pull_family, scope, candidates.size(), 1, {}, {}});
  for (const auto& [id, page] : model.pages) {  // the one standing rule, by page id
    if (page.type == kScopeType)
      candidates.push_back({grow_family, id, candidates.size(), 1, {}, {}});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tuple(sched::scope_hash(PageId(a.scope)), a.family, a.nonce) <
           std::tuple(sched::scope_hash(PageId(b.scope)), b.family, b.nonce);
  });
  const Model snapshot = model;
  std::vector<const Candidate*> reserved;
  std::vector<PendingRetry> retries;
  for (const PendingRetry& retry : model.retries) {
    if (retry.due.value() > tick) retries.push_back(retry);
  }
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    Candidate& candidate = candidates[i];
    if (i > 0 && candidates[i - 1].family == candidate.family &&
        candidates[i - 1].scope == candidate.scope) {
      continue;  // a duplicate: collapsed into the first of its run
    }
    if (!snapshot.pages.count(candidate.scope)) continue;  // skipped
    candidate.writes = {candidate.scope};
    candidate.reads = {candidate.scope + 1};
    const bool blocked = std::any_of(reserved.begin(), reserved.end(), [&](const Candidate* other) {
      return conflict(candidate, *other);
    });
    if (!blocked) {
      reserved.push_back(&candidate);
    } else if (candidate.family == pull_family && candidate.attempt < kPullAttempts) {
      const std::uint64_t due =
          tick + sched::retry_backoff(candidate.family, PageId(candidate.scope), TickId(tick),
                                      candidate.attempt);
      retries.push_back(PendingRetry{TickId(due), candidate.family, PageId(candidate.scope),
                                     candidate.attempt + 1});
    }
  }
  for (const Candidate* candidate : reserved) {  // canonical order; each sees the snapshot
    const auto& scope = snapshot.pages.at(candidate->scope).bytes;
    std::span<const std::byte> neighbour;
    auto next = snapshot.pages.find(candidate->scope + 1);
    if (next != snapshot.pages.end()) neighbour = next->second.bytes;
    model.pages.at(candidate->scope).bytes =
        candidate->family == grow_family ? grow(scope, neighbour) : pull(scope, neighbour);
  }
  std::sort(retries.begin(), retries.end());
  model.retries = std::move(retries);
}

}  // namespace mmsb::sim

// The theorem of docs/SEMANTICS.md "Rules and scheduling": pairwise independent rewrites,
// executed one after another in any order, give the same state root; and the scheduler's
// parallel execution against one snapshot gives that root too. And the order the scheduler
// hands the reserved candidates to the apply step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "mmsb/hash.hpp"
#include "sched/rule_table.hpp"
#include "sched/scheduler.hpp"
#include "support/rapidcheck_gtest.hpp"

namespace mmsb::sched {
namespace {

constexpr std::uint64_t kPages = 12;

// Collects an executor's writes.
class VectorSink final : public DeltaSink {
 public:
  Status write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes) override {
    writes.push_back(log::PageWrite{page, Epoch(), offset, {bytes.begin(), bytes.end()}});
    return Status::ok();
  }
  std::vector<log::PageWrite> writes;
};

// A rewrite: hashes what its footprint lets it read (and its own index) into every page it
// writes.
struct Rewrite {
  Footprint footprint;
  std::uint64_t salt = 0;

  Status run(const RuleView& view, DeltaSink& out) const {
    std::vector<std::byte> seen;
    for (const auto* pages : {&footprint.pages_read, &footprint.pages_written}) {
      for (PageId page : *pages) {
        MMSB_ASSIGN_OR_RETURN(auto bytes, view.read(page));
        seen.insert(seen.end(), bytes.begin(), bytes.end());
      }
    }
    for (PageId page : footprint.pages_written) {
      const std::uint64_t value = xxh3_64(seen, salt ^ page.value());
      std::byte bytes[8];
      std::memcpy(bytes, &value, 8);
      MMSB_RETURN_IF_ERROR(out.write(page, value % 9, bytes));
    }
    return Status::ok();
  }
};

State initial_state(std::mt19937_64& random) {
  state::ForkCore fork{State{}};
  for (std::uint64_t i = 0; i < kPages; ++i) {
    std::vector<std::byte> bytes(16);
    for (std::byte& b : bytes) b = static_cast<std::byte>(random());
    EXPECT_TRUE(fork.create_page({.size_bytes = 16, .initial = bytes}).is_ok());
  }
  return fork.commit();
}

Rewrite random_rewrite(std::mt19937_64& random, std::uint64_t salt) {
  Rewrite rewrite;
  rewrite.salt = salt;
  const int entries = 1 + static_cast<int>(random() % 4);
  for (int k = 0; k < entries; ++k) {
    const PageId page(1 + random() % kPages);
    switch (random() % 3) {
      case 0:
        rewrite.footprint.read(page);
        break;
      case 1:
        rewrite.footprint.write(page);
        break;
      default:
        rewrite.footprint.port(page, static_cast<std::uint32_t>(random() % 2), PortDirection::kIn);
        break;
    }
  }
  if (rewrite.footprint.pages_written.empty()) rewrite.footprint.write(PageId(1 + random() % kPages));
  EXPECT_TRUE(rewrite.footprint.normalize().is_ok());
  return rewrite;
}

// Runs the rewrites one after another in `order`, each seeing the ones before it.
Hash128 serial_root(const State& start, const std::vector<Rewrite>& rewrites,
                    const std::vector<std::size_t>& order) {
  state::ForkCore fork(start);
  for (std::size_t i : order) {
    TablesView view(fork.tables(), &rewrites[i].footprint);
    VectorSink sink;
    EXPECT_TRUE(rewrites[i].run(view, sink).is_ok());
    EXPECT_TRUE(view.violation().is_ok());
    for (const log::PageWrite& write : sink.writes) {
      EXPECT_TRUE(fork.write(write.page, write.offset, write.bytes).is_ok());
    }
  }
  return fork.commit().root();
}

RC_GTEST_PROP(CommutationProperty, IndependentRewritesCommuteInEveryOrder, ()) {
  const std::size_t n = *rc::gen::inRange<std::size_t>(3, 7);
  std::mt19937_64 random(*rc::gen::arbitrary<std::uint64_t>());
  const State start = initial_state(random);
  std::vector<Rewrite> rewrites;
  for (int tries = 0; rewrites.size() < n && tries < 10000; ++tries) {
    Rewrite candidate = random_rewrite(random, rewrites.size());
    bool independent_of_all = true;
    for (const Rewrite& kept : rewrites) {
      independent_of_all = independent_of_all && independent(candidate.footprint, kept.footprint);
    }
    if (independent_of_all) rewrites.push_back(std::move(candidate));
  }
  RC_PRE(rewrites.size() == n);
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  const Hash128 expected = serial_root(start, rewrites, order);
  std::size_t permutations = 0;
  while (std::next_permutation(order.begin(), order.end())) {
    RC_ASSERT(serial_root(start, rewrites, order) == expected);
    ++permutations;
  }
  RC_ASSERT(permutations + 1 >= 6);  // 3! at least

  // The scheduler: every rewrite reserved, executed in parallel against the snapshot, and
  // applied in canonical order, reaches the same root.
  auto rules = std::make_shared<RuleMap>();
  for (std::size_t i = 0; i < n; ++i) {
    Rule rule;
    rule.name = "rewrite-" + std::to_string(i);
    const Rewrite rewrite = rewrites[i];
    rule.footprint = [rewrite](const RuleView&, PageId, Footprint& out) {
      out = rewrite.footprint;
      return Status::ok();
    };
    rule.executor = [rewrite](const RuleView& view, PageId, DeltaSink& out) {
      return rewrite.run(view, out);
    };
    const RuleFamilyId family = rule_family_id(rule.name);
    rules->rules.push_back(RegisteredRule{std::move(rule), family, static_cast<std::uint32_t>(i),
                                          Status::ok()});
    rules->by_family.emplace_back(family, static_cast<std::uint32_t>(i));
  }
  std::sort(rules->by_family.begin(), rules->by_family.end());
  std::vector<Candidate> candidates;
  for (std::uint32_t i = 0; i < n; ++i) {
    candidates.push_back(make_candidate(PageId(1), rules->rules[i].family, i, i, 1, kOriginStanding));
  }
  core::WorkerPool pool(4);
  Scheduler scheduler(&pool);
  state::ForkCore fork(start);
  RulesStep step;
  step.input = candidates;
  scheduler.run(fork.tables(), *rules, TickId(1), step);
  RC_ASSERT(step.failure.is_ok());
  RC_ASSERT(step.counters.applied == n);
  for (std::size_t i = 0; i < n; ++i) {
    for (const log::PageWrite& write : step.outcomes[i].writes) {
      RC_ASSERT(fork.write(write.page, write.offset, write.bytes).is_ok());
    }
  }
  RC_ASSERT(fork.commit().root() == expected);
}

// The reserved candidates are applied by scope (RulesStep::order): taken from the input's
// order when that is by scope (standing rules), sorted otherwise; either way exactly the
// reserved ones, and the same outcomes whatever order the input came in.
TEST(ApplyOrderTest, HoldsExactlyTheReservedByScopeWhateverTheInputOrder) {
  std::mt19937_64 random(5);
  const State start = initial_state(random);
  RuleTable table;
  for (std::uint32_t i = 0; i < 2; ++i) {  // two rules that write their scope: one loses
    Rule rule;
    rule.name = "writer-" + std::to_string(i);
    rule.footprint = [](const RuleView&, PageId scope, Footprint& out) {
      out.write(scope);
      return Status::ok();
    };
    rule.executor = [i](const RuleView&, PageId scope, DeltaSink& out) {
      const std::byte bytes[1] = {static_cast<std::byte>(i + 1)};
      return out.write(scope, 0, bytes);
    };
    ASSERT_TRUE(table.add(std::move(rule)).is_ok());
  }
  const std::shared_ptr<const RuleMap> rules = table.snapshot();
  std::vector<Candidate> by_scope;  // every page by the first rule, every third by both
  for (std::uint64_t page = 1; page <= kPages; ++page) {
    for (std::uint32_t rule = 0; rule < (page % 3 == 0 ? 2u : 1u); ++rule) {
      by_scope.push_back(make_candidate(PageId(page), rules->rules[rule].family, page * 2 + rule,
                                        rule, 1, kOriginStanding));
    }
  }
  std::vector<Candidate> shuffled = by_scope;
  std::shuffle(shuffled.begin(), shuffled.end(), random);
  ASSERT_FALSE(std::is_sorted(shuffled.begin(), shuffled.end(),
                               [](const Candidate& a, const Candidate& b) { return a.scope < b.scope; }));
  state::ForkCore fork(start);
  std::vector<RulesStep> steps(2);
  for (int k = 0; k < 2; ++k) {
    Scheduler scheduler(nullptr);
    steps[k].input = k == 0 ? by_scope : shuffled;
    scheduler.run(fork.tables(), *rules, TickId(1), steps[k]);
    const RulesStep& step = steps[k];
    ASSERT_TRUE(step.failure.is_ok());
    EXPECT_EQ(step.counters.applied, kPages);
    EXPECT_EQ(step.counters.rejected, kPages / 3);
    std::vector<std::uint32_t> applied;
    for (std::uint32_t i = 0; i < step.outcomes.size(); ++i) {
      if (step.outcomes[i].receipt.outcome == ReceiptOutcome::kApplied) applied.push_back(i);
    }
    std::vector<std::uint32_t> ordered = step.order;
    std::sort(ordered.begin(), ordered.end());
    EXPECT_EQ(ordered, applied) << "input " << k;
    for (std::size_t j = 1; j < step.order.size(); ++j) {
      EXPECT_LT(step.candidates[step.order[j - 1]].scope, step.candidates[step.order[j]].scope)
          << "input " << k << ", position " << j;
    }
  }
  EXPECT_EQ(steps[0].order, steps[1].order);
  for (std::size_t i = 0; i < steps[0].outcomes.size(); ++i) {
    EXPECT_EQ(steps[0].outcomes[i].receipt, steps[1].outcomes[i].receipt);
    EXPECT_EQ(steps[0].outcomes[i].writes, steps[1].outcomes[i].writes);
  }
}

// The property is not vacuous: when one rewrite writes what the other reads, the two
// orders differ.
TEST(CommutationTest, DependentRewritesDoNotCommute) {
  std::mt19937_64 random(7);
  const State start = initial_state(random);
  Rewrite writer;
  writer.footprint.write(PageId(1));
  writer.salt = 1;
  Rewrite reader;
  reader.footprint.read(PageId(1)).write(PageId(2));
  reader.salt = 2;
  ASSERT_TRUE(writer.footprint.normalize().is_ok());
  ASSERT_TRUE(reader.footprint.normalize().is_ok());
  ASSERT_FALSE(independent(writer.footprint, reader.footprint));
  const std::vector<Rewrite> rewrites{writer, reader};
  EXPECT_NE(serial_root(start, rewrites, {0, 1}), serial_root(start, rewrites, {1, 0}));
}

}  // namespace
}  // namespace mmsb::sched

// Rule identity, footprints, the executor's view, the reserve gate, canonical order and the retry
// schedule.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "sched/order.hpp"
#include "sched/reserve_gate.hpp"
#include "sched/retry.hpp"
#include "sched/rule_table.hpp"
#include "sched/scheduler.hpp"
#include "support/rapidcheck_gtest.hpp"

namespace mmsb::sched {
namespace {

constexpr std::uint32_t kReserved = ReserveGate::kReserved;

Footprint normalized(Footprint footprint) {
  EXPECT_TRUE(footprint.normalize().is_ok());
  return footprint;
}

Rule minimal_rule(std::string name) {
  Rule rule;
  rule.name = std::move(name);
  rule.footprint = [](const RuleView&, PageId scope, Footprint& out) {
    out.write(scope);
    return Status::ok();
  };
  rule.executor = [](const RuleView&, PageId, DeltaSink&) { return Status::ok(); };
  return rule;
}

// Golden values, computed independently as BLAKE2b-256 (Python's hashlib) of the domain
// string, a zero byte and the name; the first 8 bytes read little-endian.
TEST(RuleFamilyTest, FamilyIdsArePinned) {
  EXPECT_EQ(rule_family_id("motion/update"), 0x752ce9a761006346ull);
  EXPECT_EQ(rule_family_id("collide"), 0xc8a21e545a7b33cbull);
  EXPECT_EQ(rule_family_id("a"), 0x06280b82a47323fbull);
  EXPECT_EQ(rule_family_id(""), 0xbfd7ff9a32453b7cull);
}

// rule_family_id remembers the last names a thread asked for: a remembered name, one pushed
// out by others, a prefix of a remembered name and the empty name all give the pinned ids,
// on this thread and on another.
TEST(RuleFamilyTest, RememberedIdsAreTheHashedOnes) {
  const auto check = [] {
    for (int round = 0; round < 3; ++round) {
      EXPECT_EQ(rule_family_id("collide"), 0xc8a21e545a7b33cbull);
      EXPECT_EQ(rule_family_id("a"), 0x06280b82a47323fbull);
      EXPECT_EQ(rule_family_id(""), 0xbfd7ff9a32453b7cull);
      std::set<RuleFamilyId> others;
      for (int k = 0; k < 20; ++k) others.insert(rule_family_id("other-" + std::to_string(k)));
      EXPECT_EQ(others.size(), 20u);
      EXPECT_EQ(others.count(rule_family_id("a")), 0u);
      EXPECT_EQ(rule_family_id("motion/update"), 0x752ce9a761006346ull);
      EXPECT_EQ(rule_family_id(std::string(300, 'x')), rule_family_id(std::string(300, 'x')));
      EXPECT_NE(rule_family_id(std::string(300, 'x')), rule_family_id(std::string(299, 'x')));
    }
  };
  check();
  std::thread other(check);
  other.join();
}

// An executor's view reads a page's bytes straight from its record (TablesView::read): the
// same bytes as page(), and the same refusals: outside the footprint (recorded as the
// view's violation) and a page that does not exist.
TEST(TablesViewTest, ReadGivesThePagesBytesAndRefusesAsPageDoes) {
  state::ForkCore fork{State{}};
  const std::vector<std::byte> bytes = {std::byte{1}, std::byte{2}, std::byte{3}};
  const PageId inside = fork.create_page({.size_bytes = 3, .initial = bytes}).value();
  const PageId outside = fork.create_page({.size_bytes = 3}).value();
  const PageId missing(99);
  Footprint footprint;
  footprint.read(inside).read(missing);
  ASSERT_TRUE(footprint.normalize().is_ok());
  const TablesView view(fork.tables(), &footprint);
  auto read = view.read(inside);
  ASSERT_TRUE(read.is_ok());
  EXPECT_TRUE(std::ranges::equal(*read, bytes));
  EXPECT_EQ(read->data(), view.page(inside)->bytes.data());
  auto gone = view.read(missing);
  EXPECT_EQ(gone.status(), view.page(missing).status());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(view.violation().is_ok());
  auto refused = view.read(outside);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "read of page " + std::to_string(outside.value()) + " outside its footprint");
  EXPECT_EQ(view.violation(), refused.status());
  const TablesView unchecked(fork.tables());  // a matcher's: the whole snapshot
  EXPECT_TRUE(unchecked.read(outside).is_ok());
}

TEST(RuleFamilyTest, TableRejectsTakenNamesAndFamilyCollisions) {
  RuleTable table;
  ASSERT_TRUE(table.add(minimal_rule("collide")).is_ok());
  Status again = table.add(minimal_rule("collide"));
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.message(), "rule 'collide' is already registered");
  // Another name with the same family id (forced: no real 64-bit collision is known).
  Status collision = table.add_with_family(minimal_rule("other"), rule_family_id("collide"));
  EXPECT_EQ(collision.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(collision.message(),
            "rule 'other' has the family id of rule 'collide'; rename one of them");
  auto rules = table.snapshot();
  ASSERT_EQ(rules->rules.size(), 1u);
  EXPECT_EQ(rules->find(rule_family_id("collide"))->rule.name, "collide");
  EXPECT_EQ(rules->find(rule_family_id("other")), nullptr);
}

TEST(RuleFamilyTest, MalformedRulesAreRefusedByName) {
  RuleTable table;
  Rule no_executor = minimal_rule("x");
  no_executor.executor = nullptr;
  EXPECT_EQ(table.add(no_executor).message(), "rule 'x': no executor");
  Rule no_footprint = minimal_rule("y");
  no_footprint.footprint = nullptr;
  EXPECT_EQ(table.add(no_footprint).message(), "rule 'y': no footprint function");
  Rule retry = minimal_rule("z");
  retry.policy = ConflictPolicy::retry(1);
  EXPECT_EQ(table.add(retry).message(), "rule 'z': retry max_attempts 1 is outside [2, 32]");
  Rule untyped = minimal_rule("w");
  untyped.standing_type = 0;
  EXPECT_EQ(table.add(untyped).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(table.add(minimal_rule("")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(table.add(minimal_rule(std::string(kRuleNameMaxBytes + 1, 'n'))).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(table.snapshot()->rules.empty());
}

TEST(FootprintTest, NormalizeSortsDeduplicatesAndDropsReadsOfWrittenThings) {
  Footprint footprint;
  footprint.read(PageId(5)).read(PageId(2)).read(PageId(5)).write(PageId(2)).write(PageId(9));
  footprint.read_edge(EdgeId(3)).write_edge(EdgeId(3)).read_edge(EdgeId(1));
  footprint.port(PageId(4), 2, PortDirection::kOut).port(PageId(4), 1, PortDirection::kIn);
  footprint.port(PageId(4), 2, PortDirection::kOut);
  ASSERT_TRUE(footprint.normalize().is_ok());
  EXPECT_EQ(footprint.pages_read, (std::vector<PageId>{PageId(5)}));
  EXPECT_EQ(footprint.pages_written, (std::vector<PageId>{PageId(2), PageId(9)}));
  EXPECT_EQ(footprint.edges_read, (std::vector<EdgeId>{EdgeId(1)}));
  EXPECT_EQ(footprint.edges_written, (std::vector<EdgeId>{EdgeId(3)}));
  EXPECT_EQ(footprint.ports.size(), 2u);
  EXPECT_TRUE(footprint.may_read(PageId(2)));  // written implies readable
  EXPECT_TRUE(footprint.may_read(PageId(5)));
  EXPECT_FALSE(footprint.may_write(PageId(5)));
  EXPECT_FALSE(footprint.may_read(PageId(6)));
  EXPECT_TRUE(footprint.may_read_edge(EdgeId(3)));
}

TEST(FootprintTest, TooManyEntriesAreRefused) {
  Footprint footprint;
  for (std::uint64_t i = 1; i <= kFootprintEntriesMax + 1; ++i) footprint.read(PageId(i));
  Status status = footprint.normalize();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "footprint has 65 entries; the limit is 64");
  Footprint at_limit;
  for (std::uint64_t i = 1; i <= kFootprintEntriesMax; ++i) at_limit.read(PageId(i % 40 + 1));
  at_limit.port(PageId(1), 1, PortDirection::kIn);
  EXPECT_TRUE(at_limit.normalize().is_ok());  // repeats do not count
}

TEST(FootprintTest, IndependenceFollowsTheDefinition) {
  const Footprint read_a = normalized(Footprint{}.read(PageId(1)));
  const Footprint write_a = normalized(Footprint{}.write(PageId(1)));
  const Footprint write_b = normalized(Footprint{}.write(PageId(2)));
  EXPECT_TRUE(independent(read_a, read_a));  // reads never conflict with reads
  EXPECT_FALSE(independent(read_a, write_a));
  EXPECT_FALSE(independent(write_a, read_a));
  EXPECT_FALSE(independent(write_a, write_a));
  EXPECT_TRUE(independent(write_a, write_b));
  const Footprint port_in = normalized(Footprint{}.port(PageId(1), 7, PortDirection::kIn));
  const Footprint port_out = normalized(Footprint{}.port(PageId(1), 7, PortDirection::kOut));
  EXPECT_FALSE(independent(port_in, port_in));
  EXPECT_TRUE(independent(port_in, port_out));
  const Footprint edge_w = normalized(Footprint{}.write_edge(EdgeId(4)));
  const Footprint edge_r = normalized(Footprint{}.read_edge(EdgeId(4)));
  EXPECT_FALSE(independent(edge_w, edge_r));
  EXPECT_TRUE(independent(edge_r, edge_r));
  // Disjoint masks prove independence without looking further.
  Footprint masked_a = write_a;
  masked_a.factor_mask = 0b01;
  Footprint masked_b = write_a;
  masked_b.factor_mask = 0b10;
  EXPECT_TRUE(independent(masked_a, masked_b));
}

// Write A; (read A, write B) is rejected and marks nothing; then write B is reserved.
TEST(ReserveGateTest, ARejectedCandidateMarksNothing) {
  ReserveGate gate;
  gate.begin_tick();
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.write(PageId(1))), 0), kReserved);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.read(PageId(1)).write(PageId(2))), 1), 0u);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.write(PageId(2))), 2), kReserved);
  EXPECT_EQ(gate.counters().reserved, 2u);
  EXPECT_EQ(gate.counters().rejected, 1u);
}

TEST(ReserveGateTest, PortsConflictOnlyWhenTheSame) {
  ReserveGate gate;
  gate.begin_tick();
  const Footprint port = normalized(Footprint{}.port(PageId(3), 1, PortDirection::kOut));
  EXPECT_EQ(gate.reserve(port, 0), kReserved);
  EXPECT_EQ(gate.reserve(port, 1), 0u);  // same port
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.port(PageId(3), 2, PortDirection::kOut)), 2),
            kReserved);  // another port id
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.port(PageId(3), 1, PortDirection::kIn)), 3),
            kReserved);  // another direction
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.port(PageId(4), 1, PortDirection::kOut)), 4),
            kReserved);  // another page
  // A port says nothing about the page's bytes.
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.write(PageId(3))), 5), kReserved);
}

TEST(ReserveGateTest, ReadersShareWritersDoNotAndTheBlockerIsNamed) {
  ReserveGate gate;
  gate.begin_tick();
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.read(PageId(1)).read_edge(EdgeId(1))), 0),
            kReserved);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.read(PageId(1)).read_edge(EdgeId(1))), 1),
            kReserved);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.write(PageId(1))), 2), 0u);   // first reader
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.write_edge(EdgeId(1))), 3), 0u);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.write_edge(EdgeId(2))), 4), kReserved);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.read_edge(EdgeId(2))), 5), 4u);
}

TEST(ReserveGateTest, ANewTickForgetsEverythingAndTablesGrow) {
  ReserveGate gate;
  gate.begin_tick();
  // Far more entries than the initial table holds.
  for (std::uint32_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(gate.reserve(normalized(Footprint{}.write(PageId(i + 1)).read(PageId(100000 + i))),
                           i),
              kReserved);
  }
  for (std::uint32_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(gate.reserve(normalized(Footprint{}.read(PageId(i + 1))), 5000 + i), i);
  }
  gate.begin_tick();
  for (std::uint32_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(gate.reserve(normalized(Footprint{}.write(PageId(i + 1))), i), kReserved);
  }
}

TEST(ReserveGateTest, LargeIdsUseTheHashTables) {
  ReserveGate gate;
  gate.begin_tick();
  const PageId far(ReserveGate::kDenseIdsMax + 5);
  const PageId near(ReserveGate::kDenseIdsMax - 1);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.write(far).write_edge(EdgeId(far.value()))), 0),
            kReserved);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.write(near)), 1), kReserved);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.read(far)), 2), 0u);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.read_edge(EdgeId(far.value()))), 3), 0u);
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.read(near)), 4), 1u);
  gate.begin_tick();
  EXPECT_EQ(gate.reserve(normalized(Footprint{}.read(far).read(near)), 0), kReserved);
}

TEST(ReserveGateTest, DisjointMasksSkipTheTables) {
  ReserveGate gate;
  gate.begin_tick();
  Footprint physics = normalized(Footprint{}.write(PageId(1)));
  physics.factor_mask = 0b01;
  Footprint sound = normalized(Footprint{}.write(PageId(2)));
  sound.factor_mask = 0b10;
  EXPECT_EQ(gate.reserve(physics, 0), kReserved);
  EXPECT_EQ(gate.reserve(sound, 1), kReserved);
  EXPECT_EQ(gate.counters().mask_fast_path, 2u);  // the first of a tick is disjoint from none
  Footprint physics_again = normalized(Footprint{}.write(PageId(1)));
  physics_again.factor_mask = 0b01;
  EXPECT_EQ(gate.reserve(physics_again, 2), 0u);  // overlapping masks: checked, and blocked
  EXPECT_EQ(gate.counters().mask_fast_path, 2u);
}

// Random footprints over a few pages, edges and ports, with masks derived soundly from the
// entries (a bit per page, edge or port, modulo 64), or all ones.
Footprint random_footprint(std::mt19937_64& random, bool sound_masks) {
  Footprint footprint;
  std::uniform_int_distribution<int> count(0, 3), id(1, 24), kind(0, 4);
  std::uint64_t mask = 0;
  for (int k = count(random) + 1; k > 0; --k) {
    const std::uint64_t value = static_cast<std::uint64_t>(id(random));
    switch (kind(random)) {
      case 0:
        footprint.read(PageId(value));
        mask |= 1ull << (value % 64);
        break;
      case 1:
        footprint.write(PageId(value));
        mask |= 1ull << (value % 64);
        break;
      case 2:
        footprint.read_edge(EdgeId(value));
        mask |= 1ull << ((value + 24) % 64);
        break;
      case 3:
        footprint.write_edge(EdgeId(value));
        mask |= 1ull << ((value + 24) % 64);
        break;
      default:
        footprint.port(PageId(value % 4 + 1), static_cast<std::uint32_t>(value % 3),
                       PortDirection::kOut);
        mask |= 1ull << 63;
        break;
    }
  }
  footprint.factor_mask = sound_masks ? mask : kFactorMaskAll;
  EXPECT_TRUE(footprint.normalize().is_ok());
  return footprint;
}

// The gate admits a candidate exactly when it is independent of every candidate admitted
// before it (the definition, checked pairwise), with and without the mask fast path, and a
// blocker really conflicts.
RC_GTEST_PROP(ReserveGateProperty, MatchesThePairwiseDefinition, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  const int n = *rc::gen::inRange(1, 200);
  const bool sound_masks = *rc::gen::arbitrary<bool>();
  std::mt19937_64 random(seed);
  std::vector<Footprint> footprints;
  for (int i = 0; i < n; ++i) footprints.push_back(random_footprint(random, sound_masks));
  ReserveGate with_mask, without_mask;
  with_mask.begin_tick();
  without_mask.begin_tick();
  std::vector<std::size_t> admitted;
  for (std::uint32_t i = 0; i < footprints.size(); ++i) {
    bool expected = true;
    for (std::size_t j : admitted) expected = expected && independent(footprints[i], footprints[j]);
    const std::uint32_t a = with_mask.reserve(footprints[i], i);
    const std::uint32_t b = without_mask.reserve(footprints[i], i, false);
    RC_ASSERT((a == kReserved) == expected);
    RC_ASSERT(a == b);
    if (a == kReserved) {
      admitted.push_back(i);
    } else {
      RC_ASSERT(std::find(admitted.begin(), admitted.end(), a) != admitted.end());
      RC_ASSERT(!independent(footprints[i], footprints[a]));
    }
  }
}

Candidate candidate(PageId scope, RuleFamilyId family, std::uint64_t nonce) {
  return make_candidate(scope, family, nonce, 0, 1, kOriginStanding);
}

TEST(OrderTest, ScopeHashIsABijectionThatSpreads) {
  EXPECT_NE(scope_hash(PageId(1)), scope_hash(PageId(2)));
  EXPECT_EQ(scope_hash(PageId(0)), 0u);
  EXPECT_EQ(scope_hash(PageId(1)), 0xb456bcfc34c2cb2cull);  // pinned: the order is a format
}

// The radix sort gives exactly the comparison sort's order, for sizes around the
// threshold, many candidates per scope, and equal digits in whole passes.
RC_GTEST_PROP(OrderProperty, RadixSortEqualsComparisonSort, ()) {
  const std::size_t n = *rc::gen::inRange<std::size_t>(0, 3000);
  const std::uint64_t scopes = *rc::gen::inRange<std::uint64_t>(1, 5000);
  std::mt19937_64 random(*rc::gen::arbitrary<std::uint64_t>());
  std::vector<Candidate> candidates;
  for (std::size_t i = 0; i < n; ++i) {
    candidates.push_back(candidate(PageId(random() % scopes + 1), random() % 3, random() % 7));
  }
  std::vector<Candidate> expected = candidates;
  const std::vector<Candidate> input = candidates;
  comparison_sort_candidates(expected);
  CandidateSortScratch scratch;
  sort_candidates(candidates, scratch);
  RC_ASSERT(candidates.size() == expected.size());
  for (std::size_t i = 0; i < n; ++i) RC_ASSERT(candidates[i].key == expected[i].key);
  // The visit order names every sorted candidate once, input j at a candidate of its scope.
  RC_ASSERT(scratch.visit.size() == n);
  std::vector<bool> seen(n, false);
  for (std::size_t j = 0; j < n; ++j) {
    const std::uint32_t at = scratch.visit[j];
    RC_ASSERT(at < n);
    RC_ASSERT(!seen[at]);
    seen[at] = true;
    RC_ASSERT(candidates[at].scope == input[j].scope);
  }
}

// One scratch through a run of inputs, some equal to the one before (whose order it
// keeps), some changed in one field: each is sorted as a fresh scratch sorts it.
TEST(OrderTest, AScratchKeepsAnOrderOnlyForTheSameInput) {
  std::mt19937_64 random(3);
  std::vector<Candidate> input;
  for (std::size_t i = 0; i < 2000; ++i) {
    input.push_back(candidate(PageId(random() % 700 + 1), random() % 3, i));
  }
  CandidateSortScratch kept;
  for (int round = 0; round < 12; ++round) {
    if (round % 3 == 2) {  // one field of one candidate changes
      Candidate& changed = input[random() % input.size()];
      switch (round % 4) {
        case 0:
          changed = candidate(PageId(random() % 700 + 1), changed.key.family, changed.key.nonce);
          break;
        case 1:
          changed.key.nonce += 5000;
          break;
        case 2:
          changed.attempt += 1;
          break;
        default:
          changed.origin = 7;
          break;
      }
    }
    if (round == 7) input.pop_back();
    std::vector<Candidate> sorted = input;
    sort_candidates(sorted, kept);
    std::vector<Candidate> fresh_sorted = input;
    CandidateSortScratch fresh;
    sort_candidates(fresh_sorted, fresh);
    ASSERT_EQ(sorted, fresh_sorted) << "round " << round;
    ASSERT_EQ(kept.visit, fresh.visit) << "round " << round;
  }
}

TEST(RetryTest, BackoffIsSeededBoundedAndDeterministic) {
  std::vector<std::uint64_t> seen;
  for (std::uint32_t attempt = 1; attempt <= 14; ++attempt) {
    const std::uint64_t bound = std::uint64_t{1} << std::min(attempt, kRetryBackoffExponentMax);
    for (std::uint64_t tick = 1; tick <= 200; ++tick) {
      const std::uint64_t wait = retry_backoff(7, PageId(3), TickId(tick), attempt);
      ASSERT_GE(wait, 1u);
      ASSERT_LE(wait, bound);
      ASSERT_EQ(wait, retry_backoff(7, PageId(3), TickId(tick), attempt));
      if (attempt == 12) seen.push_back(wait);
    }
  }
  // Spread over the window rather than stuck at one value.
  std::sort(seen.begin(), seen.end());
  EXPECT_GT(std::unique(seen.begin(), seen.end()) - seen.begin(), 100);
  // Pinned: the schedule is part of what replay must reproduce.
  EXPECT_EQ(retry_backoff(rule_family_id("collide"), PageId(1), TickId(1), 3), 7u);
}

TEST(RetryTest, NextRetriesDropsDueEntriesAndMergesNewOnes) {
  const std::vector<PendingRetry> current = {{TickId(3), 1, PageId(1), 2},
                                             {TickId(5), 1, PageId(2), 2},
                                             {TickId(9), 2, PageId(1), 3}};
  const std::vector<PendingRetry> deferred = {{TickId(6), 1, PageId(7), 2}};
  EXPECT_EQ(next_retries(current, TickId(5), deferred),
            (std::vector<PendingRetry>{{TickId(6), 1, PageId(7), 2}, {TickId(9), 2, PageId(1), 3}}));
}

}  // namespace
}  // namespace mmsb::sched

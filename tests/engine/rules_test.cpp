// Rules through the engine: standing rules, apply, receipts, conflicts, duplicates, retry,
// footprint enforcement, suspension, reopen and telemetry (docs/SEMANTICS.md "Rules and
// scheduling").
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <map>

#include "engine/replay.hpp"
#include "net/wire.hpp"
#include "mmsb/mmsb.hpp"
#include "particles.hpp"
#include "sched/order.hpp"
#include "sched/retry.hpp"
#include "support/bytes.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

constexpr PageType kCounterType = 7;

using test::u64_bytes;
using test::u64_of;

std::uint64_t value(Engine& engine, PageId page) {
  return u64_of(engine.snapshot().read(page).value());
}

std::vector<PageId> create_counters(Engine& engine, std::size_t count, PageType type = 0) {
  Transaction txn = engine.begin();
  for (std::size_t i = 0; i < count; ++i) {
    txn.create_page({.type = type, .size_bytes = 8, .initial = u64_bytes(0)});
  }
  return txn.commit().value().created_pages;
}

// Adds one to the scope's counter; with `shared`, also to that page (so any two candidates
// conflict).
Rule increment_rule(std::string name, std::optional<PageId> shared = std::nullopt,
                    ConflictPolicy policy = ConflictPolicy::abort()) {
  Rule rule;
  rule.name = std::move(name);
  rule.policy = policy;
  rule.footprint = [shared](const RuleView&, PageId scope, Footprint& out) {
    out.write(scope);
    if (shared) out.write(*shared);
    return Status::ok();
  };
  rule.executor = [shared](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    for (PageId page : {scope, shared.value_or(scope)}) {
      MMSB_ASSIGN_OR_RETURN(auto bytes, view.read(page));
      MMSB_RETURN_IF_ERROR(out.write(page, 0, u64_bytes(u64_of(bytes) + 1)));
      if (!shared) break;
    }
    return Status::ok();
  };
  return rule;
}

Status empty_tick(Engine& engine) { return engine.begin().commit().status(); }

// Checkpoints `engine`, closes it and opens `dir` again: recovery must start from that
// checkpoint (not skip it for the log) and give the same root and pending retries.
void expect_checkpoint_reloads(std::unique_ptr<Engine> engine, const test::TempDir& dir) {
  const TickId checkpointed = engine->checkpoint().value();
  const State before = engine->snapshot();
  engine.reset();
  OpenReport report;
  auto reopened = Engine::open(test::rules_engine_options(dir), &report).value();
  ASSERT_EQ(report.checkpoint, checkpointed);
  EXPECT_EQ(reopened->snapshot().root(), before.root());
  const auto retries = reopened->snapshot().pending_retries();
  EXPECT_TRUE(std::equal(retries.begin(), retries.end(), before.pending_retries().begin(),
                         before.pending_retries().end()));
}

// Registers "pair" (Retry(4); every candidate also writes pages[2]) and applies it at pages[0]
// and pages[1] in one transaction: the second is deferred. Returns its receipt.
RuleReceipt defer_a_pair(Engine& engine, const std::vector<PageId>& pages) {
  EXPECT_TRUE(
      engine.register_rule(increment_rule("pair", pages[2], ConflictPolicy::retry(4))).is_ok());
  Transaction txn = engine.begin();
  txn.apply("pair", pages[0]);
  txn.apply("pair", pages[1]);
  const RuleReceipt deferred = txn.commit().value().receipts.at(1);
  EXPECT_EQ(deferred.outcome, ReceiptOutcome::kDeferred);
  return deferred;
}

TEST(RulesTest, StandingMotionRuleMovesEveryParticleEveryTick) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir, 4)).value();
  auto world = particles::create_world(*engine, 50, 11).value();
  ASSERT_TRUE(particles::register_rules(*engine, world).is_ok());
  std::vector<particles::Particle> expected;
  for (PageId page : world.particles) {
    expected.push_back(particles::decode(engine->snapshot().read(page).value()));
  }
  for (int tick = 0; tick < 3; ++tick) {
    ASSERT_TRUE(empty_tick(*engine).is_ok());
    for (particles::Particle& p : expected) {
      p.x += p.vx;
      p.y += p.vy;
      particles::bounce(p.x, p.vx);
      particles::bounce(p.y, p.vy);
    }
  }
  for (std::size_t i = 0; i < world.particles.size(); ++i) {
    const particles::Particle got =
        particles::decode(engine->snapshot().read(world.particles[i]).value());
    EXPECT_EQ(got.x, expected[i].x) << i;
    EXPECT_EQ(got.y, expected[i].y) << i;
    EXPECT_EQ(got.vx, expected[i].vx) << i;
  }
  const EngineStats stats = engine->stats();
  EXPECT_EQ(stats.rules_applied, 150u);
  EXPECT_EQ(stats.rule_candidates, 150u);
  EXPECT_EQ(stats.last_rule_tick.applied, 50u);
  EXPECT_EQ(stats.last_rule_tick.conflict_rate, 0.0);
}

TEST(RulesTest, ApplyGivesAReceiptAndSeesTheTransactionsOwnWrites) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  ASSERT_TRUE(engine->register_rule(increment_rule("inc")).is_ok());
  const PageId page = create_counters(*engine, 1)[0];
  Transaction txn = engine->begin();
  txn.put(page, u64_bytes(5));
  txn.apply("inc", page);
  CommitInfo info = txn.commit().value();
  ASSERT_EQ(info.receipts.size(), 1u);
  EXPECT_EQ(info.receipts[0].outcome, ReceiptOutcome::kApplied);
  EXPECT_EQ(info.receipts[0].family, rule_family_id("inc"));
  EXPECT_EQ(info.receipts[0].scope, page);
  EXPECT_EQ(info.receipts[0].attempt, 1u);
  EXPECT_EQ(value(*engine, page), 6u);  // the rule ran after the transaction's put
  EXPECT_EQ(engine->snapshot().page(page)->epoch, Epoch(1));  // one change in the tick
  // A scope the transaction creates works too.
  Transaction creating = engine->begin();
  const PageId fresh = creating.create_page({.size_bytes = 8, .initial = u64_bytes(41)});
  creating.apply("inc", fresh);
  CommitInfo made = creating.commit().value();
  EXPECT_EQ(made.receipts.at(0).scope, made.created_pages[0]);
  EXPECT_EQ(value(*engine, made.created_pages[0]), 42u);
}

TEST(RulesTest, AScopeTheTransactionDeletedIsSkippedNotAnError) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  ASSERT_TRUE(engine->register_rule(increment_rule("inc")).is_ok());
  const PageId page = create_counters(*engine, 1)[0];
  Transaction txn = engine->begin();
  txn.delete_page(page);
  txn.apply("inc", page);
  CommitInfo info = txn.commit().value();  // SEMANTICS: a gone scope is skipped
  ASSERT_EQ(info.receipts.size(), 1u);
  EXPECT_EQ(info.receipts[0].outcome, ReceiptOutcome::kSkipped);
  EXPECT_EQ(info.receipts[0].scope, page);
  EXPECT_FALSE(engine->snapshot().page(page).is_ok());
  // A page created and deleted in the same transaction, likewise.
  Transaction fleeting = engine->begin();
  const PageId fresh = fleeting.create_page({.size_bytes = 8});
  fleeting.delete_page(fresh);
  fleeting.apply("inc", fresh);
  EXPECT_EQ(fleeting.commit().value().receipts.at(0).outcome, ReceiptOutcome::kSkipped);
  // A scope that never existed stays an error.
  Transaction missing = engine->begin();
  missing.apply("inc", PageId(999));
  EXPECT_EQ(missing.commit().status().code(), StatusCode::kNotFound);
}

TEST(RulesTest, ConflictingCandidatesAreRejectedWithTheBlockerNamed) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  std::vector<PageId> pages = create_counters(*engine, 3);
  const PageId shared = pages[2];
  ASSERT_TRUE(engine->register_rule(increment_rule("pair", shared)).is_ok());
  Transaction txn = engine->begin();
  txn.apply("pair", pages[0]);
  txn.apply("pair", pages[1]);
  CommitInfo info = txn.commit().value();
  ASSERT_EQ(info.receipts.size(), 2u);
  // Canonical order is by scope hash: the first reserves, the second is blocked by it.
  const bool zero_first = sched::scope_hash(pages[0]) < sched::scope_hash(pages[1]);
  const PageId winner = zero_first ? pages[0] : pages[1];
  const PageId loser = zero_first ? pages[1] : pages[0];
  EXPECT_EQ(info.receipts[0].scope, winner);
  EXPECT_EQ(info.receipts[0].outcome, ReceiptOutcome::kApplied);
  EXPECT_EQ(info.receipts[1].scope, loser);
  EXPECT_EQ(info.receipts[1].outcome, ReceiptOutcome::kRejected);
  EXPECT_EQ(info.receipts[1].blocker_family, rule_family_id("pair"));
  EXPECT_EQ(info.receipts[1].blocker_scope, winner);
  EXPECT_EQ(value(*engine, winner), 1u);
  EXPECT_EQ(value(*engine, loser), 0u);  // a rejected candidate wrote nothing
  EXPECT_EQ(value(*engine, shared), 1u);
  EXPECT_EQ(engine->stats().rules_rejected, 1u);
  const EngineStats::RuleTick last = engine->stats().last_rule_tick;
  EXPECT_EQ(last.conflict_rate, 0.5);
  EXPECT_EQ(last.conflicts, 1u);
  // The winner passed on the factor mask alone (nothing reserved before it); the loser's
  // check looked up its own page's mark, then the shared page's, which blocked it.
  EXPECT_EQ(last.mask_fast_path, 1u);
  EXPECT_EQ(last.gate_probes, 2u);
  EXPECT_EQ(last.skipped, 0u);
  EXPECT_EQ(last.duplicates, 0u);
  // Exported with the statistics (the wire's STATS answer and the Prometheus metrics).
  std::map<std::string, double> exported;
  for (const net::StatsEntry& entry : net::stats_entries(engine->stats())) {
    exported[entry.name] = entry.value;
  }
  EXPECT_EQ(exported.at("rule_tick_conflict_rate"), 0.5);
  EXPECT_EQ(exported.at("rule_tick_gate_probes"), 2.0);
  EXPECT_EQ(exported.at("rule_tick_mask_fast_path"), 1.0);
  EXPECT_EQ(exported.at("rule_tick_applied"), 1.0);
}

TEST(RulesTest, RepeatedRuleAndScopeCollapseIntoOne) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  ASSERT_TRUE(engine->register_rule(increment_rule("inc")).is_ok());
  const PageId page = create_counters(*engine, 1)[0];
  Transaction txn = engine->begin();
  txn.apply("inc", page);
  txn.apply("inc", page);
  CommitInfo info = txn.commit().value();
  ASSERT_EQ(info.receipts.size(), 2u);
  EXPECT_EQ(info.receipts[0].outcome, ReceiptOutcome::kApplied);
  EXPECT_EQ(info.receipts[0].nonce, 0u);  // the earlier one is kept
  EXPECT_EQ(info.receipts[1].outcome, ReceiptOutcome::kDuplicate);
  EXPECT_EQ(info.receipts[1].blocker_scope, page);
  EXPECT_EQ(value(*engine, page), 1u);
}

TEST(RulesTest, ADeferredCandidateIsRetriedAtItsSeededTick) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  std::vector<PageId> pages = create_counters(*engine, 3);
  ASSERT_TRUE(
      engine->register_rule(increment_rule("pair", pages[2], ConflictPolicy::retry(4))).is_ok());
  Transaction txn = engine->begin();
  txn.apply("pair", pages[0]);
  txn.apply("pair", pages[1]);
  CommitInfo info = txn.commit().value();
  const RuleReceipt& deferred = info.receipts.at(1);
  ASSERT_EQ(deferred.outcome, ReceiptOutcome::kDeferred);
  const TickId expected_at(info.tick.value() +
                           sched::retry_backoff(deferred.family, deferred.scope, info.tick, 1));
  EXPECT_EQ(deferred.retry_at, expected_at);
  ASSERT_EQ(engine->snapshot().pending_retries().size(), 1u);
  EXPECT_EQ(engine->snapshot().pending_retries()[0],
            (PendingRetry{expected_at, deferred.family, deferred.scope, 2}));
  while (engine->snapshot().tick() < TickId(expected_at.value() - 1)) {
    ASSERT_TRUE(empty_tick(*engine).is_ok());
    EXPECT_EQ(value(*engine, deferred.scope), 0u);
  }
  ASSERT_TRUE(empty_tick(*engine).is_ok());  // tick expected_at: the retry runs
  EXPECT_EQ(engine->snapshot().tick(), expected_at);
  EXPECT_EQ(value(*engine, deferred.scope), 1u);
  EXPECT_EQ(value(*engine, pages[2]), 2u);
  EXPECT_TRUE(engine->snapshot().pending_retries().empty());
  EXPECT_EQ(engine->stats().rule_retries, 1u);
  EXPECT_EQ(engine->stats().rules_deferred, 1u);
}

// A merge tick runs no rules: a retry due then runs in the next transaction tick.
TEST(RulesTest, ARetryDueAtAMergeTickRunsInTheNextTick) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  std::vector<PageId> pages = create_counters(*engine, 4);
  const RuleReceipt deferred = defer_a_pair(*engine, pages);
  while (engine->snapshot().tick().value() + 1 < deferred.retry_at.value()) {
    ASSERT_TRUE(empty_tick(*engine).is_ok());
  }
  Fork fork = engine->fork();
  ASSERT_TRUE(fork.write(pages[3], 0, u64_bytes(5)).is_ok());
  (void)fork.commit();
  ASSERT_TRUE(engine->merge(fork).is_ok());
  EXPECT_EQ(engine->snapshot().tick(), deferred.retry_at);  // the merge took the due tick
  EXPECT_EQ(value(*engine, deferred.scope), 0u);
  EXPECT_EQ(engine->snapshot().pending_retries().size(), 1u);
  ASSERT_TRUE(empty_tick(*engine).is_ok());
  EXPECT_EQ(value(*engine, deferred.scope), 1u);
  EXPECT_TRUE(engine->snapshot().pending_retries().empty());
  EXPECT_EQ(value(*engine, pages[3]), 5u);
}

// A standing rule at a scope that sorts first writes the page a Retry(3) candidate needs:
// the candidate is deferred twice, then rejected for good on its third attempt.
TEST(RulesTest, RetryGivesUpAfterMaxAttempts) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  std::vector<PageId> hot = create_counters(*engine, 8, kCounterType);
  std::vector<PageId> plain = create_counters(*engine, 8);
  // The hot page and a plain scope that sorts after it.
  PageId blocker_page, scope;
  for (PageId h : hot) {
    for (PageId p : plain) {
      if (!scope.is_valid() && sched::scope_hash(h) < sched::scope_hash(p)) {
        blocker_page = h;
        scope = p;
      }
    }
  }
  ASSERT_TRUE(scope.is_valid());
  Rule standing = increment_rule("hog");
  standing.standing_type = kCounterType;
  ASSERT_TRUE(engine->register_rule(standing).is_ok());
  ASSERT_TRUE(engine->register_rule(increment_rule("needs-hot", blocker_page,
                                                   ConflictPolicy::retry(3)))
                  .is_ok());
  CommitInfo info = engine->apply("needs-hot", scope).value();
  ASSERT_EQ(info.receipts.at(0).outcome, ReceiptOutcome::kDeferred);
  EXPECT_EQ(info.receipts[0].blocker_family, rule_family_id("hog"));
  EXPECT_EQ(info.receipts[0].blocker_scope, blocker_page);
  std::vector<TickId> retry_ticks{info.receipts[0].retry_at};
  for (int guard = 0; guard < 100 && !engine->snapshot().pending_retries().empty(); ++guard) {
    const PendingRetry next = engine->snapshot().pending_retries()[0];
    if (next.due != retry_ticks.back()) retry_ticks.push_back(next.due);
    ASSERT_TRUE(empty_tick(*engine).is_ok());
  }
  EXPECT_TRUE(engine->snapshot().pending_retries().empty());
  EXPECT_EQ(retry_ticks.size(), 2u);  // attempts 2 and 3
  const EngineStats stats = engine->stats();
  EXPECT_EQ(stats.rules_deferred, 2u);
  EXPECT_EQ(stats.rules_rejected, 1u);
  EXPECT_EQ(stats.rule_retries, 2u);
  EXPECT_EQ(value(*engine, scope), 0u);
}

Rule sneaky_rule(std::string name, PageId other, bool write) {
  Rule rule;
  rule.name = std::move(name);
  rule.footprint = [](const RuleView&, PageId scope, Footprint& out) {
    out.write(scope);
    return Status::ok();
  };
  rule.executor = [other, write](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    if (write) return out.write(other, 0, u64_bytes(9));
    (void)view.read(other);  // the error is ignored: the tick still aborts
    return out.write(scope, 0, u64_bytes(9));
  };
  return rule;
}

TEST(RulesTest, AccessOutsideTheFootprintAbortsTheTickAndNamesRuleScopeAndPage) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  std::vector<PageId> pages = create_counters(*engine, 3);
  ASSERT_TRUE(engine->register_rule(sneaky_rule("peek", pages[1], false)).is_ok());
  ASSERT_TRUE(engine->register_rule(sneaky_rule("poke", pages[1], true)).is_ok());
  const State before = engine->snapshot();
  Transaction txn = engine->begin();
  txn.put(pages[2], u64_bytes(77));
  txn.apply("peek", pages[0]);
  auto refused = txn.commit();
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "rule 'peek' at scope " + std::to_string(pages[0].value()) + ": read of page " +
                std::to_string(pages[1].value()) + " outside its footprint");
  auto poked = engine->apply("poke", pages[0]);
  EXPECT_EQ(poked.status().message(),
            "rule 'poke' at scope " + std::to_string(pages[0].value()) + ": write to page " +
                std::to_string(pages[1].value()) + " outside its footprint");
  // Nothing of either transaction happened, and neither tick was logged.
  const State after = engine->snapshot();
  EXPECT_EQ(after.tick(), before.tick());
  EXPECT_EQ(after.root(), before.root());
  EXPECT_EQ(engine->stats().rule_failures, 2u);
  // A transaction sharing a tick with the culprit still commits (ticks are retried alone).
  Transaction good = engine->begin();
  good.put(pages[2], u64_bytes(1));
  Transaction bad = engine->begin();
  bad.apply("peek", pages[0]);
  auto good_result = std::async(std::launch::async, [&] { return good.commit(); });
  auto bad_result = bad.commit();
  EXPECT_TRUE(good_result.get().is_ok());
  EXPECT_EQ(bad_result.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(value(*engine, pages[2]), 1u);
  EXPECT_EQ(engine->stats().rule_failures, 3u);  // one per refused transaction
  EXPECT_EQ(engine->stats().derive_failures, 0u);
}

TEST(RulesTest, OversizedOrFailingFootprintsAreRefusedByName) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  std::vector<PageId> pages = create_counters(*engine, kFootprintEntriesMax + 1);
  Rule greedy = increment_rule("greedy");
  greedy.footprint = [pages](const RuleView&, PageId, Footprint& out) {
    for (PageId page : pages) out.read(page);
    return Status::ok();
  };
  ASSERT_TRUE(engine->register_rule(greedy).is_ok());
  auto refused = engine->apply("greedy", pages[0]);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "rule 'greedy' at scope " + std::to_string(pages[0].value()) +
                ": footprint has 65 entries; the limit is 64");
  Rule broken = increment_rule("broken");
  broken.footprint = [](const RuleView&, PageId, Footprint&) {
    return invalid_argument("no neighbour");
  };
  ASSERT_TRUE(engine->register_rule(broken).is_ok());
  EXPECT_EQ(engine->apply("broken", pages[1]).status().message(),
            "rule 'broken' at scope " + std::to_string(pages[1].value()) +
                ": footprint: no neighbour");
  for (PageId page : pages) EXPECT_EQ(value(*engine, page), 0u);
}

// Rule writes are inputs of propagation in the same tick; a rule may not write a derived
// page (only propagation does).
TEST(RulesTest, RuleWritesPropagateInTheSameTickAndDerivedPagesAreRefused) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  std::vector<PageId> pages = create_counters(*engine, 2);
  ASSERT_TRUE(engine->derive(pages[1], std::vector{pages[0]}, kDerivePassthrough).is_ok());
  ASSERT_TRUE(engine->register_rule(increment_rule("inc")).is_ok());
  CommitInfo info = engine->apply("inc", pages[0]).value();
  EXPECT_EQ(info.receipts.at(0).outcome, ReceiptOutcome::kApplied);
  EXPECT_EQ(value(*engine, pages[0]), 1u);
  EXPECT_EQ(value(*engine, pages[1]), 1u);  // recomputed in the rule's tick
  EXPECT_EQ(engine->snapshot().tick(), info.tick);
  auto refused = engine->apply("inc", pages[1]);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "rule 'inc' at scope " + std::to_string(pages[1].value()) + ": write to page " +
                std::to_string(pages[1].value()) + ": the page is derived: only propagation writes it");
  EXPECT_EQ(value(*engine, pages[1]), 1u);
}

TEST(RulesTest, AFailingStandingRuleIsSuspendedAndTheTickGoesOn) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  std::vector<PageId> typed = create_counters(*engine, 2, kCounterType);
  const PageId plain = create_counters(*engine, 1)[0];
  Rule standing = sneaky_rule("bad-standing", plain, true);
  standing.standing_type = kCounterType;
  ASSERT_TRUE(engine->register_rule(standing).is_ok());
  EXPECT_TRUE(engine->rule_status("bad-standing").is_ok());
  Transaction txn = engine->begin();
  txn.put(plain, u64_bytes(3));
  ASSERT_TRUE(txn.commit().is_ok());
  EXPECT_EQ(value(*engine, plain), 3u);
  const Status suspended = engine->rule_status("bad-standing");
  EXPECT_EQ(suspended.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(suspended.message().find("outside its footprint"), std::string::npos);
  EXPECT_EQ(engine->rule_status("never-registered").code(), StatusCode::kNotFound);
  EXPECT_EQ(engine->stats().rule_failures, 1u);
  ASSERT_TRUE(empty_tick(*engine).is_ok());  // no more candidates from it
  EXPECT_EQ(engine->stats().rule_candidates, 0u);
}

TEST(RulesTest, UnregisteredRulesAndMissingScopesAreRefused) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  ASSERT_TRUE(engine->register_rule(increment_rule("inc")).is_ok());
  auto unknown = engine->apply("nope", PageId(1));
  EXPECT_EQ(unknown.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(unknown.status().message(),
            "operation 0: apply: rule 'nope' is not registered in this engine");
  auto missing = engine->apply("inc", PageId(999));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "operation 0: rule scope: page 999 does not exist");
  EXPECT_EQ(engine->register_rule(increment_rule("inc")).code(), StatusCode::kAlreadyExists);
  EngineOptions bad = test::rules_engine_options(dir);
  bad.rule_workers = 0;
  EXPECT_EQ(Engine::open(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST(RulesTest, PendingRetriesSurviveACheckpointAndReopen) {
  test::TempDir dir;
  std::vector<PageId> pages;
  RuleReceipt deferred;
  Hash128 root;
  {
    auto engine = Engine::open(test::rules_engine_options(dir)).value();
    pages = create_counters(*engine, 3);
    ASSERT_TRUE(
        engine->register_rule(increment_rule("pair", pages[2], ConflictPolicy::retry(4))).is_ok());
    Transaction txn = engine->begin();
    txn.apply("pair", pages[0]);
    txn.apply("pair", pages[1]);
    deferred = txn.commit().value().receipts.at(1);
    ASSERT_EQ(deferred.outcome, ReceiptOutcome::kDeferred);
    ASSERT_TRUE(engine->checkpoint().is_ok());
    root = engine->snapshot().root();
  }
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  EXPECT_EQ(engine->snapshot().root(), root);
  ASSERT_EQ(engine->snapshot().pending_retries().size(), 1u);
  ASSERT_TRUE(
      engine->register_rule(increment_rule("pair", pages[2], ConflictPolicy::retry(4))).is_ok());
  while (engine->snapshot().tick() < deferred.retry_at) ASSERT_TRUE(empty_tick(*engine).is_ok());
  EXPECT_EQ(value(*engine, deferred.scope), 1u);
  EXPECT_TRUE(engine->snapshot().pending_retries().empty());
}

// Found by the simulator (tests/sim/seeds.txt, seed 270): merge ticks run no rules, so a
// retry can be due at or before the tick a checkpoint is taken at; that checkpoint must load.
TEST(RulesTest, ACheckpointWithRetriesDueDuringMergeTicksLoads) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  const RuleReceipt deferred = defer_a_pair(*engine, create_counters(*engine, 3));
  while (engine->snapshot().tick() < deferred.retry_at) {
    ASSERT_TRUE(engine->merge(engine->fork()).is_ok());  // a tick without rules
  }
  ASSERT_EQ(engine->snapshot().pending_retries().size(), 1u);  // due, not yet run
  expect_checkpoint_reloads(std::move(engine), dir);
}

// Found by the simulator (seed 200266): the same rule and scope deferred in two ticks to the
// same due tick gives two equal pending retries; a checkpoint of that State must load.
TEST(RulesTest, ACheckpointWithEqualPendingRetriesLoads) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir)).value();
  std::vector<PageId> pages = create_counters(*engine, 3);
  (void)defer_a_pair(*engine, pages);
  // Backoffs of a first attempt are 1 or 2 ticks: deferring again each tick soon gives a
  // retry due where one is already waiting.
  auto has_equal_retries = [&] {
    const auto retries = engine->snapshot().pending_retries();
    return std::adjacent_find(retries.begin(), retries.end()) != retries.end();
  };
  for (int i = 0; i < 64 && !has_equal_retries(); ++i) {
    Transaction txn = engine->begin();
    txn.apply("pair", pages[0]);
    txn.apply("pair", pages[1]);
    ASSERT_TRUE(txn.commit().is_ok());
  }
  ASSERT_TRUE(has_equal_retries());
  expect_checkpoint_reloads(std::move(engine), dir);
}

TEST(RulesTest, ReplayReexecutesRulesAndChecksReceiptsAndWrites) {
  test::TempDir dir;
  Hash128 root;
  sched::RuleTable table;
  {
    auto engine = Engine::open(test::rules_engine_options(dir, 2)).value();
    auto world = particles::create_world(*engine, 200, 5).value();
    ASSERT_TRUE(particles::register_rules(*engine, world).is_ok());
    ASSERT_TRUE(table.add(particles::motion_rule()).is_ok());
    ASSERT_TRUE(table.add(particles::collide_rule(world.grid)).is_ok());
    for (int tick = 0; tick < 30; ++tick) ASSERT_TRUE(particles::step(*engine, world).is_ok());
    EXPECT_GT(engine->stats().rules_deferred + engine->stats().rules_rejected, 0u);
    root = engine->snapshot().root();
  }
  engine::ReplayOptions options;
  options.reexecute = true;
  const auto rules = table.snapshot();
  options.rules = rules.get();
  options.rule_workers = 3;
  engine::ReplaySummary summary;
  auto replayed = engine::replay(*Env::posix(), dir.path(), {}, options, &summary);
  ASSERT_TRUE(replayed.is_ok()) << replayed.status().to_string();
  EXPECT_EQ(replayed->root(), root);
  EXPECT_GE(summary.rule_candidates_checked, 30u * 200u);
  EXPECT_EQ(summary.rule_ticks_taken_from_log, 0u);
  // Without the rules, re-execution takes the logged outcomes and still reaches the root.
  engine::ReplayOptions without = options;
  without.rules = nullptr;
  auto from_log = engine::replay(*Env::posix(), dir.path(), {}, without, &summary);
  ASSERT_TRUE(from_log.is_ok());
  EXPECT_EQ(from_log->root(), root);
  EXPECT_EQ(summary.rule_ticks_taken_from_log, 30u);
  // A rule that now behaves differently is caught.
  sched::RuleTable changed;
  Rule faster = particles::motion_rule();
  faster.executor = [](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    MMSB_ASSIGN_OR_RETURN(auto bytes, view.read(scope));
    particles::Particle p = particles::decode(bytes);
    p.x += 1;
    return out.write(scope, 0, particles::encode(p));
  };
  ASSERT_TRUE(changed.add(faster).is_ok());
  ASSERT_TRUE(changed.add(particles::collide_rule(PageId(1))).is_ok());
  const auto changed_rules = changed.snapshot();
  engine::ReplayOptions wrong = options;
  wrong.rules = changed_rules.get();
  auto diverged = engine::replay(*Env::posix(), dir.path(), {}, wrong, &summary);
  EXPECT_EQ(diverged.status().code(), StatusCode::kCorruption);
}

TEST(RulesTest, TelemetryWritesReservedAndConflictLines) {
  test::TempDir dir;
  EngineOptions options = test::rules_engine_options(dir);
  options.rule_telemetry_path = dir / "telemetry.jsonl";
  std::vector<PageId> pages;
  {
    auto engine = Engine::open(options).value();
    pages = create_counters(*engine, 3);
    ASSERT_TRUE(engine->register_rule(increment_rule("pair", pages[2])).is_ok());
    Transaction txn = engine->begin();
    txn.apply("pair", pages[0]);
    txn.apply("pair", pages[1]);
    ASSERT_TRUE(txn.commit().is_ok());
    ASSERT_TRUE(engine->close().is_ok());
  }
  std::ifstream in(options.rule_telemetry_path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  const bool zero_first = sched::scope_hash(pages[0]) < sched::scope_hash(pages[1]);
  const PageId winner = zero_first ? pages[0] : pages[1];
  const PageId loser = zero_first ? pages[1] : pages[0];
  char family[17];
  std::snprintf(family, sizeof(family), "%016llx",
                static_cast<unsigned long long>(rule_family_id("pair")));
  const std::string rule = std::string(family, 8);
  EXPECT_EQ(lines[0], "{\"event\":\"reserved\",\"tick\":2,\"rule\":\"" + rule +
                          "\",\"scope\":" + std::to_string(winner.value()) + ",\"attempt\":1}");
  EXPECT_EQ(lines[1], "{\"event\":\"conflict\",\"tick\":2,\"rule\":\"" + rule +
                          "\",\"scope\":" + std::to_string(loser.value()) +
                          ",\"attempt\":1,\"blocker_rule\":\"" + rule +
                          "\",\"blocker_scope\":" + std::to_string(winner.value()) +
                          ",\"outcome\":\"rejected\"}");
}

}  // namespace
}  // namespace mmsb

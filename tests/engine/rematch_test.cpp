// Re-matching (docs/SEMANTICS.md "Re-matching"): a rule that depends only on its footprint
// is not matched again where its pages did not change, with the ticks of a full match for
// every worker count and under re-executing replay; a rule that breaks the promise shows as
// a divergence in re-executing replay.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

constexpr PageType kBodyType = 7;
constexpr std::size_t kBodies = 400;
constexpr int kTicks = 30;

std::uint64_t read_u64(const RuleView& view, PageId page) {
  return test::u64_of(view.read(page).value());
}

// Bodies settle: a body with speed matches and slows down by the wind's strength (at least
// 1). While the wind (page `wind`) is odd, every moving body also claims page `gust`, so all
// but the first conflict. The matcher reads only the scope; the footprint reads the wind,
// which it declares: the rule keeps the promise.
Rule settle_rule(PageId wind, PageId gust, bool promise,
                 std::shared_ptr<std::atomic<std::uint64_t>> matches) {
  Rule rule;
  rule.name = "settle";
  rule.standing_type = kBodyType;
  rule.depends_only_on_footprint = promise;
  rule.matcher = [matches](const RuleView& view, PageId scope) {
    matches->fetch_add(1);
    return read_u64(view, scope) != 0;
  };
  rule.footprint = [wind, gust](const RuleView& view, PageId scope, Footprint& out) {
    out.write(scope).read(wind);
    if (read_u64(view, wind) % 2 == 1) out.write(gust);
    return Status::ok();
  };
  rule.executor = [wind](const RuleView& view, PageId scope, DeltaSink& out) {
    const std::uint64_t speed = read_u64(view, scope);
    const std::uint64_t slow = std::max<std::uint64_t>(1, read_u64(view, wind) / 2);
    return out.write(scope, 0, test::u64_bytes(speed > slow ? speed - slow : 0));
  };
  return rule;
}

struct TickFigures {
  Hash128 root;
  std::uint64_t applied = 0, conflicts = 0, skipped = 0;
  friend bool operator==(const TickFigures&, const TickFigures&) = default;
};

struct WorldRun {
  std::vector<TickFigures> ticks;
  std::uint64_t matches = 0;  // matcher calls
  std::uint64_t reused = 0;   // matches reused, all ticks
};

// Each tick kicks a few bodies (some asleep, written before the rules step of the same
// tick) and every fifth tick changes the wind.
WorldRun run_world(const test::TempDir& dir, std::size_t workers, bool promise) {
  auto engine = Engine::open(test::rules_engine_options(dir, workers)).value();
  Transaction create = engine->begin();
  create.create_page({.size_bytes = 8, .initial = test::u64_bytes(2)});  // the wind
  create.create_page({.size_bytes = 8, .initial = test::u64_bytes(0)});  // the gust
  for (std::size_t i = 0; i < kBodies; ++i) {
    create.create_page({.type = kBodyType, .size_bytes = 8, .initial = test::u64_bytes(i % 3)});
  }
  const std::vector<PageId> pages = create.commit().value().created_pages;
  const PageId wind = pages[0], gust = pages[1];
  auto matches = std::make_shared<std::atomic<std::uint64_t>>(0);
  EXPECT_TRUE(engine->register_rule(settle_rule(wind, gust, promise, matches)).is_ok());
  WorldRun run;
  for (int tick = 0; tick < kTicks; ++tick) {
    Transaction txn = engine->begin();
    for (std::size_t k = 0; k < 3; ++k) {
      const std::size_t body = 2 + (static_cast<std::size_t>(tick) * 131 + k * 57) % kBodies;
      txn.write(pages[body], 0, test::u64_bytes(6 + k));
    }
    if (tick % 5 == 4) txn.write(wind, 0, test::u64_bytes(static_cast<std::uint64_t>(tick)));
    const CommitInfo info = txn.commit().value();
    const EngineStats::RuleTick& last = engine->stats().last_rule_tick;
    run.ticks.push_back({info.root, last.applied, last.conflicts, last.skipped});
    run.reused += last.matches_reused;
  }
  run.matches = matches->load();
  return run;
}

TEST(RematchTest, ReusedMatchesGiveTheTicksOfAFullMatchForEveryWorkerCount) {
  test::TempDir reference_dir;
  const WorldRun reference = run_world(reference_dir, 1, false);
  EXPECT_EQ(reference.reused, 0u);
  EXPECT_EQ(reference.matches, kTicks * kBodies);
  // The world does something: bodies settle, and odd winds make conflicts.
  std::uint64_t applied = 0, conflicts = 0;
  for (const TickFigures& tick : reference.ticks)
    applied += tick.applied, conflicts += tick.conflicts;
  EXPECT_GT(applied, 0u);
  EXPECT_GT(conflicts, 0u);
  for (std::size_t workers : {1, 2, 4, 8}) {
    test::TempDir dir;
    const WorldRun run = run_world(dir, workers, true);
    EXPECT_EQ(run.ticks, reference.ticks) << workers << " workers";
    // Most bodies sleep unchanged and are not matched again: only the first tick's, the
    // kicked and moving ones, and (their footprint reads the wind) bodies blocked by a gust
    // when the wind changes are.
    EXPECT_GT(run.reused, kTicks * kBodies / 2) << workers << " workers";
    EXPECT_EQ(run.matches + run.reused, kTicks * kBodies) << workers << " workers";
  }
}

TEST(RematchTest, ALogWithReusedMatchesReexecutesWithFullMatches) {
  test::TempDir dir;
  const WorldRun run = run_world(dir, 2, true);
  ASSERT_GT(run.reused, 0u);
  auto matches = std::make_shared<std::atomic<std::uint64_t>>(0);
  engine::ReplaySummary summary;
  auto replayed = test::reexecute_with_rules(
      dir.path(), {settle_rule(PageId(1), PageId(2), true, matches)}, summary);
  ASSERT_TRUE(replayed.is_ok()) << replayed.status().to_string();
  EXPECT_EQ(replayed->root(), run.ticks.back().root);
  EXPECT_EQ(summary.rule_ticks_taken_from_log, 0u);
  EXPECT_EQ(matches->load(), kTicks * kBodies);  // replay matched every candidate afresh
}

// Promises to depend on its footprint but matches on page `gate`, which it never declares.
Rule lying_rule(PageId gate) {
  Rule rule;
  rule.name = "liar";
  rule.standing_type = kBodyType;
  rule.depends_only_on_footprint = true;
  rule.matcher = [gate](const RuleView& view, PageId) { return read_u64(view, gate) != 0; };
  rule.footprint = [](const RuleView&, PageId scope, Footprint& out) {
    out.write(scope);
    return Status::ok();
  };
  rule.executor = [](const RuleView& view, PageId scope, DeltaSink& out) {
    return out.write(scope, 0, test::u64_bytes(read_u64(view, scope) + 1));
  };
  return rule;
}

TEST(RematchTest, ABrokenPromiseIsReusedLiveAndFoundByReexecutingReplay) {
  test::TempDir dir;
  {
    auto engine = Engine::open(test::rules_engine_options(dir, 1)).value();
    Transaction create = engine->begin();
    create.create_page({.size_bytes = 8, .initial = test::u64_bytes(0)});
    create.create_page({.type = kBodyType, .size_bytes = 8, .initial = test::u64_bytes(0)});
    const std::vector<PageId> pages = create.commit().value().created_pages;
    const PageId gate = pages[0], body = pages[1];
    ASSERT_TRUE(engine->register_rule(lying_rule(gate)).is_ok());
    Transaction idle = engine->begin();  // the liar is matched: no
    ASSERT_TRUE(idle.commit().is_ok());
    Transaction open_gate = engine->begin();
    open_gate.write(gate, 0, test::u64_bytes(1));
    ASSERT_TRUE(open_gate.commit().is_ok());
    // The body did not change, so its "no" was reused: a full match would have said yes.
    EXPECT_EQ(engine->stats().last_rule_tick.matches_reused, 1u);
    EXPECT_EQ(test::u64_of(engine->snapshot().read(body).value()), 0u);
  }
  engine::ReplaySummary summary;
  auto replayed = test::reexecute_with_rules(dir.path(), {lying_rule(PageId(1))}, summary);
  ASSERT_FALSE(replayed.is_ok());
  EXPECT_EQ(replayed.status().code(), StatusCode::kCorruption);
  EXPECT_NE(replayed.status().message().find(
                "tick 3: rule candidate 0 ('liar' at scope 2): logged skipped, re-execution gives "
                "applied"),
            std::string::npos)
      << replayed.status().to_string();
}

}  // namespace
}  // namespace mmsb

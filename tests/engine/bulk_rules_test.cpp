// Bulk executors (docs/SEMANTICS.md "Bulk executors"): the same receipts, writes and roots
// as the per-candidate form for every worker count and under re-executing replay, and the
// same footprint enforcement.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "mmsb/mmsb.hpp"
#include "particles.hpp"
#include "support/bytes.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

struct WorldRun {
  std::vector<Hash128> roots;
  std::vector<std::vector<RuleReceipt>> receipts;
};

// 600 particles (several bulk calls a tick, runs cut at chunk ends), motion and collisions
// for 12 ticks.
WorldRun run_world(const test::TempDir& dir, std::size_t workers, Rule motion) {
  auto engine = Engine::open(test::rules_engine_options(dir, workers)).value();
  const particles::World world = particles::create_world(*engine, 600, 17).value();
  EXPECT_TRUE(engine->register_rule(std::move(motion)).is_ok());
  EXPECT_TRUE(engine->register_rule(particles::collide_rule(world.grid)).is_ok());
  WorldRun run;
  for (int tick = 0; tick < 12; ++tick) {
    CommitInfo info = particles::step(*engine, world).value();
    run.roots.push_back(info.root);
    run.receipts.push_back(info.receipts);
  }
  return run;
}

TEST(BulkRulesTest, BulkAndPerCandidateExecutorsGiveTheSameTicksForEveryWorkerCount) {
  test::TempDir reference_dir;
  auto reference_executed = std::make_shared<std::atomic<std::uint64_t>>(0);
  Rule single = particles::motion_rule();
  auto single_inner = single.executor;
  single.executor = [=](const RuleView& view, PageId scope, DeltaSink& out) {
    reference_executed->fetch_add(1);
    return single_inner(view, scope, out);
  };
  const WorldRun reference = run_world(reference_dir, 1, single);
  ASSERT_GT(reference_executed->load(), 12u * 400u);
  for (std::size_t workers : {1, 2, 4, 8}) {
    auto calls = std::make_shared<std::atomic<std::uint64_t>>(0);
    auto candidates = std::make_shared<std::atomic<std::uint64_t>>(0);
    Rule bulk = particles::motion_rule_bulk();
    auto inner = bulk.bulk_executor;
    bulk.bulk_executor = [=](std::span<const RuleCall> batch) {
      calls->fetch_add(1);
      candidates->fetch_add(batch.size());
      return inner(batch);
    };
    test::TempDir dir;
    const WorldRun run = run_world(dir, workers, bulk);
    EXPECT_EQ(run.roots, reference.roots) << workers << " workers";
    EXPECT_EQ(run.receipts, reference.receipts) << workers << " workers";
    // The bulk path ran every motion candidate the per-candidate form ran, many to a call
    // (collisions block some motion candidates and cut runs in the execution order).
    EXPECT_EQ(candidates->load(), reference_executed->load());
    const std::uint64_t applied = reference_executed->load();
    EXPECT_LT(calls->load() * 4, applied) << "fewer than 4 candidates a call";
  }
}

TEST(BulkRulesTest, ALogWrittenByTheBulkFormReexecutesWithThePerCandidateForm) {
  test::TempDir dir;
  const WorldRun run = run_world(dir, 2, particles::motion_rule_bulk());
  engine::ReplaySummary summary;
  auto replayed = test::reexecute_with_rules(
      dir.path(), {particles::motion_rule(), particles::collide_rule(PageId(1))},  // grid: 1
      summary);
  ASSERT_TRUE(replayed.is_ok()) << replayed.status().to_string();
  EXPECT_EQ(replayed->root(), run.roots.back());
  EXPECT_EQ(summary.rule_ticks_taken_from_log, 0u);
  EXPECT_GE(summary.rule_candidates_checked, 12u * 600u);
}

// Writes `bytes` to each candidate's scope, and for the candidate at `culprit` also to
// `other`, outside its footprint.
Rule poking_rule(bool bulk, PageId culprit, PageId other) {
  Rule rule;
  rule.name = "poke";
  rule.footprint = [](const RuleView&, PageId scope, Footprint& out) {
    out.write(scope);
    return Status::ok();
  };
  auto one = [culprit, other](PageId scope, DeltaSink& out) -> Status {
    MMSB_RETURN_IF_ERROR(out.write(scope, 0, test::u64_bytes(5)));
    if (scope == culprit) (void)out.write(other, 0, test::u64_bytes(9));  // ignored: still fails
    return Status::ok();
  };
  if (bulk) {
    rule.bulk_executor = [one](std::span<const RuleCall> calls) -> Status {
      for (const RuleCall& call : calls) MMSB_RETURN_IF_ERROR(one(call.scope, *call.out));
      return Status::ok();
    };
  } else {
    rule.executor = [one](const RuleView&, PageId scope, DeltaSink& out) { return one(scope, out); };
  }
  return rule;
}

Status poke_all(bool bulk, std::string* message) {
  test::TempDir dir;
  auto engine = Engine::open(test::rules_engine_options(dir, 2)).value();
  Transaction create = engine->begin();
  for (int i = 0; i < 300; ++i) create.create_page({.size_bytes = 8, .initial = test::u64_bytes(0)});
  const std::vector<PageId> pages = create.commit().value().created_pages;
  EXPECT_TRUE(engine->register_rule(poking_rule(bulk, pages[123], pages[0])).is_ok());
  const State before = engine->snapshot();
  Transaction txn = engine->begin();
  for (PageId page : pages) txn.apply("poke", page);
  const Status status = txn.commit().status();
  *message = status.message();
  // Nothing happened: no tick, the same root.
  EXPECT_EQ(engine->snapshot().tick(), before.tick());
  EXPECT_EQ(engine->snapshot().root(), before.root());
  return status;
}

TEST(BulkRulesTest, AWriteOutsideACandidatesFootprintAbortsTheTickAsThePerCandidateFormDoes) {
  std::string bulk_message, single_message;
  const Status bulk = poke_all(true, &bulk_message);
  const Status single = poke_all(false, &single_message);
  EXPECT_EQ(bulk.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(single.code(), StatusCode::kFailedPrecondition);
  // Both name the candidate that wrote outside its footprint (not its call's first).
  EXPECT_EQ(bulk_message, single_message);
  EXPECT_NE(bulk_message.find("rule 'poke' at scope 124: write to page 1 outside its footprint"),
            std::string::npos)
      << bulk_message;
}

}  // namespace
}  // namespace mmsb

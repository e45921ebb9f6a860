// The tick step runs once per tick, in one order, for the live engine and for replay in
// both modes: a step added to or moved in one caller only shows up here as a difference.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/replay.hpp"
#include "engine/test_hooks.hpp"
#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

using test::bytes_of;
using Stages = std::vector<std::pair<std::uint64_t, engine::TickStage>>;

std::vector<std::byte> u64_bytes(std::uint64_t value) {
  std::vector<std::byte> out(8);
  std::memcpy(out.data(), &value, 8);
  return out;
}

Rule counting_rule() {
  Rule rule;
  rule.name = "tick_test.count";
  rule.footprint = [](const RuleView&, PageId scope, Footprint& out) {
    out.write(scope);
    return Status::ok();
  };
  rule.executor = [](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    MMSB_ASSIGN_OR_RETURN(auto bytes, view.read(scope));
    std::uint64_t value = 0;
    std::memcpy(&value, bytes.data(), 8);
    return out.write(scope, 0, u64_bytes(value + 1));
  };
  return rule;
}

// Transactions (with a derivation and a rule), a merge, and an ingest tick.
void run_workload(Engine& engine) {
  Transaction setup = engine.begin();
  for (int i = 0; i < 4; ++i) setup.create_page({.size_bytes = 8});  // counter, source, copy, inbox
  CommitInfo made = setup.commit().value();
  ASSERT_TRUE(
      engine.derive(made.created_pages[2], std::vector{made.created_pages[1]}, "mmsb.passthrough")
          .is_ok());
  for (std::uint64_t i = 0; i < 3; ++i) {
    Transaction txn = engine.begin();
    txn.put(made.created_pages[1], u64_bytes(i));
    txn.apply("tick_test.count", made.created_pages[0]);
    ASSERT_TRUE(txn.commit().is_ok());
  }
  Fork fork = engine.fork();
  ASSERT_TRUE(fork.put(made.created_pages[1], u64_bytes(42)).is_ok());
  (void)fork.commit();
  ASSERT_TRUE(engine.merge(fork).is_ok());
  Ruleset rules;
  rules.topics.push_back({.topic = 1,
                          .max_payload_bytes = 8,
                          .mapping = {TopicAction::kOverwrite, made.created_pages[3]}});
  ASSERT_TRUE(engine.set_ruleset(rules).is_ok());
  Producer producer = engine.producer().value();
  ASSERT_TRUE(producer.submit(1, u64_bytes(7)).is_ok());
  ASSERT_TRUE(producer.flush().is_ok());
}

Stages replayed_stages(const std::string& dir, bool reexecute, const sched::RuleMap* rules) {
  Stages seen;
  engine::StageObserver observer = [&](TickId tick, engine::TickStage stage) {
    seen.emplace_back(tick.value(), stage);
  };
  engine::ReplayOptions options;
  options.reexecute = reexecute;
  options.rules = rules;
  options.observer = &observer;
  engine::ReplaySummary summary;
  EXPECT_TRUE(engine::replay(*Env::posix(), dir, {}, options, &summary).is_ok());
  return seen;
}

TEST(TickTest, LiveAndReplayRunTheSameStepsInTheDocumentedOrder) {
  test::TempDir dir;
  Stages live;
  {
    EngineOptions options;
    options.dir = dir.path();
    options.durability = Durability::kFlush;
    auto engine = Engine::open(options).value();
    ASSERT_TRUE(engine->register_rule(counting_rule()).is_ok());
    engine::testing::observe_stages(*engine, [&](TickId tick, engine::TickStage stage) {
      live.emplace_back(tick.value(), stage);
    });
    run_workload(*engine);
    ASSERT_TRUE(engine->close().is_ok());
  }
  // inputs -> rules (not in a merge tick) -> propagation -> seal, once per tick.
  using engine::TickStage;
  std::uint64_t ticks = 0, merges = 0;
  for (std::size_t i = 0; i < live.size();) {
    const std::uint64_t tick = live[i].first;
    EXPECT_EQ(tick, ++ticks);
    const bool merge = i + 1 < live.size() && live[i + 1].second == TickStage::kPropagation;
    merges += merge;
    const std::vector<TickStage> expected =
        merge ? std::vector{TickStage::kInputs, TickStage::kPropagation, TickStage::kSeal}
              : std::vector{TickStage::kInputs, TickStage::kRules, TickStage::kPropagation,
                            TickStage::kSeal};
    for (TickStage stage : expected) {
      ASSERT_LT(i, live.size());
      EXPECT_EQ(live[i].first, tick);
      EXPECT_EQ(live[i].second, stage) << "tick " << tick;
      ++i;
    }
  }
  EXPECT_EQ(ticks, 7u);  // setup, derive, three with the rule, the merge, the ingest tick
  EXPECT_EQ(merges, 1u);
  sched::RuleTable table;
  ASSERT_TRUE(table.add(counting_rule()).is_ok());
  const auto rules = table.snapshot();
  EXPECT_EQ(replayed_stages(dir.path(), false, nullptr), live);
  EXPECT_EQ(replayed_stages(dir.path(), true, rules.get()), live);
}

}  // namespace
}  // namespace mmsb

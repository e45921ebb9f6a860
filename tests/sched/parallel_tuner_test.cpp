// ParallelTuner: whether the rules step uses the worker pool, from trials of both ways; and
// the step's results do not depend on what it decides.
#include "sched/parallel_tuner.hpp"

#include <gtest/gtest.h>

#include "mmsb/mmsb.hpp"
#include "particles.hpp"
#include "sched/scheduler.hpp"
#include "state/tables.hpp"

namespace mmsb::sched {
namespace {

constexpr std::size_t kCounted = 256;

// Records a whole trial: kTrialSteps steps of 1000 candidates at `cost` ns each.
void trial(ParallelTuner& tuner, std::uint64_t cost) {
  for (std::size_t i = 0; i < ParallelTuner::kTrialSteps; ++i) {
    tuner.record(cost * 1000, 1000, kCounted);
  }
}

TEST(ParallelTunerTest, TriesBothWaysThenHoldsTheCheaperUntilTheNextTrial) {
  ParallelTuner tuner;
  EXPECT_TRUE(tuner.parallel());  // the first trial: with the pool
  trial(tuner, 400);
  EXPECT_FALSE(tuner.parallel());  // the second: without
  trial(tuner, 260);
  EXPECT_FALSE(tuner.parallel());  // held serial: 400 > 260
  EXPECT_EQ(tuner.serial_holds(), 1u);
  for (std::size_t i = 0; i + 1 < ParallelTuner::kHoldSteps; ++i) {
    tuner.record(100'000, 1000, kCounted);
    ASSERT_FALSE(tuner.parallel()) << "hold step " << i;
  }
  tuner.record(100'000, 1000, kCounted);
  EXPECT_TRUE(tuner.parallel());  // the hold is over: a trial with the pool again
  trial(tuner, 1000);
  trial(tuner, 2000);
  EXPECT_TRUE(tuner.parallel());  // now the pool is cheaper: held parallel
  EXPECT_EQ(tuner.parallel_holds(), 1u);
}

TEST(ParallelTunerTest, KeepsThePoolOnlyWhenItIsClearlyCheaper) {
  ParallelTuner close;
  trial(close, 97);
  trial(close, 100);
  EXPECT_FALSE(close.parallel());  // 3% cheaper: within the noise, serial
  ParallelTuner clear;
  trial(clear, 90);
  trial(clear, 100);
  EXPECT_TRUE(clear.parallel());
}

TEST(ParallelTunerTest, JudgesByTheMedianNotOneOutlier) {
  ParallelTuner tuner;
  for (std::uint64_t cost : {100, 100, 100, 100, 1}) tuner.record(cost * 1000, 1000, kCounted);
  for (std::uint64_t cost : {80, 80, 80, 80, 80}) tuner.record(cost * 1000, 1000, kCounted);
  EXPECT_FALSE(tuner.parallel());  // one lucky parallel step does not win
}

TEST(ParallelTunerTest, StepsTooSmallForThePoolAreNotCounted) {
  ParallelTuner tuner;
  for (int i = 0; i < 100; ++i) tuner.record(1, kCounted - 1, kCounted);
  tuner.record(1, 0, kCounted);
  EXPECT_TRUE(tuner.parallel());  // still in the first trial
  trial(tuner, 500);
  EXPECT_FALSE(tuner.parallel());
}

// One candidate per particle page, by the rule that moves it.
std::vector<Candidate> standing_candidates(const RuleMap& rules, std::uint64_t pages) {
  std::vector<Candidate> candidates;
  for (std::uint64_t page = 1; page <= pages; ++page) {
    candidates.push_back(
        make_candidate(PageId(page), rules.rules[0].family, page, 0, 1, kOriginStanding));
  }
  return candidates;
}

// The engine tells the scheduler each step's apply time; steered to serial (a trial with
// the pool reported as slow), the scheduler's outcomes are those it gave with the pool.
TEST(ParallelTunerTest, TheStepGivesTheSameOutcomesWithOrWithoutThePool) {
  constexpr std::uint64_t kPages = 2000;  // above the pool's minimum, several chunks
  state::ForkCore fork{State{}};
  for (std::uint64_t i = 0; i < kPages; ++i) {
    const auto at = static_cast<std::int64_t>(i);
    ASSERT_TRUE(fork.create_page({.type = particles::kParticleType,
                                  .size_bytes = sizeof(particles::Particle),
                                  .initial = particles::encode({at, 2 * at, 3, -5})})
                    .is_ok());
  }
  const State world = fork.commit();
  RuleTable table;
  ASSERT_TRUE(table.add(particles::motion_rule()).is_ok());
  const auto rules = table.snapshot();
  const state::ForkCore reader(world);
  core::WorkerPool pool(2);
  Scheduler scheduler(&pool);
  std::vector<RulesStep> steps;
  auto run = [&] {
    RulesStep& step = steps.emplace_back();
    step.input = standing_candidates(*rules, kPages);
    scheduler.run(reader.tables(), *rules, TickId(2), step);
    ASSERT_TRUE(step.failure.is_ok());
    ASSERT_EQ(step.counters.applied, kPages);
  };
  ASSERT_TRUE(scheduler.tuner().parallel());
  for (std::size_t i = 0; i < ParallelTuner::kTrialSteps; ++i) {
    run();
    scheduler.step_applied(steps.back(), 1'000'000'000);  // with the pool: "slow"
  }
  ASSERT_FALSE(scheduler.tuner().parallel());
  for (std::size_t i = 0; i <= ParallelTuner::kTrialSteps; ++i) {
    run();
    scheduler.step_applied(steps.back(), 0);
  }
  ASSERT_FALSE(scheduler.tuner().parallel());  // held serial
  ASSERT_EQ(scheduler.tuner().serial_holds(), 1u);
  for (const RulesStep& step : steps) {
    EXPECT_EQ(step.outcomes, steps.front().outcomes);
    EXPECT_EQ(step.order, steps.front().order);
  }
}

}  // namespace
}  // namespace mmsb::sched

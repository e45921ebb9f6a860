// WorkerPool: every index of a loop runs exactly once, the caller sees every result when
// run() returns, loops back to back never mix (a worker that wakes late for one loop takes
// nothing of the next), and a pool with more workers than cores still finishes each loop.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/thread_pool.hpp"

namespace mmsb::core {
namespace {

TEST(WorkerPoolTest, EveryIndexRunsOnceAndItsResultIsSeen) {
  for (std::size_t workers : {1, 2, 4, 8}) {
    WorkerPool pool(workers);
    EXPECT_EQ(pool.workers(), workers);
    for (std::size_t count : {0, 1, 2, 3, 64, 1000}) {
      std::vector<std::uint32_t> runs(count, 0);  // plain slots: run() must publish them
      pool.run(count, [&](std::size_t i) { runs[i] += 1; });
      for (std::size_t i = 0; i < count; ++i) {
        ASSERT_EQ(runs[i], 1u) << "index " << i << " of " << count << ", " << workers
                               << " workers";
      }
    }
  }
}

TEST(WorkerPoolTest, LoopsBackToBackNeverMix) {
  // Many short loops, each writing its own number: a late worker of an earlier loop that
  // took an index of a later one would call the earlier body there and leave a stale number
  // (or a second call), which the check finds.
  WorkerPool pool(4);
  constexpr std::size_t kCount = 7;
  std::vector<std::uint32_t> slots(kCount, 0);
  std::vector<std::uint32_t> calls(kCount, 0);
  for (std::uint32_t loop = 1; loop <= 20000; ++loop) {
    pool.run(kCount, [&, loop](std::size_t i) {
      slots[i] = loop;
      calls[i] += 1;
    });
    for (std::size_t i = 0; i < kCount; ++i) {
      ASSERT_EQ(slots[i], loop) << "index " << i;
      ASSERT_EQ(calls[i], 1u) << "index " << i << " in loop " << loop;
      calls[i] = 0;
    }
  }
}

TEST(WorkerPoolTest, ThreadsOtherThanTheCallerTakePart) {
  // A loop whose indexes wait for each other can only finish if two threads run it: the
  // caller does not run the whole loop alone when workers are awake.
  WorkerPool pool(2);
  std::atomic<int> arrived{0};
  std::vector<std::thread::id> ran_on(2);
  pool.run(2, [&](std::size_t i) {
    ran_on[i] = std::this_thread::get_id();
    arrived.fetch_add(1);
    while (arrived.load() < 2) std::this_thread::yield();
  });
  EXPECT_NE(ran_on[0], ran_on[1]);
}

}  // namespace
}  // namespace mmsb::core

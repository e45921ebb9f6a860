// States are shared between threads: readers take snapshots while a writer commits, and
// forks of the same State are written on several threads at once. Run under TSan by
// `make tsan` (and in CI).
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "mmsb/mmsb.hpp"
#include "support/tick_words.hpp"

namespace mmsb {
namespace {

constexpr int kPages = 64;
constexpr std::uint64_t kPageBytes = 256;

bool consistent(const State& state) { return test::words_hold_their_tick(state, kPages); }

TEST(ConcurrencyTest, ReadersSeeWholeVersionsWhileAWriterCommits) {
  Fork writer{State{}};
  for (int i = 0; i < kPages; ++i) (void)writer.create_page({.size_bytes = kPageBytes}).value();
  std::mutex mutex;
  State published = writer.commit();
  std::atomic<bool> done{false};
  std::atomic<int> inconsistent{0};
  std::atomic<std::uint64_t> reads{0};

  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      while (!done.load(std::memory_order_acquire)) {
        State snapshot;
        {
          std::lock_guard<std::mutex> lock(mutex);
          snapshot = published.snapshot();
        }
        if (!consistent(snapshot)) inconsistent.fetch_add(1);
        // A private fork of the shared version: writes on this thread never show elsewhere.
        Fork mine = snapshot.fork();
        std::vector<std::byte> noise(kPageBytes, std::byte{0xff});
        if (!mine.put(PageId(1 + r), noise).is_ok()) inconsistent.fetch_add(1);
        State private_state = mine.commit();
        if (consistent(snapshot) == false || private_state.tick() <= snapshot.tick()) {
          inconsistent.fetch_add(1);
        }
        reads.fetch_add(1);
      }
    });
  }
  // Commit until both enough ticks and enough reads happened (readers may start late).
  for (std::uint64_t tick = 2; tick < 300 || reads.load() < 50; ++tick) {
    if (tick > 10'000'000u) break;  // readers never ran: the reads expectation below says so
    std::vector<std::uint64_t> words(kPageBytes / sizeof(std::uint64_t), tick);
    for (int page = 1 + static_cast<int>(tick % 7); page <= kPages; page += 7) {
      ASSERT_TRUE(writer.put(PageId(page), std::as_bytes(std::span(words))).is_ok());
    }
    State next = writer.commit();
    ASSERT_EQ(next.tick(), TickId(tick));
    std::lock_guard<std::mutex> lock(mutex);
    published = next;
  }
  done.store(true, std::memory_order_release);
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_GE(reads.load(), 50u) << "the readers barely ran while the writer committed";
  EXPECT_TRUE(consistent(published));
}

TEST(ConcurrencyTest, ForksOfOneStateOnManyThreadsAreIndependent) {
  Fork builder{State{}};
  for (int i = 0; i < kPages; ++i) (void)builder.create_page({.size_bytes = kPageBytes}).value();
  const State base = builder.commit();
  std::vector<State> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Fork fork(base);
      for (int round = 0; round < 50; ++round) {
        for (int page = 1; page <= kPages; ++page) {
          std::uint64_t stamp = static_cast<std::uint64_t>(t * 1000 + round + 1);
          (void)fork.write(PageId(page), 0, std::as_bytes(std::span(&stamp, 1)));
        }
        (void)fork.commit();
      }
      results[t] = fork.head();
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) {
    std::uint64_t stamp;
    std::memcpy(&stamp, results[t].read(PageId(1))->data(), sizeof(stamp));
    EXPECT_EQ(stamp, static_cast<std::uint64_t>(t * 1000 + 50));
    EXPECT_EQ(results[t].page(PageId(1))->epoch, Epoch(50));
  }
  EXPECT_EQ(base.read(PageId(1)).value()[0], std::byte{0});
  // The forks differ only in their stamps, and the roots say so.
  EXPECT_NE(results[0].root(), results[1].root());
}

}  // namespace
}  // namespace mmsb

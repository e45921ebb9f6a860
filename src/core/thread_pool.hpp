// WorkerPool: a fixed set of threads that run one parallel loop at a time. The caller's
// thread takes part, so a pool of N workers runs a loop on N threads (N - 1 started here).
// Which thread runs which index is timing-dependent; callers make results independent of
// it by writing each index's result to its own slot.
//
// The caller starts on the indexes at once and returns as soon as every index has run: it
// never waits for a worker that has not woken yet (a worker that wakes late finds the loop
// taken and goes back to sleep). With more workers than free cores, or a loop shorter than
// a wake-up, the caller so does the work alone instead of waiting on the scheduler.
//
// Thread-safety: run() is called by one owner thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "mmsb/assert.hpp"

namespace mmsb::core {

class WorkerPool {
 public:
  explicit WorkerPool(std::size_t workers) {
    for (std::size_t i = 1; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

  std::size_t workers() const { return threads_.size() + 1; }

  // Calls body(i) for every i in [0, count) and returns when all calls have returned.
  // `body` must not throw.
  void run(std::size_t count, const std::function<void(std::size_t)>& body) {
    if (threads_.empty() || count < 2) {
      for (std::size_t i = 0; i < count; ++i) body(i);
      return;
    }
    MMSB_ASSERT(count <= std::numeric_limits<std::uint32_t>::max());
    const auto total = static_cast<std::uint32_t>(count);
    std::uint32_t generation;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation = ++generation_;
      body_ = &body;
      count_ = total;
      completed_.store(0, std::memory_order_relaxed);
      next_.store(ticket(generation, 0), std::memory_order_release);
    }
    wake_.notify_all();
    drain(generation, &body, total);
    // Indexes other threads took may still be running: wait for them, not for the workers.
    for (std::uint32_t done = completed_.load(std::memory_order_acquire); done != total;
         done = completed_.load(std::memory_order_acquire)) {
      completed_.wait(done, std::memory_order_acquire);
    }
  }

 private:
  // The next index to take, tagged with its loop's generation so that a worker still
  // holding an earlier loop's body can never take an index of a later loop.
  static std::uint64_t ticket(std::uint32_t generation, std::uint32_t index) {
    return std::uint64_t{generation} << 32 | index;
  }

  // Takes and runs indexes of loop `generation` until none is left. `body` is called only
  // with an index taken, so it is alive (its loop has not returned).
  void drain(std::uint32_t generation, const std::function<void(std::size_t)>* body,
             std::uint32_t count) {
    // What this thread ran is counted once, when it finds no index left: one more shared
    // write per thread and loop, not per index (the line moves between processors).
    std::uint32_t ran = 0;
    std::uint64_t next = next_.load(std::memory_order_acquire);
    for (;;) {
      const auto index = static_cast<std::uint32_t>(next);
      if (static_cast<std::uint32_t>(next >> 32) != generation || index >= count) break;
      if (!next_.compare_exchange_weak(next, next + 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        continue;  // `next` was reloaded
      }
      (*body)(index);
      ++ran;
      next = next_.load(std::memory_order_acquire);
    }
    if (ran != 0 && completed_.fetch_add(ran, std::memory_order_acq_rel) + ran == count) {
      completed_.notify_all();
    }
  }

  void work() {
    std::uint32_t seen = 0;
    for (;;) {
      const std::function<void(std::size_t)>* body;
      std::uint32_t count;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        body = body_;
        count = count_;
      }
      // A loop that already finished leaves its indexes taken: drain() returns at once.
      drain(seen, body, count);
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  const std::function<void(std::size_t)>* body_ = nullptr;  // guarded by mutex_
  std::uint32_t count_ = 0;                                  // guarded by mutex_
  std::uint32_t generation_ = 0;                             // guarded by mutex_
  bool stopping_ = false;                                    // guarded by mutex_
  // Each on its own line: every thread takes tickets, and only finishing threads count.
  alignas(64) std::atomic<std::uint64_t> next_{0};
  alignas(64) std::atomic<std::uint32_t> completed_{0};
};

}  // namespace mmsb::core

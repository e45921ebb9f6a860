// WorkerPool: a fixed set of threads that run one parallel loop at a time. The caller's
// thread takes part, so a pool of N workers runs a loop on N threads (N - 1 started here).
// Which thread runs which index is timing-dependent; callers make results independent of
// it by writing each index's result to its own slot.
//
// Thread-safety: run() is called by one owner thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      count_ = count;
      next_.store(0, std::memory_order_relaxed);
      busy_ = threads_.size();
      ++generation_;
    }
    wake_.notify_all();
    drain(body, count);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return busy_ == 0; });
    body_ = nullptr;
  }

 private:
  void drain(const std::function<void(std::size_t)>& body, std::size_t count) {
    for (;;) {
      const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= count) return;
      body(i);
    }
  }

  void work() {
    std::uint64_t seen = 0;
    for (;;) {
      const std::function<void(std::size_t)>* body;
      std::size_t count;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        body = body_;
        count = count_;
      }
      drain(*body, count);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--busy_ == 0) done_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(std::size_t)>* body_ = nullptr;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0};
  std::size_t busy_ = 0;
  std::uint64_t generation_ = 0;
  bool stopping_ = false;
};

}  // namespace mmsb::core

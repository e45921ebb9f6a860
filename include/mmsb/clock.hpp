// Clock: where the engine reads the wall clock. The time it reads decides state in one place
// only, the logical time of an ingest tick (token buckets refill from it, and it is logged,
// so replay decides the same); it is also logged as TickRecord metadata. A simulation or a
// test supplies a ManualClock so that a run repeats exactly; Clock::system() is the real one.
// Latency statistics use the steady clock directly: they are never state.
//
// Thread-safety: now_ns() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace mmsb {

class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds since the Unix epoch.
  virtual std::uint64_t now_ns() const = 0;
  // The operating system's wall clock. Never destroyed.
  static Clock* system();
};

// A clock that moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::uint64_t start_ns = 0) : now_ns_(start_ns) {}
  std::uint64_t now_ns() const override { return now_ns_.load(std::memory_order_acquire); }
  void advance(std::uint64_t ns) { now_ns_.fetch_add(ns, std::memory_order_acq_rel); }

 private:
  std::atomic<std::uint64_t> now_ns_;
};

}  // namespace mmsb

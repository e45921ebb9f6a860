// Rule telemetry: `reserved` and `conflict` events as JSON lines (docs/SEMANTICS.md "Rules
// and scheduling"), formatted and written by a thread of its own so the sequencer only
// queues receipts. Bounded: when the writer falls behind by kTelemetryEventsQueuedMax
// events, further events are dropped and counted.
//
// Thread-safety: post() from one thread (the sequencer); dropped() from any.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mmsb/rule.hpp"

namespace mmsb::sched {

inline constexpr std::size_t kTelemetryEventsQueuedMax = std::size_t{1} << 20;

class TelemetryWriter {
 public:
  // Opens `path` for appending; IOError naming it if it cannot.
  static Result<std::unique_ptr<TelemetryWriter>> open(const std::string& path);
  ~TelemetryWriter();  // writes what is queued, then closes

  // Queues one event per receipt that reserved (kApplied) or conflicted (kRejected,
  // kDeferred).
  void post(TickId tick, std::span<const RuleReceipt> receipts);
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  // Waits until everything queued so far is written and flushed (for tests and close).
  void flush();

 private:
  struct Event {
    TickId tick;
    RuleReceipt receipt;
  };
  explicit TelemetryWriter(std::FILE* file);
  void run();

  std::FILE* file_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::condition_variable drained_;
  std::vector<Event> queue_;
  bool writing_ = false;
  bool stopping_ = false;
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> written_{0};
  std::thread thread_;
};

// One event as a JSON line (without the newline); for tests and the writer.
std::string telemetry_line(TickId tick, const RuleReceipt& receipt);

}  // namespace mmsb::sched

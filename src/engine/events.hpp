// EventHub: delivers each tick's events to subscribers off the commit path.
//
// Each subscriber has its own thread and a bounded queue of batches. publish() (called by
// the sequencer after a tick is durable) filters a batch for each subscriber and queues it
// without waiting; a full queue drops the batch and counts it, and the subscriber's next
// delivered batch says how many it lost. A callback that throws is counted and stays
// subscribed. So a slow or failing subscriber never delays commits or other subscribers.
//
// Thread-safety: every call may be made from any thread; callbacks run on their
// subscriber's thread, one batch at a time, in tick order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "mmsb/derive.hpp"

namespace mmsb::engine {

struct EventCounters {
  std::uint64_t batches_delivered = 0;
  std::uint64_t batches_dropped = 0;
  std::uint64_t callback_errors = 0;
};

class EventHub {
 public:
  EventHub() = default;
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;
  ~EventHub() { close(); }

  std::uint64_t subscribe(EventFilter filter, EventCallback callback, std::size_t queue_batches);
  // False if there is no such subscription. Waits for a callback in progress to return,
  // so it must not be called from the subscriber's own callback.
  bool unsubscribe(std::uint64_t id);
  bool has_subscribers() const { return count_.load(std::memory_order_acquire) != 0; }
  // Queues `batch` (filtered) for every subscriber. Never waits for a callback.
  void publish(const EventBatch& batch);
  // Delivers what is queued, then stops every subscriber.
  void close();
  EventCounters counters() const;

 private:
  struct Subscriber {
    EventFilter filter;
    EventCallback callback;
    std::size_t capacity = 0;
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<EventBatch> queue;
    std::uint64_t dropped_pending = 0;  // dropped since the last queued batch
    bool stopping = false;
    std::thread thread;
  };
  void deliver(Subscriber& subscriber);
  static void stop(Subscriber& subscriber);

  mutable std::mutex mutex_;
  std::map<std::uint64_t, std::unique_ptr<Subscriber>> subscribers_;
  std::uint64_t next_id_ = 1;
  std::atomic<std::size_t> count_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace mmsb::engine

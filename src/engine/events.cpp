#include "engine/events.hpp"

#include <algorithm>

namespace mmsb::engine {

std::uint64_t EventHub::subscribe(EventFilter filter, EventCallback callback,
                                  std::size_t queue_batches) {
  auto subscriber = std::make_unique<Subscriber>();
  std::sort(filter.pages.begin(), filter.pages.end());
  subscriber->filter = std::move(filter);
  subscriber->callback = std::move(callback);
  subscriber->capacity = queue_batches;
  Subscriber* raw = subscriber.get();
  raw->thread = std::thread([this, raw] { deliver(*raw); });
  std::lock_guard<std::mutex> lock(mutex_);
  const std::uint64_t id = next_id_++;
  subscribers_.emplace(id, std::move(subscriber));
  count_.store(subscribers_.size(), std::memory_order_release);
  return id;
}

void EventHub::stop(Subscriber& subscriber) {
  {
    std::lock_guard<std::mutex> lock(subscriber.mutex);
    subscriber.stopping = true;
  }
  subscriber.ready.notify_one();
  subscriber.thread.join();
}

bool EventHub::unsubscribe(std::uint64_t id) {
  std::unique_ptr<Subscriber> removed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = subscribers_.find(id);
    if (found == subscribers_.end()) return false;
    removed = std::move(found->second);
    subscribers_.erase(found);
    count_.store(subscribers_.size(), std::memory_order_release);
  }
  stop(*removed);
  return true;
}

void EventHub::close() {
  std::map<std::uint64_t, std::unique_ptr<Subscriber>> all;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    all.swap(subscribers_);
    count_.store(0, std::memory_order_release);
  }
  for (auto& [id, subscriber] : all) stop(*subscriber);
}

void EventHub::publish(const EventBatch& batch) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [id, subscriber] : subscribers_) {
    const EventFilter& filter = subscriber->filter;
    EventBatch filtered;
    filtered.tick = batch.tick;
    for (const Event& event : batch.events) {
      if (!filter.wants(event.type)) continue;
      if (!filter.pages.empty() &&
          !std::binary_search(filter.pages.begin(), filter.pages.end(), event.page)) {
        continue;
      }
      filtered.events.push_back(event);
    }
    if (filtered.events.empty()) continue;
    {
      std::lock_guard<std::mutex> queue_lock(subscriber->mutex);
      if (subscriber->queue.size() >= subscriber->capacity) {
        ++subscriber->dropped_pending;
        dropped_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      filtered.batches_dropped_before = subscriber->dropped_pending;
      subscriber->dropped_pending = 0;
      subscriber->queue.push_back(std::move(filtered));
    }
    subscriber->ready.notify_one();
  }
}

void EventHub::deliver(Subscriber& subscriber) {
  std::unique_lock<std::mutex> lock(subscriber.mutex);
  for (;;) {
    subscriber.ready.wait(lock, [&] { return subscriber.stopping || !subscriber.queue.empty(); });
    if (subscriber.queue.empty()) return;  // stopping, and everything queued was delivered
    EventBatch batch = std::move(subscriber.queue.front());
    subscriber.queue.pop_front();
    lock.unlock();
    try {
      subscriber.callback(batch);
    } catch (...) {
      errors_.fetch_add(1, std::memory_order_relaxed);
    }
    delivered_.fetch_add(1, std::memory_order_relaxed);
    lock.lock();
  }
}

EventCounters EventHub::counters() const {
  return EventCounters{delivered_.load(std::memory_order_relaxed),
                       dropped_.load(std::memory_order_relaxed),
                       errors_.load(std::memory_order_relaxed)};
}

}  // namespace mmsb::engine

namespace mmsb {

std::string_view event_type_name(EventType type) {
  switch (type) {
    case EventType::kInvalidated:
      return "INVALIDATED";
    case EventType::kApplied:
      return "APPLIED";
    case EventType::kChanged:
      return "CHANGED";
    case EventType::kStale:
      return "STALE";
  }
  return "UNKNOWN";
}

}  // namespace mmsb

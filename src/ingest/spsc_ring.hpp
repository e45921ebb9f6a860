// SpscRing: a bounded single-producer single-consumer ring (docs/ARCHITECTURE.md "ingest").
//
// The producer owns `head_`, the consumer `tail_`, each on its own cache line; each side
// also keeps a private copy of the other's index and rereads the shared one only when the
// copy says the ring is full (producer) or empty (consumer), so in the steady state the
// two cores exchange one cache line per batch, not per item. Publication is batched: a
// push of k items is k plain copies and one release store; a pop of k items one acquire
// load, k copies and one release store. No allocation after construction, no lock.
//
// Thread-safety: exactly one producer thread and one consumer thread at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>

#include "mmsb/assert.hpp"

namespace mmsb::ingest {

inline constexpr std::size_t kCacheLineBytes = 64;

template <typename T>
class SpscRing {
 public:
  // `capacity` is rounded up to a power of two (at least 2).
  explicit SpscRing(std::size_t capacity) {
    std::size_t size = 2;
    while (size < capacity) size *= 2;
    mask_ = size - 1;
    items_ = std::make_unique<T[]>(size);
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  std::size_t capacity() const { return mask_ + 1; }

  // Producer: appends as many of `items` as fit and returns how many.
  std::size_t push(std::span<const T> items) {
    const std::uint64_t head = producer_.head;
    std::uint64_t free = capacity() - (head - producer_.tail_seen);
    if (free < items.size()) {
      producer_.tail_seen = tail_.value.load(std::memory_order_acquire);
      free = capacity() - (head - producer_.tail_seen);
    }
    const std::size_t count = items.size() < free ? items.size() : free;
    for (std::size_t i = 0; i < count; ++i) items_[(head + i) & mask_] = items[i];
    producer_.head = head + count;
    head_.value.store(head + count, std::memory_order_release);
    return count;
  }
  bool push(const T& item) { return push(std::span<const T>(&item, 1)) == 1; }

  // Consumer: calls visit(const T&) on up to `max` items in order, then frees their slots;
  // returns how many.
  template <typename Visit>
  std::size_t consume(std::size_t max, Visit&& visit) {
    const std::uint64_t tail = consumer_.tail;
    std::uint64_t ready = consumer_.head_seen - tail;
    if (ready < max) {
      consumer_.head_seen = head_.value.load(std::memory_order_acquire);
      ready = consumer_.head_seen - tail;
    }
    const std::size_t count = ready < max ? static_cast<std::size_t>(ready) : max;
    for (std::size_t i = 0; i < count; ++i) visit(items_[(tail + i) & mask_]);
    consumer_.tail = tail + count;
    tail_.value.store(tail + count, std::memory_order_release);
    return count;
  }
  // Consumer: copies up to out.size() items into `out`; returns how many.
  std::size_t pop(std::span<T> out) {
    std::size_t k = 0;
    return consume(out.size(), [&](const T& item) { out[k++] = item; });
  }

  // Either side: items in the ring at some recent moment.
  std::size_t size_approx() const {
    const std::uint64_t tail = tail_.value.load(std::memory_order_acquire);
    const std::uint64_t head = head_.value.load(std::memory_order_acquire);
    return static_cast<std::size_t>(head - tail);
  }

 private:
  struct alignas(kCacheLineBytes) Index {
    std::atomic<std::uint64_t> value{0};
  };
  struct alignas(kCacheLineBytes) ProducerSide {
    std::uint64_t head = 0;       // next slot to write (mirrors head_)
    std::uint64_t tail_seen = 0;  // the consumer's tail when last read
  };
  struct alignas(kCacheLineBytes) ConsumerSide {
    std::uint64_t tail = 0;       // next slot to read (mirrors tail_)
    std::uint64_t head_seen = 0;  // the producer's head when last read
  };

  Index head_;  // written by the producer
  Index tail_;  // written by the consumer
  ProducerSide producer_;
  ConsumerSide consumer_;
  std::size_t mask_ = 0;
  std::unique_ptr<T[]> items_;
};

}  // namespace mmsb::ingest

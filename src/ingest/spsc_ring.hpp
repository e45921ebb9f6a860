// SpscRing: a bounded single-producer single-consumer ring (docs/ARCHITECTURE.md "ingest").
//
// The producer owns `head_`, the consumer `tail_`, each on its own cache line; each side
// also keeps a private copy of the other's index and rereads the shared one only when the
// copy says the ring is full (producer) or empty (consumer), so in the steady state the
// two cores exchange one cache line per batch, not per item. Publication is batched: a
// push of k items is k plain copies and one release store; a pop of k items one acquire
// load, k copies and one release store (the producer's store is sequentially consistent:
// see size_approx). No allocation after construction, no lock.
//
// A ring built with `overwrite` also lets the producer drop the oldest item when it is full
// (push_overwrite, for drop-oldest backpressure). The consumer's index is then advanced by a
// compare-and-swap on both sides, and slots are copied as 64-bit relaxed atomic words: a
// consumer that copied a slot the producer was overwriting finds its compare-and-swap failed
// and discards the copy. Only pop() consumes such a ring.
//
// Thread-safety: exactly one producer thread and one consumer thread at a time.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <type_traits>

#include "mmsb/assert.hpp"

namespace mmsb::ingest {

inline constexpr std::size_t kCacheLineBytes = 64;

template <typename T>
class SpscRing {
 public:
  // `capacity` is rounded up to a power of two (at least 2).
  explicit SpscRing(std::size_t capacity, bool overwrite = false) : overwrite_(overwrite) {
    MMSB_ASSERT(!overwrite || kOverwritable);
    std::size_t size = 2;
    while (size < capacity) size *= 2;
    mask_ = size - 1;
    if (overwrite) {
      words_ = std::make_unique<std::atomic<std::uint64_t>[]>(size * kWords);
    } else {
      items_ = std::make_unique<T[]>(size);
    }
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
    for (std::size_t i = 0; i < count; ++i) store_slot(head + i, items[i]);
    producer_.head = head + count;
    head_.value.store(head + count, kPublish);
    return count;
  }
  bool push(const T& item) { return push(std::span<const T>(&item, 1)) == 1; }

  // Producer, overwrite rings only: appends `item`, first dropping the oldest item if the
  // ring is full; calls dropped(const T&) with it. Returns true if one was dropped.
  template <typename Dropped>
  bool push_overwrite(const T& item, Dropped&& dropped) {
    MMSB_DEBUG_ASSERT(overwrite_);
    const std::uint64_t head = producer_.head;
    bool dropped_one = false;
    if (head - producer_.tail_seen == capacity()) {
      producer_.tail_seen = tail_.value.load(std::memory_order_acquire);
      while (head - producer_.tail_seen == capacity()) {
        std::uint64_t tail = producer_.tail_seen;
        const T oldest = load_slot(tail);  // this thread wrote it: not being overwritten
        if (tail_.value.compare_exchange_strong(tail, tail + 1, std::memory_order_acq_rel)) {
          producer_.tail_seen = tail + 1;
          dropped(oldest);
          dropped_one = true;
        } else {
          producer_.tail_seen = tail;  // the consumer took some: room now
        }
      }
    }
    store_slot(head, item);
    producer_.head = head + 1;
    head_.value.store(head + 1, kPublish);
    return dropped_one;
  }

  // Consumer: calls visit(const T&) on up to `max` items in order, then frees their slots;
  // returns how many. Not for overwrite rings.
  template <typename Visit>
  std::size_t consume(std::size_t max, Visit&& visit) {
    MMSB_DEBUG_ASSERT(!overwrite_);
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
    if (!overwrite_) {
      std::size_t k = 0;
      return consume(out.size(), [&](const T& item) { out[k++] = item; });
    }
    for (;;) {
      std::uint64_t tail = tail_.value.load(std::memory_order_acquire);
      const std::uint64_t head = head_.value.load(std::memory_order_acquire);
      const std::uint64_t ready = head - tail;
      const std::size_t count = ready < out.size() ? static_cast<std::size_t>(ready) : out.size();
      for (std::size_t i = 0; i < count; ++i) out[i] = load_slot(tail + i);
      // Fails only if the producer dropped items meanwhile: the copies may be torn; again.
      if (tail_.value.compare_exchange_strong(tail, tail + count, std::memory_order_acq_rel)) {
        return count;
      }
    }
  }

  // Either side: items in the ring at some recent moment. Sequentially consistent, like the
  // producer's publication: a consumer that announces it is going to sleep (a seq_cst store)
  // and then finds the ring empty cannot miss an item whose producer, after publishing,
  // does not see the announcement (the store-buffering pattern; see ingest/producer.hpp).
  std::size_t size_approx() const {
    const std::uint64_t tail = tail_.value.load(std::memory_order_seq_cst);
    const std::uint64_t head = head_.value.load(std::memory_order_seq_cst);
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

  // Overwrite rings copy items as whole 64-bit words.
  static constexpr bool kOverwritable =
      sizeof(T) % 8 == 0 && std::is_trivially_copyable_v<T>;
  static constexpr std::size_t kWords = sizeof(T) / 8 > 0 ? sizeof(T) / 8 : 1;
  // The producer publishes with a sequentially consistent store (see size_approx): on x86
  // one locked instruction per batch, what a fence would cost, and visible to TSan.
  static constexpr std::memory_order kPublish = std::memory_order_seq_cst;
  using Words = std::array<std::uint64_t, kWords>;

  void store_slot(std::uint64_t position, const T& item) {
    if constexpr (kOverwritable) {
      if (overwrite_) {
        const Words words = std::bit_cast<Words>(item);
        std::atomic<std::uint64_t>* slot = &words_[(position & mask_) * kWords];
        for (std::size_t w = 0; w < kWords; ++w) slot[w].store(words[w], std::memory_order_relaxed);
        return;
      }
    }
    items_[position & mask_] = item;
  }
  T load_slot(std::uint64_t position) const {
    if constexpr (kOverwritable) {
      Words words;
      const std::atomic<std::uint64_t>* slot = &words_[(position & mask_) * kWords];
      for (std::size_t w = 0; w < kWords; ++w) words[w] = slot[w].load(std::memory_order_relaxed);
      return std::bit_cast<T>(words);
    } else {
      MMSB_ASSERT(false);
      return T{};
    }
  }

  Index head_;  // written by the producer
  Index tail_;  // written by the consumer
  ProducerSide producer_;
  ConsumerSide consumer_;
  std::size_t mask_ = 0;
  bool overwrite_ = false;
  std::unique_ptr<T[]> items_;                           // plain rings
  std::unique_ptr<std::atomic<std::uint64_t>[]> words_;  // overwrite rings
};

}  // namespace mmsb::ingest

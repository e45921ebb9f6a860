// Replaces the global operator new of the benchmark binary with one that counts, per
// thread, then allocates as usual.
#include "alloc_count.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

namespace {

// A counter per thread, from a fixed pool that outlives the threads (threads past the pool's
// size share counters: still exact, only slower).
struct alignas(64) Counter {
  std::atomic<std::uint64_t> count{0};
};
constexpr std::size_t kCounters = 1024;
Counter counters[kCounters];
std::atomic<std::size_t> counters_used{0};

Counter& mine() {
  thread_local Counter* counter =
      &counters[counters_used.fetch_add(1, std::memory_order_relaxed) % kCounters];
  return *counter;
}

thread_local std::uint64_t allocations = 0;

void count() {
  ++allocations;
  Counter& counter = mine();
  counter.count.fetch_add(1, std::memory_order_relaxed);
}

void* counted(std::size_t size) {
  count();
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}

void* counted_aligned(std::size_t size, std::align_val_t alignment) {
  count();
  const std::size_t align = static_cast<std::size_t>(alignment);
  const std::size_t rounded = (size + align - 1) / align * align;
  if (void* memory = std::aligned_alloc(align, rounded == 0 ? align : rounded)) return memory;
  throw std::bad_alloc();
}

}  // namespace

namespace mmsb::bench {
std::uint64_t allocations_on_this_thread() { return allocations; }
std::uint64_t allocations_in_process() {
  std::uint64_t total = 0;
  const std::size_t used = std::min(counters_used.load(std::memory_order_relaxed), kCounters);
  for (std::size_t i = 0; i < used; ++i) total += counters[i].count.load(std::memory_order_relaxed);
  return total;
}
}  // namespace mmsb::bench

void* operator new(std::size_t size) { return counted(size); }
void* operator new[](std::size_t size) { return counted(size); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  return counted_aligned(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return counted_aligned(size, alignment);
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete[](void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }
void operator delete[](void* memory, std::size_t) noexcept { std::free(memory); }
void operator delete(void* memory, std::align_val_t) noexcept { std::free(memory); }
void operator delete[](void* memory, std::align_val_t) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t, std::align_val_t) noexcept { std::free(memory); }
void operator delete[](void* memory, std::size_t, std::align_val_t) noexcept { std::free(memory); }

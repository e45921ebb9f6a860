// The default PayloadAllocator: a size-class arena.
//
// Blocks of 64 B .. 256 KiB are carved from slabs and recycled through free lists: a bounded
// per-thread cache (no lock) in front of one shared pool per class (one mutex, taken once
// per batch of blocks). Slabs are kept for the life of the process, so the arena holds on to
// its high-water mark per class and a steady state of creating and dropping pages reaches
// neither the system allocator nor fresh (page-faulting) memory. Slabs are mapped from the
// kernel (zero) and carved by a bump pointer as blocks are first needed (a thread takes a
// run of them at a time), so a block never handed out has never been touched: a zeroed
// allocation takes it as it is, and only a recycled block is zeroed. Larger blocks are
// mapped and unmapped one by one.
//
// Under AddressSanitizer every block goes to the system, so use-after-free of page bytes
// is still caught.
#include "mmsb/allocator.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "core/arena.hpp"
#include "mmsb/assert.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define MMSB_ALLOCATOR_PASSTHROUGH 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMSB_ALLOCATOR_PASSTHROUGH 1
#endif
#endif

namespace mmsb {
namespace {

constexpr std::size_t kMinClassBytes = 64;
constexpr std::size_t kMaxClassBytes = 256 * 1024;
constexpr int kPayloadClassCount =
    std::countr_zero(kMaxClassBytes) - std::countr_zero(kMinClassBytes) + 1;
// One more class, after the payload ones, for small internal objects (page records): 48-byte
// blocks, 16-byte aligned. Payloads never come from it (they are 64-byte aligned).
constexpr int kObjectClass = kPayloadClassCount;
constexpr std::size_t kObjectClassBytes = 48;
constexpr int kClassCount = kPayloadClassCount + 1;
// Per thread and class, at most this many bytes of free blocks; the excess moves to the pool.
constexpr std::size_t kThreadCacheBytesPerClass = 1024 * 1024;
// Slabs hold at least this many bytes (and at least 8 blocks).
constexpr std::size_t kSlabBytesMin = 1024 * 1024;

[[maybe_unused]] int size_class(std::size_t size_bytes) {
  std::size_t rounded = std::bit_ceil(size_bytes < kMinClassBytes ? kMinClassBytes : size_bytes);
  return std::countr_zero(rounded) - std::countr_zero(kMinClassBytes);
}

// The class of an internal object (arena_allocate): the object class if it fits.
[[maybe_unused]] int object_size_class(std::size_t size_bytes) {
  return size_bytes <= kObjectClassBytes ? kObjectClass : size_class(size_bytes);
}

constexpr std::size_t class_bytes(int index) {
  return index == kObjectClass ? kObjectClassBytes : kMinClassBytes << index;
}

constexpr std::size_t thread_cache_limit(int index) {
  return std::max<std::size_t>(4, kThreadCacheBytesPerClass / class_bytes(index));
}

[[maybe_unused]] std::byte* system_allocate(std::size_t size_bytes) {
  return static_cast<std::byte*>(
      ::operator new (size_bytes, std::align_val_t{kPayloadAlignment}, std::nothrow));
}

[[maybe_unused]] void system_deallocate(std::byte* block) {
  ::operator delete (block, std::align_val_t{kPayloadAlignment});
}

// Zero-filled memory, page-aligned (above kPayloadAlignment): faulted in by the kernel at
// once if `populate`, else on first touch.
[[maybe_unused]] std::byte* map_zeroed(std::size_t size_bytes, bool populate = false) {
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0);
  void* mapped = ::mmap(nullptr, size_bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  return mapped == MAP_FAILED ? nullptr : static_cast<std::byte*>(mapped);
}

// Blocks of a slab not handed out yet: zero and never touched.
struct FreshRange {
  std::byte* next = nullptr;
  std::byte* end = nullptr;
  bool empty() const { return next == end; }
  std::byte* take(std::size_t block_bytes) {
    std::byte* block = next;
    next += block_bytes;
    return block;
  }
};

// A stack of free blocks, kept beside them: a free block is never written.
struct FreeList {
  std::vector<std::byte*> blocks;

  bool empty() const { return blocks.empty(); }
  std::size_t count() const { return blocks.size(); }
  void push(std::byte* block) { blocks.push_back(block); }
  std::byte* pop() {
    std::byte* block = blocks.back();
    blocks.pop_back();
    return block;
  }
  // Moves up to `n` blocks of this list to `to`.
  void move_to(FreeList& to, std::size_t n) {
    n = std::min(n, blocks.size());
    to.blocks.insert(to.blocks.end(), blocks.end() - static_cast<std::ptrdiff_t>(n), blocks.end());
    blocks.resize(blocks.size() - n);
  }
};

// The shared side of one class: recycled blocks and the slab the class is carving.
struct ClassPool {
  std::mutex mutex;
  FreeList free;
  FreshRange fresh;               // the uncarved rest of the newest slab
  std::vector<std::byte*> slabs;  // kept for the life of the process
};

class Arena;
Arena& arena();

struct ThreadCache {
  FreeList lists[kClassCount];
  FreshRange fresh[kClassCount];  // a run of fresh blocks taken from the pool
  ~ThreadCache();
};

thread_local bool t_cache_gone = false;  // trivially destructible, readable after exit
thread_local ThreadCache t_cache;

std::atomic<std::uint64_t> g_system_allocations{0};

// Size-class blocks: thread caches in front of per-class pools.
class Arena {
 public:
  // `zeroed`: the caller needs the block zero-filled. `object`: an internal object (its
  // class may be the object class), else a payload.
  std::byte* allocate(std::size_t size_bytes, bool zeroed, bool object = false) {
    MMSB_DEBUG_ASSERT(size_bytes > 0);
#ifdef MMSB_ALLOCATOR_PASSTHROUGH
    (void)object;
    g_system_allocations.fetch_add(1, std::memory_order_relaxed);
    std::byte* block = system_allocate(size_bytes);
    if (block != nullptr && zeroed) std::memset(block, 0, size_bytes);
    return block;
#else
    if (size_bytes > kMaxClassBytes) {
      g_system_allocations.fetch_add(1, std::memory_order_relaxed);
      return map_zeroed(size_bytes);  // zero whether or not that was asked
    }
    const int index = object ? object_size_class(size_bytes) : size_class(size_bytes);
    if (t_cache_gone) return take_from_pool(index, size_bytes, zeroed);
    FreeList& list = t_cache.lists[index];
    if (list.empty()) {
      FreshRange& fresh = t_cache.fresh[index];
      if (fresh.empty() && !refill(index, list, fresh)) return nullptr;
      if (list.empty()) return fresh.take(class_bytes(index));  // zero, never handed out
    }
    std::byte* block = list.pop();
    if (zeroed) std::memset(block, 0, size_bytes);
    return block;
#endif
  }

  void deallocate(std::byte* block, std::size_t size_bytes, bool object = false) noexcept {
#ifdef MMSB_ALLOCATOR_PASSTHROUGH
    (void)size_bytes;
    (void)object;
    system_deallocate(block);
#else
    if (size_bytes > kMaxClassBytes) {
      ::munmap(block, size_bytes);
      return;
    }
    const int index = object ? object_size_class(size_bytes) : size_class(size_bytes);
    if (t_cache_gone) {
      return_to_pool(index, block);
      return;
    }
    FreeList& list = t_cache.lists[index];
    list.push(block);
    if (list.count() > thread_cache_limit(index)) flush(index, list, list.count() / 2);
#endif
  }

  // Moves `n` blocks of `list` to the pool.
  void flush(int index, FreeList& list, std::size_t n) {
    std::lock_guard<std::mutex> lock(pools_[index].mutex);
    list.move_to(pools_[index].free, n);
  }

  // A thread's fresh run goes back as free blocks when the thread exits.
  void return_fresh(int index, FreshRange& fresh) {
    std::lock_guard<std::mutex> lock(pools_[index].mutex);
    while (!fresh.empty()) pools_[index].free.push(fresh.take(class_bytes(index)));
  }

 private:
  // Fills an empty thread cache with up to half its limit: recycled blocks from the pool,
  // or else a run of fresh ones (from a new slab if need be).
  bool refill(int index, FreeList& list, FreshRange& fresh) {
    ClassPool& pool = pools_[index];
    const std::size_t want = std::max<std::size_t>(1, thread_cache_limit(index) / 2);
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (!pool.free.empty()) {
      pool.free.move_to(list, want);
      return true;
    }
    if (pool.fresh.empty() && !carve_slab(index, pool)) return false;
    fresh.next = pool.fresh.next;
    fresh.end = std::min(pool.fresh.end, pool.fresh.next + want * class_bytes(index));
    pool.fresh.next = fresh.end;
    return true;
  }

  std::byte* take_from_pool(int index, std::size_t size_bytes, bool zeroed) {
    ClassPool& pool = pools_[index];
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (!pool.free.empty()) {
      std::byte* block = pool.free.pop();
      if (zeroed) std::memset(block, 0, size_bytes);
      return block;
    }
    if (pool.fresh.empty() && !carve_slab(index, pool)) return nullptr;
    return pool.fresh.take(class_bytes(index));
  }

  void return_to_pool(int index, std::byte* block) {
    std::lock_guard<std::mutex> lock(pools_[index].mutex);
    pools_[index].free.push(block);
  }

  // Called with the pool's mutex held.
  static bool carve_slab(int index, ClassPool& pool) {
    const std::size_t block_bytes = class_bytes(index);
    const std::size_t slab_bytes = std::max(kSlabBytesMin, 8 * block_bytes);
    std::byte* slab = map_zeroed(slab_bytes, true);
    if (slab == nullptr) return false;
    g_system_allocations.fetch_add(1, std::memory_order_relaxed);
    pool.slabs.push_back(slab);
    pool.fresh = FreshRange{slab, slab + slab_bytes / block_bytes * block_bytes};  // whole blocks
    return true;
  }

  ClassPool pools_[kClassCount];
};

Arena& arena() {
  // Never destroyed: pages held by static objects may be freed during exit.
  static auto* instance = new Arena();
  return *instance;
}

ThreadCache::~ThreadCache() {
  for (int index = 0; index < kClassCount; ++index) {
    if (!lists[index].empty()) arena().flush(index, lists[index], lists[index].count());
    if (!fresh[index].empty()) arena().return_fresh(index, fresh[index]);
  }
  t_cache_gone = true;
}

// Per-thread counters: written only by their thread (a plain load and store, no locked
// instruction), summed by stats(). A thread's counts move to `retired` when it exits.
struct ThreadCounters {
  std::atomic<std::uint64_t> allocations{0};
  std::atomic<std::uint64_t> deallocations{0};
};

struct CounterRegistry {
  std::mutex mutex;
  std::vector<ThreadCounters*> live;
  std::uint64_t retired_allocations = 0;
  std::uint64_t retired_deallocations = 0;
};

CounterRegistry& registry() {
  static auto* instance = new CounterRegistry();  // never destroyed, like the arena
  return *instance;
}

struct ThreadCountersOwner {
  ThreadCounters counters;
  ThreadCountersOwner() {
    std::lock_guard<std::mutex> lock(registry().mutex);
    registry().live.push_back(&counters);
  }
  ~ThreadCountersOwner() {
    CounterRegistry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.retired_allocations += counters.allocations.load(std::memory_order_relaxed);
    r.retired_deallocations += counters.deallocations.load(std::memory_order_relaxed);
    r.live.erase(std::find(r.live.begin(), r.live.end(), &counters));
    t_counters_gone = true;
  }
  static thread_local bool t_counters_gone;
};
thread_local bool ThreadCountersOwner::t_counters_gone = false;
thread_local ThreadCountersOwner t_counters;

void bump(std::atomic<std::uint64_t> ThreadCounters::*counter) {
  if (ThreadCountersOwner::t_counters_gone) {
    std::lock_guard<std::mutex> lock(registry().mutex);
    ++(counter == &ThreadCounters::allocations ? registry().retired_allocations
                                               : registry().retired_deallocations);
    return;
  }
  auto& value = t_counters.counters.*counter;
  value.store(value.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

class PayloadArena final : public PayloadAllocator {
 public:
  std::byte* allocate(std::size_t size_bytes) override {
    std::byte* block = arena().allocate(size_bytes, false);
    if (block != nullptr) bump(&ThreadCounters::allocations);
    return block;
  }

  std::byte* allocate_zeroed(std::size_t size_bytes) override {
    std::byte* block = arena().allocate(size_bytes, true);
    if (block != nullptr) bump(&ThreadCounters::allocations);
    return block;
  }

  void deallocate(std::byte* block, std::size_t size_bytes) noexcept override {
    if (block == nullptr) return;
    bump(&ThreadCounters::deallocations);
    arena().deallocate(block, size_bytes);
  }

  AllocatorStats stats() const override {
    CounterRegistry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    AllocatorStats stats{r.retired_allocations, r.retired_deallocations, 0};
    for (const ThreadCounters* counters : r.live) {
      stats.allocations += counters->allocations.load(std::memory_order_relaxed);
      stats.deallocations += counters->deallocations.load(std::memory_order_relaxed);
    }
    stats.system_allocations = g_system_allocations.load(std::memory_order_relaxed);
    return stats;
  }
};

}  // namespace

std::byte* PayloadAllocator::allocate_zeroed(std::size_t size_bytes) {
  std::byte* block = allocate(size_bytes);
  if (block != nullptr) std::memset(block, 0, size_bytes);
  return block;
}

PayloadAllocator& default_payload_allocator() {
  static auto* allocator = new PayloadArena();  // never destroyed, like the arena
  return *allocator;
}

namespace core {

const std::byte* map_zero_region() {
  void* mapped = ::mmap(nullptr, kZeroRegionBytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return mapped == MAP_FAILED ? nullptr : static_cast<const std::byte*>(mapped);
}

std::byte* arena_allocate(std::size_t size_bytes) {
  return arena().allocate(size_bytes, false, true);
}

void arena_deallocate(std::byte* block, std::size_t size_bytes) noexcept {
  arena().deallocate(block, size_bytes, true);
}

std::size_t arena_block_bytes(std::size_t size_bytes) {
  if (size_bytes > kMaxClassBytes) return size_bytes;
  return class_bytes(object_size_class(size_bytes));
}

namespace {

struct AllocatorTable {
  std::mutex mutex;  // taken only to register a new allocator
  std::atomic<std::size_t> count{0};
  std::atomic<PayloadAllocator*> entries[kPayloadAllocatorsMax] = {};
};

AllocatorTable& allocator_table() {
  static auto* table = new AllocatorTable();  // never destroyed, like the arena
  return *table;
}

}  // namespace

std::uint8_t payload_allocator_index(PayloadAllocator* allocator) {
  AllocatorTable& table = allocator_table();
  const std::size_t count = table.count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < count; ++i) {
    if (table.entries[i].load(std::memory_order_relaxed) == allocator) {
      return static_cast<std::uint8_t>(i);
    }
  }
  std::lock_guard<std::mutex> lock(table.mutex);
  const std::size_t registered = table.count.load(std::memory_order_relaxed);
  for (std::size_t i = count; i < registered; ++i) {
    if (table.entries[i].load(std::memory_order_relaxed) == allocator) {
      return static_cast<std::uint8_t>(i);
    }
  }
  MMSB_ASSERT(registered < kPayloadAllocatorsMax);  // 256 distinct PayloadAllocators in use
  table.entries[registered].store(allocator, std::memory_order_relaxed);
  table.count.store(registered + 1, std::memory_order_release);
  return static_cast<std::uint8_t>(registered);
}

PayloadAllocator* payload_allocator_at(std::uint8_t index) {
  AllocatorTable& table = allocator_table();
  MMSB_DEBUG_ASSERT(index < table.count.load(std::memory_order_acquire));
  return table.entries[index].load(std::memory_order_relaxed);
}

std::size_t payload_block_bytes(std::size_t size_bytes) {
  if (size_bytes > kMaxClassBytes) return size_bytes;
  return class_bytes(size_class(size_bytes));
}

}  // namespace core

}  // namespace mmsb

#include "mmsb/allocator.hpp"

#include <atomic>
#include <bit>
#include <new>

#include "mmsb/assert.hpp"

namespace mmsb {
namespace {

constexpr std::size_t kMinClassBytes = 64;
constexpr std::size_t kMaxClassBytes = 256 * 1024;
constexpr int kClassCount = std::countr_zero(kMaxClassBytes) - std::countr_zero(kMinClassBytes) + 1;
// Per thread and class, at most this many bytes of free blocks are kept for reuse.
constexpr std::size_t kCacheBytesPerClass = 1024 * 1024;

int size_class(std::size_t size_bytes) {
  std::size_t rounded = std::bit_ceil(size_bytes < kMinClassBytes ? kMinClassBytes : size_bytes);
  return std::countr_zero(rounded) - std::countr_zero(kMinClassBytes);
}

std::size_t class_bytes(int size_class_index) { return kMinClassBytes << size_class_index; }

std::byte* system_allocate(std::size_t size_bytes) {
  return static_cast<std::byte*>(
      ::operator new(size_bytes, std::align_val_t{kPayloadAlignment}, std::nothrow));
}

void system_deallocate(std::byte* block) {
  ::operator delete(block, std::align_val_t{kPayloadAlignment});
}

struct FreeBlock {
  FreeBlock* next;
};

struct FreeList {
  FreeBlock* head = nullptr;
  std::size_t count = 0;
};

struct ThreadCache;
thread_local bool t_cache_destroyed = false;  // trivially destructible: valid after exit

struct ThreadCache {
  FreeList lists[kClassCount];
  ~ThreadCache() {
    for (FreeList& list : lists) {
      while (list.head != nullptr) {
        FreeBlock* block = list.head;
        list.head = block->next;
        system_deallocate(reinterpret_cast<std::byte*>(block));
      }
    }
    t_cache_destroyed = true;
  }
};

thread_local ThreadCache t_cache;

class SizeClassAllocator final : public PayloadAllocator {
 public:
  std::byte* allocate(std::size_t size_bytes) override {
    MMSB_DEBUG_ASSERT(size_bytes > 0);
    allocations_.fetch_add(1, std::memory_order_relaxed);
    if (size_bytes <= kMaxClassBytes && !t_cache_destroyed) {
      int index = size_class(size_bytes);
      FreeList& list = t_cache.lists[index];
      if (list.head != nullptr) {
        FreeBlock* block = list.head;
        list.head = block->next;
        --list.count;
        return reinterpret_cast<std::byte*>(block);
      }
      size_bytes = class_bytes(index);
    } else if (size_bytes <= kMaxClassBytes) {
      size_bytes = class_bytes(size_class(size_bytes));
    }
    system_allocations_.fetch_add(1, std::memory_order_relaxed);
    std::byte* block = system_allocate(size_bytes);
    if (block == nullptr) allocations_.fetch_sub(1, std::memory_order_relaxed);
    return block;
  }

  void deallocate(std::byte* block, std::size_t size_bytes) noexcept override {
    if (block == nullptr) return;
    deallocations_.fetch_add(1, std::memory_order_relaxed);
    if (size_bytes <= kMaxClassBytes && !t_cache_destroyed) {
      int index = size_class(size_bytes);
      FreeList& list = t_cache.lists[index];
      if (list.count * class_bytes(index) < kCacheBytesPerClass) {
        auto* free_block = reinterpret_cast<FreeBlock*>(block);
        free_block->next = list.head;
        list.head = free_block;
        ++list.count;
        return;
      }
    }
    system_deallocate(block);
  }

  AllocatorStats stats() const override {
    return AllocatorStats{allocations_.load(std::memory_order_relaxed),
                          deallocations_.load(std::memory_order_relaxed),
                          system_allocations_.load(std::memory_order_relaxed)};
  }

 private:
  std::atomic<std::uint64_t> allocations_{0};
  std::atomic<std::uint64_t> deallocations_{0};
  std::atomic<std::uint64_t> system_allocations_{0};
};

}  // namespace

PayloadAllocator& default_payload_allocator() {
  // Never destroyed: pages held by static objects may be freed during exit.
  static auto* allocator = new SizeClassAllocator();
  return *allocator;
}

}  // namespace mmsb

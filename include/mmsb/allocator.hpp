// Page payload storage. Every page's bytes come from a PayloadAllocator: 64-byte aligned
// blocks, so deltas can be compared and applied with wide loads, and so a shared-memory or
// device arena can later replace the default without touching the state module.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmsb {

inline constexpr std::size_t kPayloadAlignment = 64;

struct AllocatorStats {
  std::uint64_t allocations = 0;         // calls to allocate() that returned storage
  std::uint64_t deallocations = 0;       // calls to deallocate()
  std::uint64_t system_allocations = 0;  // blocks or slabs requested from the system
};

// Thread-safety: allocate and deallocate may be called from any thread; a block may be
// freed on a thread other than the one that allocated it.
class PayloadAllocator {
 public:
  virtual ~PayloadAllocator() = default;

  // Returns kPayloadAlignment-aligned storage of at least size_bytes (> 0), or nullptr when
  // the allocator is exhausted. The contents are unspecified.
  virtual std::byte* allocate(std::size_t size_bytes) = 0;
  // As allocate(), with the block zero-filled. The default zeroes what allocate() returns;
  // an allocator that knows a block is already zero (fresh from the kernel) skips that, so
  // creating a zero page touches none of its memory.
  virtual std::byte* allocate_zeroed(std::size_t size_bytes);
  // Returns a block; size_bytes must be the value passed to allocate().
  virtual void deallocate(std::byte* block, std::size_t size_bytes) noexcept = 0;
  virtual AllocatorStats stats() const = 0;
};

// The process-wide default: an arena of power-of-two size classes from 64 B to 256 KiB,
// carved from 1 MiB slabs and recycled through a bounded per-thread cache (no lock) in front
// of a shared pool per class (one mutex per batch). Slabs are kept for the life of the
// process: the arena holds its high-water mark per class, and the steady state of creating
// and dropping pages reaches neither the system allocator nor fresh memory. Slabs are mapped
// from the kernel already faulted in (zero) and carved as they are used: allocate_zeroed()
// takes a block never handed out without writing it, and zeroes a recycled one. Larger
// blocks are mapped on their own (zero, untouched until written) and unmapped when freed.
// Under AddressSanitizer every block goes to the system.
PayloadAllocator& default_payload_allocator();

}  // namespace mmsb

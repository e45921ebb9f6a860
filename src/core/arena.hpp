// The size-class arena behind default_payload_allocator(), also used directly for small
// internal objects (page records) that are created and dropped as often as pages.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmsb {
class PayloadAllocator;
}

namespace mmsb::core {

// Storage for an internal object of at least size_bytes (> 0), or nullptr when the system
// refuses: a 48-byte block (16-byte aligned) up to 48 bytes, else a 64-byte aligned block of
// the payload classes. Blocks up to 256 KiB are recycled by the arena; larger ones come from
// the system.
std::byte* arena_allocate(std::size_t size_bytes);
// size_bytes must be the value given to arena_allocate().
void arena_deallocate(std::byte* block, std::size_t size_bytes) noexcept;
// The bytes a block of arena_allocate(size_bytes) takes (its size class; size_bytes above
// the largest class), for memory accounting; payload_block_bytes: the same for a page's
// bytes (the default PayloadAllocator's classes, 64 bytes and up).
std::size_t arena_block_bytes(std::size_t size_bytes);
std::size_t payload_block_bytes(std::size_t size_bytes);

// The bytes of zero pages nobody has written yet (state::PageRecord): kZeroRegionBytes of
// zeros, mapped read-only once per process, so creating a zero page of up to that size
// takes no payload block and touches no memory, and a stray write through it faults. The
// arena's largest class: larger blocks come from the system untouched (zero) anyway. Null
// if the system refused the mapping: zero pages then take blocks as other pages do.
inline constexpr std::size_t kZeroRegionBytes = 256 << 10;
const std::byte* map_zero_region();
inline const std::byte* zero_region() {
  static const std::byte* const region = map_zero_region();
  return region;
}

// Page records name their PayloadAllocator by a one-byte index into a process-wide table
// (8 bytes of record less): the index of `allocator`, registered on first use, and back.
// At most kPayloadAllocatorsMax distinct allocators per process (an assertion past that);
// registered ones are never removed (an allocator outlives every page it made).
inline constexpr std::size_t kPayloadAllocatorsMax = 256;
std::uint8_t payload_allocator_index(PayloadAllocator* allocator);
PayloadAllocator* payload_allocator_at(std::uint8_t index);

}  // namespace mmsb::core

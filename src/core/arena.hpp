// The size-class arena behind default_payload_allocator(), also used directly for small
// internal objects (page records) that are created and dropped as often as pages.
#pragma once

#include <cstddef>

namespace mmsb::core {

// 64-byte aligned storage of at least size_bytes (> 0), or nullptr when the system refuses.
// Blocks up to 256 KiB are recycled by the arena; larger ones come from the system.
std::byte* arena_allocate(std::size_t size_bytes);
// size_bytes must be the value given to arena_allocate().
void arena_deallocate(std::byte* block, std::size_t size_bytes) noexcept;
// The bytes a block of size_bytes takes (its size class; size_bytes above the largest class),
// for memory accounting.
std::size_t arena_block_bytes(std::size_t size_bytes);

}  // namespace mmsb::core

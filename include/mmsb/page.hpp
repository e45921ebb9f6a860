// Page: the unit of state. A fixed-size byte array with an id, a type tag, an epoch (content
// version) and a location. Pages live inside a State; this header has the value types used
// to create and to read them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mmsb/ids.hpp"

namespace mmsb {

// Where a page's bytes live. Only kHost exists until the device module lands.
enum class Location : std::uint8_t { kHost = 0 };

// Default upper limit on a page's size; a State may lower or raise it up to
// kPageSizeHardMaxBytes (StateOptions::page_size_max_bytes).
inline constexpr std::uint64_t kPageSizeMaxDefaultBytes = 64ull << 20;  // 64 MiB
// Offsets in the delta encoding are u32, so no page may exceed this.
inline constexpr std::uint64_t kPageSizeHardMaxBytes = 1ull << 30;  // 1 GiB

// What a new page is made of. `initial` is copied in: it must be empty (the page starts
// zero-filled) or exactly size_bytes long.
struct PageSpec {
  PageType type = 0;
  std::uint64_t size_bytes = 0;
  std::span<const std::byte> initial = {};
};

// A read-only view of one page of a State. `bytes` points into the State's storage without
// copying and stays valid as long as the State (or any copy of it) is alive. A view taken
// from a Fork is valid until the next write to that page in the Fork.
struct PageView {
  PageId id;
  PageType type = 0;
  std::uint64_t size_bytes = 0;
  Epoch epoch;
  Location location = Location::kHost;
  std::span<const std::byte> bytes;
};

}  // namespace mmsb

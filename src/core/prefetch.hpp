// Software prefetch that survives optimization.
#pragma once

#include <cstddef>

namespace mmsb::core {

// The line size prefetch() loads (the x86-64 and AArch64 processors this runs on).
inline constexpr std::size_t kCacheLine = 64;

// Starts loading the cache line at `address` (a hint: never faults). GCC counts
// __builtin_prefetch as free of side effects, so a loop that only prefetches makes its
// function pure and the call to it is dropped; the empty volatile statement keeps it.
inline void prefetch(const void* address) {
  __builtin_prefetch(address);
  asm volatile("" : : "r"(address));
}

}  // namespace mmsb::core

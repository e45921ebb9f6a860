// The benchmarks' pseudo-random choices (xorshift64): seeded, so every run and every build
// chooses the same pages, and cheap enough not to show in what is timed.
#pragma once

#include <cstdint>

namespace mmsb::bench {

inline std::uint64_t next_random(std::uint64_t& seed) {
  seed ^= seed << 13;
  seed ^= seed >> 7;
  seed ^= seed << 17;
  return seed;
}

}  // namespace mmsb::bench

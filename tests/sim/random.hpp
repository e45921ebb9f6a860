// The simulator's one source of randomness: SplitMix64 from the run's seed, with its own
// range reduction, so a seed means the same run with any standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mmsb::sim {

class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) (bound > 0; the bias of a 64-bit modulo is negligible here).
  std::uint64_t below(std::uint64_t bound) { return next() % bound; }
  // Uniform in [low, high].
  std::uint64_t between(std::uint64_t low, std::uint64_t high) {
    return low + below(high - low + 1);
  }
  // True with probability percent / 100.
  bool chance(unsigned percent) { return below(100) < percent; }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[static_cast<std::size_t>(below(items.size()))];
  }
  std::vector<std::byte> bytes(std::size_t count) {
    std::vector<std::byte> out(count);
    for (std::byte& b : out) b = std::byte(static_cast<std::uint8_t>(next()));
    return out;
  }

 private:
  std::uint64_t state_;
};

}  // namespace mmsb::sim

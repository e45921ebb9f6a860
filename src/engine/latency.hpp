// A fixed-size latency histogram: 8 sub-buckets per power of two (within 12.5%), no
// allocation after construction. Not thread-safe; the engine guards it.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace mmsb::engine {

class LatencyHistogram {
 public:
  void record(std::uint64_t ns) {
    ++counts_[bucket(ns)];
    ++total_;
  }

  // The smallest recorded bucket bound below which `fraction` of the samples fall.
  std::uint64_t percentile(double fraction) const {
    if (total_ == 0) return 0;
    auto wanted = static_cast<std::uint64_t>(fraction * static_cast<double>(total_));
    if (wanted >= total_) wanted = total_ - 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > wanted) return upper_bound(i);
    }
    return upper_bound(counts_.size() - 1);
  }

 private:
  static constexpr int kSubBits = 3;
  static std::size_t bucket(std::uint64_t ns) {
    if (ns < (1u << kSubBits)) return ns;
    int top = 63 - std::countl_zero(ns);
    std::uint64_t sub = (ns >> (top - kSubBits)) & ((1u << kSubBits) - 1);
    return static_cast<std::size_t>((top - kSubBits + 1) << kSubBits) + sub;
  }
  static std::uint64_t upper_bound(std::size_t index) {
    if (index < (1u << kSubBits)) return index;
    int top = static_cast<int>(index >> kSubBits) + kSubBits - 1;
    std::uint64_t sub = index & ((1u << kSubBits) - 1);
    return ((std::uint64_t{1} << kSubBits) + sub + 1) << (top - kSubBits);
  }

  std::array<std::uint64_t, 64 << kSubBits> counts_{};
  std::uint64_t total_ = 0;
};

}  // namespace mmsb::engine

// The diff block scan compiled for AVX2 (this file is built with -mavx2; diff.cpp calls it
// only when the CPU has AVX2).
#if defined(__x86_64__)
#include <immintrin.h>

#include "state/diff_internal.hpp"
#include "state/diff_scan.hpp"

namespace mmsb::state {

namespace {

// A type, not a function pointer, so the scan inlines it.
struct DiffMaskAvx2 {
  std::uint64_t operator()(const std::byte* x, const std::byte* y) const {
    __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
    __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y));
    __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32));
    __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y + 32));
    auto low = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x0, y0)));
    auto high = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x1, y1)));
    return ~(std::uint64_t{low} | (std::uint64_t{high} << 32));
  }
};

}  // namespace

void changed_runs_avx2(const std::byte* a, const std::byte* b, std::uint64_t size,
                       std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out,
                       std::vector<std::byte>* bytes) {
  scan_changes(a, b, size, merge_gap_bytes, out, bytes, DiffMaskAvx2{});
}

}  // namespace mmsb::state
#endif  // __x86_64__

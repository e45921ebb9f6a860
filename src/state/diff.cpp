// diff(): finds the changed runs between two equal-size byte arrays.
//
// The arrays are compared 64 bytes at a time into a 64-bit mask of differing bytes (SSE2,
// or AVX2 when the CPU has it). Blocks without differences cost one branch. Run boundaries
// are the set bits of mask ^ (mask << 1 | carry), found with count-trailing-zeros, so there
// is no branch per byte.
#include <cstring>

#include "mmsb/delta.hpp"
#include "mmsb/page.hpp"
#include "state/diff_internal.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace mmsb {
namespace {

constexpr std::size_t kBlockBytes = 64;

using MaskFn = std::uint64_t (*)(const std::byte*, const std::byte*);

[[maybe_unused]] std::uint64_t diff_mask_scalar(const std::byte* a, const std::byte* b) {
  std::uint64_t mask = 0;
  for (std::size_t i = 0; i < kBlockBytes; ++i) {
    mask |= static_cast<std::uint64_t>(a[i] != b[i]) << i;
  }
  return mask;
}

#if defined(__x86_64__)
std::uint64_t diff_mask_sse2(const std::byte* a, const std::byte* b) {
  std::uint64_t equal = 0;
  for (int i = 0; i < 4; ++i) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 16 * i));
    __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 16 * i));
    auto bits = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, y)));
    equal |= std::uint64_t{bits} << (16 * i);
  }
  return ~equal;
}

__attribute__((target("avx2"))) std::uint64_t diff_mask_avx2(const std::byte* a,
                                                              const std::byte* b) {
  __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 32));
  __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32));
  auto low = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(a0, b0)));
  auto high = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(a1, b1)));
  return ~(std::uint64_t{low} | (std::uint64_t{high} << 32));
}
#endif

MaskFn choose_mask_fn() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return diff_mask_avx2;
  return diff_mask_sse2;
#else
  return diff_mask_scalar;
#endif
}

const MaskFn kDiffMask = choose_mask_fn();

// Collects runs, merging across small gaps.
class RunBuilder {
 public:
  RunBuilder(std::vector<DeltaRun>& runs, std::uint32_t merge_gap_bytes)
      : runs_(runs), merge_gap_bytes_(merge_gap_bytes) {}

  void add(std::uint64_t begin, std::uint64_t end) {
    if (!runs_.empty() && begin - runs_.back().end() <= merge_gap_bytes_) {
      runs_.back().length = static_cast<std::uint32_t>(end - runs_.back().offset);
    } else {
      runs_.push_back(DeltaRun{static_cast<std::uint32_t>(begin),
                               static_cast<std::uint32_t>(end - begin)});
    }
  }

 private:
  std::vector<DeltaRun>& runs_;
  std::uint32_t merge_gap_bytes_;
};

// Feeds one block's mask; `open` and `run_begin` carry a run across blocks.
inline void scan_mask(std::uint64_t mask, std::uint64_t base, bool& open, std::uint64_t& run_begin,
                      RunBuilder& builder) {
  std::uint64_t transitions = mask ^ ((mask << 1) | (open ? 1u : 0u));
  while (transitions != 0) {
    std::uint64_t at = base + static_cast<std::uint64_t>(__builtin_ctzll(transitions));
    if (open) {
      builder.add(run_begin, at);
    } else {
      run_begin = at;
    }
    open = !open;
    transitions &= transitions - 1;
  }
}

}  // namespace

namespace state {

void changed_runs(std::span<const std::byte> old_bytes, std::span<const std::byte> new_bytes,
                  std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out) {
  MMSB_ASSERT(old_bytes.size() == new_bytes.size());
  out.clear();
  RunBuilder builder(out, merge_gap_bytes);
  const std::byte* a = old_bytes.data();
  const std::byte* b = new_bytes.data();
  const std::uint64_t size = new_bytes.size();
  const std::uint64_t whole_blocks_end = size - size % kBlockBytes;
  bool open = false;
  std::uint64_t run_begin = 0;
  for (std::uint64_t at = 0; at < whole_blocks_end; at += kBlockBytes) {
    std::uint64_t mask = kDiffMask(a + at, b + at);
    if (mask == (open ? ~std::uint64_t{0} : 0)) continue;
    scan_mask(mask, at, open, run_begin, builder);
  }
  if (whole_blocks_end < size) {
    std::byte tail_a[kBlockBytes] = {};
    std::byte tail_b[kBlockBytes] = {};
    std::memcpy(tail_a, a + whole_blocks_end, size - whole_blocks_end);
    std::memcpy(tail_b, b + whole_blocks_end, size - whole_blocks_end);
    scan_mask(kDiffMask(tail_a, tail_b), whole_blocks_end, open, run_begin, builder);
  }
  if (open) builder.add(run_begin, size);
}

}  // namespace state

Status diff_into(PageId page, Epoch base_epoch, std::span<const std::byte> old_bytes,
                 std::span<const std::byte> new_bytes, Delta& out) {
  if (old_bytes.size() != new_bytes.size()) {
    return invalid_argument("page " + std::to_string(page.value()) + ": diff of " +
                            std::to_string(old_bytes.size()) + " against " +
                            std::to_string(new_bytes.size()) + " bytes; a page's size is fixed");
  }
  if (new_bytes.size() > kPageSizeHardMaxBytes) {
    return invalid_argument("page " + std::to_string(page.value()) + ": diff of " +
                            std::to_string(new_bytes.size()) + " bytes exceeds the page size limit");
  }
  out.clear();
  out.page_ = page;
  out.base_epoch_ = base_epoch;
  state::changed_runs(old_bytes, new_bytes, kDeltaMergeGapBytes, out.runs_);
  const std::byte* b = new_bytes.data();
  const std::uint64_t size = new_bytes.size();
  std::uint64_t covered = 0;
  for (const DeltaRun& run : out.runs_) covered += run.length;
  if (covered + sizeof(DeltaRun) * out.runs_.size() >= size && size > 0) {
    out.encoding_ = DeltaEncoding::kDense;
    out.runs_.clear();
    out.bytes_.assign(b, b + size);
    return Status::ok();
  }
  out.bytes_.resize(covered);
  std::byte* write = out.bytes_.data();
  for (const DeltaRun& run : out.runs_) {
    std::memcpy(write, b + run.offset, run.length);
    write += run.length;
  }
  return Status::ok();
}

Result<Delta> diff(PageId page, Epoch base_epoch, std::span<const std::byte> old_bytes,
                   std::span<const std::byte> new_bytes) {
  Delta out;
  MMSB_RETURN_IF_ERROR(diff_into(page, base_epoch, old_bytes, new_bytes, out));
  return out;
}

}  // namespace mmsb

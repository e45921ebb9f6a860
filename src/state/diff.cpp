// diff(): the runs between two equal-size byte arrays (the scan is in diff_scan.hpp),
// chosen at start-up between the AVX2 build of the scan and the baseline one.
#include <cstring>

#include "mmsb/delta.hpp"
#include "mmsb/page.hpp"
#include "state/diff_internal.hpp"
#include "state/diff_scan.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace mmsb {
namespace state {
namespace {

std::uint64_t diff_mask_portable(const std::byte* a, const std::byte* b) {
#if defined(__x86_64__)
  std::uint64_t equal = 0;
  for (int i = 0; i < 4; ++i) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 16 * i));
    __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 16 * i));
    auto bits = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, y)));
    equal |= std::uint64_t{bits} << (16 * i);
  }
  return ~equal;
#else
  std::uint64_t mask = 0;
  for (std::size_t i = 0; i < kScanBlockBytes; ++i) {
    mask |= static_cast<std::uint64_t>(a[i] != b[i]) << i;
  }
  return mask;
#endif
}

bool cpu_has_avx2() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi");
#else
  return false;
#endif
}

const bool kUseAvx2 = cpu_has_avx2();

}  // namespace

void changed_runs_baseline(const std::byte* a, const std::byte* b, std::uint64_t size,
                           std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out,
                           std::vector<std::byte>* bytes) {
  // A lambda, not the function's pointer, so the scan inlines it.
  auto mask = [](const std::byte* x, const std::byte* y) { return diff_mask_portable(x, y); };
  scan_changes(a, b, size, merge_gap_bytes, out, bytes, mask);
}

bool diff_uses_avx2() { return kUseAvx2; }

void changed_runs(std::span<const std::byte> old_bytes, std::span<const std::byte> new_bytes,
                  std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out,
                  std::vector<std::byte>* bytes) {
  MMSB_ASSERT(old_bytes.size() == new_bytes.size());
  const std::byte* a = old_bytes.data();
  const std::byte* b = new_bytes.data();
  const std::uint64_t size = new_bytes.size();
#if defined(__x86_64__)
  if (kUseAvx2) {
    changed_runs_avx2(a, b, size, merge_gap_bytes, out, bytes);
    return;
  }
#endif
  changed_runs_baseline(a, b, size, merge_gap_bytes, out, bytes);
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
                            std::to_string(new_bytes.size()) +
                            " bytes exceeds the page size limit");
  }
  out.clear();
  out.page_ = page;
  out.base_epoch_ = base_epoch;
  // The runs' bytes are copied in the scan's own pass.
  state::changed_runs(old_bytes, new_bytes, kDeltaMergeGapBytes, out.runs_, &out.bytes_);
  const std::uint64_t size = new_bytes.size();
  if (out.bytes_.size() + sizeof(DeltaRun) * out.runs_.size() >= size && size > 0) {
    // The runs would not be smaller than the page: dense. A page that changed entirely is
    // one run whose bytes are the page's already.
    out.encoding_ = DeltaEncoding::kDense;
    const bool whole = out.runs_.size() == 1 && out.runs_[0].length == size;
    out.runs_.clear();
    if (!whole) out.bytes_.assign(new_bytes.begin(), new_bytes.end());
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

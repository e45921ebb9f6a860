// The block scan behind diff(): finds the runs of differing bytes between two arrays.
//
// Included by diff.cpp (baseline x86-64 / portable) and diff_avx2.cpp (compiled with -mavx2),
// each with its own mask function, so the whole loop is compiled for each instruction set
// with the mask inlined. Everything here has internal linkage, so the two copies never mix.
//
// Blocks of 64 bytes become a 64-bit mask of differing bytes. A block with no change inside
// a gap, or no equality inside a run, costs one branch. Run boundaries are the set bits of
// mask ^ (mask << 1 | carry), found with count-trailing-zeros: no branch per byte.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "mmsb/delta.hpp"

namespace mmsb::state {
namespace {  // NOLINT(google-build-namespaces): one copy per instruction set, by design

constexpr std::uint64_t kScanBlockBytes = 64;

template <typename MaskFn>
inline void scan_runs(const std::byte* a, const std::byte* b, std::uint64_t size,
                      std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out, MaskFn mask_of) {
  out.clear();
  bool open = false;
  std::uint64_t run_begin = 0;
  auto add = [&](std::uint64_t begin, std::uint64_t end) {
    if (!out.empty() && begin - out.back().end() <= merge_gap_bytes) {
      out.back().length = static_cast<std::uint32_t>(end - out.back().offset);
    } else {
      out.push_back(DeltaRun{static_cast<std::uint32_t>(begin),
                             static_cast<std::uint32_t>(end - begin)});
    }
  };
  auto scan_mask = [&](std::uint64_t mask, std::uint64_t base) {
    std::uint64_t transitions = mask ^ ((mask << 1) | (open ? 1u : 0u));
    while (transitions != 0) {
      std::uint64_t at = base + static_cast<std::uint64_t>(__builtin_ctzll(transitions));
      if (open) {
        add(run_begin, at);
      } else {
        run_begin = at;
      }
      open = !open;
      transitions &= transitions - 1;
    }
  };
  const std::uint64_t whole_blocks_end = size - size % kScanBlockBytes;
  for (std::uint64_t at = 0; at < whole_blocks_end; at += kScanBlockBytes) {
    std::uint64_t mask = mask_of(a + at, b + at);
    if (mask == (open ? ~std::uint64_t{0} : 0)) continue;
    scan_mask(mask, at);
  }
  if (whole_blocks_end < size) {
    std::byte tail_a[kScanBlockBytes] = {};
    std::byte tail_b[kScanBlockBytes] = {};
    std::memcpy(tail_a, a + whole_blocks_end, size - whole_blocks_end);
    std::memcpy(tail_b, b + whole_blocks_end, size - whole_blocks_end);
    scan_mask(mask_of(tail_a, tail_b), whole_blocks_end);
  }
  if (open) add(run_begin, size);
}

}  // namespace
}  // namespace mmsb::state

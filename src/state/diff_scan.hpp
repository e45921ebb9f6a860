// The block scan behind diff(): finds the runs of differing bytes between two arrays.
//
// Included by diff.cpp (baseline x86-64 / portable) and diff_avx2.cpp (compiled with
// -mavx2 -mbmi), each with its own mask function, so the whole loop is compiled for each
// instruction set with the mask inlined. Everything here has internal linkage, so the two
// copies never mix.
//
// Each 64-byte block becomes a 64-bit mask of differing bytes. Run boundaries are the set
// bits of mask ^ (mask << 1 | carry); they alternate start, end, start, ... across the whole
// array. They are written out with count-trailing-zeros in a loop whose trip count is almost
// always the same (so it predicts well), and groups of four blocks that are all unchanged
// (or all changed inside one run) are skipped with one branch. No branch depends on a
// single byte.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mmsb/delta.hpp"

namespace mmsb::state {
namespace {  // NOLINT(google-build-namespaces): one copy per instruction set, by design

constexpr std::uint64_t kScanBlockBytes = 64;
constexpr std::uint64_t kScanGroupBlocks = 4;
constexpr std::uint64_t kScanChunkBytes = 4096;  // boundaries are paired once per chunk

// Appends the positions of the set bits of `bits` (plus `base`) to `out`; returns the new end.
// Writes up to 8 entries past the end unconditionally: `out` needs that much slack.
inline std::uint32_t* write_boundaries(std::uint32_t* out, std::uint64_t bits, std::uint32_t base) {
  const int count = std::popcount(bits);
  for (int i = 0; i < 4; ++i) {
    out[i] = base + static_cast<std::uint32_t>(std::countr_zero(bits));
    bits &= bits - 1;
  }
  if (count > 4) [[unlikely]] {
    for (int i = 4; i < count; ++i) {
      out[i] = base + static_cast<std::uint32_t>(std::countr_zero(bits));
      bits &= bits - 1;
    }
  }
  return out + count;
}

class RunSink {
 public:
  RunSink(std::vector<DeltaRun>& out, std::uint32_t merge_gap_bytes)
      : out_(out), merge_gap_bytes_(merge_gap_bytes) {}

  void add(std::uint32_t begin, std::uint32_t end) {
    if (!out_.empty() && begin - out_.back().end() <= merge_gap_bytes_) {
      out_.back().length = end - out_.back().offset;
    } else {
      out_.push_back(DeltaRun{begin, end - begin});
    }
  }

  // Pairs boundaries into runs; `open`/`run_begin` carry a run across calls.
  void pair(const std::uint32_t* boundaries, const std::uint32_t* end) {
    const std::uint32_t* at = boundaries;
    if (open_ && at != end) {
      add(run_begin_, *at++);
      open_ = false;
    }
    for (; end - at >= 2; at += 2) add(at[0], at[1]);
    if (at != end) {
      run_begin_ = *at;
      open_ = true;
    }
  }

  bool open() const { return open_; }
  void open_at(std::uint32_t begin) {
    open_ = true;
    run_begin_ = begin;
  }
  void finish(std::uint32_t size) {
    if (open_) add(run_begin_, size);
    open_ = false;
  }

 private:
  std::vector<DeltaRun>& out_;
  std::uint32_t merge_gap_bytes_;
  bool open_ = false;
  std::uint32_t run_begin_ = 0;
};

// The longest prefix of whole groups in which every byte differs (a multiple of the group
// size), appended to `out` from `b` a chunk at a time while the chunk is still in the
// first-level cache: a dense change is copied in the scan's pass over the page, not in a
// second one.
template <typename MaskFn>
inline std::uint64_t copy_dense_prefix(const std::byte* a, const std::byte* b, std::uint64_t size,
                                       std::vector<std::byte>& out, MaskFn mask_of) {
  constexpr std::uint64_t kGroupBytes = kScanBlockBytes * kScanGroupBlocks;
  const std::uint64_t whole_groups_end = size - size % kGroupBytes;
  std::uint64_t at = 0;
  while (at < whole_groups_end) {
    const std::uint64_t chunk_end = std::min(whole_groups_end, at + kScanChunkBytes);
    std::uint64_t end = at;
    while (end < chunk_end && mask_of(a + end, b + end) == ~std::uint64_t{0}) {
      end += kScanBlockBytes;
    }
    end -= (end - at) % kGroupBytes;
    out.insert(out.end(), b + at, b + end);
    if (end < chunk_end) return end;
    at = end;
  }
  return at;
}

// The runs where a and b differ. `start` (a multiple of the group size) is where a dense
// prefix found by copy_dense_prefix ends: the scan begins there with a run open from 0.
template <typename MaskFn>
inline void scan_runs(const std::byte* a, const std::byte* b, std::uint64_t size,
                      std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out, MaskFn mask_of,
                      std::uint64_t start = 0) {
  out.clear();
  RunSink sink(out, merge_gap_bytes);
  if (start > 0) sink.open_at(0);
  // A 4 KiB chunk has at most 4096 boundaries; 8 more for write_boundaries' slack.
  std::uint32_t boundaries[kScanChunkBytes + 8];
  std::uint64_t carry = start > 0 ? 1 : 0;  // 1 if the byte before the current block differs
  const std::uint64_t whole_groups_end = size - size % (kScanBlockBytes * kScanGroupBlocks);
  std::uint64_t at = start;
  while (at < whole_groups_end) {
    const std::uint64_t chunk_end = std::min(whole_groups_end, at + kScanChunkBytes);
    std::uint32_t* write = boundaries;
    for (; at < chunk_end; at += kScanBlockBytes * kScanGroupBlocks) {
      std::uint64_t masks[kScanGroupBlocks];
      std::uint64_t any = 0;
      std::uint64_t all = ~std::uint64_t{0};
      for (std::uint64_t i = 0; i < kScanGroupBlocks; ++i) {
        masks[i] = mask_of(a + at + i * kScanBlockBytes, b + at + i * kScanBlockBytes);
        any |= masks[i];
        all &= masks[i];
      }
      if ((carry == 0 && any == 0) || (carry == 1 && all == ~std::uint64_t{0})) continue;
      for (std::uint64_t i = 0; i < kScanGroupBlocks; ++i) {
        const std::uint64_t transitions = masks[i] ^ ((masks[i] << 1) | carry);
        write = write_boundaries(write, transitions,
                                 static_cast<std::uint32_t>(at + i * kScanBlockBytes));
        carry = masks[i] >> 63;
      }
    }
    sink.pair(boundaries, write);
  }
  // The tail: fewer than 256 bytes, compared through zero-padded copies.
  for (; at < size; at += kScanBlockBytes) {
    std::byte tail_a[kScanBlockBytes] = {};
    std::byte tail_b[kScanBlockBytes] = {};
    const std::uint64_t length = std::min(kScanBlockBytes, size - at);
    std::memcpy(tail_a, a + at, length);
    std::memcpy(tail_b, b + at, length);
    const std::uint64_t mask = mask_of(tail_a, tail_b);
    const std::uint64_t transitions = mask ^ ((mask << 1) | carry);
    std::uint32_t* write =
        write_boundaries(boundaries, transitions, static_cast<std::uint32_t>(at));
    sink.pair(boundaries, write);
    carry = mask >> 63;
  }
  sink.finish(static_cast<std::uint32_t>(size));
}

// changed_runs() for one instruction set: with `dense_prefix`, the leading groups that differ
// entirely are copied there first and the scan goes on from where they end.
template <typename MaskFn>
inline void scan_changes(const std::byte* a, const std::byte* b, std::uint64_t size,
                         std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out,
                         std::vector<std::byte>* dense_prefix, MaskFn mask_of) {
  const std::uint64_t start =
      dense_prefix != nullptr ? copy_dense_prefix(a, b, size, *dense_prefix, mask_of) : 0;
  scan_runs(a, b, size, merge_gap_bytes, out, mask_of, start);
}

}  // namespace
}  // namespace mmsb::state

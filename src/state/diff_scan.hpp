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

// Turns boundaries into runs, merging runs whose gap is at most merge_gap_bytes, and, with
// `bytes`, appends each run's new bytes (from `source`) as soon as they are certain: at the
// end of each chunk the scan hands over, while the chunk is still in the first-level cache
// (the current run only grows forward, and a merge adds its gap to bytes still to come).
// `bytes` is grown with slack, so most runs are copied with one 16-byte move; finish()
// trims it.
class RunSink {
 public:
  RunSink(std::vector<DeltaRun>& out, std::uint32_t merge_gap_bytes, const std::byte* source,
          std::uint64_t size, std::vector<std::byte>* bytes)
      : out_(out), merge_gap_bytes_(merge_gap_bytes), source_(source), size_(size), bytes_(bytes) {
    if (bytes_ != nullptr) written_ = bytes_->size();
  }

  // Boundaries of one chunk, alternating start and end (a run may start in an earlier chunk
  // and end in a later one).
  void pair(const std::uint32_t* boundaries, const std::uint32_t* end) {
    const std::uint32_t* at = boundaries;
    if (open_ && at != end) close(*at++);
    for (; end - at >= 2; at += 2) {
      start(at[0]);
      close(at[1]);
    }
    if (at != end) start(*at);
  }

  // The current run's bytes up to `until` (the end of the chunk scanned) are certain.
  void copy_until(std::uint64_t until) {
    if (bytes_ == nullptr || !has_current_) return;
    const std::uint64_t to = open_ ? until : current_.end();
    copy(copied_, to);
    copied_ = to;
  }

  // A run open from 0 whose first `copied` bytes are in `bytes` already (a dense prefix).
  void open_at_zero(std::uint64_t copied) {
    has_current_ = true;
    open_ = true;
    current_ = DeltaRun{0, 0};
    copied_ = copied;
  }

  void finish() {
    if (open_) close(static_cast<std::uint32_t>(size_));
    if (has_current_) emit();
    if (bytes_ != nullptr) bytes_->resize(written_);
  }

 private:
  void start(std::uint32_t begin) {
    open_ = true;
    if (has_current_ && begin - current_.end() <= merge_gap_bytes_) return;  // joins it
    if (has_current_) emit();
    has_current_ = true;
    current_ = DeltaRun{begin, 0};
    copied_ = begin;
  }
  void close(std::uint32_t end) {
    current_.length = end - current_.offset;
    open_ = false;
  }
  void emit() {
    if (bytes_ != nullptr) copy(copied_, current_.end());
    out_.push_back(current_);
  }

  void copy(std::uint64_t from, std::uint64_t to) {
    if (from >= to) return;
    const std::uint64_t length = to - from;
    if (bytes_->size() < written_ + length + 16) {
      bytes_->resize(std::max<std::size_t>(written_ + length + 16, 2 * bytes_->size()));
    }
    std::byte* at = bytes_->data() + written_;
    if (length <= 16 && from + 16 <= size_) {
      std::memcpy(at, source_ + from, 16);
    } else {
      std::memcpy(at, source_ + from, length);
    }
    written_ += length;
  }

  std::vector<DeltaRun>& out_;
  std::uint32_t merge_gap_bytes_;
  const std::byte* source_;
  std::uint64_t size_;
  std::vector<std::byte>* bytes_;
  std::size_t written_ = 0;
  bool has_current_ = false;  // the last run started, which the next may still join
  bool open_ = false;         // it has not ended yet
  DeltaRun current_;
  std::uint64_t copied_ = 0;  // its bytes are in `bytes` up to here
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

// The runs where a and b differ (and with `bytes`, their new bytes: see RunSink). `start`
// (a multiple of the group size) is where a dense prefix found by copy_dense_prefix ends:
// the scan begins there with a run open from 0 whose bytes are copied up to `start`.
template <typename MaskFn>
inline void scan_runs(const std::byte* a, const std::byte* b, std::uint64_t size,
                      std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out,
                      std::vector<std::byte>* bytes, MaskFn mask_of, std::uint64_t start = 0) {
  out.clear();
  RunSink sink(out, merge_gap_bytes, b, size, bytes);
  if (start > 0) sink.open_at_zero(start);
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
    sink.copy_until(chunk_end);
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
  sink.finish();
}

// changed_runs() for one instruction set: with `bytes`, the leading groups that differ
// entirely are copied there first (a chunk at a time, while hot), the scan goes on from
// where they end, and every run's new bytes follow in the scan's own pass.
template <typename MaskFn>
inline void scan_changes(const std::byte* a, const std::byte* b, std::uint64_t size,
                         std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out,
                         std::vector<std::byte>* bytes, MaskFn mask_of) {
  const std::uint64_t start = bytes != nullptr ? copy_dense_prefix(a, b, size, *bytes, mask_of) : 0;
  scan_runs(a, b, size, merge_gap_bytes, out, bytes, mask_of, start);
}

}  // namespace
}  // namespace mmsb::state

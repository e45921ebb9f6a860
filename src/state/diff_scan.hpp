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
// `bytes`, appends each run's new bytes (from `source`) as soon as they are certain: with
// each chunk's boundaries, while the chunk the scan just read is still in the first-level
// cache (a merge copies its gap with the piece that joins). The loop over a chunk's pairs
// has no branch that depends on the data: a pair that joins the run before it and one that
// starts a run take the same path (the run's slot advances by 0 or 1, and the run is stored
// again each time it grows). `runs` and `bytes` are grown with slack before each chunk, so
// every store lands in place and most pieces are copied with one 16-byte move; finish()
// trims both.
class RunSink {
 public:
  RunSink(std::vector<DeltaRun>& out, std::uint32_t merge_gap_bytes, const std::byte* source,
          std::uint64_t size, std::vector<std::byte>* bytes)
      : out_(out),
        merge_gap_bytes_(merge_gap_bytes),
        source_(source),
        size_(size),
        bytes_(bytes),
        end_(-static_cast<std::int64_t>(merge_gap_bytes) - 1) {  // no first run joins it
    out_.clear();
    if (bytes_ != nullptr) written_ = bytes_->size();
  }

  // A run open from 0 whose first `copied` bytes are in `bytes` already (a dense prefix).
  void open_at_zero(std::uint64_t copied) {
    reserve_runs(1);
    slot_ = 0;
    offset_ = 0;
    open_ = true;
    copied_ = copied;
  }

  // The boundaries of the bytes before `until`, alternating start and end (a run may start
  // in an earlier call and end in a later one).
  void pair(const std::uint32_t* at, const std::uint32_t* end, std::uint64_t until) {
    if (open_) {
      if (at == end) return copy_open(until);
      close(*at++);
    }
    if (at == end) return;
    reserve_runs(static_cast<std::size_t>(end - at) / 2 + 1);
    reserve_bytes(until - at[0] + static_cast<std::uint64_t>(merge_gap_bytes_));
    // Locals, not members, in the loop: the bytes' stores may alias anything, and would
    // make every member be read again after each.
    DeltaRun* runs = out_.data();
    std::byte* bytes = bytes_ != nullptr ? bytes_->data() : nullptr;
    const std::byte* source = source_;
    const std::uint64_t size = size_;
    const std::int64_t gap = merge_gap_bytes_;
    std::size_t written = written_;
    std::int64_t slot = slot_;
    std::int64_t offset = offset_;
    std::int64_t run_end = end_;
    for (; end - at >= 2; at += 2) {
      const auto begin = static_cast<std::int64_t>(at[0]);
      const auto finish = static_cast<std::int64_t>(at[1]);
      // Masks, not conditions (which the compiler turns into a branch that mispredicts
      // wherever runs lie close): `keep` is all ones if the pair joins the run before it.
      const std::int64_t starts = begin - run_end > gap ? 1 : 0;
      const std::int64_t keep = starts - 1;
      const std::int64_t from = begin + ((run_end - begin) & keep);
      offset = begin + ((offset - begin) & keep);
      slot += starts;
      run_end = finish;
      runs[slot] =
          DeltaRun{static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(finish - offset)};
      if (bytes != nullptr) {
        written += copy_piece(bytes + written, source, size, static_cast<std::uint64_t>(from),
                              static_cast<std::uint64_t>(finish));
      }
    }
    written_ = written;
    slot_ = slot;
    offset_ = offset;
    end_ = run_end;
    if (at != end) {  // a run starts and is still open at `until`
      start(*at);
      copy_open(until);
    }
  }

  void finish() {
    if (open_) close(static_cast<std::uint32_t>(size_));
    out_.resize(static_cast<std::size_t>(slot_ + 1));
    if (bytes_ != nullptr) bytes_->resize(written_);
  }

 private:
  void start(std::uint32_t begin) {
    const bool joins = begin - end_ <= merge_gap_bytes_;
    copied_ = static_cast<std::uint64_t>(joins ? end_ : begin);
    if (!joins) {
      ++slot_;
      offset_ = begin;
    }
    open_ = true;
  }
  void close(std::uint32_t end) {
    copy_open(end);
    end_ = end;
    out_[static_cast<std::size_t>(slot_)] =
        DeltaRun{static_cast<std::uint32_t>(offset_), static_cast<std::uint32_t>(end - offset_)};
    open_ = false;
  }
  // The open run's bytes up to `until`.
  void copy_open(std::uint64_t until) {
    if (bytes_ == nullptr || until <= copied_) return;
    reserve_bytes(until - copied_);
    written_ += copy_piece(bytes_->data() + written_, source_, size_, copied_, until);
    copied_ = until;
  }

  void reserve_runs(std::size_t more) {
    const auto needed = static_cast<std::size_t>(slot_ + 1) + more;
    if (out_.size() < needed) out_.resize(std::max(needed, 2 * out_.size()));
  }
  // Room for `length` more bytes, and the 16 a short piece's move may write past them.
  void reserve_bytes(std::uint64_t length) {
    if (bytes_ == nullptr) return;
    const std::size_t needed = written_ + length + 16;
    if (bytes_->size() < needed) bytes_->resize(std::max(needed, 2 * bytes_->size()));
  }

  // source[from, to) to `at` (which has 16 bytes of room past it); returns its length.
  static std::uint64_t copy_piece(std::byte* at, const std::byte* source, std::uint64_t size,
                                  std::uint64_t from, std::uint64_t to) {
    const std::uint64_t length = to - from;
    if (length <= 16 && from + 16 <= size) [[likely]] {
      std::memcpy(at, source + from, 16);
    } else {
      std::memcpy(at, source + from, length);
    }
    return length;
  }

  std::vector<DeltaRun>& out_;
  std::int64_t merge_gap_bytes_;
  const std::byte* source_;
  std::uint64_t size_;
  std::vector<std::byte>* bytes_;
  std::size_t written_ = 0;
  std::int64_t slot_ = -1;    // the last run's index in out_ (-1: none yet)
  std::int64_t offset_ = 0;   // where it starts
  std::int64_t end_;          // where it ends, if closed (a next run within the gap joins it)
  bool open_ = false;         // it has not ended yet
  std::uint64_t copied_ = 0;  // with open_: its bytes are in `bytes` up to here
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
    sink.pair(boundaries, write, chunk_end);
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
    sink.pair(boundaries, write, at + length);
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

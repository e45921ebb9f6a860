// Delta: a change to the bytes of one page, the only way page bytes change.
//
// Two encodings: `runs` (sorted, non-overlapping (offset, length) runs and their bytes,
// concatenated) and `dense` (the whole page). A delta names its page and the epoch it was
// computed against, and never changes a page's size. The laws (tested as properties):
//   apply_delta(old, diff(old, new)) == new
//   apply_delta(apply_delta(p, a), b) == apply_delta(p, compose(a, b)); the empty delta is
//   the identity
//   decode(encode(d)) == d
// Byte layout of encode(): docs/FORMAT.md, "Delta".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "mmsb/ids.hpp"
#include "mmsb/status.hpp"

namespace mmsb {

enum class DeltaEncoding : std::uint8_t { kRuns = 0, kDense = 1 };

struct DeltaRun {
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
  std::uint64_t end() const { return std::uint64_t{offset} + length; }
  friend bool operator==(const DeltaRun&, const DeltaRun&) = default;
};

// diff() merges two changed runs when the unchanged gap between them is at most this many
// bytes: a run costs 8 bytes of header, so merging such gaps never makes the encoding larger.
inline constexpr std::uint32_t kDeltaMergeGapBytes = 8;
// Fixed header of the encoded form (docs/FORMAT.md).
inline constexpr std::size_t kDeltaHeaderBytes = 32;
inline constexpr std::uint8_t kDeltaFormatVersion = 1;

class Delta {
 public:
  Delta() = default;  // the empty runs delta on no page

  // Builds a runs delta. Not validated here: apply_delta(), compose() and State reject a malformed
  // one with InvalidArgument; validate() checks it on demand.
  static Delta from_runs(PageId page, Epoch base_epoch, std::vector<DeltaRun> runs,
                         std::vector<std::byte> bytes);
  // Builds a dense delta: `bytes` is the whole new content of the page.
  static Delta from_dense(PageId page, Epoch base_epoch, std::vector<std::byte> bytes);

  PageId page() const { return page_; }
  Epoch base_epoch() const { return base_epoch_; }
  DeltaEncoding encoding() const { return encoding_; }
  std::span<const DeltaRun> runs() const { return runs_; }
  std::span<const std::byte> bytes() const { return bytes_; }

  // True for a runs delta with no runs: applying it changes nothing.
  bool is_identity() const { return encoding_ == DeltaEncoding::kRuns && runs_.empty(); }
  // Size of encode(*this) in bytes.
  std::size_t encoded_size_bytes() const;

  // Checks structure (runs sorted, non-overlapping, non-empty, bytes matching their lengths)
  // and range against a page of page_size_bytes. The message names the page and the run.
  Status validate(std::uint64_t page_size_bytes) const;

  void set_page(PageId page) { page_ = page; }
  void set_base_epoch(Epoch epoch) { base_epoch_ = epoch; }
  // Empties the delta but keeps its buffers, so a reused Delta allocates nothing.
  void clear();

  friend bool operator==(const Delta&, const Delta&) = default;

 private:
  friend Status diff_into(PageId, Epoch, std::span<const std::byte>, std::span<const std::byte>,
                          Delta&);
  friend Result<Delta> decode_delta(std::span<const std::byte>);

  PageId page_;
  Epoch base_epoch_;
  DeltaEncoding encoding_ = DeltaEncoding::kRuns;
  std::vector<DeltaRun> runs_;
  std::vector<std::byte> bytes_;
};

// Computes the smallest delta that turns old_bytes into new_bytes (equal sizes, else
// InvalidArgument): runs of changed bytes, merged across gaps of at most
// kDeltaMergeGapBytes, or dense when that is smaller. Compares 64 bytes at a time with SIMD.
// `out` is overwritten; its buffers are reused.
Status diff_into(PageId page, Epoch base_epoch, std::span<const std::byte> old_bytes,
                 std::span<const std::byte> new_bytes, Delta& out);
Result<Delta> diff(PageId page, Epoch base_epoch, std::span<const std::byte> old_bytes,
                   std::span<const std::byte> new_bytes);

// Applies `delta` to `page_bytes` in place. Validates everything first: on error the bytes
// are untouched. Does not check the page id or epoch; State does that.
Status apply_delta(const Delta& delta, std::span<std::byte> page_bytes);

// The delta equivalent to applying `first` then `second` (same page, else InvalidArgument).
// The result is computed against first's base epoch.
Result<Delta> compose(const Delta& first, const Delta& second);

// Appends the encoded form to `out` (docs/FORMAT.md).
void encode_delta(const Delta& delta, std::vector<std::byte>& out);
std::vector<std::byte> encode_delta(const Delta& delta);
// Decodes exactly one delta occupying all of `bytes`. Malformed input (wrong version,
// truncated, trailing bytes, unsorted or overlapping runs, inconsistent lengths) gets
// InvalidArgument naming what is wrong and where.
Result<Delta> decode_delta(std::span<const std::byte> bytes);

}  // namespace mmsb

#include "mmsb/delta.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/endian.hpp"
#include "mmsb/page.hpp"

namespace mmsb {
namespace {

std::string page_prefix(PageId page) { return "page " + std::to_string(page.value()) + ": "; }

std::string run_text(std::size_t index, const DeltaRun& run) {
  return "delta run " + std::to_string(index) + " [" + std::to_string(run.offset) + "," +
         std::to_string(run.end()) + ")";
}

// Structure of a runs delta, independent of any page size.
Status validate_runs_structure(PageId page, std::span<const DeltaRun> runs,
                               std::size_t byte_count) {
  std::uint64_t covered = 0;
  std::uint64_t previous_end = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const DeltaRun& run = runs[i];
    if (run.length == 0)
      return invalid_argument(page_prefix(page) + run_text(i, run) + " is empty");
    if (run.end() > kPageSizeHardMaxBytes) {
      return invalid_argument(page_prefix(page) + run_text(i, run) + " exceeds the largest page (" +
                              std::to_string(kPageSizeHardMaxBytes) + " bytes)");
    }
    if (i > 0 && run.offset < previous_end) {
      return invalid_argument(page_prefix(page) + run_text(i, run) +
                              " overlaps or precedes the run before it, which ends at " +
                              std::to_string(previous_end));
    }
    previous_end = run.end();
    covered += run.length;
  }
  if (covered != byte_count) {
    return invalid_argument(page_prefix(page) + "delta runs cover " + std::to_string(covered) +
                            " bytes but carry " + std::to_string(byte_count));
  }
  return Status::ok();
}

}  // namespace

Delta Delta::from_runs(PageId page, Epoch base_epoch, std::vector<DeltaRun> runs,
                       std::vector<std::byte> bytes) {
  Delta delta;
  delta.page_ = page;
  delta.base_epoch_ = base_epoch;
  delta.encoding_ = DeltaEncoding::kRuns;
  delta.runs_ = std::move(runs);
  delta.bytes_ = std::move(bytes);
  return delta;
}

Delta Delta::from_dense(PageId page, Epoch base_epoch, std::vector<std::byte> bytes) {
  Delta delta;
  delta.page_ = page;
  delta.base_epoch_ = base_epoch;
  delta.encoding_ = DeltaEncoding::kDense;
  delta.bytes_ = std::move(bytes);
  return delta;
}

std::size_t Delta::encoded_size_bytes() const {
  return kDeltaHeaderBytes + sizeof(DeltaRun) * runs_.size() + bytes_.size();
}

void Delta::clear() {
  page_ = PageId();
  base_epoch_ = Epoch();
  encoding_ = DeltaEncoding::kRuns;
  runs_.clear();
  bytes_.clear();
}

Status Delta::validate(std::uint64_t page_size_bytes) const {
  if (encoding_ == DeltaEncoding::kDense) {
    if (bytes_.size() != page_size_bytes) {
      return invalid_argument(page_prefix(page_) + "dense delta of " +
                              std::to_string(bytes_.size()) + " bytes for a page of " +
                              std::to_string(page_size_bytes) + " bytes");
    }
    return Status::ok();
  }
  MMSB_RETURN_IF_ERROR(validate_runs_structure(page_, runs_, bytes_.size()));
  if (!runs_.empty() && runs_.back().end() > page_size_bytes) {
    return invalid_argument(page_prefix(page_) + run_text(runs_.size() - 1, runs_.back()) +
                            " exceeds page size " + std::to_string(page_size_bytes));
  }
  return Status::ok();
}

Status apply_delta(const Delta& delta, std::span<std::byte> page_bytes) {
  MMSB_RETURN_IF_ERROR(delta.validate(page_bytes.size()));
  const std::byte* source = delta.bytes().data();
  if (delta.encoding() == DeltaEncoding::kDense) {
    std::memcpy(page_bytes.data(), source, page_bytes.size());
    return Status::ok();
  }
  for (const DeltaRun& run : delta.runs()) {
    std::memcpy(page_bytes.data() + run.offset, source, run.length);
    source += run.length;
  }
  return Status::ok();
}

Result<Delta> compose(const Delta& first, const Delta& second) {
  if (first.page() != second.page()) {
    return invalid_argument("compose of deltas on different pages " +
                            std::to_string(first.page().value()) + " and " +
                            std::to_string(second.page().value()));
  }
  if (second.encoding() == DeltaEncoding::kDense) {
    if (first.encoding() == DeltaEncoding::kDense) {
      MMSB_RETURN_IF_ERROR(second.validate(first.bytes().size()));
    }
    std::vector<std::byte> bytes(second.bytes().begin(), second.bytes().end());
    return Delta::from_dense(first.page(), first.base_epoch(), std::move(bytes));
  }
  if (first.encoding() == DeltaEncoding::kDense) {
    std::vector<std::byte> bytes(first.bytes().begin(), first.bytes().end());
    MMSB_RETURN_IF_ERROR(apply_delta(second, bytes));
    return Delta::from_dense(first.page(), first.base_epoch(), std::move(bytes));
  }
  MMSB_RETURN_IF_ERROR(validate_runs_structure(first.page(), first.runs(), first.bytes().size()));
  MMSB_RETURN_IF_ERROR(
      validate_runs_structure(second.page(), second.runs(), second.bytes().size()));

  // Pieces: all of second's runs, plus the parts of first's runs second does not cover.
  struct Piece {
    std::uint64_t offset;
    std::uint64_t length;
    const std::byte* source;
  };
  std::vector<Piece> pieces;
  pieces.reserve(first.runs().size() + 2 * second.runs().size());
  const std::byte* later_bytes = second.bytes().data();
  for (const DeltaRun& run : second.runs()) {
    pieces.push_back(Piece{run.offset, run.length, later_bytes});
    later_bytes += run.length;
  }
  std::span<const DeltaRun> later = second.runs();
  std::size_t next = 0;  // first run of `later` that ends after the current position
  const std::byte* source = first.bytes().data();
  for (const DeltaRun& run : first.runs()) {
    std::uint64_t cursor = run.offset;
    while (next < later.size() && later[next].end() <= cursor) ++next;
    for (std::size_t k = next; k < later.size() && later[k].offset < run.end(); ++k) {
      if (later[k].offset > cursor) {
        pieces.push_back(Piece{cursor, later[k].offset - cursor, source + (cursor - run.offset)});
      }
      cursor = std::max<std::uint64_t>(cursor, later[k].end());
    }
    if (cursor < run.end()) {
      pieces.push_back(Piece{cursor, run.end() - cursor, source + (cursor - run.offset)});
    }
    source += run.length;
  }
  std::sort(pieces.begin(), pieces.end(),
            [](const Piece& a, const Piece& b) { return a.offset < b.offset; });

  std::vector<DeltaRun> runs;
  std::vector<std::byte> bytes;
  for (const Piece& piece : pieces) {
    if (!runs.empty() && runs.back().end() == piece.offset) {
      runs.back().length += static_cast<std::uint32_t>(piece.length);
    } else {
      runs.push_back(DeltaRun{static_cast<std::uint32_t>(piece.offset),
                              static_cast<std::uint32_t>(piece.length)});
    }
    bytes.insert(bytes.end(), piece.source, piece.source + piece.length);
  }
  return Delta::from_runs(first.page(), first.base_epoch(), std::move(runs), std::move(bytes));
}

void encode_delta(const Delta& delta, std::vector<std::byte>& out) {
  std::size_t at = out.size();
  out.resize(at + delta.encoded_size_bytes());
  std::byte* write = out.data() + at;
  put_le<std::uint8_t>(write + 0, kDeltaFormatVersion);
  put_le<std::uint8_t>(write + 1, static_cast<std::uint8_t>(delta.encoding()));
  put_le<std::uint16_t>(write + 2, 0);
  put_le<std::uint32_t>(write + 4, static_cast<std::uint32_t>(delta.runs().size()));
  put_le<std::uint64_t>(write + 8, delta.page().value());
  put_le<std::uint64_t>(write + 16, delta.base_epoch().value());
  put_le<std::uint64_t>(write + 24, delta.bytes().size());
  write += kDeltaHeaderBytes;
  for (const DeltaRun& run : delta.runs()) {
    put_le<std::uint32_t>(write, run.offset);
    put_le<std::uint32_t>(write + 4, run.length);
    write += sizeof(DeltaRun);
  }
  if (!delta.bytes().empty()) std::memcpy(write, delta.bytes().data(), delta.bytes().size());
}

std::vector<std::byte> encode_delta(const Delta& delta) {
  std::vector<std::byte> out;
  encode_delta(delta, out);
  return out;
}

Result<Delta> decode_delta(std::span<const std::byte> bytes) {
  if (bytes.size() < kDeltaHeaderBytes) {
    return invalid_argument("delta: " + std::to_string(bytes.size()) +
                            " bytes is shorter than the " + std::to_string(kDeltaHeaderBytes) +
                            "-byte header");
  }
  const std::byte* in = bytes.data();
  auto version = get_le<std::uint8_t>(in + 0);
  auto encoding = get_le<std::uint8_t>(in + 1);
  auto reserved = get_le<std::uint16_t>(in + 2);
  auto run_count = get_le<std::uint32_t>(in + 4);
  PageId page(get_le<std::uint64_t>(in + 8));
  Epoch base_epoch(get_le<std::uint64_t>(in + 16));
  auto byte_count = get_le<std::uint64_t>(in + 24);
  const std::string where = "delta on page " + std::to_string(page.value()) + ": ";
  if (version != kDeltaFormatVersion) {
    return invalid_argument(where + "unknown format version " + std::to_string(version));
  }
  if (encoding > static_cast<std::uint8_t>(DeltaEncoding::kDense)) {
    return invalid_argument(where + "unknown encoding " + std::to_string(encoding));
  }
  if (reserved != 0) return invalid_argument(where + "reserved header bytes are not zero");
  if (encoding == static_cast<std::uint8_t>(DeltaEncoding::kDense) &&
      (run_count != 0 || byte_count == 0 || byte_count > kPageSizeHardMaxBytes)) {
    return invalid_argument(where + "dense delta with " + std::to_string(run_count) + " runs and " +
                            std::to_string(byte_count) + " bytes");
  }
  std::uint64_t body = bytes.size() - kDeltaHeaderBytes;
  std::uint64_t runs_bytes = std::uint64_t{run_count} * sizeof(DeltaRun);
  if (runs_bytes > body || byte_count != body - runs_bytes) {
    return invalid_argument(where + "header declares " + std::to_string(run_count) + " runs and " +
                            std::to_string(byte_count) + " payload bytes but " +
                            std::to_string(body) + " bytes follow the header");
  }
  std::vector<DeltaRun> runs(run_count);
  const std::byte* read = in + kDeltaHeaderBytes;
  for (DeltaRun& run : runs) {
    run.offset = get_le<std::uint32_t>(read);
    run.length = get_le<std::uint32_t>(read + 4);
    read += sizeof(DeltaRun);
  }
  std::vector<std::byte> payload(read, read + byte_count);
  if (encoding == static_cast<std::uint8_t>(DeltaEncoding::kDense)) {
    return Delta::from_dense(page, base_epoch, std::move(payload));
  }
  MMSB_RETURN_IF_ERROR(validate_runs_structure(page, runs, payload.size()));
  return Delta::from_runs(page, base_epoch, std::move(runs), std::move(payload));
}

}  // namespace mmsb

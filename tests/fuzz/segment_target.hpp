// The body of the log segment reader fuzz target (segment_fuzz.cpp, `make fuzz`), also run
// on a fixed corpus by tests/log/decoder_fuzz_corpus_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "log/format.hpp"
#include "log/log_file.hpp"
#include "mmsb/assert.hpp"
#include "support/memory_env.hpp"

namespace mmsb::fuzz {

inline const std::string kFuzzLogDir = "log";

struct SegmentScan {
  Status status;
  std::vector<std::vector<std::byte>> payloads;
  std::vector<std::uint64_t> offsets;
  std::optional<log::TornTail> torn;
};

inline SegmentScan scan_segments(test::MemoryEnv& env) {
  SegmentScan scan;
  scan.status = log::read_log(
      env, kFuzzLogDir,
      [&](std::span<const std::byte> payload, const std::string&, std::uint64_t offset) {
        scan.payloads.emplace_back(payload.begin(), payload.end());
        scan.offsets.push_back(offset);
        return Status::ok();
      },
      &scan.torn);
  return scan;
}

// What a refused segment must say: Corruption naming the segment file.
inline void check_refusal(const SegmentScan& scan, const std::string& path) {
  MMSB_ASSERT(scan.status.code() == StatusCode::kCorruption);
  MMSB_ASSERT(scan.status.message().find(path) != std::string::npos);
}

// Raw bytes as the last segment, then as a segment followed by another: the reader accepts
// a prefix of whole records (and, in the last segment only, a torn tail reaching the end of
// the file) or refuses with Corruption naming the file.
inline void raw_segment(std::span<const std::byte> input) {
  const std::string path = kFuzzLogDir + "/" + log::segment_file_name(TickId(1));
  for (bool last : {true, false}) {
    test::MemoryEnv env;
    env.put_file(path, input);
    if (!last) {
      std::vector<std::byte> next;
      log::encode_segment_header(TickId(1000), next);
      env.put_file(kFuzzLogDir + "/" + log::segment_file_name(TickId(1000)), next);
    }
    const SegmentScan scan = scan_segments(env);
    if (!scan.status.is_ok()) {
      check_refusal(scan, path);
      continue;
    }
    for (std::size_t i = 1; i < scan.offsets.size(); ++i)
      MMSB_ASSERT(scan.offsets[i] > scan.offsets[i - 1]);
    if (scan.torn) {
      MMSB_ASSERT(last);  // only the last segment may end torn
      MMSB_ASSERT(scan.torn->path == path);
      MMSB_ASSERT(scan.torn->offset + scan.torn->bytes_dropped == input.size());
    }
  }
}

// A well-formed segment framed from the input's chunks, cut where the input says: the
// reader returns exactly the whole records before the cut, in order, and reports the rest
// as a torn tail (or, if the cut piece holds a valid record of its own, Corruption).
inline void framed_segment(std::span<const std::byte> input) {
  if (input.size() < 2) return;
  const std::size_t cut_hint =
      std::to_integer<std::size_t>(input[0]) << 8 | std::to_integer<std::size_t>(input[1]);
  std::vector<std::byte> file;
  log::encode_segment_header(TickId(1), file);
  std::vector<std::vector<std::byte>> records;
  std::vector<std::size_t> ends;
  for (std::size_t at = 2; at < input.size();) {
    const std::size_t length =
        std::min<std::size_t>(std::to_integer<std::size_t>(input[at]), input.size() - at - 1);
    records.emplace_back(input.begin() + static_cast<std::ptrdiff_t>(at + 1),
                         input.begin() + static_cast<std::ptrdiff_t>(at + 1 + length));
    log::append_frame(log::RecordType::kTick, records.back(), file);
    ends.push_back(file.size());
    at += 1 + length;
  }
  const std::size_t cut = cut_hint % (file.size() + 1);
  test::MemoryEnv env;
  const std::string path = kFuzzLogDir + "/" + log::segment_file_name(TickId(1));
  env.put_file(path, std::span(file).first(cut));
  const SegmentScan scan = scan_segments(env);
  std::size_t whole = 0;
  while (whole < ends.size() && ends[whole] <= cut) ++whole;
  const std::size_t boundary = whole == 0 ? log::kSegmentHeaderBytes : ends[whole - 1];
  if (!scan.status.is_ok()) {
    check_refusal(scan, path);
    MMSB_ASSERT(cut > boundary);
    return;
  }
  MMSB_ASSERT(scan.payloads.size() == whole);
  for (std::size_t i = 0; i < whole; ++i) MMSB_ASSERT(scan.payloads[i] == records[i]);
  if (cut < log::kSegmentHeaderBytes) {
    MMSB_ASSERT(scan.torn && scan.torn->offset == 0);
  } else if (cut == boundary) {
    MMSB_ASSERT(!scan.torn);
  } else {
    MMSB_ASSERT(scan.torn && scan.torn->offset == boundary &&
                scan.torn->bytes_dropped == cut - boundary);
  }
}

inline void segment_target(const std::uint8_t* data, std::size_t size) {
  const auto input = std::span(reinterpret_cast<const std::byte*>(data), size);
  raw_segment(input);
  framed_segment(input);
}

}  // namespace mmsb::fuzz

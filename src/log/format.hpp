// Byte layouts of the write-ahead log: segment headers and record frames
// (docs/FORMAT.md "Log segments").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mmsb/env.hpp"
#include "mmsb/ids.hpp"
#include "mmsb/status.hpp"

namespace mmsb::log {

inline constexpr char kSegmentMagic[8] = {'m', 'm', 's', 'b', '-', 'l', 'o', 'g'};
inline constexpr std::uint32_t kSegmentVersion = 1;
// magic (8), version (4), reserved (4), first tick (8), XXH3-64 of the first 24 bytes (8).
inline constexpr std::size_t kSegmentHeaderBytes = 32;
// payload length (4), type (1), reserved (3), XXH3-64 of the payload (8), XXH3-64 of the
// first 16 header bytes (8).
inline constexpr std::size_t kFrameHeaderBytes = 24;
// The largest record payload.
inline constexpr std::uint32_t kRecordPayloadMaxBytes = 512u << 20;
// Default largest segment file; a larger record gets a segment of its own.
inline constexpr std::uint64_t kSegmentSizeMaxDefaultBytes = 64ull << 20;

enum class RecordType : std::uint8_t { kTick = 1 };

struct FrameHeader {
  std::uint32_t length = 0;
  RecordType type = RecordType::kTick;
  std::uint64_t payload_checksum = 0;
};

// "<tick, 20 digits><suffix>": the names of segments and checkpoints, which sort in tick
// order; parse_tick_file_name gives the tick back, or InvalidArgument for any other name.
// "PATH at byte N": where in a file something was found (every message about damage).
std::string at_byte(const std::string& path, std::uint64_t offset);

std::string tick_file_name(TickId tick, std::string_view suffix);
Result<TickId> parse_tick_file_name(const std::string& name, std::string_view suffix,
                                    std::string_view what);

struct TickFile {
  std::string name;
  TickId tick;
};
// The files of `dir` named "<tick><suffix>", in tick order (other files are ignored); empty
// if the directory does not exist.
Result<std::vector<TickFile>> list_tick_files(Env& env, const std::string& dir,
                                              std::string_view suffix);

// "<first tick, 20 digits>.seg".
std::string segment_file_name(TickId first_tick);
// The first tick of a segment file name, or an error if it is not one.
Result<TickId> parse_segment_file_name(const std::string& name);

void encode_segment_header(TickId first_tick, std::vector<std::byte>& out);
// Checks magic, version and checksum; returns the first tick.
Result<TickId> decode_segment_header(std::span<const std::byte> bytes, const std::string& path);

void append_frame(RecordType type, std::span<const std::byte> payload, std::vector<std::byte>& out);
// False if the 24 bytes at `bytes` are not a valid frame header (checksum, type, reserved,
// length limit).
bool parse_frame_header(const std::byte* bytes, FrameHeader& header);
bool payload_matches(const FrameHeader& header, std::span<const std::byte> payload);

}  // namespace mmsb::log

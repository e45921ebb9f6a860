#include "log/format.hpp"

#include <cstdio>
#include <cstring>

#include "core/endian.hpp"
#include "mmsb/hash.hpp"

namespace mmsb::log {

std::string at_byte(const std::string& path, std::uint64_t offset) {
  return path + " at byte " + std::to_string(offset);
}

std::string tick_file_name(TickId tick, std::string_view suffix) {
  char digits[24];
  std::snprintf(digits, sizeof(digits), "%020llu", static_cast<unsigned long long>(tick.value()));
  return std::string(digits) + std::string(suffix);
}

Result<TickId> parse_tick_file_name(const std::string& name, std::string_view suffix,
                                    std::string_view what) {
  constexpr std::size_t kDigits = 20;
  if (name.size() != kDigits + suffix.size() || name.substr(kDigits) != suffix) {
    return invalid_argument(name + ": not a " + std::string(what) + " file name");
  }
  std::uint64_t tick = 0;
  for (std::size_t i = 0; i < kDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') {
      return invalid_argument(name + ": not a " + std::string(what) + " file name");
    }
    tick = tick * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  return TickId(tick);
}

Result<std::vector<TickFile>> list_tick_files(Env& env, const std::string& dir,
                                              std::string_view suffix) {
  std::vector<TickFile> files;
  // Only a directory that is not there has no files: one that cannot be read is an error
  // (never an empty database).
  auto listed = env.list_dir(dir);
  if (!listed.is_ok() && listed.status().code() == StatusCode::kNotFound) return files;
  MMSB_ASSIGN_OR_RETURN(std::vector<std::string> names, std::move(listed));
  for (const std::string& name : names) {
    auto tick = parse_tick_file_name(name, suffix, "");
    if (tick.is_ok()) files.push_back(TickFile{name, *tick});
  }
  return files;  // the 20-digit names sort in tick order
}

std::string segment_file_name(TickId first_tick) { return tick_file_name(first_tick, ".seg"); }

Result<TickId> parse_segment_file_name(const std::string& name) {
  return parse_tick_file_name(name, ".seg", "segment");
}

void encode_segment_header(TickId first_tick, std::vector<std::byte>& out) {
  std::size_t at = out.size();
  out.resize(at + kSegmentHeaderBytes);
  std::byte* header = out.data() + at;
  std::memcpy(header, kSegmentMagic, sizeof(kSegmentMagic));
  put_le<std::uint32_t>(header + 8, kSegmentVersion);
  put_le<std::uint32_t>(header + 12, 0);
  put_le<std::uint64_t>(header + 16, first_tick.value());
  put_le<std::uint64_t>(header + 24, xxh3_64({header, 24}));
}

Result<TickId> decode_segment_header(std::span<const std::byte> bytes, const std::string& path) {
  if (bytes.size() < kSegmentHeaderBytes) {
    return corruption(path + ": segment header truncated at byte " + std::to_string(bytes.size()));
  }
  const std::byte* header = bytes.data();
  if (std::memcmp(header, kSegmentMagic, sizeof(kSegmentMagic)) != 0) {
    return corruption(path + ": not an mmsb log segment (bad magic at byte 0)");
  }
  if (get_le<std::uint64_t>(header + 24) != xxh3_64({header, 24})) {
    return corruption(path + ": segment header checksum mismatch at byte 0");
  }
  auto version = get_le<std::uint32_t>(header + 8);
  if (version != kSegmentVersion) {
    return corruption(path + ": unsupported segment version " + std::to_string(version));
  }
  return TickId(get_le<std::uint64_t>(header + 16));
}

void append_frame(RecordType type, std::span<const std::byte> payload,
                  std::vector<std::byte>& out) {
  std::size_t at = out.size();
  out.resize(at + kFrameHeaderBytes + payload.size());
  std::byte* header = out.data() + at;
  put_le<std::uint32_t>(header, static_cast<std::uint32_t>(payload.size()));
  put_le<std::uint8_t>(header + 4, static_cast<std::uint8_t>(type));
  put_le<std::uint8_t>(header + 5, 0);
  put_le<std::uint16_t>(header + 6, 0);
  put_le<std::uint64_t>(header + 8, xxh3_64(payload));
  put_le<std::uint64_t>(header + 16, xxh3_64({header, 16}));
  if (!payload.empty()) std::memcpy(header + kFrameHeaderBytes, payload.data(), payload.size());
}

bool parse_frame_header(const std::byte* bytes, FrameHeader& header) {
  // The fields before the check: a search for a valid frame after damage (which tries every
  // offset, through up to a megabyte of zeros a crash leaves after the log's last record)
  // rejects almost every offset on one byte, not on a hash.
  auto type = get_le<std::uint8_t>(bytes + 4);
  if (type != static_cast<std::uint8_t>(RecordType::kTick)) return false;
  if (get_le<std::uint8_t>(bytes + 5) != 0 || get_le<std::uint16_t>(bytes + 6) != 0) return false;
  header.length = get_le<std::uint32_t>(bytes);
  if (header.length > kRecordPayloadMaxBytes) return false;
  if (get_le<std::uint64_t>(bytes + 16) != xxh3_64({bytes, 16})) return false;
  header.type = static_cast<RecordType>(type);
  header.payload_checksum = get_le<std::uint64_t>(bytes + 8);
  return true;
}

bool payload_matches(const FrameHeader& header, std::span<const std::byte> payload) {
  return payload.size() == header.length && xxh3_64(payload) == header.payload_checksum;
}

}  // namespace mmsb::log

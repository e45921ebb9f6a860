// Reading and writing frame bodies: the helpers every codec of net/wire.cpp and
// net/wire_answers.cpp shares.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/byte_reader.hpp"
#include "net/wire.hpp"

namespace mmsb::net::detail {

// Reads a frame body (ByteReader's checked reads, "exceeds the frame"); every decoder ends
// with done(), which also refuses trailing bytes and names the frame.
class BodyReader : public ByteReader {
 public:
  BodyReader(std::span<const std::byte> body, FrameType type) : ByteReader(body, "frame"), type_(type) {}
  // `n` bytes in place (they live as long as the body).
  bool span(std::size_t n, std::span<const std::byte>& out, const char* field) {
    if (!ensure_remaining(n, field)) return false;
    out = {here(), n};
    return skip(n, field);
  }
  Status done() {
    if (ok() && remaining() != 0) fail(std::to_string(remaining()) + " bytes after the body");
    if (ok()) return Status::ok();
    return invalid_argument(std::string(frame_type_name(type_)) + " frame: " + error());
  }

 private:
  FrameType type_;
};

template <typename Id>
inline void put_ids(FrameWriter& frame, const std::vector<Id>& ids) {
  frame.put<std::uint32_t>(static_cast<std::uint32_t>(ids.size()));
  for (Id id : ids) frame.put<std::uint64_t>(id.value());
}

inline void put_remaps(FrameWriter& frame, const std::vector<IdRemap>& remaps) {
  frame.put<std::uint32_t>(static_cast<std::uint32_t>(remaps.size()));
  for (const IdRemap& remap : remaps) frame.put<std::uint64_t>(remap.from).put(remap.to);
}

inline bool read_remaps(BodyReader& in, std::vector<IdRemap>& remaps, const char* field) {
  std::uint32_t n = 0;
  if (!in.read_count(n, 16, field)) return false;
  remaps.resize(n);
  for (IdRemap& remap : remaps) {
    if (!in.read(remap.from, field) || !in.read(remap.to, field)) return false;
  }
  return true;
}

inline constexpr std::size_t kReceiptBytes = 8 + 8 + 8 + 1 + 4 + 8 + 8 + 8;

}  // namespace mmsb::net::detail

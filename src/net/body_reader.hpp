// Reading and writing frame bodies: the helpers every codec of net/wire.cpp and
// net/wire_answers.cpp shares.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/byte_reader.hpp"
#include "net/wire.hpp"

namespace mmsb::net::detail {

// Reads a frame body; every decoder ends with done(), which also refuses trailing bytes.
class BodyReader {
 public:
  BodyReader(std::span<const std::byte> body, FrameType type) : in_(body), type_(type) {}
  template <typename T>
  bool read(T& value, const char* field) {
    return in_.read(value, field);
  }
  bool hash(Hash128& hash, const char* field) {
    if (!in_.ensure_remaining(16, field)) return false;
    hash = read_hash_bytes(in_.here());
    return in_.skip(16, field);
  }
  // A u32 count of items of at least `min_bytes` each, at most `max`.
  bool count(std::uint32_t& n, std::size_t min_bytes, std::uint64_t max, const char* field) {
    if (!in_.read(n, field)) return false;
    if (n > max)
      return in_.fail(std::string(field) + " " + std::to_string(n) + " above " +
                      std::to_string(max));
    if (std::uint64_t{n} * min_bytes > in_.remaining()) {
      return in_.fail(std::string(field) + " " + std::to_string(n) + " exceeds the frame");
    }
    return true;
  }
  bool string(std::string& out, std::uint32_t max, const char* field) {
    std::uint32_t n = 0;
    if (!count(n, 1, max, field)) return false;
    out.assign(reinterpret_cast<const char*>(in_.here()), n);
    return in_.skip(n, field);
  }
  bool span(std::size_t n, std::span<const std::byte>& out, const char* field) {
    if (!in_.ensure_remaining(n, field)) return false;
    out = {in_.here(), n};
    return in_.skip(n, field);
  }
  bool fail(const std::string& what) { return in_.fail(what); }
  bool ok() const { return in_.ok(); }
  Status done() {
    if (in_.ok() && in_.remaining() != 0) {
      in_.fail(std::to_string(in_.remaining()) + " bytes after the body");
    }
    if (in_.ok()) return Status::ok();
    return invalid_argument(std::string(frame_type_name(type_)) + " frame: " + in_.error());
  }

 private:
  ByteReader in_;
  FrameType type_;
};

template <typename Id>
inline void put_ids(FrameWriter& frame, const std::vector<Id>& ids) {
  frame.put<std::uint32_t>(static_cast<std::uint32_t>(ids.size()));
  for (Id id : ids) frame.put<std::uint64_t>(id.value());
}

template <typename Id>
inline bool read_ids(BodyReader& in, std::vector<Id>& ids, std::uint32_t max, const char* field) {
  std::uint32_t n = 0;
  if (!in.count(n, 8, max, field)) return false;
  ids.resize(n);
  for (Id& id : ids) {
    std::uint64_t value = 0;
    if (!in.read(value, field)) return false;
    id = Id(value);
  }
  return true;
}

inline void put_remaps(FrameWriter& frame, const std::vector<IdRemap>& remaps) {
  frame.put<std::uint32_t>(static_cast<std::uint32_t>(remaps.size()));
  for (const IdRemap& remap : remaps) frame.put<std::uint64_t>(remap.from).put(remap.to);
}

inline bool read_remaps(BodyReader& in, std::vector<IdRemap>& remaps, const char* field) {
  std::uint32_t n = 0;
  if (!in.count(n, 16, 0xffffffffu, field)) return false;
  remaps.resize(n);
  for (IdRemap& remap : remaps) {
    if (!in.read(remap.from, field) || !in.read(remap.to, field)) return false;
  }
  return true;
}

inline constexpr std::size_t kReceiptBytes = 8 + 8 + 8 + 1 + 4 + 8 + 8 + 8;

}  // namespace mmsb::net::detail

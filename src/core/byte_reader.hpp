// ByteReader: bounds-checked little-endian reads from bytes that came from outside (files,
// network). Every read reports failure instead of reading past the end; the first failure
// is remembered with the offset and the name of the field, for a Corruption message.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/endian.hpp"
#include "mmsb/hash.hpp"
#include "mmsb/status.hpp"

namespace mmsb {

class ByteReader {
 public:
  // `whole` names what the bytes are in messages ("exceeds the record").
  explicit ByteReader(std::span<const std::byte> bytes, const char* whole = "record")
      : bytes_(bytes), whole_(whole) {}

  template <typename T>
  bool read(T& value, const char* field) {
    if (!ensure(sizeof(T), field)) return false;
    value = get_le<T>(bytes_.data() + at_);
    at_ += sizeof(T);
    return true;
  }

  // A varint (core/endian.hpp): refused if longer than 10 bytes, past 64 bits, or not
  // minimal.
  bool read_varint(std::uint64_t& value, const char* field) {
    value = 0;
    for (std::size_t i = 0; i < kVarintMaxBytes; ++i) {
      if (!ensure(1, field)) return false;
      const auto byte = static_cast<std::uint8_t>(bytes_[at_++]);
      if (i == kVarintMaxBytes - 1 && byte > 1) {
        return fail(std::string(field) + ": varint past 64 bits");
      }
      value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) {
        if (byte == 0 && i > 0) return fail(std::string(field) + ": varint not minimal");
        return true;
      }
    }
    return fail(std::string(field) + ": varint longer than 10 bytes");
  }

  bool read_bytes(std::size_t length, std::vector<std::byte>& out, const char* field) {
    if (!ensure(length, field)) return false;
    out.assign(bytes_.begin() + static_cast<std::ptrdiff_t>(at_),
               bytes_.begin() + static_cast<std::ptrdiff_t>(at_ + length));
    at_ += length;
    return true;
  }

  // Appends the next `length` bytes to `out` (no intermediate copy).
  bool append_to(std::size_t length, std::vector<std::byte>& out, const char* field) {
    if (!ensure(length, field)) return false;
    out.insert(out.end(), bytes_.begin() + static_cast<std::ptrdiff_t>(at_),
               bytes_.begin() + static_cast<std::ptrdiff_t>(at_ + length));
    at_ += length;
    return true;
  }

  bool skip(std::size_t length, const char* field) {
    if (!ensure(length, field)) return false;
    at_ += length;
    return true;
  }

  // A u32 count of items of at least `min_item_bytes` each, checked against what remains
  // (before anything is allocated for them) and against `max`.
  bool read_count(std::uint32_t& count, std::size_t min_item_bytes, const char* field,
                  std::uint64_t max = 0xffffffffu) {
    if (!read(count, field)) return false;
    if (count > max) {
      return fail(std::string(field) + " " + std::to_string(count) + " above the limit " +
                  std::to_string(max));
    }
    if (std::uint64_t{count} * min_item_bytes > remaining()) {
      return fail(std::string(field) + " " + std::to_string(count) + " exceeds the " + whole_);
    }
    return true;
  }

  // A u32 length, then that many bytes, at most `max_bytes`.
  bool read_string(std::string& out, std::size_t max_bytes, const char* field) {
    std::uint32_t length = 0;
    if (!read_count(length, 1, field)) return false;
    if (length > max_bytes) return fail(std::string(field) + " longer than the limit");
    out.assign(reinterpret_cast<const char*>(here()), length);
    at_ += length;
    return true;
  }

  // A u32 count (at most `max`) and the ids, 8 bytes each.
  template <typename Id>
  bool read_ids(std::vector<Id>& ids, const char* count_field, const char* id_field,
                std::uint64_t max = 0xffffffffu) {
    std::uint32_t count = 0;
    if (!read_count(count, 8, count_field, max)) return false;
    ids.resize(count);
    for (Id& id : ids) {
      std::uint64_t value = 0;
      if (!read(value, id_field)) return false;
      id = Id(value);
    }
    return true;
  }

  bool read_hash(Hash128& hash, const char* field);

  // Records a structural error found by the caller at the current offset.
  bool fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at byte " + std::to_string(at_);
    return false;
  }

  // True if `length` more bytes are there (else records the failure, naming `field`).
  bool ensure_remaining(std::size_t length, const char* field) { return ensure(length, field); }
  // The next unread byte (read in place with ensure_remaining, then skip).
  const std::byte* here() const { return bytes_.data() + at_; }
  std::size_t offset() const { return at_; }
  std::size_t remaining() const { return bytes_.size() - at_; }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  // Inlined into every read: the message is built out of line, only on failure.
  bool ensure(std::size_t length, const char* field) {
    if (!error_.empty()) [[unlikely]]
      return false;
    if (length > bytes_.size() - at_) [[unlikely]]
      return truncated(length, field);
    return true;
  }
  [[gnu::cold]] [[gnu::noinline]] bool truncated(std::size_t length, const char* field) {
    error_ = std::string("truncated reading ") + field + " at byte " + std::to_string(at_) + " (" +
             std::to_string(length) + " bytes wanted, " + std::to_string(bytes_.size() - at_) +
             " left)";
    return false;
  }

  std::span<const std::byte> bytes_;
  const char* whole_;
  std::size_t at_ = 0;
  std::string error_;
};

inline void append_bytes(std::vector<std::byte>& out, std::span<const std::byte> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

inline void append_hash(std::vector<std::byte>& out, const Hash128& hash) {
  std::size_t at = out.size();
  out.resize(at + 16);
  hash.write_bytes(out.data() + at);
}

inline Hash128 read_hash_bytes(const std::byte* in) {
  Hash128 hash;
  for (int i = 0; i < 8; ++i) {
    hash.high = (hash.high << 8) | static_cast<std::uint8_t>(in[i]);
    hash.low = (hash.low << 8) | static_cast<std::uint8_t>(in[8 + i]);
  }
  return hash;
}

inline bool ByteReader::read_hash(Hash128& hash, const char* field) {
  if (!ensure(16, field)) return false;
  hash = read_hash_bytes(here());
  at_ += 16;
  return true;
}

}  // namespace mmsb

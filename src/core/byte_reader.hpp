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
  explicit ByteReader(std::span<const std::byte> bytes) : bytes_(bytes) {}

  template <typename T>
  bool read(T& value, const char* field) {
    if (!ensure(sizeof(T), field)) return false;
    value = get_le<T>(bytes_.data() + at_);
    at_ += sizeof(T);
    return true;
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
  bool ensure(std::size_t length, const char* field) {
    if (!error_.empty()) return false;
    if (length > bytes_.size() - at_) {
      error_ = std::string("truncated reading ") + field + " at byte " + std::to_string(at_) +
               " (" + std::to_string(length) + " bytes wanted, " +
               std::to_string(bytes_.size() - at_) + " left)";
      return false;
    }
    return true;
  }

  std::span<const std::byte> bytes_;
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

}  // namespace mmsb

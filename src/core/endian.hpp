// Little-endian encoding of integers into byte buffers, for the formats in docs/FORMAT.md.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

namespace mmsb {

// On a little-endian host these are one unaligned load or store each (GCC does not merge
// the byte loops, which hashing and encoding paths pay per field); elsewhere byte by byte.
template <typename T>
inline void put_le(std::byte* out, T value) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out, &value, sizeof(T));
  } else {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      out[i] = static_cast<std::byte>(static_cast<std::uint64_t>(value) >> (8 * i));
    }
  }
}

template <typename T>
inline T get_le(const std::byte* in) {
  if constexpr (std::endian::native == std::endian::little) {
    T value;
    std::memcpy(&value, in, sizeof(T));
    return value;
  } else {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      value |= static_cast<std::uint64_t>(in[i]) << (8 * i);
    }
    return static_cast<T>(value);
  }
}

// Varints (docs/FORMAT.md "Varint"): LEB128, 7 bits a byte from the lowest, the top bit
// set on every byte but the last; at most 10 bytes, and minimal (no trailing zero groups).
inline constexpr std::size_t kVarintMaxBytes = 10;
inline constexpr std::size_t varint_size(std::uint64_t value) {
  return value == 0 ? 1 : (static_cast<std::size_t>(std::bit_width(value)) + 6) / 7;
}

// Writes fields one after another into space the caller has made: one resize for a whole
// item instead of one per field.
class LeCursor {
 public:
  explicit LeCursor(std::byte* at) : at_(at) {}
  template <typename T>
  void put(T value) {
    put_le<T>(at_, value);
    at_ += sizeof(T);
  }
  void put_varint(std::uint64_t value) {
    while (value >= 0x80) {
      *at_++ = static_cast<std::byte>((value & 0x7f) | 0x80);
      value >>= 7;
    }
    *at_++ = static_cast<std::byte>(value);
  }
  void put_bytes(std::span<const std::byte> bytes) {
    if (!bytes.empty()) std::memcpy(at_, bytes.data(), bytes.size());
    at_ += bytes.size();
  }
  // The next `n` bytes, for the caller to fill.
  std::byte* take(std::size_t n) { return std::exchange(at_, at_ + n); }
  const std::byte* at() const { return at_; }

 private:
  std::byte* at_;
};

template <typename T>
inline void append_le(std::vector<std::byte>& out, T value) {
  std::size_t at = out.size();
  out.resize(at + sizeof(T));
  put_le<T>(out.data() + at, value);
}

}  // namespace mmsb

// Little-endian encoding of integers into byte buffers, for the formats in docs/FORMAT.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mmsb {

template <typename T>
inline void put_le(std::byte* out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out[i] = static_cast<std::byte>(static_cast<std::uint64_t>(value) >> (8 * i));
  }
}

template <typename T>
inline T get_le(const std::byte* in) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<std::uint64_t>(in[i]) << (8 * i);
  }
  return static_cast<T>(value);
}

template <typename T>
inline void append_le(std::vector<std::byte>& out, T value) {
  std::size_t at = out.size();
  out.resize(at + sizeof(T));
  put_le<T>(out.data() + at, value);
}

}  // namespace mmsb

// Hashing wrappers: XXH3-64 and XXH3-128 (xxhash) for speed, BLAKE2b-256 (libsodium) where a
// cryptographic hash is needed. All are deterministic across machines and runs; the byte
// order of Hash128 is fixed (see docs/FORMAT.md) so hashes can be written to disk.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mmsb {

struct Hash128 {
  std::uint64_t low = 0;
  std::uint64_t high = 0;

  friend constexpr auto operator<=>(const Hash128&, const Hash128&) = default;

  // 16 bytes: high then low, each big-endian, so the hex form reads as one 128-bit number
  // (the canonical XXH3-128 form).
  std::array<std::uint8_t, 16> to_bytes() const;
  // Writes to_bytes() to out[0..16). Inline: node hashing writes 32 of these per node.
  void write_bytes(std::byte* out) const {
    const std::uint64_t words[2] = {to_big_endian(high), to_big_endian(low)};
    std::memcpy(out, words, sizeof(words));
  }
  // 32 lowercase hex digits of to_bytes().
  std::string to_hex() const;
  // The inverse of to_hex (either case); nullopt unless exactly 32 hex digits.
  static std::optional<Hash128> from_hex(std::string_view hex);

 private:
  static constexpr std::uint64_t to_big_endian(std::uint64_t value) {
    if constexpr (std::endian::native == std::endian::little) return __builtin_bswap64(value);
    return value;
  }
};

using Blake2b256 = std::array<std::uint8_t, 32>;

std::uint64_t xxh3_64(std::span<const std::byte> bytes, std::uint64_t seed = 0);
Hash128 xxh3_128(std::span<const std::byte> bytes, std::uint64_t seed = 0);
Blake2b256 blake2b_256(std::span<const std::byte> bytes);
std::string to_hex(std::span<const std::uint8_t> bytes);

// Streaming XXH3-128. Feeding the same bytes in any split gives the same digest as
// xxh3_128 over their concatenation. Not thread-safe; cheap to construct on the stack.
class Hasher128 {
 public:
  explicit Hasher128(std::uint64_t seed = 0);
  Hasher128(const Hasher128&) = delete;
  Hasher128& operator=(const Hasher128&) = delete;
  ~Hasher128();

  void update(std::span<const std::byte> bytes);
  void update_u8(std::uint8_t value);
  // Little-endian encodings of integers, as the formats in docs/FORMAT.md specify.
  void update_u32(std::uint32_t value);
  void update_u64(std::uint64_t value);
  void update_hash(const Hash128& hash);  // the 16 bytes of Hash128::to_bytes()
  void update_string(std::string_view text);
  Hash128 digest() const;

 private:
  alignas(64) std::byte state_[640];  // XXH3_state_t, kept opaque to avoid the header
};

inline std::span<const std::byte> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

}  // namespace mmsb

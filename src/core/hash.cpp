#include "mmsb/hash.hpp"

#include <sodium.h>
#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <cstring>

#include "mmsb/assert.hpp"

namespace mmsb {
namespace {

XXH3_state_t* xxh_state(std::byte* storage) { return reinterpret_cast<XXH3_state_t*>(storage); }
const XXH3_state_t* xxh_state(const std::byte* storage) {
  return reinterpret_cast<const XXH3_state_t*>(storage);
}

void put_u64_le(std::uint8_t* out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

}  // namespace

std::array<std::uint8_t, 16> Hash128::to_bytes() const {
  std::array<std::uint8_t, 16> out{};
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<std::uint8_t>(high >> (56 - 8 * i));
    out[8 + i] = static_cast<std::uint8_t>(low >> (56 - 8 * i));
  }
  return out;
}

std::string Hash128::to_hex() const {
  auto bytes = to_bytes();
  return mmsb::to_hex(bytes);
}

std::optional<Hash128> Hash128::from_hex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  Hash128 hash;
  for (std::size_t i = 0; i < 32; ++i) {
    const char c = hex[i];
    std::uint64_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint64_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<std::uint64_t>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    std::uint64_t& half = i < 16 ? hash.high : hash.low;
    half = (half << 4) | digit;
  }
  return hash;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 15]);
  }
  return out;
}

std::uint64_t xxh3_64(std::span<const std::byte> bytes, std::uint64_t seed) {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

Hash128 xxh3_128(std::span<const std::byte> bytes, std::uint64_t seed) {
  XXH128_hash_t hash = XXH3_128bits_withSeed(bytes.data(), bytes.size(), seed);
  return Hash128{hash.low64, hash.high64};
}

Blake2b256 blake2b_256(std::span<const std::byte> bytes) {
  static const bool initialised = sodium_init() >= 0;
  MMSB_ASSERT_MSG(initialised, "libsodium failed to initialise");
  Blake2b256 out{};
  int rc = crypto_generichash(out.data(), out.size(),
                              reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                              nullptr, 0);
  MMSB_ASSERT(rc == 0);
  return out;
}

static_assert(sizeof(XXH3_state_t) <= 640, "Hasher128 storage too small for XXH3_state_t");
static_assert(alignof(XXH3_state_t) <= 64, "Hasher128 storage under-aligned");

Hasher128::Hasher128(std::uint64_t seed) {
  new (state_) XXH3_state_t;
  XXH3_INITSTATE(xxh_state(state_));
  XXH_errorcode rc = XXH3_128bits_reset_withSeed(xxh_state(state_), seed);
  MMSB_ASSERT(rc == XXH_OK);
}

Hasher128::~Hasher128() = default;

void Hasher128::update(std::span<const std::byte> bytes) {
  XXH_errorcode rc = XXH3_128bits_update(xxh_state(state_), bytes.data(), bytes.size());
  MMSB_DEBUG_ASSERT(rc == XXH_OK);
  (void)rc;
}

void Hasher128::update_u8(std::uint8_t value) {
  update(std::as_bytes(std::span<const std::uint8_t>(&value, 1)));
}

void Hasher128::update_u32(std::uint32_t value) {
  std::uint8_t buffer[4];
  for (int i = 0; i < 4; ++i) buffer[i] = static_cast<std::uint8_t>(value >> (8 * i));
  update(std::as_bytes(std::span<const std::uint8_t>(buffer)));
}

void Hasher128::update_u64(std::uint64_t value) {
  std::uint8_t buffer[8];
  put_u64_le(buffer, value);
  update(std::as_bytes(std::span<const std::uint8_t>(buffer)));
}

void Hasher128::update_hash(const Hash128& hash) {
  auto bytes = hash.to_bytes();
  update(std::as_bytes(std::span<const std::uint8_t>(bytes)));
}

void Hasher128::update_string(std::string_view text) { update(as_bytes(text)); }

Hash128 Hasher128::digest() const {
  XXH128_hash_t hash = XXH3_128bits_digest(xxh_state(state_));
  return Hash128{hash.low64, hash.high64};
}

}  // namespace mmsb

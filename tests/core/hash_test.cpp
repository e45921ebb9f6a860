#include "mmsb/hash.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mmsb {
namespace {

std::string hex64(std::uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

// Reference vectors published with xxHash and BLAKE2.
TEST(HashTest, MatchesPublishedVectors) {
  EXPECT_EQ(hex64(xxh3_64({})), "2d06800538d394c2");
  EXPECT_EQ(xxh3_128({}).to_hex(), "99aa06d3014798d86001c324468d497f");
  Blake2b256 abc = blake2b_256(as_bytes("abc"));
  EXPECT_EQ(to_hex(abc), "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST(HashTest, SeedChangesTheHash) {
  EXPECT_NE(xxh3_64(as_bytes("mmsb"), 0), xxh3_64(as_bytes("mmsb"), 1));
  EXPECT_NE(xxh3_128(as_bytes("mmsb"), 0), xxh3_128(as_bytes("mmsb"), 1));
}

TEST(HashTest, StreamingEqualsOneShotForAnySplit) {
  std::string text(1000, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 7);
  Hash128 whole = xxh3_128(as_bytes(text), 5);
  for (std::size_t split : {0u, 1u, 63u, 64u, 500u, 999u, 1000u}) {
    Hasher128 hasher(5);
    hasher.update(as_bytes(std::string_view(text).substr(0, split)));
    hasher.update(as_bytes(std::string_view(text).substr(split)));
    EXPECT_EQ(hasher.digest(), whole) << "split at " << split;
  }
}

TEST(HashTest, IntegersAreHashedLittleEndian) {
  Hasher128 a;
  a.update_u32(0x04030201);
  a.update_u64(0x0c0b0a0908070605);
  a.update_u8(0x0d);
  const std::uint8_t expected[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
  EXPECT_EQ(a.digest(), xxh3_128(std::as_bytes(std::span(expected))));
}

TEST(HashTest, Hash128HexIsHighThenLow) {
  Hash128 hash{0x0123456789abcdefull, 0xfedcba9876543210ull};
  EXPECT_EQ(hash.to_hex(), "fedcba98765432100123456789abcdef");
}

}  // namespace
}  // namespace mmsb

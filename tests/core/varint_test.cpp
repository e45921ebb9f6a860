// Varints (docs/FORMAT.md "Varint"): the encoder's bytes, their size, and a reader that
// refuses overlong, non-minimal and truncated ones by name.
#include <gtest/gtest.h>

#include <vector>

#include "core/byte_reader.hpp"
#include "core/endian.hpp"

namespace mmsb {
namespace {

std::vector<std::byte> encoded(std::uint64_t value) {
  std::vector<std::byte> out(varint_size(value));
  LeCursor put(out.data());
  put.put_varint(value);
  EXPECT_EQ(put.at(), out.data() + out.size()) << value;
  return out;
}

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int value : values) out.push_back(static_cast<std::byte>(value));
  return out;
}

TEST(VarintTest, PinnedBytesAndSizes) {
  EXPECT_EQ(encoded(0), bytes({0x00}));
  EXPECT_EQ(encoded(127), bytes({0x7f}));
  EXPECT_EQ(encoded(128), bytes({0x80, 0x01}));
  EXPECT_EQ(encoded(300), bytes({0xac, 0x02}));
  EXPECT_EQ(encoded(~std::uint64_t{0}),
            bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  EXPECT_EQ(varint_size(0), 1u);
  EXPECT_EQ(varint_size((std::uint64_t{1} << 63) - 1), 9u);
  EXPECT_EQ(varint_size(std::uint64_t{1} << 63), 10u);
}

TEST(VarintTest, EveryBoundaryRoundTrips) {
  for (int bits = 0; bits <= 64; ++bits) {
    for (std::uint64_t delta : {0, 1}) {
      const std::uint64_t value =
          bits == 64 ? ~std::uint64_t{0} - delta : (std::uint64_t{1} << bits) - delta;
      const std::vector<std::byte> in = encoded(value);
      ByteReader reader(in);
      std::uint64_t out = 0;
      ASSERT_TRUE(reader.read_varint(out, "v")) << reader.error();
      EXPECT_EQ(out, value);
      EXPECT_EQ(reader.remaining(), 0u);
    }
  }
}

std::string refusal(const std::vector<std::byte>& in) {
  ByteReader reader(in);
  std::uint64_t out = 0;
  EXPECT_FALSE(reader.read_varint(out, "count"));
  return reader.error();
}

TEST(VarintTest, MalformedOnesAreRefusedByName) {
  EXPECT_EQ(refusal(bytes({0x80, 0x00})), "count: varint not minimal at byte 2");
  EXPECT_EQ(refusal(bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})),
            "count: varint past 64 bits at byte 10");
  EXPECT_EQ(refusal(bytes({0x80, 0x80})),
            "truncated reading count at byte 2 (1 bytes wanted, 0 left)");
  EXPECT_EQ(refusal({}), "truncated reading count at byte 0 (1 bytes wanted, 0 left)");
}

}  // namespace
}  // namespace mmsb

#include "mmsb/delta.hpp"

#include <gtest/gtest.h>

#include "support/bytes.hpp"

namespace mmsb {
namespace {

using test::bytes_of;
using test::filled;

Delta runs_delta(std::vector<DeltaRun> runs, std::string_view bytes, PageId page = PageId(7)) {
  return Delta::from_runs(page, Epoch(3), std::move(runs), bytes_of(bytes));
}

TEST(DeltaDiffTest, EqualPagesGiveTheIdentity) {
  auto page = filled(1000, 1);
  Delta delta = diff(PageId(1), Epoch(0), page, page).value();
  EXPECT_TRUE(delta.is_identity());
  EXPECT_EQ(delta.page(), PageId(1));
}

TEST(DeltaDiffTest, FindsExactRunsAcrossBlockBoundaries) {
  auto old_bytes = filled(300, 0);
  auto new_bytes = old_bytes;
  for (std::size_t i = 60; i < 70; ++i) new_bytes[i] = std::byte{1};  // crosses 64
  new_bytes[200] = std::byte{2};
  new_bytes[299] = std::byte{3};  // in the partial tail block
  Delta delta = diff(PageId(1), Epoch(4), old_bytes, new_bytes).value();
  ASSERT_EQ(delta.encoding(), DeltaEncoding::kRuns);
  std::vector<DeltaRun> expected = {{60, 10}, {200, 1}, {299, 1}};
  EXPECT_EQ(std::vector<DeltaRun>(delta.runs().begin(), delta.runs().end()), expected);
  EXPECT_EQ(delta.base_epoch(), Epoch(4));
  EXPECT_EQ(delta.bytes().size(), 12u);
}

TEST(DeltaDiffTest, MergesGapsOfAtMostEightBytes) {
  auto old_bytes = filled(256, 0);
  auto new_bytes = old_bytes;
  new_bytes[10] = std::byte{1};
  new_bytes[19] = std::byte{1};  // gap of 8: merged
  new_bytes[100] = std::byte{1};
  new_bytes[110] = std::byte{1};  // gap of 9: separate
  Delta delta = diff(PageId(1), Epoch(0), old_bytes, new_bytes).value();
  std::vector<DeltaRun> expected = {{10, 10}, {100, 1}, {110, 1}};
  EXPECT_EQ(std::vector<DeltaRun>(delta.runs().begin(), delta.runs().end()), expected);
}

TEST(DeltaDiffTest, ChoosesDenseWhenSmaller) {
  auto old_bytes = filled(16, 0);
  auto new_bytes = filled(16, 9);
  Delta delta = diff(PageId(1), Epoch(0), old_bytes, new_bytes).value();
  EXPECT_EQ(delta.encoding(), DeltaEncoding::kDense);
  EXPECT_EQ(delta.bytes().size(), 16u);
}

TEST(DeltaDiffTest, RejectsDifferentSizes) {
  auto status = diff(PageId(5), Epoch(0), filled(10, 0), filled(11, 0)).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("page 5"), std::string::npos) << status;
}

TEST(DeltaDiffTest, ReusedDeltaIsOverwritten) {
  Delta delta;
  auto a = filled(128, 0);
  auto b = a;
  b[5] = std::byte{1};
  ASSERT_TRUE(diff_into(PageId(1), Epoch(0), a, b, delta).is_ok());
  ASSERT_TRUE(diff_into(PageId(2), Epoch(1), a, a, delta).is_ok());
  EXPECT_TRUE(delta.is_identity());
  EXPECT_EQ(delta.page(), PageId(2));
}

TEST(DeltaApplyTest, WritesRunsAndDense) {
  auto page = filled(8, '.');
  ASSERT_TRUE(apply_delta(runs_delta({{1, 2}, {5, 1}}, "abc"), page).is_ok());
  EXPECT_EQ(page, bytes_of(".ab..c.."));
  ASSERT_TRUE(
      apply_delta(Delta::from_dense(PageId(7), Epoch(0), bytes_of("12345678")), page).is_ok());
  EXPECT_EQ(page, bytes_of("12345678"));
}

TEST(DeltaApplyTest, OutOfRangeRunIsRejectedAndPageUntouched) {
  auto page = filled(1024, '.');
  auto before = page;
  Status status =
      apply_delta(runs_delta({{0, 1}, {1000, 100}}, std::string(101, 'x'), PageId(42)), page);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "page 42: delta run 1 [1000,1100) exceeds page size 1024");
  EXPECT_EQ(page, before);
}

TEST(DeltaApplyTest, MalformedRunsAreRejectedAndNamed) {
  auto page = filled(64, '.');
  auto before = page;
  struct Case {
    Delta delta;
    const char* needle;
  };
  Case cases[] = {
      {runs_delta({{4, 0}}, ""), "delta run 0 [4,4) is empty"},
      {runs_delta({{10, 4}, {12, 2}}, "abcdef"), "delta run 1 [12,14) overlaps"},
      {runs_delta({{10, 4}, {2, 2}}, "abcdef"), "delta run 1 [2,4) overlaps or precedes"},
      {runs_delta({{0, 4}}, "abc"), "cover 4 bytes but carry 3"},
      {Delta::from_dense(PageId(7), Epoch(0), filled(63, 0)), "dense delta of 63 bytes"},
  };
  for (const Case& c : cases) {
    Status status = apply_delta(c.delta, page);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(c.needle), std::string::npos) << status;
    EXPECT_NE(status.message().find("page 7"), std::string::npos) << status;
    EXPECT_EQ(page, before);
  }
}

TEST(DeltaComposeTest, LaterRunsWinOnOverlap) {
  Delta first = runs_delta({{0, 4}, {10, 2}}, "aaaabb");
  Delta second = runs_delta({{2, 4}, {12, 1}}, "ccccd");
  Delta composed = compose(first, second).value();
  std::vector<DeltaRun> expected = {{0, 6}, {10, 3}};
  EXPECT_EQ(std::vector<DeltaRun>(composed.runs().begin(), composed.runs().end()), expected);
  EXPECT_EQ(test::to_vector(composed.bytes()), bytes_of("aaccccbbd"));
  EXPECT_EQ(composed.base_epoch(), first.base_epoch());
}

TEST(DeltaComposeTest, DenseCases) {
  Delta dense = Delta::from_dense(PageId(7), Epoch(3), bytes_of("abcdefgh"));
  Delta runs = runs_delta({{1, 2}}, "XY");
  Delta dense_then_runs = compose(dense, runs).value();
  EXPECT_EQ(dense_then_runs.encoding(), DeltaEncoding::kDense);
  EXPECT_EQ(test::to_vector(dense_then_runs.bytes()), bytes_of("aXYdefgh"));
  Delta runs_then_dense = compose(runs, dense).value();
  EXPECT_EQ(test::to_vector(runs_then_dense.bytes()), bytes_of("abcdefgh"));
  EXPECT_EQ(runs_then_dense.base_epoch(), Epoch(3));
}

TEST(DeltaComposeTest, RejectsDifferentPagesAndBadInput) {
  EXPECT_EQ(compose(runs_delta({}, "", PageId(1)), runs_delta({}, "", PageId(2))).status().code(),
            StatusCode::kInvalidArgument);
  Delta dense = Delta::from_dense(PageId(7), Epoch(3), bytes_of("abcd"));
  EXPECT_EQ(compose(dense, runs_delta({{3, 2}}, "xy")).status().message(),
            "page 7: delta run 0 [3,5) exceeds page size 4");
  EXPECT_EQ(compose(runs_delta({{3, 0}}, ""), runs_delta({}, "")).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(DeltaEncodeTest, RoundTripsAndReportsSize) {
  Delta delta = runs_delta({{1, 2}, {9, 3}}, "abcde");
  std::vector<std::byte> encoded = encode_delta(delta);
  EXPECT_EQ(encoded.size(), delta.encoded_size_bytes());
  EXPECT_EQ(encoded.size(), kDeltaHeaderBytes + 16 + 5);
  EXPECT_EQ(decode_delta(encoded).value(), delta);
}

TEST(DeltaDecodeTest, RejectsMalformedInput) {
  std::vector<std::byte> good = encode_delta(runs_delta({{1, 2}, {9, 3}}, "abcde"));
  auto expect_rejected = [](std::vector<std::byte> bytes, const char* needle) {
    auto result = decode_delta(bytes);
    ASSERT_FALSE(result.is_ok()) << needle;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find(needle), std::string::npos) << result.status();
  };
  expect_rejected({good.begin(), good.begin() + 10}, "shorter than the 32-byte header");
  auto bad_version = good;
  bad_version[0] = std::byte{9};
  expect_rejected(bad_version, "unknown format version 9");
  auto bad_encoding = good;
  bad_encoding[1] = std::byte{5};
  expect_rejected(bad_encoding, "unknown encoding 5");
  auto bad_reserved = good;
  bad_reserved[2] = std::byte{1};
  expect_rejected(bad_reserved, "reserved");
  auto truncated = good;
  truncated.pop_back();
  expect_rejected(truncated, "follow the header");
  auto trailing = good;
  trailing.push_back(std::byte{0});
  expect_rejected(trailing, "follow the header");
  auto huge_count = good;
  huge_count[7] = std::byte{0x7f};
  expect_rejected(huge_count, "follow the header");
  auto unsorted = encode_delta(runs_delta({{9, 3}, {1, 2}}, "abcde"));
  expect_rejected(unsorted, "delta run 1 [1,3) overlaps or precedes");
  auto dense_with_runs = good;
  dense_with_runs[1] = std::byte{1};
  expect_rejected(dense_with_runs, "dense delta with 2 runs");
}

}  // namespace
}  // namespace mmsb

namespace mmsb {
namespace {

TEST(DeltaTest, SettersAndClear) {
  Delta delta = Delta::from_dense(PageId(1), Epoch(2), test::bytes_of("ab"));
  EXPECT_EQ(delta.encoded_size_bytes(), kDeltaHeaderBytes + 2);
  EXPECT_FALSE(delta.is_identity());
  delta.set_page(PageId(5));
  delta.set_base_epoch(Epoch(6));
  EXPECT_EQ(delta.page(), PageId(5));
  EXPECT_EQ(delta.base_epoch(), Epoch(6));
  delta.clear();
  EXPECT_TRUE(delta.is_identity());
  EXPECT_EQ(delta, Delta());
  EXPECT_TRUE(delta.validate(1).is_ok());
}

TEST(IdsTest, StrongIdsCompareAndHash) {
  EXPECT_FALSE(PageId().is_valid());
  EXPECT_TRUE(PageId(1).is_valid());
  EXPECT_LT(PageId(1), PageId(2));
  EXPECT_EQ(std::hash<EdgeId>{}(EdgeId(9)), std::hash<std::uint64_t>{}(9));
  static_assert(!std::is_convertible_v<PageId, EdgeId>, "ids must not mix");
  static_assert(!std::is_convertible_v<std::uint64_t, PageId>, "ids are explicit");
}

}  // namespace
}  // namespace mmsb

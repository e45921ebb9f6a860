// The wire protocol's frames byte for byte (docs/FORMAT.md "Wire protocol"), their round
// trips, and the decoders' refusals of malformed bodies.
#include "net/wire.hpp"

#include <gtest/gtest.h>

#include <random>

#include "fuzz/wire_target.hpp"
#include "log/tick_record.hpp"
#include "support/bytes.hpp"

namespace mmsb::net {
namespace {

// Little-endian bytes, as FORMAT.md writes them.
struct Bytes {
  std::vector<std::byte> out;
  template <typename T>
  Bytes& le(T value) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      out.push_back(static_cast<std::byte>(static_cast<std::uint64_t>(value) >> (8 * i)));
    }
    return *this;
  }
  Bytes& text(std::string_view s) {
    for (char c : s) out.push_back(static_cast<std::byte>(c));
    return *this;
  }
  // The header of a frame whose body is what follows.
  static Bytes header(std::uint32_t length, std::uint8_t type, std::uint64_t id) {
    Bytes b;
    b.le<std::uint32_t>(length).le<std::uint8_t>(type).le<std::uint8_t>(0).le<std::uint16_t>(0);
    b.le<std::uint64_t>(id);
    return b;
  }
  Bytes& append(const Bytes& other) {
    out.insert(out.end(), other.out.begin(), other.out.end());
    return *this;
  }
};

std::span<const std::byte> body_of(const std::vector<std::byte>& frame) {
  return std::span<const std::byte>(frame).subspan(kFrameHeaderBytes);
}

TEST(WireGoldenTest, HelloIsPinned) {
  std::vector<std::byte> frame;
  encode_hello(frame, 7, Hello{1, "secret"});
  Bytes body;
  body.le<std::uint32_t>(0x42534d4d).le<std::uint16_t>(1).le<std::uint16_t>(0);
  body.le<std::uint32_t>(6).text("secret");
  EXPECT_EQ(frame, Bytes::header(18, 1, 7).append(body).out);
  EXPECT_EQ(body.out[0], std::byte{'M'});  // the magic reads "MMSB"
}

TEST(WireGoldenTest, CommitIsTheLogsOpLayoutWithZeroResults) {
  std::vector<std::byte> frame;
  Commit commit;
  commit.ops.push_back(log::WriteOp{5, 8, test::bytes_of("ab")});
  commit.ops.push_back(log::ReadOp{6, 3});
  ASSERT_TRUE(encode_commit(frame, 9, commit.fork, commit.ops).is_ok());
  Bytes body;
  body.le<std::uint64_t>(0);  // fork: the engine
  body.le<std::uint32_t>(2);  // ops
  body.le<std::uint8_t>(3).le<std::uint64_t>(5).le<std::uint64_t>(0).le<std::uint64_t>(8);
  body.le<std::uint64_t>(2).text("ab");  // write: page, epoch (0), offset, length, bytes
  body.le<std::uint8_t>(1).le<std::uint64_t>(6).le<std::uint64_t>(3);  // read: page, epoch
  EXPECT_EQ(frame,
            Bytes::header(static_cast<std::uint32_t>(body.out.size()), 2, 9).append(body).out);
  Commit decoded;
  ASSERT_TRUE(decode_commit(body_of(frame), decoded).is_ok());
  EXPECT_EQ(decoded.ops, commit.ops);
}

TEST(WireGoldenTest, ReadAnswerIsPinned) {
  std::vector<std::byte> frame;
  ReadOkWriter writer(frame, 3, 12, 2);
  const std::vector<std::byte> bytes = test::bytes_of("xyz!");
  PageView view;
  view.id = PageId(4);
  view.type = 2;
  view.size_bytes = 4;
  view.epoch = Epoch(5);
  view.bytes = bytes;
  writer.add(Result<PageView>(view));
  writer.add(Result<PageView>(not_found("no page 9")));
  writer.finish();
  Bytes body;
  body.le<std::uint64_t>(12).le<std::uint32_t>(2);
  body.le<std::uint8_t>(0).le<std::uint32_t>(2).le<std::uint64_t>(5).le<std::uint64_t>(4).text(
      "xyz!");
  body.le<std::uint8_t>(2).le<std::uint32_t>(0).le<std::uint64_t>(0).le<std::uint64_t>(0);
  EXPECT_EQ(frame,
            Bytes::header(static_cast<std::uint32_t>(body.out.size()), 0x83, 3).append(body).out);
  ReadOk decoded;
  ASSERT_TRUE(decode_read_ok(body_of(frame), decoded).is_ok());
  ASSERT_EQ(decoded.pages.size(), 2u);
  EXPECT_EQ(test::to_vector(decoded.pages[0].bytes), bytes);
  EXPECT_EQ(decoded.pages[1].code, StatusCode::kNotFound);
}

TEST(WireGoldenTest, ErrorIngestAndEventArePinned) {
  std::vector<std::byte> frame;
  encode_error(frame, 4, not_found("gone"), true);
  Bytes error;
  error.le<std::uint8_t>(2).le<std::uint8_t>(1).le<std::uint16_t>(0).le<std::uint32_t>(4).text(
      "gone");
  EXPECT_EQ(frame, Bytes::header(12, 0xFF, 4).append(error).out);

  frame.clear();
  std::vector<Packet> packets(1);
  packets[0].set_inline(7, test::bytes_of("hi"));
  encode_ingest(frame, 5, packets);
  Bytes ingest;
  ingest.le<std::uint32_t>(1).le<std::uint32_t>(7).le<std::uint8_t>(2).text("hi");
  EXPECT_EQ(frame, Bytes::header(11, 11, 5).append(ingest).out);

  frame.clear();
  const PacketVerdict denied{PacketOutcome::kDenied, DenyReason::kUnknownTopic};
  encode_ingest_ok(frame, 5, 10, std::span<const PacketVerdict>(&denied, 1), 1);
  Bytes verdicts;
  verdicts.le<std::uint64_t>(10).le<std::uint32_t>(2).le<std::uint8_t>(2).le<std::uint8_t>(2);
  verdicts.le<std::uint8_t>(4).le<std::uint8_t>(0);
  EXPECT_EQ(frame, Bytes::header(16, 0x8B, 5).append(verdicts).out);

  frame.clear();
  EventBatch batch{TickId(3), {Event{EventType::kChanged, PageId(8), Epoch(2)}}, 0};
  encode_event(frame, 6, batch, 1);
  Bytes event;
  event.le<std::uint64_t>(3).le<std::uint64_t>(1).le<std::uint32_t>(1);
  event.le<std::uint8_t>(2).le<std::uint64_t>(8).le<std::uint64_t>(2);
  EXPECT_EQ(frame, Bytes::header(37, 0x40, 6).append(event).out);
}

TEST(WireTest, HeaderRefusesFlagsReservedAndOversize) {
  Bytes good = Bytes::header(100, 2, 1);
  auto decode = [](const Bytes& b, std::uint32_t max) {
    return decode_header(std::span<const std::byte>(b.out).first<kFrameHeaderBytes>(), max);
  };
  ASSERT_TRUE(decode(good, 100).is_ok());
  EXPECT_EQ(decode(good, 100)->length, 100u);
  Result<FrameHeader> big = decode(good, 99);
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(big.status().message().find("frame_bytes_max"), std::string::npos);
  Bytes flagged = good;
  flagged.out[5] = std::byte{1};
  EXPECT_EQ(decode(flagged, 100).status().code(), StatusCode::kInvalidArgument);
}

TEST(WireTest, RoundTripsOfTheOtherFrames) {
  std::vector<std::byte> frame;
  encode_read(frame, 1, Read{0, 3, {PageId(1), PageId(2)}});
  Read read;
  ASSERT_TRUE(decode_read(body_of(frame), read).is_ok());
  EXPECT_EQ(read.fork, 3u);
  EXPECT_EQ(read.pages, (std::vector<PageId>{PageId(1), PageId(2)}));

  frame.clear();
  CommitInfo info;
  info.tick = TickId(9);
  info.root = Hash128{1, 2};
  info.created_pages = {PageId(4)};
  info.receipts.push_back(RuleReceipt{.family = 5,
                                      .scope = PageId(4),
                                      .nonce = 6,
                                      .outcome = ReceiptOutcome::kDeferred,
                                      .attempt = 2,
                                      .blocker_family = 0,
                                      .blocker_scope = PageId(0),
                                      .retry_at = TickId(11)});
  encode_commit_ok(frame, 2, info);
  CommitInfo back;
  ASSERT_TRUE(decode_commit_ok(body_of(frame), back).is_ok());
  EXPECT_EQ(back.tick, info.tick);
  EXPECT_EQ(back.root, info.root);
  EXPECT_EQ(back.created_pages, info.created_pages);
  EXPECT_EQ(back.receipts, info.receipts);

  frame.clear();
  encode_stats_ok(frame, 3, stats_entries(EngineStats{}));
  std::vector<StatsEntry> entries;
  ASSERT_TRUE(decode_stats_ok(body_of(frame), entries).is_ok());
  EXPECT_EQ(entries.size(), stats_entries(EngineStats{}).size());
  EXPECT_EQ(entries.front().name, "ticks");

  frame.clear();
  encode_subscribe(frame, 4, Subscribe{0x6, {PageId(2)}});
  Subscribe subscribe;
  ASSERT_TRUE(decode_subscribe(body_of(frame), subscribe).is_ok());
  EXPECT_EQ(subscribe.types, 0x6u);

  frame.clear();
  encode_merge(frame, 5, Merge{2, MergePolicy::kPreferTheirs});
  Merge merge;
  ASSERT_TRUE(decode_merge(body_of(frame), merge).is_ok());
  EXPECT_EQ(merge.policy, MergePolicy::kPreferTheirs);
}

TEST(WireTest, DecodersRefuseTruncationTrailingBytesAndBadValues) {
  std::vector<std::byte> frame;
  encode_hello(frame, 1, Hello{1, "t"});
  std::vector<std::byte> body(frame.begin() + kFrameHeaderBytes, frame.end());
  Hello hello;
  for (std::size_t cut = 0; cut < body.size(); ++cut) {
    Status status = decode_hello(std::span<const std::byte>(body).first(cut), hello);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << cut;
    EXPECT_NE(status.message().find("HELLO frame"), std::string::npos);
  }
  body.push_back(std::byte{0});
  EXPECT_NE(decode_hello(body, hello).message().find("after the body"), std::string::npos);

  Merge merge;
  Bytes bad_policy;
  bad_policy.le<std::uint64_t>(1).le<std::uint8_t>(3);  // kCustom: not over the network
  EXPECT_FALSE(decode_merge(bad_policy.out, merge).is_ok());
  std::vector<Packet> packets;
  Bytes oversize;
  oversize.le<std::uint32_t>(1).le<std::uint32_t>(1).le<std::uint8_t>(41);
  for (int i = 0; i < 41; ++i) oversize.le<std::uint8_t>(0);
  EXPECT_NE(decode_ingest(oversize.out, packets).message().find("inline limit"), std::string::npos);
  Bytes many;
  many.le<std::uint32_t>(1000);  // more packets than bytes
  EXPECT_NE(decode_ingest(many.out, packets).message().find("exceeds the frame"),
            std::string::npos);
  Commit commit;
  Bytes result_set;
  result_set.le<std::uint64_t>(0).le<std::uint32_t>(1).le<std::uint8_t>(3).le<std::uint64_t>(1);
  result_set.le<std::uint64_t>(7).le<std::uint64_t>(0).le<std::uint64_t>(0);  // epoch 7
  EXPECT_NE(decode_commit(result_set.out, commit).message().find("non-zero result"),
            std::string::npos);
}

// Random inputs through the fuzz target's checks: every decoder refuses or decodes, and
// what a request decoder accepts encodes back to the same bytes.
TEST(WireTest, RandomBodiesAreRefusedOrDecodedToTheirOwnEncoding) {
  std::mt19937_64 random(20261201);
  int accepted = 0;
  for (int round = 0; round < 40000; ++round) {
    std::vector<std::uint8_t> input(1 + random() % 48);
    for (std::uint8_t& b : input)
      b = static_cast<std::uint8_t>(random() % 8 == 0 ? 0xff : random() % 3);
    input[0] = static_cast<std::uint8_t>(round % 16);
    accepted += fuzz::wire_target(input.data(), input.size()) ? 1 : 0;
  }
  EXPECT_GT(accepted, 100);  // the inputs reach past the first checks
}

}  // namespace
}  // namespace mmsb::net

#include "log/tick_record.hpp"

#include <gtest/gtest.h>

#include "core/byte_reader.hpp"
#include "support/bytes.hpp"

namespace mmsb::log {
namespace {

// Flips each byte of `payload` in turn: the decoder must refuse it with Corruption or
// accept it only as a valid encoding (re-encoding gives the same bytes).
void expect_every_flipped_byte_refused_or_canonical(const std::vector<std::byte>& payload) {
  for (std::size_t at = 0; at < payload.size(); ++at) {
    std::vector<std::byte> damaged = payload;
    damaged[at] ^= std::byte{0xff};
    auto decoded = decode_tick_record(damaged);
    if (decoded.is_ok()) {
      std::vector<std::byte> again;
      ASSERT_TRUE(encode_tick_record(*decoded, again).is_ok());
      EXPECT_EQ(again, damaged) << "byte " << at;
    } else {
      EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption) << "byte " << at;
    }
  }
}

TickRecord sample_record() {
  TickRecord record;
  record.tick = TickId(7);
  record.previous = Hash128{1, 2};
  record.root = Hash128{3, 4};
  record.wall_time_ns = 123456789;
  TransactionInput committed;
  CreatePageOp create;
  create.type = 5;
  create.size_bytes = 4;
  create.bytes = test::bytes_of("abcd");
  WriteOp write;
  write.page = kProvisionalBit | 0;
  write.offset = 1;
  write.bytes = test::bytes_of("xy");
  ReadOp read;
  read.page = 3;
  read.epoch = 9;
  AddEdgeOp edge;
  edge.edge_kind = 1024;
  edge.from = 3;
  edge.to = kProvisionalBit | 0;
  RemoveEdgeOp remove;
  remove.edge = 1;
  DeletePageOp erase;
  erase.page = 4;
  DeriveOp derive;
  derive.page = kProvisionalBit | 0;
  derive.function = "mmsb.concat";
  derive.parents = {3, 4};
  ApplyRuleOp apply;
  apply.family = 0x1234;
  apply.page = kProvisionalBit | 0;
  committed.ops = {create, write, read, edge, remove, erase, derive, apply};
  // Results, one per op: the page created as 11, written at epoch 0, edge 2, first derive
  // edge 5, the rule's scope 11.
  record.op_results = {{11, 0}, {0, 0}, {}, {2, 0}, {}, {}, {5, 0}, {11, 0}};
  TransactionInput conflicted;
  conflicted.ops = {read};
  record.transactions = {LoggedTransaction{committed, {StatusCode::kOk, 0}},
                         LoggedTransaction{conflicted, {StatusCode::kConflict, 8}}};
  PageWrite rule_write{PageId(11), Epoch(0), 1, test::bytes_of("xy")};
  RuleReceipt applied;
  applied.family = 0x1234;
  applied.scope = PageId(11);
  RuleReceipt rejected = applied;
  rejected.scope = PageId(3);
  rejected.nonce = 1;
  rejected.outcome = ReceiptOutcome::kRejected;
  rejected.blocker_family = 0x1234;
  rejected.blocker_scope = PageId(11);
  record.rules = {RuleOutcome{applied, {rule_write}}, RuleOutcome{rejected, {}}};
  record.derived = {Delta::from_runs(PageId(11), Epoch(0), {DeltaRun{0, 2}}, test::bytes_of("hi")),
                    Delta::from_dense(PageId(12), Epoch(4), test::bytes_of("dense"))};
  return record;
}

TEST(TickRecordTest, RoundTripsEveryOpKind) {
  TickRecord record = sample_record();
  std::vector<std::byte> payload;
  ASSERT_TRUE(encode_tick_record(record, payload).is_ok());
  EXPECT_EQ(decode_tick_record(payload).value(), record);
}

// An ingest tick: two packets, one admitted (payload logged), one denied before its payload
// mattered (not logged), a bucket level and the ruleset logged in full.
TickRecord ingest_record() {
  TickRecord record;
  record.tick = TickId(3);
  record.has_ingest = true;
  IngestSection& ingest = record.ingest;
  ingest.time_ns = 0x99;
  ingest.ruleset = Hash128{0x5555, 0x6666};
  ingest.ruleset_bytes = test::bytes_of("R");
  ingest.buckets = {BucketLevel{7, 2'000'000'000, 0x88}};
  ingest.payload = test::bytes_of("hi");
  ingest.packets = {
      IngestPacket{1, 5, 7, PacketOutcome::kAdmitted, DenyReason::kNone, 2, true, 0},
      IngestPacket{2, 9, 8, PacketOutcome::kDenied, DenyReason::kTopicDenied, 300, false, 0}};
  return record;
}

TEST(TickRecordTest, RoundTripsAnIngestSection) {
  TickRecord record = ingest_record();
  std::vector<std::byte> payload;
  ASSERT_TRUE(encode_tick_record(record, payload).is_ok());
  EXPECT_EQ(decode_tick_record(payload).value(), record);
  expect_every_flipped_byte_refused_or_canonical(payload);
}

TEST(TickRecordTest, DecodingIntoAUsedRecordGivesWhatAFreshOneGets) {
  // Replay decodes every record into one TickRecord: nothing of the record before may stay.
  TickRecord merge = sample_record();
  merge.has_merge = true;
  merge.merge.next_page_id = 20;
  merge.merge.pages_set = {PageImage{PageId(11), 5, Epoch(2), test::bytes_of("page")}};
  merge.merge.pages_deleted = {PageId(4)};
  merge.merge.derivations_set = {{PageId(11), "mmsb.concat"}};
  TickRecord fewer = sample_record();
  fewer.transactions.pop_back();
  fewer.rules.clear();
  fewer.derived.clear();
  const std::vector<TickRecord> sequence = {sample_record(), ingest_record(), merge,          fewer,
                                            ingest_record(), TickRecord{},    sample_record()};
  TickRecord into;
  for (const TickRecord& record : sequence) {
    std::vector<std::byte> payload;
    ASSERT_TRUE(encode_tick_record(record, payload).is_ok());
    ASSERT_TRUE(decode_tick_record(payload, into).is_ok());
    EXPECT_EQ(into, record);
  }
}

TEST(TickRecordTest, IngestPacketsWithImpossibleOutcomesAreRefused) {
  TickRecord record = ingest_record();
  record.ingest.packets[0].has_payload = false;  // admitted without its payload
  record.ingest.packets[0].length = 0;
  std::vector<std::byte> payload;
  ASSERT_TRUE(encode_tick_record(record, payload).is_ok());
  auto decoded = decode_tick_record(payload);
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  EXPECT_NE(decoded.status().message().find("packet outcome 1 with deny reason 0 and no payload"),
            std::string::npos)
      << decoded.status().message();
}

// Pins the ingest section of docs/FORMAT.md "TickRecord".
TEST(TickRecordTest, GoldenIngestLayout) {
  std::vector<std::byte> payload;
  ASSERT_TRUE(encode_tick_record(ingest_record(), payload).is_ok());
  EXPECT_EQ(
      to_hex(std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size())),
      "06"                                // version
      "02"                                // flags: ingest
      "0000"                              // reserved
      "00000000"                          // transactions
      "0300000000000000"                  // tick
      "00000000000000000000000000000000"  // previous
      "00000000000000000000000000000000"  // root
      "0000000000000000"                  // wall time
      "9900000000000000"                  // ingest time
      "00000000000066660000000000005555"  // ruleset hash
      "01000000"                          // ruleset length
      "52"                                // ruleset ("R")
      "01000000"                          // bucket levels
      "07000000"                          // topic
      "0094357700000000"                  // tokens (2 packets in nano-tokens)
      "8800000000000000"                  // as of
      "02000000"                          // packets
      "01000000"                          // producer
      "0500000000000000"                  // sequence
      "07000000"                          // topic
      "01"                                // admitted
      "00"                                // no reason
      "01"                                // payload logged
      "02000000"                          // length
      "6869"                              // "hi"
      "02000000"                          // producer
      "0900000000000000"                  // sequence
      "08000000"                          // topic
      "02"                                // denied
      "03"                                // topic_denied
      "00"                                // payload not logged
      "2c010000"                          // length 300
      "00000000"                          // rule receipts
      "00000000");                        // derived deltas
}

TEST(TickRecordTest, RoundTripsAMergeEffect) {
  TickRecord record;
  record.tick = TickId(2);
  record.has_merge = true;
  record.merge.pages_set = {PageImage{PageId(5), 2, Epoch(3), test::bytes_of("page")}};
  record.merge.pages_deleted = {PageId(6)};
  record.merge.edges_added = {Edge{EdgeId(9), 1024, PageId(5), PageId(5)}};
  record.merge.edges_removed = {EdgeId(4)};
  record.merge.derivations_set = {{PageId(5), "mmsb.passthrough"}, {PageId(7), "f"}};
  record.merge.derivations_removed = {PageId(8)};
  record.merge.next_page_id = 10;
  record.merge.next_edge_id = 12;
  std::vector<std::byte> payload;
  ASSERT_TRUE(encode_tick_record(record, payload).is_ok());
  EXPECT_EQ(decode_tick_record(payload).value(), record);
}

TEST(TickRecordTest, EveryTruncationIsCorruptionNotACrash) {
  std::vector<std::byte> payload;
  ASSERT_TRUE(encode_tick_record(sample_record(), payload).is_ok());
  for (std::size_t length = 0; length < payload.size(); ++length) {
    auto decoded = decode_tick_record(std::span(payload).first(length));
    ASSERT_FALSE(decoded.is_ok()) << length;
    EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
  }
  payload.push_back(std::byte{0});
  EXPECT_EQ(decode_tick_record(payload).status().message(),
            "tick record: 1 trailing bytes at byte " + std::to_string(payload.size() - 1));
}

TEST(TickRecordTest, OtherVersionsAreRefusedWithBothVersionsNamed) {
  std::vector<std::byte> payload;
  ASSERT_TRUE(encode_tick_record(sample_record(), payload).is_ok());
  for (int version : {3, 4, 5}) {  // older layouts (4: state root 3; 5: fixed-width receipts)
    payload[0] = static_cast<std::byte>(version);
    auto decoded = decode_tick_record(payload);
    EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption);
    EXPECT_EQ(decoded.status().message(),
              "tick record: unknown tick record version " + std::to_string(version) +
                  " (this build reads 6; logs of other versions are not migrated) at byte 1");
  }
}

// The outcome's head says which receipt fields are logged: a receipt with others set
// would not come back as it went in, so the encoder refuses it.
TEST(TickRecordTest, ReceiptFieldsItsOutcomeDoesNotLogAreRefused) {
  TickRecord record = sample_record();
  RuleReceipt skipped;
  skipped.family = 1;
  skipped.scope = PageId(2);
  skipped.nonce = 7;
  skipped.outcome = ReceiptOutcome::kSkipped;
  skipped.blocker_family = 3;
  record.rules.push_back(RuleOutcome{skipped, {}});
  std::vector<std::byte> payload;
  const Status status = encode_tick_record(record, payload);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("rule receipt " + std::to_string(record.rules.size() - 1) +
                                  " carries fields its outcome does not log"),
            std::string::npos)
      << status.message();
  record.rules.back().receipt.blocker_family = 0;
  payload.clear();
  ASSERT_TRUE(encode_tick_record(record, payload).is_ok());
  EXPECT_EQ(decode_tick_record(payload).value(), record);
}

TEST(TickRecordTest, EveryFlippedByteIsRejectedOrDecodesToSomethingValid) {
  std::vector<std::byte> payload;
  ASSERT_TRUE(encode_tick_record(sample_record(), payload).is_ok());
  expect_every_flipped_byte_refused_or_canonical(payload);
}

// Pins the layout of docs/FORMAT.md "TickRecord".
TEST(TickRecordTest, GoldenLayout) {
  TickRecord record;
  record.tick = TickId(2);
  record.previous = Hash128{0x1111, 0x2222};
  record.root = Hash128{0x3333, 0x4444};
  record.wall_time_ns = 5;
  WriteOp write;
  write.page = 1;
  write.offset = 4;
  write.bytes = test::bytes_of("z");
  DeriveOp derive;
  derive.page = 9;
  derive.function = "f";
  derive.parents = {1, 2};
  ApplyRuleOp apply;
  apply.family = 0xab;
  apply.page = 1;
  record.transactions = {
      LoggedTransaction{TransactionInput{{write, derive, apply}}, {StatusCode::kOk, 0}}};
  record.op_results = {{0, 3}, {5, 0}, {1, 0}};
  PageWrite rule_write{PageId(1), Epoch(3), 4, test::bytes_of("w")};
  RuleReceipt applied;
  applied.family = 0xab;
  applied.scope = PageId(1);
  RuleReceipt deferred{.family = 0xcd,
                       .scope = PageId(9),
                       .nonce = 1,
                       .outcome = ReceiptOutcome::kDeferred,
                       .attempt = 2,
                       .blocker_family = 0xab,
                       .blocker_scope = PageId(1),
                       .retry_at = TickId(4)};
  record.rules = {RuleOutcome{applied, {rule_write}}, RuleOutcome{deferred, {}}};
  record.derived = {Delta::from_runs(PageId(9), Epoch(6), {DeltaRun{2, 1}}, test::bytes_of("q"))};
  std::vector<std::byte> payload;
  ASSERT_TRUE(encode_tick_record(record, payload).is_ok());
  const std::string delta_hex = test::hex(encode_delta(record.derived[0]));
  EXPECT_EQ(
      to_hex(std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size())),
      "06"                                // version
      "00"                                // flags
      "0000"                              // reserved
      "01000000"                          // transactions
      "0200000000000000"                  // tick
      "00000000000022220000000000001111"  // previous (high, low; big-endian)
      "00000000000044440000000000003333"  // root
      "0500000000000000"                  // wall time
      "03000000"                          // ops
      "00"                                // outcome OK
      "03"                                // write
      "0100000000000000"                  // page
      "0300000000000000"                  // epoch
      "0400000000000000"                  // offset
      "0100000000000000"                  // length
      "7a"                                // bytes
      "07"                                // derive
      "0900000000000000"                  // page (the child)
      "0500000000000000"                  // first edge id
      "01000000"                          // function name length
      "66"                                // "f"
      "02000000"                          // parents
      "0100000000000000"                  // parent 1
      "0200000000000000"                  // parent 2
      "08"                                // apply rule
      "ab00000000000000"                  // family
      "0100000000000000"                  // scope
      "0100000000000000"                  // scope id
      "02000000"                          // rule receipts
      "11"                                // head: applied, family follows
      "ab00000000000000"                  // family
      "01"                                // scope (varint)
      "00"                                // nonce
      "01"                                // writes
      "00"                                // page XOR scope (the scope itself)
      "03"                                // epoch
      "04"                                // offset
      "01"                                // length
      "77"                                // bytes
      "1b"                                // head: deferred, attempt and family follow
      "cd00000000000000"                  // family
      "09"                                // scope
      "01"                                // nonce
      "02"                                // attempt
      "ab00000000000000"                  // blocker family
      "01"                                // blocker scope
      "04"                                // retry tick
      "01000000"                          // derived deltas
      "2900000000000000" +                // delta length (41)
          delta_hex);                     // the delta (FORMAT.md "Delta")
  EXPECT_EQ(decode_tick_record(payload).value(), record);
}

}  // namespace
}  // namespace mmsb::log

#include "fuzz/tick_record_target.hpp"

namespace mmsb::log {
namespace {

// Runs the TickRecord fuzz target over a valid record and every truncation and byte flip of
// it, so every build checks what `make fuzz` explores at length.
TEST(TickRecordTest, FuzzTargetCorpus) {
  std::vector<std::byte> payload;
  ASSERT_TRUE(encode_tick_record(sample_record(), payload).is_ok());
  auto run = [](const std::vector<std::byte>& bytes) {
    fuzz::tick_record_target(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  };
  run(payload);
  for (std::size_t at = 0; at < payload.size(); ++at) {
    run(std::vector<std::byte>(payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(at)));
    auto flipped = payload;
    flipped[at] ^= std::byte{0x81};
    run(flipped);
  }
  EXPECT_TRUE(decode_tick_record(payload).is_ok());
}

}  // namespace
}  // namespace mmsb::log

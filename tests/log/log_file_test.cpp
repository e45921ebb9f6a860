#include "log/log_file.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "log/fault_env.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

namespace mmsb::log {
namespace {

struct Read {
  std::vector<std::vector<std::byte>> payloads;
  std::optional<TornTail> torn;
  Status status;
};

Read read_all(Env& env, const std::string& dir) {
  Read out;
  out.status = read_log(
      env, dir,
      [&](std::span<const std::byte> payload, const std::string&, std::uint64_t) {
        out.payloads.emplace_back(payload.begin(), payload.end());
        return Status::ok();
      },
      &out.torn);
  return out;
}

std::vector<std::byte> payload_of(int i) {
  return test::bytes_of("record-" + std::to_string(i) +
                        std::string(static_cast<std::size_t>(i % 7), '.'));
}

void write_records(Env& env, const std::string& dir, int count, std::uint64_t segment_max) {
  auto writer = LogWriter::open(&env, dir, segment_max).value();
  for (int i = 1; i <= count; ++i) ASSERT_TRUE(writer->append(TickId(i), payload_of(i)).is_ok());
  ASSERT_TRUE(writer->sync().is_ok());
  ASSERT_TRUE(writer->close().is_ok());
}

TEST(LogFileTest, WritesAndReadsRecordsAcrossSegments) {
  test::TempDir dir;
  write_records(*Env::posix(), dir.path(), 50, 200);  // tiny segments: many rolls
  auto segments = list_segments(*Env::posix(), dir.path()).value();
  EXPECT_GT(segments.size(), 5u);
  EXPECT_EQ(segments.front().first_tick, TickId(1));
  Read read = read_all(*Env::posix(), dir.path());
  ASSERT_TRUE(read.status.is_ok()) << read.status;
  EXPECT_FALSE(read.torn.has_value());
  ASSERT_EQ(read.payloads.size(), 50u);
  for (int i = 1; i <= 50; ++i) EXPECT_EQ(read.payloads[i - 1], payload_of(i));
  // Reopening appends to the last segment.
  auto writer = LogWriter::open(Env::posix(), dir.path(), 200).value();
  ASSERT_TRUE(writer->append(TickId(51), payload_of(51)).is_ok());
  ASSERT_TRUE(writer->close().is_ok());
  EXPECT_EQ(read_all(*Env::posix(), dir.path()).payloads.size(), 51u);
}

TEST(LogFileTest, SegmentNamesSortByTick) {
  EXPECT_EQ(segment_file_name(TickId(42)), "00000000000000000042.seg");
  EXPECT_EQ(parse_segment_file_name("00000000000000000042.seg").value(), TickId(42));
  EXPECT_FALSE(parse_segment_file_name("0000000000000000004x.seg").is_ok());
  EXPECT_FALSE(parse_segment_file_name("42.seg").is_ok());
}

// Cutting the last segment at any length leaves a clean prefix and a reported torn tail.
TEST(LogFileTest, EveryTruncationOfTheLastSegmentIsATornTail) {
  test::TempDir dir;
  write_records(*Env::posix(), dir.path(), 5, 1 << 20);
  const std::string segment = dir / segment_file_name(TickId(1));
  const auto full = read_file(*Env::posix(), segment).value();
  std::vector<std::size_t> boundaries = {kSegmentHeaderBytes};  // where records end
  for (int i = 1; i <= 5; ++i)
    boundaries.push_back(boundaries.back() + kFrameHeaderBytes + payload_of(i).size());
  for (std::size_t length = 0; length < full.size(); ++length) {
    ASSERT_TRUE(Env::posix()->truncate_file(segment, length).is_ok());
    Read read = read_all(*Env::posix(), dir.path());
    ASSERT_TRUE(read.status.is_ok()) << length << ": " << read.status;
    auto boundary = std::find(boundaries.begin(), boundaries.end(), length);
    if (boundary != boundaries.end()) {
      EXPECT_FALSE(read.torn.has_value()) << length;
      EXPECT_EQ(read.payloads.size(), static_cast<std::size_t>(boundary - boundaries.begin()));
    } else {
      ASSERT_TRUE(read.torn.has_value()) << length;
      EXPECT_EQ(read.torn->offset + read.torn->bytes_dropped, length);
    }
    for (std::size_t i = 0; i < read.payloads.size(); ++i)
      EXPECT_EQ(read.payloads[i], payload_of(static_cast<int>(i) + 1));
    auto file = Env::posix()->new_appendable_file(segment).value();
    ASSERT_TRUE(file->append(std::span(full).subspan(length)).is_ok());  // restore
  }
}

// Damage anywhere is either a torn tail (the last record) or Corruption naming the file and
// byte offset; never a crash and never a wrong record accepted.
TEST(LogFileTest, EveryFlippedByteIsDetected) {
  test::TempDir dir;
  write_records(*Env::posix(), dir.path(), 6, 1 << 20);
  const std::string segment = dir / segment_file_name(TickId(1));
  const auto full = read_file(*Env::posix(), segment).value();
  int corrupt = 0, torn = 0;
  for (std::size_t at = 0; at < full.size(); ++at) {
    auto damaged = full;
    damaged[at] ^= std::byte{0x20};
    auto file = Env::posix()->new_writable_file(segment).value();
    ASSERT_TRUE(file->append(damaged).is_ok());
    ASSERT_TRUE(file->close().is_ok());
    Read read = read_all(*Env::posix(), dir.path());
    for (std::size_t i = 0; i < read.payloads.size(); ++i) {
      ASSERT_EQ(read.payloads[i], payload_of(static_cast<int>(i) + 1)) << "byte " << at;
    }
    if (!read.status.is_ok()) {
      ++corrupt;
      EXPECT_EQ(read.status.code(), StatusCode::kCorruption);
      EXPECT_NE(read.status.message().find(segment), std::string::npos) << read.status;
      EXPECT_NE(read.status.message().find("at byte"), std::string::npos) << read.status;
    } else {
      ++torn;
      ASSERT_TRUE(read.torn.has_value()) << "byte " << at << " went unnoticed";
      EXPECT_EQ(read.payloads.size(), 5u);  // only the last record may be dropped
    }
  }
  EXPECT_GT(corrupt, 0);
  EXPECT_GT(torn, 0);
}

TEST(LogFileTest, DamageInAnEarlierSegmentIsCorruption) {
  test::TempDir dir;
  write_records(*Env::posix(), dir.path(), 20, 150);
  auto segments = list_segments(*Env::posix(), dir.path()).value();
  ASSERT_GT(segments.size(), 2u);
  const std::string first = dir / segments.front().name;
  auto bytes = read_file(*Env::posix(), first).value();
  ASSERT_TRUE(Env::posix()->truncate_file(first, bytes.size() - 1).is_ok());
  Read read = read_all(*Env::posix(), dir.path());
  EXPECT_EQ(read.status.code(), StatusCode::kCorruption);
  EXPECT_NE(read.status.message().find(first), std::string::npos);
}

TEST(LogFileTest, WriterReportsInjectedFaults) {
  test::TempDir dir;
  FaultEnv env(Env::posix());
  auto writer = LogWriter::open(&env, dir.path(), 1 << 20).value();
  ASSERT_TRUE(writer->append(TickId(1), payload_of(1)).is_ok());
  env.fail_call(env.calls() + 1);
  Status failed = writer->append(TickId(2), payload_of(2));
  EXPECT_EQ(failed.code(), StatusCode::kIOError);
  EXPECT_NE(failed.message().find("injected fault"), std::string::npos);
  EXPECT_EQ(env.failures(), 1u);
}

TEST(LogFileTest, PowerLossDropsUnsyncedRecordsOnly) {
  test::TempDir dir;
  FaultEnv env(Env::posix());
  auto writer = LogWriter::open(&env, dir.path(), 1 << 20).value();
  ASSERT_TRUE(writer->append(TickId(1), payload_of(1)).is_ok());
  ASSERT_TRUE(writer->sync().is_ok());
  ASSERT_TRUE(writer->append(TickId(2), payload_of(2)).is_ok());
  ASSERT_TRUE(env.drop_unsynced().is_ok());
  Read read = read_all(*Env::posix(), dir.path());
  ASSERT_TRUE(read.status.is_ok());
  EXPECT_EQ(read.payloads.size(), 1u);
}

// A writer that preallocates zeros ahead of its records (LogWriter::open's
// preallocate_bytes, WritableFile::preallocate): the records read back as without it, a
// closed segment holds no zeros, and what a crash leaves after the last record is a torn
// tail that recovery cuts back.
constexpr std::uint64_t kAhead = 4096;

std::uint64_t size_on_disk(const std::string& path) { return std::filesystem::file_size(path); }

void expect_payloads(const Read& read, int count) {
  ASSERT_TRUE(read.status.is_ok()) << read.status;
  ASSERT_EQ(read.payloads.size(), static_cast<std::size_t>(count));
  for (int i = 1; i <= count; ++i) EXPECT_EQ(read.payloads[i - 1], payload_of(i)) << i;
}

TEST(PreallocateTest, ZerosRunAheadOfTheRecordsAndGoAtClose) {
  test::TempDir dir;
  auto writer = LogWriter::open(Env::posix(), dir.path(), 1 << 20, kAhead).value();
  for (int i = 1; i <= 200; ++i) ASSERT_TRUE(writer->append(TickId(i), payload_of(i)).is_ok());
  ASSERT_TRUE(writer->sync().is_ok());
  const std::string segment = dir / segment_file_name(TickId(1));
  const std::uint64_t written = writer->bytes_written();
  EXPECT_GT(writer->preallocations(), 1u);
  EXPECT_EQ(writer->preallocations_refused(), 0u);
  EXPECT_GT(size_on_disk(segment), written);
  EXPECT_LE(size_on_disk(segment), written + kAhead);
  // While the writer is open, a reader finds the records and then the zeros.
  Read open_read = read_all(*Env::posix(), dir.path());
  expect_payloads(open_read, 200);
  ASSERT_TRUE(open_read.torn.has_value());
  EXPECT_EQ(open_read.torn->offset, written);
  ASSERT_TRUE(writer->close().is_ok());
  EXPECT_EQ(size_on_disk(segment), written);
  Read closed_read = read_all(*Env::posix(), dir.path());
  expect_payloads(closed_read, 200);
  EXPECT_FALSE(closed_read.torn.has_value());
}

TEST(PreallocateTest, ACrashLeavesZerosThatRecoveryCutsBack) {
  test::TempDir dir;
  std::uint64_t written = 0;
  {
    auto writer = LogWriter::open(Env::posix(), dir.path(), 1 << 20, kAhead).value();
    for (int i = 1; i <= 30; ++i) ASSERT_TRUE(writer->append(TickId(i), payload_of(i)).is_ok());
    ASSERT_TRUE(writer->sync().is_ok());
    written = writer->bytes_written();
  }  // no close(): as a crash leaves it
  const std::string segment = dir / segment_file_name(TickId(1));
  Read read = read_all(*Env::posix(), dir.path());
  expect_payloads(read, 30);
  ASSERT_TRUE(read.torn.has_value());
  EXPECT_EQ(read.torn->path, segment);
  EXPECT_EQ(read.torn->offset, written);
  EXPECT_EQ(read.torn->bytes_dropped, size_on_disk(segment) - written);
  // Recovery cuts the tail back; the writer then continues after the last record.
  ASSERT_TRUE(Env::posix()->truncate_file(segment, read.torn->offset).is_ok());
  auto writer = LogWriter::open(Env::posix(), dir.path(), 1 << 20, kAhead).value();
  for (int i = 31; i <= 60; ++i) ASSERT_TRUE(writer->append(TickId(i), payload_of(i)).is_ok());
  ASSERT_TRUE(writer->close().is_ok());
  Read after = read_all(*Env::posix(), dir.path());
  expect_payloads(after, 60);
  EXPECT_FALSE(after.torn.has_value());
}

TEST(PreallocateTest, FullSegmentsHoldNoZeros) {
  test::TempDir dir;
  auto writer = LogWriter::open(Env::posix(), dir.path(), 2000, kAhead).value();
  for (int i = 1; i <= 300; ++i) ASSERT_TRUE(writer->append(TickId(i), payload_of(i)).is_ok());
  ASSERT_TRUE(writer->sync().is_ok());
  auto segments = list_segments(*Env::posix(), dir.path()).value();
  ASSERT_GT(segments.size(), 3u);
  for (std::size_t s = 0; s + 1 < segments.size(); ++s) {
    const std::string path = dir / segments[s].name;
    EXPECT_LE(size_on_disk(path), 2000u) << path;  // within the maximum, zeros included
    const std::vector<std::byte> bytes = read_file(*Env::posix(), path).value();
    EXPECT_NE(bytes.back(), std::byte{0}) << path << " ends in zeros";
  }
  // The last one may hold zeros now (the writer is open), never more than the maximum.
  EXPECT_LE(size_on_disk(dir / segments.back().name), 2000u);
  ASSERT_TRUE(writer->close().is_ok());
  Read read = read_all(*Env::posix(), dir.path());
  expect_payloads(read, 300);
  EXPECT_FALSE(read.torn.has_value());
}

// A power loss keeps what was synced, whatever part of the records written over the zeros
// after it survives.
TEST(PreallocateTest, PowerLossKeepsEverySyncedRecord) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    test::TempDir dir;
    FaultEnv env(Env::posix());
    auto writer = LogWriter::open(&env, dir.path(), 1 << 20, kAhead).value();
    for (int i = 1; i <= 40; ++i) ASSERT_TRUE(writer->append(TickId(i), payload_of(i)).is_ok());
    ASSERT_TRUE(writer->sync().is_ok());
    for (int i = 41; i <= 80; ++i) ASSERT_TRUE(writer->append(TickId(i), payload_of(i)).is_ok());
    ASSERT_TRUE(env.drop_unsynced(seed).is_ok());
    writer.reset();
    Read read = read_all(*Env::posix(), dir.path());
    ASSERT_TRUE(read.status.is_ok()) << "seed " << seed << ": " << read.status;
    ASSERT_GE(read.payloads.size(), 40u) << "seed " << seed;
    for (std::size_t i = 0; i < read.payloads.size(); ++i) {
      EXPECT_EQ(read.payloads[i], payload_of(static_cast<int>(i) + 1)) << "seed " << seed;
    }
  }
}

// A record cut short by a crash ends inside the zeros after it (its declared length fits in
// the file): a torn tail, not corruption.
TEST(PreallocateTest, ARecordCutShortOverZerosIsATornTail) {
  test::TempDir dir;
  FaultEnv env(Env::posix());
  std::uint64_t written = 0;
  {
    auto writer = LogWriter::open(&env, dir.path(), 1 << 20, kAhead).value();
    for (int i = 1; i <= 10; ++i) ASSERT_TRUE(writer->append(TickId(i), payload_of(i)).is_ok());
    ASSERT_TRUE(writer->sync().is_ok());
    written = writer->bytes_written();
    env.fail_next("append");  // writes half the frame, then fails
    ASSERT_FALSE(writer->append(TickId(11), std::vector<std::byte>(200, std::byte{7})).is_ok());
  }  // no close(): the zeros stay after the half frame
  Read read = read_all(*Env::posix(), dir.path());
  expect_payloads(read, 10);
  ASSERT_TRUE(read.torn.has_value());
  EXPECT_EQ(read.torn->offset, written);
}

// Zeros the file refuses are not the records' failure: they are appended past the end.
TEST(PreallocateTest, ARefusedPreallocationLeavesTheRecordsToTheEnd) {
  test::TempDir dir;
  FaultEnv env(Env::posix());
  auto writer = LogWriter::open(&env, dir.path(), 1 << 20, kAhead).value();
  env.fail_next("preallocate");
  for (int i = 1; i <= 100; ++i) ASSERT_TRUE(writer->append(TickId(i), payload_of(i)).is_ok());
  ASSERT_TRUE(writer->sync().is_ok());
  EXPECT_EQ(env.failures(), 1u);
  EXPECT_EQ(writer->preallocations_refused(), 1u);
  EXPECT_EQ(writer->preallocations(), 0u);  // not again in this segment
  EXPECT_EQ(size_on_disk(dir / segment_file_name(TickId(1))), writer->bytes_written());
  ASSERT_TRUE(writer->close().is_ok());
  expect_payloads(read_all(*Env::posix(), dir.path()), 100);
}

}  // namespace
}  // namespace mmsb::log

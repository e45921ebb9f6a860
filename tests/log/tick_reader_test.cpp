#include "log/tick_reader.hpp"

#include <gtest/gtest.h>

#include "log/format.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

namespace mmsb::log {
namespace {

// What the log's segments are cut at: tiny, so a few hundred records roll many times.
constexpr std::uint64_t kSegmentBytes = 4096;

// A tick record of `i` with a write of i % 97 bytes, chained to `previous`.
std::vector<std::byte> record_of(int i, const Hash128& previous) {
  TickRecord record;
  record.tick = TickId(static_cast<std::uint64_t>(i));
  record.previous = previous;
  WriteOp write;
  write.page = 1 + static_cast<std::uint64_t>(i % 5);
  write.bytes.assign(static_cast<std::size_t>(i % 97), std::byte{static_cast<unsigned char>(i)});
  LoggedTransaction& transaction = record.transactions.emplace_back();
  transaction.input.ops.push_back(std::move(write));
  record.op_results.push_back(OpResult{});
  std::vector<std::byte> payload;
  EXPECT_TRUE(encode_tick_record(record, payload).is_ok());
  return payload;
}

// A log of ticks 1..count, chained, except that tick `unchained` names a wrong previous
// record and tick `garbage` is not a tick record at all (0: none).
void write_log(const std::string& dir, int count, int unchained = 0, int garbage = 0) {
  auto writer = LogWriter::open(Env::posix(), dir, kSegmentBytes).value();
  Hash128 previous;
  for (int i = 1; i <= count; ++i) {
    std::vector<std::byte> payload = i == garbage
                                         ? test::bytes_of("not a tick record")
                                         : record_of(i, i == unchained ? Hash128{7, 7} : previous);
    ASSERT_TRUE(writer->append(TickId(static_cast<std::uint64_t>(i)), payload).is_ok());
    previous = xxh3_128(payload);
  }
  ASSERT_TRUE(writer->close().is_ok());
}

struct Visits {
  std::vector<std::uint64_t> ticks;
  std::vector<Hash128> hashes;
  std::vector<std::string> wheres;
  std::uint64_t bytes = 0;
  Status status;
  std::optional<TornTail> torn;
};

// Reads the log with `read_ahead`; the visitor says no more after tick `stop_after` and
// fails at tick `fail_at` (0: never).
Visits read(const std::string& dir, std::size_t read_ahead, std::uint64_t stop_after = 0,
            std::uint64_t fail_at = 0) {
  Visits out;
  out.status = read_tick_records(
      *Env::posix(), dir, read_ahead,
      [&](LoggedTick& tick) -> Result<NextTick> {
        const std::uint64_t at = tick.record.tick.value();
        if (at == fail_at) return invalid_argument("the visitor fails at " + std::to_string(at));
        out.ticks.push_back(at);
        out.hashes.push_back(tick.hash);
        out.wheres.push_back(tick.where());
        out.bytes += tick.bytes;
        return at == stop_after ? NextTick::kNoMore : NextTick::kMore;
      },
      &out.torn);
  return out;
}

std::vector<std::uint64_t> ticks_up_to(std::uint64_t last) {
  std::vector<std::uint64_t> ticks;
  for (std::uint64_t i = 1; i <= last; ++i) ticks.push_back(i);
  return ticks;
}

// Each way of reading: on the caller's thread, and 1, 2, 3 and 16 records ahead.
constexpr std::size_t kReadAheads[] = {0, 1, 2, 3, 16};

void expect_same(const Visits& a, const Visits& b, std::size_t read_ahead) {
  EXPECT_EQ(a.ticks, b.ticks) << "read ahead " << read_ahead;
  EXPECT_EQ(a.hashes, b.hashes) << "read ahead " << read_ahead;
  EXPECT_EQ(a.wheres, b.wheres) << "read ahead " << read_ahead;
  EXPECT_EQ(a.bytes, b.bytes) << "read ahead " << read_ahead;
  EXPECT_EQ(a.status, b.status) << "read ahead " << read_ahead;
  EXPECT_EQ(a.torn.has_value(), b.torn.has_value()) << "read ahead " << read_ahead;
}

TEST(TickReaderTest, EveryReadAheadVisitsEveryRecordInOrderChained) {
  test::TempDir dir;
  write_log(dir.path(), 300);
  const Visits inline_read = read(dir.path(), 0);
  ASSERT_TRUE(inline_read.status.is_ok()) << inline_read.status;
  EXPECT_EQ(inline_read.ticks, ticks_up_to(300));
  EXPECT_EQ(inline_read.hashes[41], xxh3_128(record_of(42, inline_read.hashes[40])));
  std::uint64_t frame_bytes = 0;  // the segments' bytes past their headers
  const std::vector<SegmentFile> segments = list_segments(*Env::posix(), dir.path()).value();
  for (const SegmentFile& segment : segments) {
    frame_bytes +=
        read_file(*Env::posix(), dir / segment.name).value().size() - kSegmentHeaderBytes;
  }
  EXPECT_EQ(inline_read.bytes, frame_bytes);
  for (std::size_t read_ahead : kReadAheads)
    expect_same(read(dir.path(), read_ahead), inline_read, read_ahead);
}

TEST(TickReaderTest, ARecordThatDoesNotChainFailsAfterTheOnesBeforeItAreVisited) {
  test::TempDir dir;
  write_log(dir.path(), 300, /*unchained=*/150);
  for (std::size_t read_ahead : kReadAheads) {
    const Visits visits = read(dir.path(), read_ahead);
    EXPECT_EQ(visits.status.code(), StatusCode::kCorruption) << visits.status;
    EXPECT_NE(visits.status.message().find("tick 150 does not chain"), std::string::npos)
        << visits.status;
    EXPECT_EQ(visits.ticks, ticks_up_to(149)) << "read ahead " << read_ahead;
  }
}

TEST(TickReaderTest, ARecordThatDoesNotDecodeFailsThereNamingItsByte) {
  test::TempDir dir;
  write_log(dir.path(), 200, 0, /*garbage=*/120);
  const Visits inline_read = read(dir.path(), 0);
  EXPECT_EQ(inline_read.status.code(), StatusCode::kCorruption);
  EXPECT_NE(inline_read.status.message().find(" at byte "), std::string::npos);
  EXPECT_EQ(inline_read.ticks, ticks_up_to(119));
  for (std::size_t read_ahead : kReadAheads)
    expect_same(read(dir.path(), read_ahead), inline_read, read_ahead);
}

TEST(TickReaderTest, NoMoreEndsTheVisitsAndWhatFollowsIsNotDecoded) {
  test::TempDir dir;
  // The tick after the last one visited does not chain and a later one does not decode:
  // not looked at, though a reader ahead of the visitor may have decoded them.
  write_log(dir.path(), 300, /*unchained=*/61, /*garbage=*/250);
  for (std::size_t read_ahead : kReadAheads) {
    const Visits visits = read(dir.path(), read_ahead, /*stop_after=*/60);
    EXPECT_TRUE(visits.status.is_ok()) << visits.status << " read ahead " << read_ahead;
    EXPECT_EQ(visits.ticks, ticks_up_to(60)) << "read ahead " << read_ahead;
  }
}

TEST(TickReaderTest, NoMoreStillChecksTheFramesToTheEnd) {
  test::TempDir dir;
  write_log(dir.path(), 300);
  auto segments = list_segments(*Env::posix(), dir.path()).value();
  ASSERT_GT(segments.size(), 3u);
  // An earlier segment (not the last: not a torn tail) cut short by a byte.
  const std::string victim = dir / segments[segments.size() - 2].name;
  const auto bytes = read_file(*Env::posix(), victim).value();
  ASSERT_TRUE(Env::posix()->truncate_file(victim, bytes.size() - 1).is_ok());
  const Visits inline_read = read(dir.path(), 0, /*stop_after=*/10);
  EXPECT_EQ(inline_read.status.code(), StatusCode::kCorruption) << inline_read.status;
  EXPECT_EQ(inline_read.ticks, ticks_up_to(10));
  for (std::size_t read_ahead : kReadAheads)
    expect_same(read(dir.path(), read_ahead, 10), inline_read, read_ahead);
}

TEST(TickReaderTest, AVisitorsErrorEndsTheReadThere) {
  test::TempDir dir;
  write_log(dir.path(), 400);
  for (std::size_t read_ahead : kReadAheads) {
    const Visits visits = read(dir.path(), read_ahead, 0, /*fail_at=*/41);
    EXPECT_EQ(visits.status, invalid_argument("the visitor fails at 41"))
        << "read ahead " << read_ahead;
    EXPECT_EQ(visits.ticks, ticks_up_to(40)) << "read ahead " << read_ahead;
  }
}

TEST(TickReaderTest, ATornTailIsReportedAsReadLogReportsIt) {
  test::TempDir dir;
  write_log(dir.path(), 100);
  auto segments = list_segments(*Env::posix(), dir.path()).value();
  const std::string last = dir / segments.back().name;
  const auto bytes = read_file(*Env::posix(), last).value();
  ASSERT_TRUE(Env::posix()->truncate_file(last, bytes.size() - 5).is_ok());  // cut short
  for (std::size_t read_ahead : kReadAheads) {
    const Visits visits = read(dir.path(), read_ahead);
    EXPECT_TRUE(visits.status.is_ok()) << visits.status;
    EXPECT_TRUE(visits.torn.has_value()) << "read ahead " << read_ahead;
    EXPECT_EQ(visits.ticks, ticks_up_to(99)) << "read ahead " << read_ahead;
  }
}

}  // namespace
}  // namespace mmsb::log

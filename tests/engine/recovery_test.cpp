// Data directories tried as a new user would: removed segments, damaged or lone
// checkpoints, renamed segments, unreadable directories. Recovery (Engine::open), replay and
// verify must agree on what they can recover and name what they cannot.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/replay.hpp"
#include "log/log_file.hpp"
#include "log/tick_record.hpp"
#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

namespace fs = std::filesystem;

// Writes `commits` one-write transactions in small segments, a checkpoint after each third
// of them; covered segments are removed if asked. Returns the last tick's root.
Hash128 write_directory(const std::string& dir, int commits, bool remove_covered) {
  EngineOptions options;
  options.dir = dir;
  options.segment_size_max_bytes = 256;
  options.remove_covered_segments = remove_covered;
  options.checkpoints_kept = 2;
  auto engine = Engine::open(options).value();
  Transaction setup = engine->begin();
  setup.create_page({.size_bytes = 8 * 64});
  EXPECT_TRUE(setup.commit().is_ok());
  for (int i = 0; i < commits; ++i) {
    Transaction txn = engine->begin();
    const std::uint64_t stamp = 1000 + static_cast<std::uint64_t>(i);
    txn.write(PageId(1), 8 * static_cast<std::uint64_t>(i % 64),
              std::as_bytes(std::span(&stamp, 1)));
    EXPECT_TRUE(txn.commit().is_ok());
    if (i % (commits / 3) == commits / 3 - 1) {
      EXPECT_TRUE(engine->checkpoint().is_ok());
    }
  }
  const Hash128 root = engine->snapshot().root();
  EXPECT_TRUE(engine->close().is_ok());
  return root;
}

std::vector<fs::path> files_in(const std::string& dir, const std::string& suffix) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == suffix) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void overwrite_with_noise(const fs::path& path, std::size_t bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (std::size_t i = 0; i < bytes; ++i) out.put(static_cast<char>((i * 131 + 7) & 0xff));
}

TEST(RecoveryTest, VerifyChecksWhatOpenRecoversWhenCoveredSegmentsWereRemoved) {
  test::TempDir dir;
  const Hash128 root = write_directory(dir.path(), 60, /*remove_covered=*/true);
  ASSERT_GT(fs::path(files_in(dir.path() + "/log", ".seg").front()).filename().string(),
            "00000000000000000001.seg");  // the first segments are gone
  auto report = verify(dir.path());
  ASSERT_TRUE(report.is_ok()) << report.status().to_string();
  EXPECT_TRUE(report->ok()) << report->failure.to_string();
  ASSERT_TRUE(report->recovery.checkpoint.has_value());  // it says where recovery starts
  EXPECT_EQ(report->tick, TickId(61));
  EXPECT_EQ(report->root, root);
  ASSERT_EQ(report->checkpoints.size(), 2u);
  // The older checkpoint's ticks are gone from the log: it loads but cannot be checked;
  // the newer one is checked against the log from the older one.
  EXPECT_EQ(report->checkpoints[0].outcome, CheckpointCheck::Outcome::kUnchecked);
  EXPECT_EQ(report->checkpoints[1].outcome, CheckpointCheck::Outcome::kMatches);
}

TEST(RecoveryTest, VerifyChecksEveryCheckpointWhenTheWholeLogIsThere) {
  test::TempDir dir;
  write_directory(dir.path(), 60, /*remove_covered=*/false);
  auto report = verify(dir.path()).value();
  EXPECT_TRUE(report.ok());
  ASSERT_EQ(report.checkpoints.size(), 2u);
  for (const CheckpointCheck& check : report.checkpoints) {
    EXPECT_EQ(check.outcome, CheckpointCheck::Outcome::kMatches) << check.path;
  }
  // With the whole log every tick is re-executed: the first checkpoint from tick 0, the
  // second from the first.
  EXPECT_EQ(report.checkpoints[0].detail, std::to_string(report.checkpoints[0].tick.value()) +
                                              " ticks re-executed from the empty state");
  EXPECT_NE(report.checkpoints[1].detail.find("re-executed from checkpoint " +
                                              std::to_string(report.checkpoints[0].tick.value())),
            std::string::npos)
      << report.checkpoints[1].detail;
  // A damaged checkpoint fails verification by name, though recovery would still succeed
  // from the older one.
  overwrite_with_noise(report.checkpoints[1].path, 200);
  auto damaged = verify(dir.path()).value();
  EXPECT_FALSE(damaged.ok());
  EXPECT_TRUE(damaged.failure.is_ok());
  EXPECT_EQ(damaged.checkpoints[1].outcome, CheckpointCheck::Outcome::kDamaged);
}

// Rewrites the log with tick `tick`'s logged root replaced, the chain of hashes mended after
// it: every record still reads and chains, but that tick's root is false.
void falsify_root(const std::string& dir, std::uint64_t tick) {
  std::vector<log::TickRecord> records;
  ASSERT_TRUE(scan_log(dir, [&](const log::TickRecord& record) {
                records.push_back(record);
                return Status::ok();
              }).is_ok());
  fs::remove_all(dir + "/log");
  auto writer = log::LogWriter::open(Env::posix(), dir + "/log", 1 << 20).value();
  Hash128 previous;
  for (log::TickRecord& record : records) {
    if (record.tick.value() == tick) record.root = Hash128{7, 7};
    record.previous = previous;
    std::vector<std::byte> payload;
    ASSERT_TRUE(log::encode_tick_record(record, payload).is_ok());
    ASSERT_TRUE(writer->append(record.tick, payload).is_ok());
    previous = xxh3_128(payload);
  }
  ASSERT_TRUE(writer->close().is_ok());
}

TEST(RecoveryTest, VerifyFailsOnATickBeforeTheNewestCheckpointThatDoesNotReExecute) {
  test::TempDir dir;
  write_directory(dir.path(), 60, /*remove_covered=*/false);
  falsify_root(dir.path(), 5);
  // Recovery starts from the newest checkpoint and only chains the ticks before it.
  EngineOptions options;
  options.dir = dir.path();
  ASSERT_TRUE(Engine::open(options).is_ok());
  auto report = verify(dir.path()).value();
  EXPECT_TRUE(report.failure.is_ok());
  EXPECT_FALSE(report.ok());  // the ticks before the checkpoints are checked too
  ASSERT_EQ(report.checkpoints.size(), 2u);
  const CheckpointCheck& first = report.checkpoints[0];
  EXPECT_EQ(first.outcome, CheckpointCheck::Outcome::kDiffers);
  EXPECT_NE(first.detail.find("tick 5: replayed root"), std::string::npos) << first.detail;
}

// Engine::open on `dir` is refused with Corruption whose message names `cause`.
void expect_open_refused(const std::string& dir, const std::string& cause) {
  EngineOptions options;
  options.dir = dir;
  auto opened = Engine::open(options);
  ASSERT_FALSE(opened.is_ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kCorruption);
  EXPECT_NE(opened.status().message().find(cause), std::string::npos)
      << opened.status().message();
}

TEST(RecoveryTest, ALoneDamagedCheckpointIsRefusedAndNothingIsCreated) {
  test::TempDir dir;
  fs::create_directories(dir.path() + "/checkpoints");
  const fs::path checkpoint = dir.path() + "/checkpoints/00000000000000000005.ckpt";
  overwrite_with_noise(checkpoint, 512);
  expect_open_refused(dir.path(), "00000000000000000005.ckpt");
  EXPECT_FALSE(fs::exists(dir.path() + "/log"));  // nothing was created
  auto replayed = replay(dir.path());
  ASSERT_FALSE(replayed.is_ok());
  EXPECT_EQ(replayed.status().code(), StatusCode::kCorruption);
  auto report = verify(dir.path()).value();
  EXPECT_FALSE(report.ok());
  EXPECT_NE(report.failure.message().find(".ckpt"), std::string::npos);
}

TEST(RecoveryTest, EveryCheckpointDamagedWithSegmentsRemovedBlamesTheCheckpoints) {
  test::TempDir dir;
  write_directory(dir.path(), 60, /*remove_covered=*/true);
  for (const fs::path& checkpoint : files_in(dir.path() + "/checkpoints", ".ckpt")) {
    overwrite_with_noise(checkpoint, 300);
  }
  expect_open_refused(dir.path(), ".ckpt");
  expect_open_refused(dir.path(), "no checkpoint can be loaded");
}

TEST(RecoveryTest, ASegmentRenamedToAnotherFirstTickIsRefused) {
  test::TempDir dir;
  write_directory(dir.path(), 30, /*remove_covered=*/false);
  std::vector<fs::path> segments = files_in(dir.path() + "/log", ".seg");
  ASSERT_GE(segments.size(), 3u);
  // Rename the second segment to one tick later: the order of names is unchanged.
  const std::string name = segments[1].filename().string();
  const std::uint64_t first = std::stoull(name.substr(0, 20));
  char renamed[32];
  std::snprintf(renamed, sizeof(renamed), "%020llu.seg",
                static_cast<unsigned long long>(first + 1));
  fs::rename(segments[1], segments[1].parent_path() / renamed);
  ReplayOptions options;
  options.ignore_checkpoints = true;
  auto replayed = replay(dir.path(), options);
  ASSERT_FALSE(replayed.is_ok());
  EXPECT_EQ(replayed.status().code(), StatusCode::kCorruption);
  EXPECT_NE(replayed.status().message().find(renamed), std::string::npos)
      << replayed.status().message();
  EXPECT_NE(replayed.status().message().find("header says first tick"), std::string::npos);
}

// Runs `check` as an unprivileged user (nobody) if this process is root, so permissions
// apply; returns its exit status.
int run_unprivileged(const std::function<int()>& check) {
  const pid_t child = ::fork();
  if (child == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(100);
    ::_exit(check());
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 101;
}

TEST(RecoveryTest, AnUnreadableDirectoryIsAnErrorNotAnEmptyDatabase) {
  test::TempDir parent;
  const std::string dir = parent.path() + "/data";
  write_directory(dir, 12, /*remove_covered=*/false);
  ::chmod(parent.path().c_str(), 0755);
  ::chmod(dir.c_str(), 0);
  const int exit_code = run_unprivileged([&] {
    auto replayed = replay(dir);
    if (replayed.is_ok() || replayed.status().code() != StatusCode::kIOError) return 1;
    auto report = verify(dir);
    if (report.is_ok() || report.status().code() != StatusCode::kIOError) return 2;
    auto scan = scan_log(dir);
    if (scan.is_ok()) return 3;
    EngineOptions options;
    options.dir = dir;
    if (Engine::open(options).is_ok()) return 4;
    return 0;
  });
  ::chmod(dir.c_str(), 0755);
  EXPECT_EQ(exit_code, 0);
  // A directory that does not exist is NotFound for the read-only tools.
  EXPECT_EQ(replay(parent.path() + "/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(verify(parent.path() + "/missing").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace mmsb

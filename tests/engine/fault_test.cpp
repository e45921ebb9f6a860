// The engine under damage and faults: every byte of a log flipped, every I/O call failed.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "engine/replay.hpp"
#include "log/fault_env.hpp"
#include "log/log_file.hpp"
#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

using test::bytes_of;

// A small workload: page 1 gets one 8-byte stamp per commit at slot i. Returns the roots
// of the ticks it saw acknowledged, and the acknowledged stamps.
struct Workload {
  std::map<std::uint64_t, Hash128> roots;  // tick -> root, for acknowledged ticks
  std::vector<std::uint64_t> acked_slots;
};

Workload run_workload(Env* env, const std::string& dir, int commits) {
  Workload out;
  EngineOptions options;
  options.dir = dir;
  options.env = env;
  options.segment_size_max_bytes = 300;
  auto opened = Engine::open(options);
  if (!opened.is_ok()) return out;
  auto engine = std::move(opened).value();
  Transaction setup = engine->begin();
  setup.create_page({.size_bytes = 8 * 64});
  if (setup.commit().is_ok()) out.roots[1] = engine->snapshot().root();
  for (int i = 0; i < commits; ++i) {
    Transaction txn = engine->begin();
    std::uint64_t stamp = 1000 + static_cast<std::uint64_t>(i);
    txn.write(PageId(1), 8 * static_cast<std::uint64_t>(i), std::as_bytes(std::span(&stamp, 1)));
    auto committed = txn.commit();
    if (committed.is_ok()) {
      out.acked_slots.push_back(static_cast<std::uint64_t>(i));
      out.roots[committed->tick.value()] = engine->snapshot().root();
    }
    if (i == commits / 2) (void)engine->checkpoint();
  }
  engine->close().ignore();
  return out;
}

TEST(FaultTest, EveryFlippedLogByteEndsInACleanPrefixOrCorruption) {
  test::TempDir dir;
  Workload clean = run_workload(Env::posix(), dir.path(), 6);
  ASSERT_EQ(clean.acked_slots.size(), 6u);
  // Remove checkpoints so recovery reads the whole log.
  std::filesystem::remove_all(engine::checkpoint_dir_of(dir.path()));
  const std::string log_dir = engine::log_dir_of(dir.path());
  auto segments = log::list_segments(*Env::posix(), log_dir).value();
  int opened = 0, refused = 0;
  for (const log::SegmentFile& segment : segments) {
    const std::string path = log_dir + "/" + segment.name;
    const auto full = read_file(*Env::posix(), path).value();
    for (std::size_t at = 0; at < full.size(); ++at) {
      auto damaged = full;
      damaged[at] ^= std::byte{0x04};
      {
        auto file = Env::posix()->new_writable_file(path).value();
        ASSERT_TRUE(file->append(damaged).is_ok());
      }
      test::TempDir copy;
      std::filesystem::copy(dir.path(), copy.path(), std::filesystem::copy_options::recursive);
      EngineOptions options;
      options.dir = copy.path();
      OpenReport report;
      auto engine = Engine::open(options, &report);
      if (engine.is_ok()) {
        ++opened;
        // Accepted only as a prefix of what was committed, with the right root.
        ASSERT_TRUE(clean.roots.count(report.tick.value())) << path << " byte " << at;
        EXPECT_EQ(report.root, clean.roots.at(report.tick.value())) << path << " byte " << at;
        EXPECT_FALSE(report.torn_segment.empty()) << path << " byte " << at << " went unnoticed";
      } else {
        ++refused;
        EXPECT_EQ(engine.status().code(), StatusCode::kCorruption) << engine.status();
        EXPECT_NE(engine.status().message().find("at byte"), std::string::npos) << engine.status();
      }
    }
    auto file = Env::posix()->new_writable_file(path).value();
    ASSERT_TRUE(file->append(full).is_ok());
  }
  EXPECT_GT(opened, 0);
  EXPECT_GT(refused, 0);
  std::printf("flipped log bytes: %d opened as a clean prefix, %d refused as corruption\n", opened,
              refused);
}

// The SQLite method: run the workload once to count I/O calls, then once per call with that
// call failing. Every acknowledged commit must survive a reopen on a healthy file system.
TEST(FaultTest, EveryFailedIoCallLosesNoAcknowledgedCommit) {
  std::uint64_t calls = 0;
  {
    test::TempDir dir;
    log::FaultEnv env(Env::posix());
    run_workload(&env, dir.path(), 8);
    calls = env.calls();
  }
  ASSERT_GT(calls, 20u);
  std::uint64_t injected = 0;
  for (std::uint64_t n = 1; n <= calls; ++n) {
    test::TempDir dir;
    log::FaultEnv env(Env::posix());
    env.fail_call(n);
    Workload run = run_workload(&env, dir.path(), 8);
    injected += env.failures();
    EngineOptions options;
    options.dir = dir.path();
    auto engine = Engine::open(options);
    ASSERT_TRUE(engine.is_ok()) << "call " << n << ": " << engine.status();
    State state = (*engine)->snapshot();
    for (std::uint64_t slot : run.acked_slots) {
      std::uint64_t stamp = 0;
      std::memcpy(&stamp, state.read(PageId(1))->data() + 8 * slot, sizeof(stamp));
      ASSERT_EQ(stamp, 1000 + slot) << "call " << n << " lost acknowledged slot " << slot;
    }
    if (run.roots.count(state.tick().value())) {
      EXPECT_EQ(state.root(), run.roots.at(state.tick().value())) << "call " << n;
    }
  }
  EXPECT_EQ(injected, calls);
  std::printf("I/O calls failed one at a time: %llu, no acknowledged commit lost\n",
              static_cast<unsigned long long>(injected));
}

}  // namespace
}  // namespace mmsb

namespace mmsb {
namespace {

// Power loss: whatever was not synced disappears; every acknowledged (fsynced) commit stays.
TEST(FaultTest, PowerLossKeepsEveryAcknowledgedCommit) {
  test::TempDir dir;
  log::FaultEnv env(Env::posix());
  Workload run = run_workload(&env, dir.path(), 20);
  ASSERT_EQ(run.acked_slots.size(), 20u);
  ASSERT_TRUE(env.drop_unsynced().is_ok());
  EngineOptions options;
  options.dir = dir.path();
  auto engine = Engine::open(options).value();
  State state = engine->snapshot();
  EXPECT_EQ(state.root(), run.roots.rbegin()->second);
  for (std::uint64_t slot : run.acked_slots) {
    std::uint64_t stamp = 0;
    std::memcpy(&stamp, state.read(PageId(1))->data() + 8 * slot, sizeof(stamp));
    EXPECT_EQ(stamp, 1000 + slot);
  }
}

}  // namespace
}  // namespace mmsb

namespace mmsb {
namespace {

// Even without fsync on commit, a checkpoint first makes the log durable up to its tick,
// so after a power loss the log alone still replays to (at least) the checkpoint.
TEST(FaultTest, CheckpointSyncsTheLogFirstAtEveryDurability) {
  test::TempDir dir;
  log::FaultEnv env(Env::posix());
  TickId checkpoint;
  {
    EngineOptions options;
    options.dir = dir.path();
    options.env = &env;
    options.durability = Durability::kNone;
    auto engine = Engine::open(options).value();
    Transaction setup = engine->begin();
    setup.create_page({.size_bytes = 64});
    ASSERT_TRUE(setup.commit().is_ok());
    for (int i = 0; i < 5; ++i) {
      Transaction txn = engine->begin();
      txn.write(PageId(1), static_cast<std::uint64_t>(i), bytes_of("x"));
      ASSERT_TRUE(txn.commit().is_ok());
    }
    checkpoint = engine->checkpoint().value();
    ASSERT_TRUE(engine->close().is_ok());
  }
  ASSERT_TRUE(env.drop_unsynced().is_ok());
  engine::ReplayOptions full;
  full.ignore_checkpoints = true;
  engine::ReplaySummary summary;
  State replayed = engine::replay(*Env::posix(), dir.path(), {}, full, &summary).value();
  EXPECT_GE(replayed.tick(), checkpoint);
}

}  // namespace
}  // namespace mmsb

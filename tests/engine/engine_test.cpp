#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "engine/replay.hpp"
#include "log/fault_env.hpp"
#include "log/log_file.hpp"
#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/reference_root.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

using test::bytes_of;
using test::to_vector;

EngineOptions options_for(const test::TempDir& dir, Durability durability = Durability::kFsync) {
  EngineOptions options;
  options.dir = dir.path();
  options.durability = durability;
  return options;
}

TEST(EngineTest, CommitsSurviveReopen) {
  test::TempDir dir;
  Hash128 root;
  {
    OpenReport report;
    auto engine = Engine::open(options_for(dir), &report).value();
    EXPECT_TRUE(report.created);
    Transaction txn = engine->begin();
    PageId a = txn.create_page({.type = 1, .size_bytes = 8});
    PageId b = txn.create_page({.type = 2, .size_bytes = 4, .initial = bytes_of("bbbb")});
    txn.write(a, 0, bytes_of("hello"));
    EdgeId edge = txn.add_edge(kEdgeKindUserFirst, a, b);
    (void)edge;
    CommitInfo info = txn.commit().value();
    EXPECT_EQ(info.tick, TickId(1));
    EXPECT_EQ(info.created_pages, (std::vector<PageId>{PageId(1), PageId(2)}));
    EXPECT_EQ(info.created_edges, (std::vector<EdgeId>{EdgeId(1)}));
    Transaction second = engine->begin();
    second.write(PageId(2), 1, bytes_of("x"));
    EXPECT_EQ(second.commit()->tick, TickId(2));
    State state = engine->snapshot();
    EXPECT_EQ(to_vector(*state.read(PageId(1))), bytes_of(std::string_view("hello\0\0\0", 8)));
    EXPECT_EQ(state.page(PageId(2))->epoch, Epoch(1));
    root = state.root();
    EngineStats stats = engine->stats();
    EXPECT_EQ(stats.ticks, 2u);
    EXPECT_EQ(stats.transactions_committed, 2u);
    EXPECT_EQ(stats.deltas, 2u);
    EXPECT_GE(stats.fsyncs, 2u);
    EXPECT_GT(stats.bytes_logged, 0u);
    EXPECT_GT(stats.commit_latency_ns_p50, 0u);
    ASSERT_TRUE(engine->close().is_ok());
  }
  OpenReport report;
  auto engine = Engine::open(options_for(dir), &report).value();
  EXPECT_FALSE(report.created);
  EXPECT_EQ(report.tick, TickId(2));
  EXPECT_EQ(report.ticks_replayed, 2u);
  EXPECT_EQ(report.root, root);
  EXPECT_EQ(engine->snapshot().root(), root);
  EXPECT_EQ(engine->snapshot().edge(EdgeId(1))->to, PageId(2));
  // Ids go on from the recovered counters.
  Transaction txn = engine->begin();
  txn.create_page({.size_bytes = 1});
  EXPECT_EQ(txn.commit()->created_pages, (std::vector<PageId>{PageId(3)}));
}

TEST(EngineTest, ReadConflictsFailTheLaterTransaction) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir, Durability::kNone)).value();
  Transaction setup = engine->begin();
  setup.create_page({.size_bytes = 4});
  setup.create_page({.size_bytes = 4});
  ASSERT_TRUE(setup.commit().is_ok());

  Transaction reader = engine->begin();
  ASSERT_TRUE(reader.read(PageId(1)).is_ok());
  reader.write(PageId(2), 0, bytes_of("r"));
  Transaction writer = engine->begin();
  writer.write(PageId(1), 0, bytes_of("w"));
  ASSERT_TRUE(writer.commit().is_ok());
  auto result = reader.commit();
  EXPECT_EQ(result.status().code(), StatusCode::kConflict);
  EXPECT_EQ(result.status().message(), "operation 0: page 1 changed after it was read at epoch 0");
  EXPECT_EQ(engine->snapshot().read(PageId(2)).value()[0], std::byte{0});  // nothing applied
  EXPECT_EQ(engine->stats().conflicts, 1u);
  EXPECT_EQ(reader.commit().status().code(), StatusCode::kFailedPrecondition);
}

TEST(EngineTest, InvalidOperationsApplyNothingAndSayWhich) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir, Durability::kNone)).value();
  Transaction txn = engine->begin();
  PageId fresh = txn.create_page({.size_bytes = 4});
  txn.write(fresh, 2, bytes_of("xyz"));
  auto result = txn.commit();
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), "operation 1: new page #0: write [2,5) exceeds page size 4");
  EXPECT_EQ(engine->snapshot().next_page_id(), PageId(1));

  Transaction missing = engine->begin();
  missing.delete_page(PageId(9));
  EXPECT_EQ(missing.commit().status().message(), "operation 0: page 9 does not exist");
  Transaction bad_put = engine->begin();
  PageId page = bad_put.create_page({.size_bytes = 4});
  bad_put.put(page, bytes_of("abc"));
  EXPECT_EQ(bad_put.commit().status().message(),
            "operation 1: page new #0: put of 3 bytes into a page of 4 bytes");
  EXPECT_EQ(engine->stats().failed, 2u);  // refused before submission: never reached a tick
  EXPECT_EQ(engine->stats().ticks, 2u);   // failed transactions are still logged inputs
  Transaction setup = engine->begin();
  PageId existing = setup.create_page({.size_bytes = 4});
  (void)existing;
  ASSERT_TRUE(setup.commit().is_ok());
  Transaction short_put = engine->begin();
  short_put.put(PageId(1), bytes_of("ab"));
  EXPECT_EQ(short_put.commit().status().message(),
            "operation 0: page 1: put of 2 bytes into a page of 4 bytes");
  Transaction good_put = engine->begin();
  good_put.put(PageId(1), bytes_of("abcd"));
  EXPECT_TRUE(good_put.commit().is_ok());
}

TEST(EngineTest, ManyThreadsCommitAndReplayMatches) {
  test::TempDir dir;
  constexpr int kThreads = 8;
  constexpr int kCommits = 100;
  Hash128 root;
  {
    auto engine = Engine::open(options_for(dir, Durability::kFlush)).value();
    Transaction setup = engine->begin();
    for (int t = 0; t < kThreads; ++t) setup.create_page({.size_bytes = 8 * kCommits});
    ASSERT_TRUE(setup.commit().is_ok());
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kCommits; ++i) {
          Transaction txn = engine->begin();
          std::uint64_t stamp = static_cast<std::uint64_t>(t * 1000 + i);
          txn.write(PageId(static_cast<std::uint64_t>(t + 1)), 8 * static_cast<std::uint64_t>(i),
                    std::as_bytes(std::span(&stamp, 1)));
          if (!txn.commit().is_ok()) failures.fetch_add(1);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
    EngineStats stats = engine->stats();
    EXPECT_EQ(stats.transactions_committed, 1u + kThreads * kCommits);
    EXPECT_LE(stats.ticks, stats.transactions_committed);
    root = engine->snapshot().root();
    EXPECT_EQ(root, test::reference_root(engine->snapshot()));
    ASSERT_TRUE(engine->close().is_ok());
  }
  engine::ReplaySummary summary;
  engine::ReplayOptions reexecute;
  reexecute.reexecute = true;
  State replayed = engine::replay(*Env::posix(), dir.path(), {}, reexecute, &summary).value();
  EXPECT_EQ(replayed.root(), root);
  EXPECT_FALSE(summary.torn.has_value());
  // Reading the records ahead on a thread of the replay's own, or not, and as far as any
  // tick, replays the same.
  for (const std::optional<TickId> to :
       {std::optional<TickId>(), std::optional<TickId>(TickId(50))}) {
    engine::ReplaySummary inline_summary;
    engine::ReplayOptions inline_options = reexecute;
    inline_options.to = to;
    inline_options.read_ahead = 0;
    const State inline_state =
        engine::replay(*Env::posix(), dir.path(), {}, inline_options, &inline_summary).value();
    for (std::size_t read_ahead : {1, 3, 16}) {
      engine::ReplaySummary ahead_summary;
      engine::ReplayOptions ahead_options = inline_options;
      ahead_options.read_ahead = read_ahead;
      const State ahead_state =
          engine::replay(*Env::posix(), dir.path(), {}, ahead_options, &ahead_summary).value();
      EXPECT_EQ(ahead_state.root(), inline_state.root()) << read_ahead;
      EXPECT_EQ(ahead_state.tick(), inline_state.tick()) << read_ahead;
      EXPECT_EQ(ahead_summary.ticks_applied, inline_summary.ticks_applied) << read_ahead;
      EXPECT_EQ(ahead_summary.bytes_read, inline_summary.bytes_read) << read_ahead;
      EXPECT_EQ(ahead_summary.last_record_hash, inline_summary.last_record_hash) << read_ahead;
    }
    if (to) {
      EXPECT_EQ(inline_state.tick(), *to);
    } else {
      EXPECT_EQ(inline_state.root(), root);
    }
  }
  auto engine = Engine::open(options_for(dir)).value();
  EXPECT_EQ(engine->snapshot().root(), root);
}

TEST(EngineTest, MergeOfAForkIsALoggedTick) {
  test::TempDir dir;
  Hash128 root;
  {
    auto engine = Engine::open(options_for(dir)).value();
    Transaction setup = engine->begin();
    setup.create_page({.size_bytes = 4});
    setup.create_page({.size_bytes = 4});
    ASSERT_TRUE(setup.commit().is_ok());
    Fork fork = engine->fork();
    ASSERT_TRUE(fork.write(PageId(1), 0, bytes_of("fork")).is_ok());
    (void)fork.create_page({.size_bytes = 2, .initial = bytes_of("nw")}).value();
    (void)fork.commit();
    Transaction meanwhile = engine->begin();
    meanwhile.write(PageId(2), 0, bytes_of("main"));
    ASSERT_TRUE(meanwhile.commit().is_ok());
    MergeResult merged = engine->merge(fork).value();
    EXPECT_EQ(merged.path, MergePath::kThreeWay);
    State state = engine->snapshot();
    EXPECT_EQ(state.tick(), TickId(3));
    EXPECT_EQ(to_vector(*state.read(PageId(1))), bytes_of("fork"));
    EXPECT_EQ(to_vector(*state.read(PageId(2))), bytes_of("main"));
    EXPECT_EQ(to_vector(*state.read(PageId(3))), bytes_of("nw"));
    root = state.root();
    ASSERT_TRUE(engine->close().is_ok());
  }
  auto engine = Engine::open(options_for(dir)).value();
  EXPECT_EQ(engine->snapshot().root(), root);
}

TEST(EngineTest, CheckpointsShortenRecoveryAndRetentionRemovesCoveredSegments) {
  test::TempDir dir;
  EngineOptions options = options_for(dir, Durability::kNone);
  options.segment_size_max_bytes = 512;
  options.checkpoints_kept = 1;
  options.remove_covered_segments = true;
  Hash128 root;
  {
    auto engine = Engine::open(options).value();
    Transaction setup = engine->begin();
    setup.create_page({.size_bytes = 64});
    ASSERT_TRUE(setup.commit().is_ok());
    for (int i = 0; i < 40; ++i) {
      Transaction txn = engine->begin();
      txn.write(PageId(1), static_cast<std::uint64_t>(i), bytes_of("c"));
      ASSERT_TRUE(txn.commit().is_ok());
    }
    EXPECT_EQ(engine->checkpoint().value(), TickId(41));
    for (int i = 0; i < 5; ++i) {
      Transaction txn = engine->begin();
      txn.write(PageId(1), static_cast<std::uint64_t>(i), bytes_of("d"));
      ASSERT_TRUE(txn.commit().is_ok());
    }
    EXPECT_EQ(engine->checkpoint().value(), TickId(46));
    EXPECT_EQ(engine->stats().checkpoints, 2u);
    root = engine->snapshot().root();
    ASSERT_TRUE(engine->close().is_ok());
  }
  auto segments = log::list_segments(*Env::posix(), engine::log_dir_of(dir.path())).value();
  EXPECT_GE(segments.front().first_tick.value(), 2u);  // early segments were removed
  OpenReport report;
  auto engine = Engine::open(options, &report).value();
  EXPECT_EQ(report.checkpoint, TickId(46));
  EXPECT_EQ(report.ticks_replayed, 0u);
  EXPECT_EQ(engine->snapshot().root(), root);
}

TEST(EngineTest, TornTailIsTruncatedAndReported) {
  test::TempDir dir;
  Hash128 root;
  {
    auto engine = Engine::open(options_for(dir)).value();
    Transaction txn = engine->begin();
    txn.create_page({.size_bytes = 4});
    ASSERT_TRUE(txn.commit().is_ok());
    root = engine->snapshot().root();
    ASSERT_TRUE(engine->close().is_ok());
  }
  const std::string segment =
      engine::log_dir_of(dir.path()) + "/" + log::segment_file_name(TickId(1));
  {
    auto file = Env::posix()->new_appendable_file(segment).value();
    ASSERT_TRUE(file->append(bytes_of("half a record")).is_ok());
  }
  OpenReport report;
  auto engine = Engine::open(options_for(dir), &report).value();
  EXPECT_EQ(report.torn_segment, segment);
  EXPECT_EQ(report.torn_bytes_dropped, 13u);
  EXPECT_EQ(report.tick, TickId(1));
  EXPECT_EQ(engine->snapshot().root(), root);
  Transaction txn = engine->begin();
  txn.write(PageId(1), 0, bytes_of("ok"));
  ASSERT_TRUE(txn.commit().is_ok());  // the log continues cleanly after the cut
  ASSERT_TRUE(engine->close().is_ok());
  OpenReport again;
  ASSERT_TRUE(Engine::open(options_for(dir), &again).is_ok());
  EXPECT_TRUE(again.torn_segment.empty());
  EXPECT_EQ(again.tick, TickId(2));
}

}  // namespace
}  // namespace mmsb

namespace mmsb {
namespace {

TEST(EngineLimitsTest, OversizedTransactionsAreRefusedAndTheEngineGoesOn) {
  test::TempDir dir;
  EngineOptions options;
  options.dir = dir.path();
  options.durability = Durability::kNone;
  auto engine = Engine::open(options).value();
  Transaction setup = engine->begin();
  setup.create_page({.size_bytes = 8});
  ASSERT_TRUE(setup.commit().is_ok());
  Transaction huge = engine->begin();
  for (int i = 0; i < (1 << 20) + 1; ++i) huge.write(PageId(1), 0, {});
  auto refused = huge.commit();
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(),
            "transaction of 1048577 operations exceeds the limit of 1048576");
  Transaction fine = engine->begin();
  fine.write(PageId(1), 0, test::bytes_of("ok"));
  EXPECT_TRUE(fine.commit().is_ok());
}

}  // namespace
}  // namespace mmsb

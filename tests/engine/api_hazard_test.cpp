// The engine's API used the wrong way round: every misuse gets a clear error, never a silent
// drop or undefined behaviour.
#include <gtest/gtest.h>

#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

using test::bytes_of;
using test::to_vector;

EngineOptions options_for(const test::TempDir& dir) {
  EngineOptions options;
  options.dir = dir.path();
  options.durability = Durability::kNone;
  return options;
}

std::unique_ptr<Engine> engine_with_a_page(const test::TempDir& dir) {
  auto engine = Engine::open(options_for(dir)).value();
  Transaction setup = engine->begin();
  setup.create_page({.size_bytes = 4, .initial = bytes_of("base")});
  EXPECT_TRUE(setup.commit().is_ok());
  return engine;
}

TEST(ApiHazardTest, MergingAForkWithUncommittedWritesIsRefusedNotDropped) {
  test::TempDir dir;
  auto engine = engine_with_a_page(dir);
  Fork fork = engine->fork();
  ASSERT_TRUE(fork.write(PageId(1), 0, bytes_of("fork")).is_ok());
  auto merged = engine->merge(fork);
  ASSERT_FALSE(merged.is_ok());
  EXPECT_EQ(merged.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(merged.status().message().find("uncommitted"), std::string::npos);
  EXPECT_EQ(engine->snapshot().tick(), TickId(1));  // nothing happened
  (void)fork.commit();
  ASSERT_TRUE(engine->merge(fork).is_ok());  // committed, it merges
  EXPECT_EQ(to_vector(*engine->snapshot().read(PageId(1))), bytes_of("fork"));
}

TEST(ApiHazardTest, MergingAForkThatDidNotComeFromThisEngineIsRefused) {
  test::TempDir dir, other_dir;
  auto engine = engine_with_a_page(dir);
  auto other = engine_with_a_page(other_dir);
  auto expect_refused = [&](Fork& fork, const char* what) {
    (void)fork.write(PageId(1), 0, bytes_of("XXXX"));
    (void)fork.commit();
    auto merged = engine->merge(fork);
    ASSERT_FALSE(merged.is_ok()) << what;
    EXPECT_EQ(merged.status().code(), StatusCode::kInvalidArgument) << what;
    EXPECT_NE(merged.status().message().find("not made from this engine"), std::string::npos);
  };
  Fork foreign = other->fork();
  expect_refused(foreign, "another engine's fork");
  Fork by_hand(State::empty({}).value());
  expect_refused(by_hand, "a fork of a State built by hand");
  // A fork from before a reopen names states of an earlier open.
  Fork stale = engine->fork();
  ASSERT_TRUE(engine->close().is_ok());
  engine = Engine::open(options_for(dir)).value();
  expect_refused(stale, "a fork from before the reopen");
  EXPECT_EQ(engine->snapshot().tick(), TickId(1));
  // A fork of a snapshot of this engine is one of its own.
  Fork own(engine->snapshot());
  (void)own.write(PageId(1), 0, bytes_of("mine"));
  (void)own.commit();
  EXPECT_TRUE(engine->merge(own).is_ok());
}

TEST(ApiHazardTest, ATransactionThatOutlivesItsEngineSaysSo) {
  test::TempDir dir;
  auto engine = engine_with_a_page(dir);
  Transaction late = engine->begin();
  Transaction after_close = engine->begin();
  ASSERT_TRUE(engine->close().is_ok());
  after_close.write(PageId(1), 0, bytes_of("nope"));
  auto closed = after_close.commit();
  ASSERT_FALSE(closed.is_ok());
  EXPECT_EQ(closed.status().code(), StatusCode::kUnavailable);
  engine.reset();  // destroyed: the transaction still holds a checked handle
  EXPECT_EQ(to_vector(late.read(PageId(1)).value()), bytes_of("base"));  // its snapshot
  late.write(PageId(1), 0, bytes_of("gone"));
  auto gone = late.commit();
  ASSERT_FALSE(gone.is_ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kUnavailable) << gone.status().to_string();
  // Reopened, nothing of either is there.
  auto reopened = Engine::open(options_for(dir)).value();
  EXPECT_EQ(to_vector(*reopened->snapshot().read(PageId(1))), bytes_of("base"));
}

TEST(ApiHazardTest, CommitInfoCarriesTheRootOfItsTick) {
  test::TempDir dir;
  auto engine = engine_with_a_page(dir);
  std::vector<std::pair<TickId, Hash128>> committed;
  for (const char* text : {"aaaa", "bbbb", "cccc"}) {
    Transaction txn = engine->begin();
    txn.write(PageId(1), 0, bytes_of(text));
    CommitInfo info = txn.commit().value();
    EXPECT_EQ(info.root, engine->snapshot().root());  // one writer: the head is its tick
    committed.emplace_back(info.tick, info.root);
  }
  ASSERT_TRUE(engine->close().is_ok());
  for (const auto& [tick, root] : committed) {
    ReplayOptions options;
    options.to = tick;
    EXPECT_EQ(replay(dir.path(), options).value().root(), root) << tick.value();
  }
}

}  // namespace
}  // namespace mmsb

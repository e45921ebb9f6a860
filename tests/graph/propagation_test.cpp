// Derived pages through the engine: propagation order, skip and cutoff, cycles, failures,
// events, and what survives a reopen and a replay (docs/SEMANTICS.md "Derived pages").
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/replay.hpp"
#include "engine/test_hooks.hpp"
#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

using test::bytes_of;
using test::to_vector;

EngineOptions options_for(const test::TempDir& dir, std::size_t workers = 1) {
  EngineOptions options;
  options.dir = dir.path();
  options.durability = Durability::kNone;
  options.propagation_workers = workers;
  return options;
}

std::vector<std::byte> one(unsigned char value, std::size_t size = 4) {
  return test::filled(size, value);
}

PageId create(Engine& engine, std::span<const std::byte> initial) {
  Transaction txn = engine.begin();
  (void)txn.create_page({.size_bytes = initial.size(), .initial = initial});
  return txn.commit().value().created_pages.at(0);
}

void put(Engine& engine, PageId page, std::span<const std::byte> bytes) {
  Transaction txn = engine.begin();
  txn.put(page, bytes);
  ASSERT_TRUE(txn.commit().is_ok());
}

std::vector<std::byte> read(Engine& engine, PageId page) {
  return to_vector(engine.snapshot().read(page).value());
}

// Pages, edges and derivations equal (a refused transaction still takes a tick, which
// logs its outcome, so the tick and root move on).
void expect_same_content(const State& a, const State& b) {
  std::vector<std::tuple<PageId, Epoch, std::vector<std::byte>>> pages_a, pages_b;
  a.for_each_page([&](const PageView& page) {
    pages_a.emplace_back(page.id, page.epoch, to_vector(page.bytes));
  });
  b.for_each_page([&](const PageView& page) {
    pages_b.emplace_back(page.id, page.epoch, to_vector(page.bytes));
  });
  EXPECT_EQ(pages_a, pages_b);
  std::vector<Edge> edges_a, edges_b;
  a.for_each_edge([&](const Edge& edge) { edges_a.push_back(edge); });
  b.for_each_edge([&](const Edge& edge) { edges_b.push_back(edge); });
  EXPECT_EQ(edges_a, edges_b);
  std::vector<Derivation> derived_a, derived_b;
  a.for_each_derivation([&](const Derivation& derivation) { derived_a.push_back(derivation); });
  b.for_each_derivation([&](const Derivation& derivation) { derived_b.push_back(derivation); });
  EXPECT_EQ(derived_a, derived_b);
}

// Byte-wise maps of one parent.
DeriveFunction map_bytes(unsigned (*f)(unsigned)) {
  return [f](const DeriveInput& input, std::vector<std::byte>& out) {
    for (std::byte byte : input.parents[0]) {
      out.push_back(static_cast<std::byte>(f(std::to_integer<unsigned>(byte))));
    }
    return Status::ok();
  };
}

// A diamond A -> B, A -> C, (B, C) -> D where D checks that B and C come from the same A.
struct Diamond {
  explicit Diamond(Engine& engine) {
    EXPECT_TRUE(engine.register_function("plus_one", map_bytes([](unsigned v) { return v + 1; }))
                    .is_ok());
    EXPECT_TRUE(engine.register_function("twice", map_bytes([](unsigned v) { return v * 2; }))
                    .is_ok());
    EXPECT_TRUE(engine
                    .register_function("join",
                                       [this](const DeriveInput& input, std::vector<std::byte>& out) {
                                         ++join_calls;
                                         auto b = std::to_integer<unsigned>(input.parents[0][0]);
                                         auto c = std::to_integer<unsigned>(input.parents[1][0]);
                                         if (((b - 1) * 2 & 0xFF) != c) {
                                           return invalid_argument("glitch: B and C disagree");
                                         }
                                         out.assign(input.parents[0].begin(), input.parents[0].end());
                                         out.push_back(input.parents[1][0]);
                                         return Status::ok();
                                       })
                    .is_ok());
    a = create(engine, one(1));
    b = create(engine, one(0));
    c = create(engine, one(0));
    d = create(engine, one(0, 5));
    EXPECT_TRUE(engine.derive(b, std::vector{a}, "plus_one").is_ok());
    EXPECT_TRUE(engine.derive(c, std::vector{a}, "twice").is_ok());
    EXPECT_TRUE(engine.derive(d, std::vector{b, c}, "join").is_ok());
  }
  PageId a, b, c, d;
  std::atomic<int> join_calls{0};
};

TEST(PropagationTest, DiamondRecomputesTheJoinOnceAndNeverSeesHalfAChange) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  Diamond diamond(*engine);
  EXPECT_EQ(read(*engine, diamond.d), bytes_of("\x02\x02\x02\x02\x02"));
  for (unsigned char value = 2; value < 40; ++value) {
    const int calls = diamond.join_calls;
    const EngineStats before = engine->stats();
    put(*engine, diamond.a, one(value));
    EXPECT_EQ(diamond.join_calls, calls + 1) << "D recomputed once per tick";
    EXPECT_EQ(engine->stats().derived_recomputes, before.derived_recomputes + 3);
    std::vector<std::byte> expected = one(value + 1);
    expected.push_back(static_cast<std::byte>(value * 2));
    EXPECT_EQ(read(*engine, diamond.d), expected);
  }
  EXPECT_EQ(engine->stats().derive_failures, 0u);  // the join never saw B new with C old
}

TEST(PropagationTest, SignatureSkipAndEarlyCutoffAreCounted) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  ASSERT_TRUE(engine->register_function("parity", map_bytes([](unsigned v) { return v & 1; })).is_ok());
  PageId a = create(*engine, one(1));
  PageId b = create(*engine, one(9));
  PageId c = create(*engine, one(9));
  ASSERT_TRUE(engine->derive(b, std::vector{a}, "parity").is_ok());
  ASSERT_TRUE(engine->derive(c, std::vector{b}, std::string(kDerivePassthrough)).is_ok());
  EXPECT_EQ(read(*engine, c), one(1));

  // A written with the bytes it had: B's parents' epochs are unchanged, so B is skipped.
  EngineStats before = engine->stats();
  put(*engine, a, one(1));
  EngineStats after = engine->stats();
  EXPECT_EQ(after.derived_skipped, before.derived_skipped + 2);  // B, and C below it
  EXPECT_EQ(after.derived_recomputes, before.derived_recomputes);

  // Same parity: B recomputes to the same bytes (cutoff) and C is not recomputed.
  before = after;
  put(*engine, a, one(3));
  after = engine->stats();
  EXPECT_EQ(after.derived_recomputes, before.derived_recomputes + 1);
  EXPECT_EQ(after.derived_cutoffs, before.derived_cutoffs + 1);
  EXPECT_EQ(after.derived_changed, before.derived_changed);
  EXPECT_EQ(engine->snapshot().page(b)->epoch, Epoch(1));  // no epoch bump on a cutoff

  // New parity: both change.
  before = after;
  put(*engine, a, one(4));
  after = engine->stats();
  EXPECT_EQ(after.derived_recomputes, before.derived_recomputes + 2);
  EXPECT_EQ(after.derived_changed, before.derived_changed + 2);
  EXPECT_EQ(read(*engine, c), one(0));
}

TEST(PropagationTest, ACycleIsRefusedAndTheStateIsUnchanged) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  std::vector<PageId> chain{create(*engine, one(7))};
  for (int i = 0; i < 300; ++i) {
    chain.push_back(create(*engine, one(0)));
    ASSERT_TRUE(
        engine->derive(chain.back(), std::vector{chain[chain.size() - 2]}, "mmsb.passthrough").is_ok());
  }
  EXPECT_EQ(read(*engine, chain.back()), one(7));
  const State before = engine->snapshot();
  // Deriving the head from the tail closes a 301-page cycle.
  Transaction txn = engine->begin();
  txn.derive(chain.front(), std::vector{chain.back()}, "mmsb.passthrough");
  auto refused = txn.commit();
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("would close the cycle"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("(301 pages)"), std::string::npos);
  // So does a Control edge, even in the middle.
  Transaction control = engine->begin();
  control.add_edge(kEdgeKindControl, chain[200], chain[100]);
  EXPECT_EQ(control.commit().status().code(), StatusCode::kInvalidArgument);
  expect_same_content(engine->snapshot(), before);
  // The engine goes on: a write to the head reaches the tail.
  put(*engine, chain.front(), one(8));
  EXPECT_EQ(read(*engine, chain.back()), one(8));
}

TEST(PropagationTest, AFailingFunctionFailsTheTickAndChangesNothing) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  std::atomic<int> mode{0};
  ASSERT_TRUE(engine
                  ->register_function("moody",
                                      [&](const DeriveInput& input, std::vector<std::byte>& out) {
                                        if (mode == 1) throw std::runtime_error("boom");
                                        if (mode == 2) return invalid_argument("refused");
                                        out.assign(input.parents[0].begin(), input.parents[0].end());
                                        if (mode == 3) out.push_back(std::byte{0});
                                        return Status::ok();
                                      })
                  .is_ok());
  PageId a = create(*engine, one(1));
  PageId b = create(*engine, one(0));
  ASSERT_TRUE(engine->derive(b, std::vector{a}, "moody").is_ok());
  const std::string page = "derived page " + std::to_string(b.value()) + " (function 'moody')";
  const std::pair<int, std::pair<StatusCode, std::string>> cases[] = {
      {1, {StatusCode::kFailedPrecondition, page + ": threw: boom"}},
      {2, {StatusCode::kInvalidArgument, page + ": refused"}},
      {3, {StatusCode::kInvalidArgument, page + ": returned 5 bytes for a page of 4 bytes"}},
  };
  for (const auto& [which, expected] : cases) {
    mode = which;
    const State before = engine->snapshot();
    Transaction txn = engine->begin();
    txn.put(a, one(2));
    auto failed = txn.commit();
    EXPECT_EQ(failed.status().code(), expected.first);
    EXPECT_EQ(failed.status().message(), expected.second);
    EXPECT_TRUE(engine->snapshot().same_version(before)) << "nothing of the tick applied";
  }
  EXPECT_EQ(engine->stats().derive_failures, 3u);
  mode = 0;
  put(*engine, a, one(2));
  EXPECT_EQ(read(*engine, b), one(2));
  // An unknown function is refused at commit, before anything is queued.
  Transaction txn = engine->begin();
  txn.derive(a, std::vector{b}, "nobody");
  auto unknown = txn.commit();
  EXPECT_EQ(unknown.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(unknown.status().message(),
            "operation 0: derive: function 'nobody' is not registered in this engine");
  EXPECT_EQ(engine->register_function("moody", map_bytes([](unsigned v) { return v; })).code(),
            StatusCode::kAlreadyExists);
}

// Transactions that share a tick with one whose change makes a function fail are retried
// alone and commit; only the culprit is refused.
TEST(PropagationTest, OnlyTheTransactionThatMakesAFunctionFailIsRefused) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  ASSERT_TRUE(engine
                  ->register_function("gate",
                                      [&](const DeriveInput& input, std::vector<std::byte>& out) {
                                        if (std::to_integer<unsigned>(input.parents[0][0]) ==
                                            0xFF) {
                                          return invalid_argument("refused");
                                        }
                                        out.assign(input.parents[0].begin(), input.parents[0].end());
                                        return Status::ok();
                                      })
                  .is_ok());
  std::vector<PageId> sources, derived;
  for (int i = 0; i < 4; ++i) {
    sources.push_back(create(*engine, one(0)));
    derived.push_back(create(*engine, one(0)));
    ASSERT_TRUE(engine->derive(derived.back(), std::vector{sources.back()}, "gate").is_ok());
  }
  // The four writers queue behind a paused sequencer, so they are one batch and one tick.
  engine::testing::pause_sequencer(*engine);
  std::vector<Result<CommitInfo>> outcomes(4, Status(StatusCode::kInternal, "not run"));
  std::vector<std::thread> writers;
  for (int i = 0; i < 4; ++i) {
    writers.emplace_back([&, i] {
      Transaction txn = engine->begin();
      txn.put(sources[i], one(i == 1 ? 0xFF : 7));
      outcomes[i] = txn.commit();
    });
  }
  ASSERT_TRUE(engine::testing::wait_for_queued(*engine, 4));
  engine::testing::resume_sequencer(*engine);
  for (std::thread& writer : writers) writer.join();
  const engine::testing::BuildCounts built = engine::testing::build_counts(*engine);
  EXPECT_EQ(built.largest_batch, 4u);  // they were one batch
  EXPECT_EQ(built.retried_alone, 1u);  // whose tick failed and was rebuilt one by one
  for (int i = 0; i < 4; ++i) {
    if (i == 1) {
      EXPECT_EQ(
          outcomes[i].status().message(),
          "derived page " + std::to_string(derived[1].value()) + " (function 'gate'): refused");
      EXPECT_EQ(read(*engine, derived[1]), one(0));
    } else {
      EXPECT_TRUE(outcomes[i].is_ok()) << outcomes[i].status().to_string();
      EXPECT_EQ(read(*engine, derived[i]), one(7));
    }
  }
  EXPECT_EQ(engine->stats().derive_failures, 1u);
}

TEST(PropagationTest, OnlyPropagationWritesADerivedPage) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  PageId a = create(*engine, one(1));
  PageId b = create(*engine, one(0));
  ASSERT_TRUE(engine->derive(b, std::vector{a}, "mmsb.passthrough").is_ok());
  Transaction txn = engine->begin();
  txn.write(b, 0, bytes_of("x"));
  auto refused = txn.commit();
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(), "operation 0: page " + std::to_string(b.value()) +
                                            " is derived: only propagation writes it");
  // Underived, it is an ordinary page again (and keeps its bytes).
  ASSERT_TRUE(engine->derive(b, {}, "").is_ok());
  EXPECT_FALSE(engine->snapshot().derivation(b).has_value());
  EXPECT_EQ(read(*engine, b), one(1));
  put(*engine, b, one(5));
  put(*engine, a, one(6));
  EXPECT_EQ(read(*engine, b), one(5));
}

TEST(PropagationTest, DeletingAParentRecomputesFromTheRest) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  PageId a = create(*engine, bytes_of("ab"));
  PageId b = create(*engine, bytes_of("cd"));
  PageId both = create(*engine, one(0));
  ASSERT_TRUE(engine->derive(both, std::vector{a, b}, "mmsb.concat").is_ok());
  EXPECT_EQ(read(*engine, both), bytes_of("abcd"));
  EXPECT_EQ(engine->snapshot().derivation(both)->parents, (std::vector{a, b}));
  // Without b the concatenation is 2 bytes short: the delete is refused with the reason.
  Transaction txn = engine->begin();
  txn.delete_page(b);
  auto refused = txn.commit();
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(engine->snapshot().contains(b));
  // Re-derived from a alone with a passthrough of the right size, the delete goes through.
  PageId copy = create(*engine, bytes_of("zz"));
  ASSERT_TRUE(engine->derive(copy, std::vector{a, b}, "mmsb.concat").status().code() ==
              StatusCode::kInvalidArgument);
  ASSERT_TRUE(engine->derive(copy, std::vector{b}, "mmsb.passthrough").is_ok());
  EXPECT_EQ(read(*engine, copy), bytes_of("cd"));
  Transaction drop = engine->begin();
  drop.delete_page(copy);
  ASSERT_TRUE(drop.commit().is_ok());
  EXPECT_EQ(engine->snapshot().derivation_count(), 1u);
}

TEST(PropagationTest, AControlEdgeMarksStaleWithoutRecomputing) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  PageId a = create(*engine, one(1));
  PageId watched = create(*engine, one(0));
  Transaction txn = engine->begin();
  txn.add_edge(kEdgeKindControl, a, watched);
  ASSERT_TRUE(txn.commit().is_ok());
  std::mutex mutex;
  std::vector<Event> seen;
  ASSERT_TRUE(engine
                  ->subscribe({.pages = {watched}}, [&](const EventBatch& batch) {
                    std::lock_guard<std::mutex> lock(mutex);
                    seen.insert(seen.end(), batch.events.begin(), batch.events.end());
                  })
                  .is_ok());
  put(*engine, a, one(2));
  ASSERT_TRUE(engine->close().is_ok());  // delivers what is queued
  EXPECT_EQ(seen, (std::vector{Event{EventType::kStale, watched, Epoch(0)}}));
  EXPECT_EQ(engine->stats().derived_stale, 1u);
  EXPECT_EQ(engine->stats().derived_recomputes, 0u);
}

TEST(PropagationTest, EventsComeInTopologicalThenEpochThenTypeOrder) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  Diamond diamond(*engine);
  std::mutex mutex;
  std::vector<EventBatch> batches;
  ASSERT_TRUE(engine
                  ->subscribe({}, [&](const EventBatch& batch) {
                    std::lock_guard<std::mutex> lock(mutex);
                    batches.push_back(batch);
                  })
                  .is_ok());
  put(*engine, diamond.a, one(5));
  const TickId tick = engine->snapshot().tick();
  ASSERT_TRUE(engine->close().is_ok());
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].tick, tick);
  EXPECT_EQ(batches[0].batches_dropped_before, 0u);
  const auto [a, b, c, d] = std::tuple{diamond.a, diamond.b, diamond.c, diamond.d};
  EXPECT_EQ(batches[0].events, (std::vector<Event>{
                                   {EventType::kApplied, a, Epoch(1)},
                                   {EventType::kInvalidated, b, Epoch(1)},
                                   {EventType::kChanged, b, Epoch(2)},
                                   {EventType::kInvalidated, c, Epoch(1)},
                                   {EventType::kChanged, c, Epoch(2)},
                                   {EventType::kInvalidated, d, Epoch(1)},
                                   {EventType::kChanged, d, Epoch(2)},
                               }));
}

TEST(PropagationTest, AThrowingSubscriberNeitherBlocksNorBreaksCommits) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  PageId a = create(*engine, one(0));
  std::atomic<int> good{0};
  ASSERT_TRUE(engine->subscribe({}, [](const EventBatch&) { throw std::runtime_error("bad"); }).is_ok());
  ASSERT_TRUE(engine->subscribe({}, [&](const EventBatch&) { ++good; }).is_ok());
  for (unsigned char i = 1; i <= 20; ++i) put(*engine, a, one(i));
  ASSERT_TRUE(engine->close().is_ok());
  EXPECT_EQ(good, 20);
  EXPECT_EQ(engine->stats().subscriber_errors, 20u);
  EXPECT_EQ(engine->stats().event_batches_delivered, 40u);
  EXPECT_EQ(read(*engine, a), one(20));
}

TEST(PropagationTest, ASlowSubscriberLosesBatchesAndIsToldHowMany) {
  test::TempDir dir;
  EngineOptions options = options_for(dir);
  options.event_queue_batches = 2;
  auto engine = Engine::open(options).value();
  PageId a = create(*engine, one(0));
  std::mutex mutex;
  std::condition_variable released_changed;
  bool released = false;
  std::vector<EventBatch> delivered;
  auto id = engine->subscribe({}, [&](const EventBatch& batch) {
    std::unique_lock<std::mutex> lock(mutex);
    released_changed.wait(lock, [&] { return released; });
    delivered.push_back(batch);
    released_changed.notify_all();
  });
  ASSERT_TRUE(id.is_ok());
  for (unsigned char i = 1; i <= 10; ++i) put(*engine, a, one(i));  // never waits on it
  const std::uint64_t dropped = engine->stats().event_batches_dropped;
  EXPECT_GE(dropped, 7u);  // one in the callback at most, two queued
  {
    std::lock_guard<std::mutex> lock(mutex);
    released = true;
  }
  released_changed.notify_all();
  {
    // Let it take what was queued, so the next batch finds room.
    std::unique_lock<std::mutex> lock(mutex);
    released_changed.wait(lock, [&] { return delivered.size() + dropped == 10; });
  }
  put(*engine, a, one(11));  // the first batch after the losses reports them
  ASSERT_TRUE(engine->close().is_ok());
  std::uint64_t reported = 0;
  for (const EventBatch& batch : delivered) reported += batch.batches_dropped_before;
  EXPECT_EQ(reported, dropped);
  EXPECT_EQ(delivered.size() + dropped, 11u);
  EXPECT_EQ(delivered.back().tick, engine->snapshot().tick());
}

TEST(PropagationTest, DerivationsSurviveACheckpointAReopenAndAReplay) {
  test::TempDir dir;
  Hash128 root;
  PageId a, b;
  {
    auto engine = Engine::open(options_for(dir)).value();
    ASSERT_TRUE(engine->register_function("inc", map_bytes([](unsigned v) { return v + 1; })).is_ok());
    a = create(*engine, one(1));
    b = create(*engine, one(0));
    ASSERT_TRUE(engine->derive(b, std::vector{a}, "inc").is_ok());
    ASSERT_TRUE(engine->checkpoint().is_ok());
    put(*engine, a, one(4));
    root = engine->snapshot().root();
  }
  {
    auto engine = Engine::open(options_for(dir)).value();
    EXPECT_EQ(engine->snapshot().root(), root);
    EXPECT_EQ(engine->snapshot().derivation(b)->function, "inc");
    // Without its function the next tick that needs it is refused, naming it.
    Transaction txn = engine->begin();
    txn.put(a, one(6));
    EXPECT_EQ(txn.commit().status().code(), StatusCode::kFailedPrecondition);
    ASSERT_TRUE(engine->register_function("inc", map_bytes([](unsigned v) { return v + 1; })).is_ok());
    put(*engine, a, one(6));
    EXPECT_EQ(read(*engine, b), one(7));
    root = engine->snapshot().root();
  }
  // Re-executing replay from the empty state: with the function it is re-run and checked;
  // without it the logged deltas stand in and are counted.
  graph::FunctionTable functions;
  ASSERT_TRUE(functions.add("inc", map_bytes([](unsigned v) { return v + 1; })).is_ok());
  auto with = functions.snapshot();
  for (const graph::FunctionMap* table : {with.get(), static_cast<const graph::FunctionMap*>(nullptr)}) {
    engine::ReplayOptions replay_options;
    replay_options.reexecute = true;
    replay_options.ignore_checkpoints = true;
    replay_options.functions = table;
    engine::ReplaySummary summary;
    auto replayed = engine::replay(*Env::posix(), dir.path(), {}, replay_options, &summary);
    ASSERT_TRUE(replayed.is_ok()) << replayed.status().to_string();
    EXPECT_EQ(replayed->root(), root);
    EXPECT_EQ(summary.derived_changed, 3u);
    EXPECT_EQ(summary.derived_taken_from_log, table != nullptr ? 0u : 3u);
  }
}

TEST(PropagationTest, AMergedForkPropagatesInTheMergeTick) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  PageId a = create(*engine, one(1));
  PageId b = create(*engine, one(0));
  ASSERT_TRUE(engine->derive(b, std::vector{a}, "mmsb.passthrough").is_ok());
  Fork fork = engine->fork();
  ASSERT_TRUE(fork.put(a, one(9)).is_ok());
  (void)fork.commit();
  auto merged = engine->merge(fork);
  ASSERT_TRUE(merged.is_ok()) << merged.status().to_string();
  EXPECT_EQ(read(*engine, b), one(9));
  EXPECT_TRUE(merged->state.same_version(engine->snapshot()));
  // A fork that closes a cycle cannot be merged in.
  Fork cyclic = engine->fork();
  ASSERT_TRUE(cyclic.add_edge(kEdgeKindData, b, a).is_ok());
  (void)cyclic.commit();
  auto refused = engine->merge(cyclic);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("would close the cycle"), std::string::npos);
  const Hash128 root = engine->snapshot().root();
  ASSERT_TRUE(engine->close().is_ok());
  auto reopened = Engine::open(options_for(dir)).value();
  EXPECT_EQ(reopened->snapshot().root(), root);
}

}  // namespace
}  // namespace mmsb

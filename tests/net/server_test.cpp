// mmsb::Server and mmsb::Client on loopback, every request kind, on both I/O backends.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/endian.hpp"
#include "net/net_fixture.hpp"
#include "support/bytes.hpp"

namespace mmsb::test {
namespace {

using ServerTest = NetTest;

TEST_P(ServerTest, CommitsAndReadsMatchTheEngine) {
  auto client = connect();
  ASSERT_NE(client, nullptr);
  RemoteTransaction txn = client->begin();
  const PageId page = txn.create_page({.type = 3, .size_bytes = 64});
  txn.write(page, 8, bytes_of("remote"));
  auto info = txn.commit();
  ASSERT_TRUE(info.is_ok()) << info.status().to_string();
  ASSERT_EQ(info->created_pages.size(), 1u);
  const State state = engine_->snapshot();
  EXPECT_EQ(info->tick, state.tick());
  EXPECT_EQ(info->root, state.root());

  auto read = client->get(info->created_pages[0]);
  ASSERT_TRUE(read.is_ok()) << read.status().to_string();
  EXPECT_EQ(read->type, 3u);
  EXPECT_EQ(read->bytes, to_vector(*state.read(info->created_pages[0])));
  EXPECT_EQ(client->get(PageId(999)).status().code(), StatusCode::kNotFound);

  // A read's epoch makes a later commit conflict once the page changed.
  RemoteTransaction reader = client->begin();
  ASSERT_TRUE(reader.read(info->created_pages[0]).is_ok());
  reader.write(info->created_pages[0], 0, bytes_of("a"));
  RemoteTransaction writer = client->begin();
  writer.write(info->created_pages[0], 0, bytes_of("b"));
  ASSERT_TRUE(writer.commit().is_ok());
  EXPECT_EQ(reader.commit().status().code(), StatusCode::kConflict);
}

TEST_P(ServerTest, BadOperationsAreErrorsThatChangeNothing) {
  auto client = connect();
  const State before = engine_->snapshot();
  RemoteTransaction txn = client->begin();
  txn.write(PageId(77), 0, bytes_of("x"));
  auto failed = txn.commit();
  EXPECT_EQ(failed.status().code(), StatusCode::kNotFound) << failed.status().to_string();
  RemoteTransaction unknown_rule = client->begin();
  unknown_rule.apply("no-such-rule", PageId(1));
  EXPECT_EQ(unknown_rule.commit().status().code(), StatusCode::kFailedPrecondition);
  // A refused transaction is logged as refused (its tick advances) and applies nothing.
  EXPECT_EQ(engine_->snapshot().page_count(), before.page_count());
  EXPECT_EQ(engine_->snapshot().next_page_id(), before.next_page_id());
  // The connection goes on serving.
  RemoteTransaction good = client->begin();
  good.create_page({.size_bytes = 8});
  EXPECT_TRUE(good.commit().is_ok());
}

TEST_P(ServerTest, PipelinedCommitsAreAllAnsweredInTickOrder) {
  auto client = connect();
  RemoteTransaction setup = client->begin();
  setup.create_page({.size_bytes = 64});
  auto page = setup.commit();
  ASSERT_TRUE(page.is_ok());
  constexpr int kCommits = 2000;
  std::mutex mutex;
  std::condition_variable done;
  std::vector<std::pair<int, std::uint64_t>> ticks;
  for (int i = 0; i < kCommits; ++i) {
    std::vector<log::Op> ops{
        log::WriteOp{page->created_pages[0].value(), 0, filled(8, static_cast<unsigned char>(i))}};
    client->commit_async(ops, [&, i](Result<CommitInfo> info) {
      std::lock_guard<std::mutex> lock(mutex);
      ASSERT_TRUE(info.is_ok()) << info.status().to_string();
      ticks.emplace_back(i, info->tick.value());
      done.notify_one();
    });
  }
  std::unique_lock<std::mutex> lock(mutex);
  ASSERT_TRUE(
      done.wait_for(lock, std::chrono::seconds(30), [&] { return ticks.size() == kCommits; }));
  std::sort(ticks.begin(), ticks.end());
  for (int i = 1; i < kCommits; ++i) EXPECT_LE(ticks[i - 1].second, ticks[i].second);
  // The last write won: commits of one connection are ticked in the order sent.
  EXPECT_EQ(to_vector(*engine_->snapshot().read(page->created_pages[0])).front(),
            static_cast<std::byte>((kCommits - 1) & 0xff));
}

TEST_P(ServerTest, PinnedSnapshotsStayUntilUnpinned) {
  auto client = connect();
  RemoteTransaction txn = client->begin();
  txn.create_page({.size_bytes = 16, .initial = filled(16, 1)});
  auto created = txn.commit();
  ASSERT_TRUE(created.is_ok());
  const PageId page = created->created_pages[0];
  auto pinned = client->pin();
  ASSERT_TRUE(pinned.is_ok());
  EXPECT_EQ(pinned->first, created->tick);
  RemoteTransaction change = client->begin();
  change.put(page, filled(16, 2));
  ASSERT_TRUE(change.commit().is_ok());
  auto old = client->get(page, pinned->first.value());
  ASSERT_TRUE(old.is_ok());
  EXPECT_EQ(old->bytes, filled(16, 1));
  EXPECT_EQ(client->get(page)->bytes, filled(16, 2));
  ASSERT_TRUE(client->unpin(pinned->first).is_ok());
  auto closed = client->get(page, pinned->first.value());
  EXPECT_EQ(closed.status().code(), StatusCode::kNotFound);
  EXPECT_NE(closed.status().message().find("not pinned"), std::string::npos);
  EXPECT_EQ(client->unpin(pinned->first).code(), StatusCode::kNotFound);
}

TEST_P(ServerTest, AForkIsWrittenReadAndMergedOnTheServer) {
  auto client = connect();
  const PageId page = create_page(*client, {.size_bytes = 16});
  ASSERT_NE(page, PageId(0));
  auto fork = client->fork();
  ASSERT_TRUE(fork.is_ok());
  RemoteTransaction what_if = client->begin(*fork);
  what_if.write(page, 0, bytes_of("what if"));
  const PageId extra = what_if.create_page({.size_bytes = 8});
  (void)extra;
  auto forked = what_if.commit();
  ASSERT_TRUE(forked.is_ok()) << forked.status().to_string();
  EXPECT_EQ(forked->created_pages.size(), 1u);
  // The fork sees it, the engine does not.
  EXPECT_EQ(client->get(page, 0, *fork)->bytes.front(), std::byte{'w'});
  EXPECT_EQ(client->get(page)->bytes.front(), std::byte{0});
  RemoteTransaction derive = client->begin(*fork);
  const PageId parents[] = {page};
  derive.derive(page, parents, "sum");
  EXPECT_EQ(derive.commit().status().code(), StatusCode::kInvalidArgument);
  auto merged = client->merge(*fork, MergePolicy::kFail);
  ASSERT_TRUE(merged.is_ok()) << merged.status().to_string();
  EXPECT_EQ(merged->root, engine_->snapshot().root());
  EXPECT_EQ(to_vector(*engine_->snapshot().read(page)).front(), std::byte{'w'});
  // A merge uses the fork up.
  EXPECT_EQ(client->merge(*fork).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client->drop_fork(*fork).code(), StatusCode::kNotFound);
}

TEST_P(ServerTest, AFailedMergeLeavesTheForkHeld) {
  auto client = connect();
  const PageId page = create_page(*client, {.size_bytes = 16});
  ASSERT_NE(page, PageId(0));
  auto fork = client->fork();
  ASSERT_TRUE(fork.is_ok());
  RemoteTransaction theirs = client->begin(*fork);
  theirs.write(page, 0, bytes_of("theirs"));
  ASSERT_TRUE(theirs.commit().is_ok());
  RemoteTransaction ours = client->begin();
  ours.write(page, 0, bytes_of("ours!!"));
  ASSERT_TRUE(ours.commit().is_ok());
  auto clash = client->merge(*fork, MergePolicy::kFail);
  EXPECT_EQ(clash.status().code(), StatusCode::kConflict) << clash.status().to_string();
  // Still held, with its writes: merge it again with a policy that settles the clash.
  EXPECT_EQ(client->get(page, 0, *fork)->bytes.front(), std::byte{'t'});
  auto merged = client->merge(*fork, MergePolicy::kPreferTheirs);
  ASSERT_TRUE(merged.is_ok()) << merged.status().to_string();
  EXPECT_EQ(to_vector(*engine_->snapshot().read(page)).front(), std::byte{'t'});
}

TEST_P(ServerTest, SubscribersGetEachTicksEvents) {
  auto client = connect();
  const PageId page = create_page(*client, {.size_bytes = 16});
  ASSERT_NE(page, PageId(0));
  std::mutex mutex;
  std::condition_variable got;
  std::vector<EventBatch> batches;
  auto subscription = client->subscribe(EventFilter{{page}}, [&](const EventBatch& batch) {
    std::lock_guard<std::mutex> lock(mutex);
    batches.push_back(batch);
    got.notify_one();
  });
  ASSERT_TRUE(subscription.is_ok()) << subscription.status().to_string();
  RemoteTransaction write = client->begin();
  write.write(page, 0, bytes_of("e"));
  auto written = write.commit();
  ASSERT_TRUE(written.is_ok());
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(got.wait_for(lock, std::chrono::seconds(10), [&] { return !batches.empty(); }));
    EXPECT_EQ(batches[0].tick, written->tick);
    ASSERT_EQ(batches[0].events.size(), 1u);
    EXPECT_EQ(batches[0].events[0].type, EventType::kApplied);
    EXPECT_EQ(batches[0].events[0].page, page);
  }
  ASSERT_TRUE(client->unsubscribe(*subscription).is_ok());
  EXPECT_EQ(client->unsubscribe(*subscription).code(), StatusCode::kNotFound);
}

TEST_P(ServerTest, PacketsGetAVerdictEach) {
  auto client = connect();
  const PageId page = create_page(*client, {.type = 1, .size_bytes = 64});
  Ruleset rules;
  rules.topics.push_back(TopicRule{.topic = 1, .mapping = {TopicAction::kOverwrite, page}});
  ASSERT_TRUE(engine_->set_ruleset(rules).is_ok());
  std::vector<Packet> packets(3);
  packets[0].set_inline(1, bytes_of("admitted"));
  packets[1].set_inline(2, bytes_of("unknown topic"));
  packets[2].set_inline(1, bytes_of("last"));
  auto answer = client->ingest(packets);
  ASSERT_TRUE(answer.is_ok()) << answer.status().to_string();
  ASSERT_EQ(answer->verdicts.size(), 3u);
  EXPECT_EQ(answer->first_sequence, 1u);
  EXPECT_EQ(answer->verdicts[0].outcome, PacketOutcome::kAdmitted);
  EXPECT_EQ(answer->verdicts[1],
            (PacketVerdict{PacketOutcome::kDenied, DenyReason::kUnknownTopic}));
  EXPECT_EQ(answer->verdicts[2].outcome, PacketOutcome::kAdmitted);
  // Admitted means durable at the engine's level and applied.
  EXPECT_EQ(to_vector(engine_->snapshot().read(page)->first(4)), bytes_of("last"));
  auto again = client->ingest(std::span<const Packet>(packets).first(1));
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->first_sequence, 4u);
}

TEST_P(ServerTest, ARemoteProducerBatchesAndCountsVerdicts) {
  auto client = connect();
  const PageId page = create_page(*client, {.type = 1, .size_bytes = 64});
  Ruleset rules;
  rules.topics.push_back(TopicRule{.topic = 1, .mapping = {TopicAction::kOverwrite, page}});
  ASSERT_TRUE(engine_->set_ruleset(rules).is_ok());
  RemoteProducer producer = client->producer(100);
  for (int i = 0; i < 250; ++i) {
    ASSERT_TRUE(producer.submit(i % 5 == 0 ? 9 : 1, bytes_of("x")).is_ok());
  }
  EXPECT_EQ(producer.submit(1, filled(41, 0)).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(producer.flush().is_ok());
  const ProducerCounters counters = producer.counters();
  EXPECT_EQ(counters.submitted, 250u);
  EXPECT_EQ(counters.admitted, 200u);
  EXPECT_EQ(counters.denied, 50u);  // topic 9 has no rule
  EXPECT_EQ(counters.completed_sequence, 250u);
  EXPECT_EQ(engine_->stats().ingest.admitted, 200u);
}

TEST_P(ServerTest, StatsCheckpointAndReplayAgreeWithTheEngine) {
  auto client = connect();
  for (int i = 0; i < 3; ++i) {
    RemoteTransaction txn = client->begin();
    txn.create_page({.size_bytes = 32, .initial = filled(32, static_cast<unsigned char>(i))});
    ASSERT_TRUE(txn.commit().is_ok());
  }
  auto stats = client->stats();
  ASSERT_TRUE(stats.is_ok());
  auto committed = std::find_if(stats->begin(), stats->end(), [](const RemoteStat& s) {
    return s.name == "transactions_committed";
  });
  ASSERT_NE(committed, stats->end());
  EXPECT_EQ(committed->value, 3.0);
  auto checkpoint = client->checkpoint();
  ASSERT_TRUE(checkpoint.is_ok()) << checkpoint.status().to_string();
  EXPECT_EQ(*checkpoint, engine_->snapshot().tick());
  auto replayed = client->replay(TickId(0), true);
  ASSERT_TRUE(replayed.is_ok()) << replayed.status().to_string();
  EXPECT_EQ(replayed->tick, engine_->snapshot().tick());
  EXPECT_EQ(replayed->root, engine_->snapshot().root());
  auto to_two = client->replay(TickId(2));
  ASSERT_TRUE(to_two.is_ok());
  EXPECT_EQ(to_two->tick, TickId(2));
  EXPECT_EQ(client->replay(TickId(99)).status().code(), StatusCode::kInvalidArgument);
  // Every frame each way is counted, answers from the slow lane too.
  const Server::Counters counters = server_->counters();
  EXPECT_EQ(counters.frames_in, counters.frames_out);  // one answer a request here
  EXPECT_EQ(counters.errors, 1u);
}

TEST_P(ServerTest, ClosingTheEngineUnderLoadAnswersEveryCommit) {
  auto client = connect();
  RemoteTransaction setup = client->begin();
  setup.create_page({.size_bytes = 8});
  auto page = setup.commit();
  ASSERT_TRUE(page.is_ok());
  std::atomic<int> answered{0};
  std::atomic<int> last_ok{-1};
  constexpr int kCommits = 500;
  for (int i = 0; i < kCommits; ++i) {
    std::vector<std::byte> value(8);
    put_le<std::uint32_t>(value.data(), static_cast<std::uint32_t>(i));
    client->commit_async({log::WriteOp{page->created_pages[0].value(), 0, value}},
                         [&, i](Result<CommitInfo> info) {
                           if (info.is_ok()) {
                             int seen = last_ok.load();
                             while (seen < i && !last_ok.compare_exchange_weak(seen, i)) {
                             }
                           }
                           ++answered;
                         });
  }
  server_->stop();
  ASSERT_TRUE(engine_->close().is_ok());
  engine_.reset();
  client->close();  // whatever was not answered fails as outcome unknown
  EXPECT_EQ(answered.load(), kCommits);
  // Commits of one connection apply in order: the page holds the last acknowledged value
  // or a later one.
  EngineOptions reopen;
  reopen.dir = dir_.path();
  auto engine = Engine::open(reopen);
  ASSERT_TRUE(engine.is_ok());
  auto bytes = (*engine)->snapshot().read(page->created_pages[0]);
  ASSERT_TRUE(bytes.is_ok());
  EXPECT_GE(static_cast<int>(get_le<std::uint32_t>(bytes->data())), last_ok.load());
}

INSTANTIATE_TEST_SUITE_P(Backends, ServerTest,
                         ::testing::Values(IoBackend::kUring, IoBackend::kEpoll), backend_name);

}  // namespace
}  // namespace mmsb::test

// The ingest plane through the engine: rulesets, outcomes, mappings, backpressure, the
// drained order, swaps under load, and replay of what was ingested.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

#include "core/endian.hpp"
#include "engine/replay.hpp"
#include "engine/test_hooks.hpp"
#include "ingest/ruleset.hpp"
#include "log/fault_env.hpp"
#include "log/log_file.hpp"
#include "log/tick_record.hpp"
#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

using test::bytes_of;
using test::to_vector;

enum Topic : std::uint32_t {
  kOverwriteTopic = 1,
  kOffsetTopic = 2,
  kAppendTopic = 3,
  kDeniedTopic = 4,
  kOnlyProducer99 = 5,
  kThrottledTopic = 6,
};

// kFlush: the tests read the log while the engine is open.
EngineOptions options_for(const test::TempDir& dir, Durability durability = Durability::kFlush) {
  EngineOptions options;
  options.dir = dir.path();
  options.durability = durability;
  return options;
}

struct Pages {
  PageId overwrite, offset, append;
};

Pages create_pages(Engine& engine) {
  Transaction txn = engine.begin();
  txn.create_page({.type = 1, .size_bytes = 16});          // overwrite
  txn.create_page({.type = 1, .size_bytes = 64});          // offset
  txn.create_page({.type = 1, .size_bytes = 8 + 3 * 12});  // append: 3 records
  CommitInfo info = txn.commit().value();
  return {info.created_pages[0], info.created_pages[1], info.created_pages[2]};
}

Ruleset ruleset_for(const Pages& pages) {
  Ruleset rules;
  rules.topics.push_back({.topic = kOverwriteTopic,
                          .max_payload_bytes = 16,
                          .mapping = {TopicAction::kOverwrite, pages.overwrite}});
  rules.topics.push_back({.topic = kOffsetTopic,
                          .max_payload_bytes = 40,
                          .mapping = {TopicAction::kWriteAtOffset, pages.offset}});
  rules.topics.push_back({.topic = kAppendTopic,
                          .max_payload_bytes = 8,
                          .mapping = {TopicAction::kAppend, pages.append, 12}});
  rules.topics.push_back({.topic = kDeniedTopic, .allow = false});
  rules.topics.push_back({.topic = kOnlyProducer99,
                          .producers = {99},
                          .max_payload_bytes = 16,
                          .mapping = {TopicAction::kOverwrite, pages.overwrite}});
  rules.topics.push_back({.topic = kThrottledTopic,
                          .max_payload_bytes = 16,
                          .rate_per_second = 1,
                          .burst = 2,
                          .mapping = {TopicAction::kOverwrite, pages.overwrite}});
  return rules;
}

// `rules` with the append topic denied.
Ruleset denying_appends(Ruleset rules) {
  rules.topics[2].allow = false;
  return rules;
}

std::vector<std::byte> at_offset(std::uint32_t offset, std::string_view text) {
  std::vector<std::byte> payload(4);
  put_le<std::uint32_t>(payload.data(), offset);
  for (char c : text) payload.push_back(static_cast<std::byte>(c));
  return payload;
}

const EngineStats::IngestTopic* topic_stats(const EngineStats& stats, std::uint32_t topic) {
  for (const auto& entry : stats.ingest.topics) {
    if (entry.topic == topic) return &entry;
  }
  return nullptr;
}

// Every ingest section in the log, in order.
std::vector<log::IngestSection> logged_ingest(const std::string& dir) {
  std::vector<log::IngestSection> sections;
  std::optional<log::TornTail> torn;
  Status read = log::read_log(
      *Env::posix(), dir + "/log",
      [&](std::span<const std::byte> payload, const std::string&, std::uint64_t) -> Status {
        MMSB_ASSIGN_OR_RETURN(log::TickRecord record, log::decode_tick_record(payload));
        if (record.has_ingest) sections.push_back(std::move(record.ingest));
        return Status::ok();
      },
      &torn);
  EXPECT_TRUE(read.is_ok()) << read.to_string();
  return sections;
}

// Holds the sequencer inside a derivation function until release(): rings then fill up
// deterministically.
class SequencerHold {
 public:
  explicit SequencerHold(Engine& engine) : engine_(engine) {
    EXPECT_TRUE(engine.register_function("test.hold", [this](const DeriveInput& input,
                                                                std::vector<std::byte>& out) {
                         if (!armed_.exchange(false)) {
                           out.assign(input.current.begin(), input.current.end());
                           return Status::ok();
                         }
                         entered_.set_value();
                         released_.get_future().wait();
                         out.assign(input.current.begin(), input.current.end());
                         return Status::ok();
                       })
                    .is_ok());
    Transaction txn = engine.begin();
    parent_ = txn.create_page({.type = 1, .size_bytes = 8});
    PageId child = txn.create_page({.type = 1, .size_bytes = 8});
    CommitInfo info = txn.commit().value();
    parent_ = info.created_pages[0];
    child = info.created_pages[1];
    armed_ = false;
    PageId parents[] = {parent_};
    EXPECT_TRUE(engine.derive(child, parents, "test.hold").is_ok());
  }
  void hold() {
    armed_ = true;
    writer_ = std::thread([this] {
      Transaction txn = engine_.begin();
      txn.write(parent_, 0, bytes_of("x"));
      EXPECT_TRUE(txn.commit().is_ok());
    });
    entered_.get_future().wait();
  }
  void release() {
    released_.set_value();
    writer_.join();
  }

 private:
  Engine& engine_;
  PageId parent_;
  std::atomic<bool> armed_{false};
  std::promise<void> entered_;
  std::promise<void> released_;
  std::thread writer_;
};

TEST(IngestTest, RulesetsThatFailValidationAreRefusedAndTheOldOneStays) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  const Pages pages = create_pages(*engine);
  const Ruleset good = ruleset_for(pages);
  const Hash128 hash = engine->set_ruleset(good).value();
  auto refused = [&](Ruleset bad, std::string_view message) {
    auto result = engine->set_ruleset(bad);
    ASSERT_FALSE(result.is_ok());
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(result.status().message(), message);
    EXPECT_EQ(engine->ruleset()->topics.size(), good.topics.size());  // the old one stays
  };
  Ruleset twice = good;
  twice.topics.push_back(good.topics[0]);
  refused(twice, "ruleset: topic 1 appears twice");
  Ruleset rate = good;
  rate.topics[0].rate_per_second = 10;  // and burst 0
  refused(rate,
          "ruleset: topic 1: impossible token bucket (rate 10/s, burst 0): both 0 for no limit, "
          "or rate in [1, 1000000000] and burst in [1, 1000000000]");
  Ruleset missing = good;
  missing.topics[0].mapping.page = PageId(999);
  refused(missing, "ruleset: topic 1: page 999 does not exist");
  Ruleset past_end = good;
  past_end.topics[0].max_payload_bytes = 17;
  refused(past_end, "ruleset: topic 1: page " + std::to_string(pages.overwrite.value()) +
                        " has 16 bytes, less than max_payload_bytes 17");
  Ruleset layout = good;
  layout.topics[2].mapping.record_bytes = 10;
  layout.topics[2].max_payload_bytes = 6;
  refused(layout, "ruleset: topic 3: page " + std::to_string(pages.append.value()) +
                      " (44 bytes) is not an 8-byte head and whole records of 10 bytes");
  Ruleset record = good;
  record.topics[2].max_payload_bytes = 9;
  refused(record, "ruleset: topic 3: max_payload_bytes 9 does not fit a record of 12 bytes");
  Ruleset nobody = good;
  nobody.topics[4].producers = {0};
  refused(nobody, "ruleset: topic 5: producer id 0 is not a producer");
  // Setting the same ruleset again gives the same hash; the last one set survives reopen.
  EXPECT_EQ(engine->set_ruleset(good).value(), hash);
  ASSERT_TRUE(engine->close().is_ok());
  engine = Engine::open(options_for(dir)).value();
  ASSERT_TRUE(engine->ruleset().has_value());
  EXPECT_EQ(engine->ruleset()->topics.size(), good.topics.size());
  EXPECT_EQ(engine->stats().ingest.ruleset, hash);
}

TEST(IngestTest, EveryPacketGetsAnOutcomeAndAdmittedOnesBecomeWrites) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  const Pages pages = create_pages(*engine);
  ASSERT_TRUE(engine->set_ruleset(ruleset_for(pages)).is_ok());
  Producer producer = engine->producer({.id = 7}).value();
  EXPECT_EQ(producer.id(), 7u);
  ASSERT_TRUE(producer.submit(kOverwriteTopic, bytes_of("first")).is_ok());
  ASSERT_TRUE(producer.submit(kOverwriteTopic, bytes_of("second")).is_ok());  // overwrites
  ASSERT_TRUE(producer.submit(kOffsetTopic, at_offset(10, "mid")).is_ok());
  ASSERT_TRUE(producer.submit(kOffsetTopic, at_offset(62, "xyz")).is_ok());   // past the end
  ASSERT_TRUE(producer.submit(kOffsetTopic, bytes_of("ab")).is_ok());         // no offset
  for (std::string_view record : {"r1", "r2", "r3", "r4"}) {                   // wraps around
    ASSERT_TRUE(producer.submit(kAppendTopic, bytes_of(record)).is_ok());
  }
  ASSERT_TRUE(producer.submit(kAppendTopic, bytes_of("123456789")).is_ok());  // oversize
  ASSERT_TRUE(producer.submit(kDeniedTopic, bytes_of("no")).is_ok());
  ASSERT_TRUE(producer.submit(kOnlyProducer99, bytes_of("no")).is_ok());
  ASSERT_TRUE(producer.submit(42, bytes_of("unknown")).is_ok());
  const std::vector<std::byte> big(1000, std::byte{1});
  ASSERT_TRUE(producer.submit_reference(kOverwriteTopic, big).is_ok());  // oversize by reference
  auto too_big_inline = producer.submit(kOverwriteTopic, big);
  EXPECT_EQ(too_big_inline.status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(producer.flush().is_ok());

  const ProducerCounters counters = producer.counters();
  EXPECT_EQ(counters.submitted, 14u);
  EXPECT_EQ(counters.completed_sequence, 14u);
  EXPECT_EQ(counters.admitted, 7u);  // 2 overwrites, 1 offset, 4 appends
  EXPECT_EQ(counters.denied, 7u);
  EXPECT_EQ(counters.throttled, 0u);

  State state = engine->snapshot();
  std::vector<std::byte> expected(16, std::byte{0});
  std::memcpy(expected.data(), "second", 6);
  EXPECT_EQ(to_vector(state.page(pages.overwrite)->bytes), expected);  // rest zeroed
  EXPECT_EQ(to_vector(state.page(pages.offset)->bytes.subspan(10, 3)), bytes_of("mid"));
  const auto append = state.page(pages.append)->bytes;
  EXPECT_EQ(get_le<std::uint64_t>(append.data()), 4u);  // records ever appended
  auto record = [&](std::size_t slot) { return append.subspan(8 + slot * 12, 12); };
  EXPECT_EQ(get_le<std::uint32_t>(record(0).data()), 2u);
  EXPECT_EQ(to_vector(record(0).subspan(4, 2)), bytes_of("r4"));  // record 3 wrapped to slot 0
  EXPECT_EQ(to_vector(record(1).subspan(4, 2)), bytes_of("r2"));
  EXPECT_EQ(to_vector(record(2).subspan(4, 2)), bytes_of("r3"));

  const EngineStats stats = engine->stats();
  EXPECT_EQ(stats.ingest.packets, 14u);
  EXPECT_EQ(stats.ingest.admitted, 7u);
  EXPECT_EQ(stats.ingest.denied, 7u);
  auto reason = [&](DenyReason why) {
    return stats.ingest.denied_by_reason[static_cast<std::size_t>(why)];
  };
  EXPECT_EQ(reason(DenyReason::kOutOfRange), 2u);
  EXPECT_EQ(reason(DenyReason::kOversize), 2u);
  EXPECT_EQ(reason(DenyReason::kTopicDenied), 1u);
  EXPECT_EQ(reason(DenyReason::kProducerNotAllowed), 1u);
  EXPECT_EQ(reason(DenyReason::kUnknownTopic), 1u);
  ASSERT_NE(topic_stats(stats, kAppendTopic), nullptr);
  EXPECT_EQ(topic_stats(stats, kAppendTopic)->admitted, 4u);
  EXPECT_EQ(topic_stats(stats, kAppendTopic)->denied, 1u);
  EXPECT_EQ(topic_stats(stats, kAppendTopic)->bytes_admitted, 8u);
  ASSERT_NE(topic_stats(stats, 42), nullptr);
  EXPECT_EQ(topic_stats(stats, 42)->denied, 1u);
  EXPECT_GT(stats.ingest.latency_ns_p50, 0u);
}

TEST(IngestTest, TokenBucketsThrottleOnLogicalTime) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  const Pages pages = create_pages(*engine);
  ASSERT_TRUE(engine->set_ruleset(ruleset_for(pages)).is_ok());
  Producer producer = engine->producer().value();
  std::vector<Packet> batch(10);
  for (Packet& packet : batch) packet.set_inline(kThrottledTopic, bytes_of("t"));
  ASSERT_EQ(producer.submit_batch(batch).value(), 10u);
  ASSERT_TRUE(producer.flush().is_ok());
  // Burst 2, 1 per second: the ten packets arrive within far less than a second.
  const ProducerCounters counters = producer.counters();
  EXPECT_GE(counters.admitted, 2u);
  EXPECT_LE(counters.admitted, 3u);
  EXPECT_EQ(counters.admitted + counters.throttled, 10u);
  EXPECT_EQ(topic_stats(engine->stats(), kThrottledTopic)->throttled, counters.throttled);
}

// With a ManualClock the engine reads no other time: buckets refill exactly as far as the
// clock moved, and each ingest tick logs the clock's time.
TEST(IngestTest, TokenBucketsRefillOnTheEnginesClock) {
  test::TempDir dir;
  ManualClock clock(5'000'000'000);
  EngineOptions options = options_for(dir);
  options.clock = &clock;
  auto engine = Engine::open(options).value();
  const Pages pages = create_pages(*engine);
  ASSERT_TRUE(engine->set_ruleset(ruleset_for(pages)).is_ok());  // burst 2, 1 a second
  Producer producer = engine->producer().value();
  auto burst = [&](std::size_t count) {
    std::vector<Packet> batch(count);
    for (Packet& packet : batch) packet.set_inline(kThrottledTopic, bytes_of("t"));
    EXPECT_EQ(producer.submit_batch(batch).value(), count);
    EXPECT_TRUE(producer.flush().is_ok());
  };
  burst(3);
  EXPECT_EQ(producer.counters().admitted, 2u);  // the burst, then nothing: no time passed
  burst(3);
  EXPECT_EQ(producer.counters().admitted, 2u);
  clock.advance(1'500'000'000);  // one and a half tokens
  burst(3);
  EXPECT_EQ(producer.counters().admitted, 3u);
  clock.advance(500'000'000);  // the half left and another half
  burst(1);
  EXPECT_EQ(producer.counters().admitted, 4u);
  EXPECT_EQ(producer.counters().throttled, 6u);
  const auto sections = logged_ingest(dir.path());
  ASSERT_EQ(sections.size(), 4u);
  EXPECT_EQ(sections[0].time_ns, 5'000'000'000u);
  EXPECT_EQ(sections[2].time_ns, 6'500'000'000u);
  EXPECT_EQ(sections[3].time_ns, 7'000'000'000u);
}

TEST(IngestTest, ReplayReachesTheSameStateAndTheSameOutcomes) {
  test::TempDir dir;
  Hash128 root;
  std::uint64_t admitted = 0;
  {
    auto engine = Engine::open(options_for(dir, Durability::kFsync)).value();
    const Pages pages = create_pages(*engine);
    ASSERT_TRUE(engine->set_ruleset(ruleset_for(pages)).is_ok());
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&engine, t] {
        Producer producer = engine->producer().value();
        for (int i = 0; i < 2000; ++i) {
          const std::uint32_t topic = 1 + static_cast<std::uint32_t>((i * 7 + t) % 6);
          std::vector<std::byte> payload =
              topic == kOffsetTopic ? at_offset(static_cast<std::uint32_t>(i % 70), "ab")
                                    : bytes_of(std::to_string(i % 1000));
          ASSERT_TRUE(producer.submit(topic, payload).is_ok());
        }
        ASSERT_TRUE(producer.flush().is_ok());
      });
    }
    for (std::thread& thread : threads) thread.join();
    // A second ruleset half way: the log names both.
    Ruleset second = ruleset_for(pages);
    second.topics[0].allow = false;
    ASSERT_TRUE(engine->set_ruleset(second).is_ok());
    Producer producer = engine->producer().value();
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(producer.submit(kOverwriteTopic, bytes_of("z")).is_ok());
    ASSERT_TRUE(producer.flush().is_ok());
    EXPECT_EQ(producer.counters().denied, 100u);
    root = engine->snapshot().root();
    admitted = engine->stats().ingest.admitted;
    EXPECT_GT(admitted, 0u);
  }
  // Replay judges every packet again and must reach the logged outcomes and roots.
  engine::ReplaySummary summary;
  State replayed =
      engine::replay(*Env::posix(), dir.path(), StateOptions{}, {}, &summary).value();
  EXPECT_EQ(replayed.root(), root);
  EXPECT_EQ(summary.packets_checked, 6100u);
  const auto sections = logged_ingest(dir.path());
  std::uint64_t logged_admitted = 0, full_rulesets = 0;
  for (const auto& section : sections) {
    full_rulesets += !section.ruleset_bytes.empty();
    for (const auto& packet : section.packets) {
      logged_admitted += packet.outcome == PacketOutcome::kAdmitted;
    }
  }
  EXPECT_EQ(logged_admitted, admitted);
  EXPECT_EQ(full_rulesets, 2u);  // each ruleset in full once, where it took effect
  // Reopening replays the same way.
  auto engine = Engine::open(options_for(dir)).value();
  EXPECT_EQ(engine->snapshot().root(), root);
}

TEST(IngestTest, ReplayRefusesALogWhoseOutcomesGovernanceDoesNotGive) {
  // A log whose only tick says a packet of a denied topic was admitted.
  test::TempDir dir;
  Ruleset rules;
  rules.topics.push_back({.topic = 1, .allow = false});
  auto compiled = ingest::CompiledRuleset::compile(rules).value();
  log::TickRecord record;
  record.tick = TickId(1);
  record.has_ingest = true;
  record.ingest.ruleset = compiled->hash();
  record.ingest.ruleset_bytes = compiled->encoded();
  record.ingest.payload = bytes_of("x");
  record.ingest.packets = {log::IngestPacket{1, 1, 1, PacketOutcome::kAdmitted,
                                             DenyReason::kNone, 1, true, 0}};
  std::vector<std::byte> payload;
  ASSERT_TRUE(log::encode_tick_record(record, payload).is_ok());
  auto writer = log::LogWriter::open(Env::posix(), dir.path() + "/log", 1 << 20).value();
  ASSERT_TRUE(writer->append(record.tick, payload).is_ok());
  ASSERT_TRUE(writer->close().is_ok());
  engine::ReplaySummary summary;
  auto replayed = engine::replay(*Env::posix(), dir.path(), StateOptions{}, {}, &summary);
  ASSERT_FALSE(replayed.is_ok());
  EXPECT_EQ(replayed.status().code(), StatusCode::kCorruption);
  EXPECT_NE(replayed.status().message().find(
                ": tick 1: packet 0 (producer 1, sequence 1, topic 1): logged admitted (none), "
                "governance gives denied (topic_denied)"),
            std::string::npos)
      << replayed.status().message();
  // A log that names a ruleset it never logged, with no file for it, is refused by name.
  record.ingest.ruleset_bytes.clear();
  record.ingest.packets[0].outcome = PacketOutcome::kDenied;
  record.ingest.packets[0].reason = DenyReason::kTopicDenied;
  record.ingest.packets[0].has_payload = false;
  record.ingest.payload.clear();
  payload.clear();
  ASSERT_TRUE(log::encode_tick_record(record, payload).is_ok());
  test::TempDir other;
  writer = log::LogWriter::open(Env::posix(), other.path() + "/log", 1 << 20).value();
  ASSERT_TRUE(writer->append(record.tick, payload).is_ok());
  ASSERT_TRUE(writer->close().is_ok());
  replayed = engine::replay(*Env::posix(), other.path(), StateOptions{}, {}, &summary);
  ASSERT_FALSE(replayed.is_ok());
  EXPECT_NE(replayed.status().message().find("ruleset " + compiled->hash().to_hex() +
                                             " is neither in the log before it nor loadable"),
            std::string::npos)
      << replayed.status().message();
}

TEST(IngestTest, FailFastAndDropOldestCountWhatTheyRefuse) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  const Pages pages = create_pages(*engine);
  ASSERT_TRUE(engine->set_ruleset(ruleset_for(pages)).is_ok());
  SequencerHold hold(*engine);
  Producer fast =
      engine->producer({.backpressure = Backpressure::kFailFast, .ring_packets = 4}).value();
  Producer dropping =
      engine->producer({.backpressure = Backpressure::kDropOldest, .ring_packets = 4}).value();
  hold.hold();  // nothing drains now
  std::vector<Packet> batch(10);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    batch[i].set_inline(kAppendTopic, bytes_of(std::to_string(i)));
  }
  EXPECT_EQ(fast.submit_batch(batch).value(), 4u);
  auto refused = fast.submit(kAppendTopic, bytes_of("x"));
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(), "producer " + std::to_string(fast.id()) +
                                            ": ring full (4 packets); packet refused");
  EXPECT_EQ(dropping.submit_batch(batch).value(), 10u);
  hold.release();
  ASSERT_TRUE(fast.flush().is_ok());
  ASSERT_TRUE(dropping.flush().is_ok());
  const ProducerCounters f = fast.counters();
  EXPECT_EQ(f.submitted, 4u);
  EXPECT_EQ(f.refused, 7u);
  EXPECT_EQ(f.admitted, 4u);
  EXPECT_EQ(f.completed_sequence, 4u);
  const ProducerCounters d = dropping.counters();
  EXPECT_EQ(d.submitted, 10u);
  EXPECT_EQ(d.dropped, 6u);  // the six oldest
  EXPECT_EQ(d.admitted, 4u);
  EXPECT_EQ(d.completed_sequence, 10u);
  const EngineStats stats = engine->stats();
  EXPECT_EQ(stats.ingest.refused, 13u);
  EXPECT_EQ(stats.ingest.dropped, 6u);
  EXPECT_EQ(topic_stats(stats, kAppendTopic)->refused, 13u);
  EXPECT_GE(stats.ingest.backpressure_transitions, 2u);
  // The survivors of drop-oldest are the newest four, in order.
  const auto sections = logged_ingest(dir.path());
  std::vector<std::uint64_t> sequences;
  for (const auto& section : sections) {
    for (const auto& packet : section.packets) {
      if (packet.producer == dropping.id()) sequences.push_back(packet.sequence);
    }
  }
  EXPECT_EQ(sequences, (std::vector<std::uint64_t>{7, 8, 9, 10}));
}

TEST(IngestTest, BlockingProducersWaitForRoomAndLoseNothing) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  const Pages pages = create_pages(*engine);
  ASSERT_TRUE(engine->set_ruleset(ruleset_for(pages)).is_ok());
  SequencerHold hold(*engine);
  Producer producer = engine->producer({.ring_packets = 4}).value();
  hold.hold();
  std::atomic<bool> done{false};
  std::thread submitter([&] {
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(producer.submit(kAppendTopic, bytes_of("b")).is_ok());
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(done.load());  // ring of 4 full, the sequencer held: it waits
  hold.release();
  submitter.join();
  ASSERT_TRUE(producer.flush().is_ok());
  EXPECT_EQ(producer.counters().admitted, 10u);
  EXPECT_GE(engine->stats().ingest.backpressure_transitions, 1u);
}

TEST(IngestTest, TheSequencerDrainsProducersRoundRobinAndLogsThatOrder) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  const Pages pages = create_pages(*engine);
  ASSERT_TRUE(engine->set_ruleset(ruleset_for(pages)).is_ok());
  SequencerHold hold(*engine);
  Producer a = engine->producer({.id = 1, .ring_packets = 256}).value();
  Producer b = engine->producer({.id = 2, .ring_packets = 256}).value();
  hold.hold();
  std::vector<Packet> batch(200);
  for (Packet& packet : batch) packet.set_inline(kAppendTopic, bytes_of("p"));
  ASSERT_EQ(a.submit_batch(batch).value(), 200u);
  for (Packet& packet : batch) packet.set_inline(kAppendTopic, bytes_of("q"));
  ASSERT_EQ(b.submit_batch(batch).value(), 200u);
  hold.release();
  ASSERT_TRUE(a.flush().is_ok());
  ASSERT_TRUE(b.flush().is_ok());
  const auto sections = logged_ingest(dir.path());
  ASSERT_EQ(sections.size(), 1u);  // one drain took both rings
  const auto& packets = sections[0].packets;
  ASSERT_EQ(packets.size(), 400u);
  // Quanta of 64: a 1-64, b 1-64, a 65-128, b 65-128, a 129-192, b 129-192, a 193-200, ...
  std::size_t at = 0;
  for (std::uint64_t first : {1, 65, 129, 193}) {
    const std::uint64_t count = first == 193 ? 8 : 64;
    for (std::uint32_t producer : {1u, 2u}) {
      for (std::uint64_t k = 0; k < count; ++k, ++at) {
        ASSERT_EQ(packets[at].producer, producer) << at;
        ASSERT_EQ(packets[at].sequence, first + k) << at;
      }
    }
  }
}

TEST(IngestTest, ATickStopsDrainingPastItsPayloadBudget) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  Transaction txn = engine->begin();
  txn.create_page({.type = 1, .size_bytes = 1 << 20});
  const PageId page = txn.commit().value().created_pages[0];
  Ruleset rules;
  rules.topics.push_back({.topic = 1,
                          .max_payload_bytes = 1 << 20,
                          .mapping = {TopicAction::kOverwrite, page}});
  ASSERT_TRUE(engine->set_ruleset(rules).is_ok());
  SequencerHold hold(*engine);
  Producer producer = engine->producer({.ring_packets = 128}).value();
  hold.hold();
  const std::vector<std::byte> mebibyte(1 << 20, std::byte{7});
  for (int i = 0; i < 80; ++i) ASSERT_TRUE(producer.submit_reference(1, mebibyte).is_ok());
  hold.release();
  ASSERT_TRUE(producer.flush().is_ok());
  EXPECT_EQ(producer.counters().admitted, 80u);
  // 64 packets of 1 MiB reach the 64 MiB budget: the other 16 wait for the next tick.
  const auto sections = logged_ingest(dir.path());
  ASSERT_EQ(sections.size(), 2u);
  EXPECT_EQ(sections[0].packets.size(), 64u);
  EXPECT_EQ(sections[1].packets.size(), 16u);
}

TEST(IngestTest, PacketsWhoseTickFailsPropagationAreDeniedAndNothingIsApplied) {
  test::TempDir dir;
  Hash128 root;
  {
    auto engine = Engine::open(options_for(dir)).value();
    // A derived page over the overwrite page whose function refuses a payload starting 'X'.
    ASSERT_TRUE(engine
                    ->register_function("test.no_x",
                                        [](const DeriveInput& input, std::vector<std::byte>& out) {
                                          if (input.parents[0][0] == std::byte{'X'}) {
                                            return invalid_argument("X is refused");
                                          }
                                          out.assign(input.parents[0].begin(),
                                                     input.parents[0].end());
                                          return Status::ok();
                                        })
                    .is_ok());
    const Pages pages = create_pages(*engine);
    Transaction txn = engine->begin();
    txn.create_page({.type = 1, .size_bytes = 16});
    const PageId copy = txn.commit().value().created_pages[0];
    PageId parents[] = {pages.overwrite};
    ASSERT_TRUE(engine->derive(copy, parents, "test.no_x").is_ok());
    ASSERT_TRUE(engine->set_ruleset(ruleset_for(pages)).is_ok());
    Producer producer = engine->producer().value();
    ASSERT_TRUE(producer.submit(kOverwriteTopic, bytes_of("fine")).is_ok());
    ASSERT_TRUE(producer.flush().is_ok());
    ASSERT_TRUE(producer.submit(kOverwriteTopic, bytes_of("Xbad")).is_ok());
    ASSERT_TRUE(producer.flush().is_ok());
    const ProducerCounters counters = producer.counters();
    EXPECT_EQ(counters.admitted, 1u);
    EXPECT_EQ(counters.denied, 1u);
    EXPECT_EQ(engine->stats().ingest.denied_by_reason[static_cast<std::size_t>(
                  DenyReason::kTickFailed)],
              1u);
    State state = engine->snapshot();
    EXPECT_EQ(to_vector(state.read(copy).value().subspan(0, 4)), bytes_of("fine"));
    EXPECT_EQ(to_vector(state.read(pages.overwrite).value().subspan(0, 4)), bytes_of("fine"));
    root = state.root();
  }
  auto engine = Engine::open(options_for(dir)).value();  // the failed tick was never logged
  EXPECT_EQ(engine->snapshot().root(), root);
}

TEST(IngestTest, RulesetSwapsUnderLoadJudgeEveryPacketByOneRuleset) {
  test::TempDir dir;
  Hash128 root;
  {
    auto engine = Engine::open(options_for(dir)).value();
    const Pages pages = create_pages(*engine);
    const Ruleset allow = ruleset_for(pages);
    const Ruleset deny = denying_appends(allow);
    ASSERT_TRUE(engine->set_ruleset(allow).is_ok());
    std::atomic<bool> stop{false};
    std::vector<std::thread> producers;
    std::atomic<std::uint64_t> submitted{0};
    for (int t = 0; t < 2; ++t) {
      producers.emplace_back([&] {
        Producer producer = engine->producer().value();
        std::vector<Packet> batch(16);
        for (Packet& packet : batch) packet.set_inline(kAppendTopic, bytes_of("s"));
        while (!stop.load()) {
          submitted += producer.submit_batch(batch).value();
        }
        ASSERT_TRUE(producer.flush().is_ok());
        const ProducerCounters counters = producer.counters();
        EXPECT_EQ(counters.admitted + counters.denied, counters.submitted);
      });
    }
    for (int swap = 0; swap < 40; ++swap) {
      ASSERT_TRUE(engine->set_ruleset(swap % 2 == 0 ? deny : allow).is_ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stop = true;
    for (std::thread& thread : producers) thread.join();
    const EngineStats stats = engine->stats();
    EXPECT_EQ(stats.ingest.packets, submitted.load());
    EXPECT_GT(stats.ingest.ruleset_swaps, 1u);
    root = engine->snapshot().root();
  }
  // Every tick names one ruleset; each packet's logged outcome is what that ruleset gives.
  for (const auto& section : logged_ingest(dir.path())) {
    std::set<PacketOutcome> outcomes;
    for (const auto& packet : section.packets) outcomes.insert(packet.outcome);
    EXPECT_EQ(outcomes.size(), 1u);  // one topic, one ruleset per tick: one outcome
  }
  engine::ReplaySummary summary;
  EXPECT_EQ(engine::replay(*Env::posix(), dir.path(), StateOptions{}, {}, &summary).value().root(),
            root);
}

TEST(IngestTest, EachRulesetSwapTakesEffectAtTheNextIngestTick) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  const Pages pages = create_pages(*engine);
  const Ruleset allow = ruleset_for(pages);
  const Ruleset deny = denying_appends(allow);
  ASSERT_TRUE(engine->set_ruleset(allow).is_ok());
  Producer a = engine->producer({.ring_packets = 64}).value();
  Producer b = engine->producer({.ring_packets = 64}).value();
  std::vector<Packet> batch(16);
  for (Packet& packet : batch) packet.set_inline(kAppendTopic, bytes_of("s"));
  constexpr int kSwaps = 20;
  for (int swap = 0; swap < kSwaps; ++swap) {
    // Both producers' packets and the swap wait for one ingest tick, judged by the new ruleset.
    engine::testing::pause_sequencer(*engine);
    ASSERT_EQ(a.submit_batch(batch).value(), batch.size());
    ASSERT_EQ(b.submit_batch(batch).value(), batch.size());
    ASSERT_TRUE(engine->set_ruleset(swap % 2 == 0 ? deny : allow).is_ok());
    engine::testing::resume_sequencer(*engine);
    ASSERT_TRUE(a.flush().is_ok());
    ASSERT_TRUE(b.flush().is_ok());
  }
  EXPECT_EQ(engine->stats().ingest.ruleset_swaps, static_cast<std::uint64_t>(kSwaps));
  const Hash128 root = engine->snapshot().root();
  ASSERT_TRUE(engine->close().is_ok());
  const auto sections = logged_ingest(dir.path());
  ASSERT_EQ(sections.size(), static_cast<std::size_t>(kSwaps));
  for (std::size_t i = 0; i < sections.size(); ++i) {
    ASSERT_EQ(sections[i].packets.size(), 2 * batch.size()) << "tick " << i;
    const PacketOutcome expected = i % 2 == 0 ? PacketOutcome::kDenied : PacketOutcome::kAdmitted;
    for (const auto& packet : sections[i].packets) EXPECT_EQ(packet.outcome, expected) << i;
  }
  engine::ReplaySummary summary;
  EXPECT_EQ(engine::replay(*Env::posix(), dir.path(), StateOptions{}, {}, &summary).value().root(),
            root);
  EXPECT_EQ(summary.packets_checked, kSwaps * 2 * batch.size());
}

TEST(IngestTest, ProducersAfterCloseAndDuplicateIdsAreRefused) {
  test::TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  Producer producer = engine->producer({.id = 3}).value();
  EXPECT_EQ(engine->producer({.id = 3}).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(engine->producer({.ring_packets = 1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->producer().value().id(), 1u);  // the lowest unused id
  // Without a ruleset every packet is denied (no_ruleset), never lost.
  ASSERT_TRUE(producer.submit(1, bytes_of("a")).is_ok());
  ASSERT_TRUE(producer.flush().is_ok());
  EXPECT_EQ(producer.counters().denied, 1u);
  EXPECT_EQ(engine->stats().ingest.denied_by_reason[static_cast<std::size_t>(
                DenyReason::kNoRuleset)],
            1u);
  ASSERT_TRUE(engine->close().is_ok());
  EXPECT_EQ(producer.submit(1, bytes_of("a")).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(engine->producer().status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace mmsb

namespace mmsb {
namespace {

// Found by the simulator's soak: recovery that reads a ruleset file (the log names it by hash
// after a checkpoint covered the tick that logged it in full) reported a failed read as
// Corruption. Every I/O call of that recovery fails in turn: the open either succeeds or
// says IOError, never that the data is damaged.
TEST(IngestTest, AFailedReadDuringRecoveryIsAnIOErrorNotCorruption) {
  test::TempDir dir;
  {
    EngineOptions options = options_for(dir, Durability::kFsync);
    options.segment_size_max_bytes = 256;  // a segment a tick: the checkpoint covers them
    options.remove_covered_segments = true;
    auto engine = Engine::open(options).value();
    const Pages pages = create_pages(*engine);
    ASSERT_TRUE(engine->set_ruleset(ruleset_for(pages)).is_ok());
    Producer producer = engine->producer().value();
    ASSERT_TRUE(producer.submit(kOverwriteTopic, bytes_of("first")).is_ok());
    ASSERT_TRUE(producer.flush().is_ok());  // logs the ruleset in full
    ASSERT_TRUE(producer.submit(kOverwriteTopic, bytes_of("second")).is_ok());
    ASSERT_TRUE(producer.flush().is_ok());      // names it by hash only, in the next segment
    ASSERT_TRUE(engine->checkpoint().is_ok());  // removes the segment with the full one
    ASSERT_TRUE(producer.submit(kOverwriteTopic, bytes_of("third")).is_ok());
    ASSERT_TRUE(producer.flush().is_ok());  // by hash: recovery needs the ruleset file
    Ruleset second = ruleset_for(pages);    // CURRENT moves on: the first is only a file now
    second.topics[0].max_payload_bytes = 8;
    ASSERT_TRUE(engine->set_ruleset(second).is_ok());
    ASSERT_TRUE(producer.submit(kOverwriteTopic, bytes_of("fourth")).is_ok());
    ASSERT_TRUE(producer.flush().is_ok());
    ASSERT_TRUE(engine->close().is_ok());
  }
  std::uint64_t calls = 0;
  {
    log::FaultEnv env(Env::posix());
    EngineOptions options = options_for(dir);
    options.env = &env;
    ASSERT_TRUE(Engine::open(options).is_ok());
    calls = env.calls();
  }
  int io_errors = 0;
  for (std::uint64_t n = 1; n <= calls; ++n) {
    test::TempDir copy;
    std::filesystem::copy(dir.path(), copy.path(), std::filesystem::copy_options::recursive);
    log::FaultEnv env(Env::posix());
    env.fail_call(n);
    EngineOptions options = options_for(copy);
    options.env = &env;
    auto opened = Engine::open(options);
    if (opened.is_ok()) continue;
    EXPECT_EQ(opened.status().code(), StatusCode::kIOError)
        << "call " << n << ": " << opened.status();
    ++io_errors;
  }
  EXPECT_GT(io_errors, 0);
}

}  // namespace
}  // namespace mmsb

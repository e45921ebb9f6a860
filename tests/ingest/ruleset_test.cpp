// The compiled ruleset and the governor on their own: canonical encoding, lookup, and token
// buckets on logical time.
#include "ingest/ruleset.hpp"

#include <gtest/gtest.h>

#include "state/tables.hpp"

namespace mmsb::ingest {
namespace {

TopicRule limited(std::uint32_t topic, std::uint64_t rate, std::uint64_t burst) {
  return TopicRule{.topic = topic,
                   .rate_per_second = rate,
                   .burst = burst,
                   .mapping = {TopicAction::kOverwrite, PageId(1)}};
}

struct World {
  State state = State::empty(StateOptions{}).value();
  World() {
    state::ForkCore fork(state);
    EXPECT_TRUE(fork.create_page({.type = 1, .size_bytes = 64}).is_ok());
    state = fork.commit();
  }
  const state::Tables& tables() const { return state::StateAccessors::data(state).tables; }
};

Verdict judge(Governor& governor, const World& world, std::uint32_t topic, std::uint32_t producer = 1) {
  Packet packet;
  packet.set_inline(topic, {});
  packet.producer = producer;
  return governor.judge(packet, packet.payload(), world.tables());
}

TEST(RulesetTest, EncodingIsCanonicalWhateverTheOrderGiven) {
  Ruleset a, b;
  a.topics = {limited(5, 10, 20), limited(2, 1, 1)};
  a.topics[0].producers = {9, 3, 9};
  b.topics = {limited(2, 1, 1), limited(5, 10, 20)};
  b.topics[1].producers = {3, 9};
  auto ca = CompiledRuleset::compile(a).value();
  auto cb = CompiledRuleset::compile(b).value();
  EXPECT_EQ(ca->encoded(), cb->encoded());
  EXPECT_EQ(ca->hash(), cb->hash());
  auto decoded = CompiledRuleset::decode(ca->encoded()).value();
  EXPECT_EQ(decoded->hash(), ca->hash());
  EXPECT_EQ(decoded->spec().topics[1].producers, (std::vector<std::uint32_t>{3, 9}));
  std::vector<std::byte> damaged = ca->encoded();
  damaged.push_back(std::byte{0});
  EXPECT_EQ(CompiledRuleset::decode(damaged).status().code(), StatusCode::kCorruption);
}

// The bytes of a real ruleset, pinned field by field as docs/FORMAT.md "Ruleset" has them:
// topics sorted, producers sorted and deduplicated, a denying topic's mapping reset.
TEST(RulesetTest, ARealRulesetsBytesArePinned) {
  Ruleset spec;
  spec.topics.push_back(TopicRule{.topic = 9,
                                  .allow = false,
                                  .max_payload_bytes = 16,
                                  .mapping = {TopicAction::kWriteAtOffset, PageId(5), 0}});
  spec.topics.push_back(TopicRule{.topic = 2,
                                  .producers = {7, 3, 7},
                                  .max_payload_bytes = 8,
                                  .rate_per_second = 100,
                                  .burst = 10,
                                  .mapping = {TopicAction::kAppend, PageId(0x11), 12}});
  auto compiled = CompiledRuleset::compile(spec).value();
  std::string hex;
  for (std::byte b : compiled->encoded()) {
    static const char* digits = "0123456789abcdef";
    hex += digits[std::to_integer<unsigned>(b) >> 4];
    hex += digits[std::to_integer<unsigned>(b) & 15];
  }
  EXPECT_EQ(hex,
            "01"                // version
            "02000000"          // topics
            "02000000"          // topic 2
            "01"                // allow
            "08000000"          // maximum payload bytes: 8
            "6400000000000000"  // rate: 100 per second
            "0a00000000000000"  // burst: 10
            "03"                // append
            "1100000000000000"  // page 0x11
            "0c000000"          // record bytes: 12
            "02000000"          // producers: 2
            "03000000"          // 3
            "07000000"          // 7
            "09000000"          // topic 9
            "00"                // deny
            "10000000"          // maximum payload bytes: 16
            "0000000000000000"  // rate
            "0000000000000000"  // burst
            "01"                // mapping reset: overwrite, page 0, no record bytes
            "0000000000000000"  // page
            "00000000"          // record bytes
            "00000000");        // producers: any
  EXPECT_EQ(compiled->hash().to_hex(), "f56bf5115cfe30df224ad728da787288");
}

TEST(RulesetTest, FindsTopicsDenseAndSparse) {
  Ruleset dense, sparse;
  dense.topics = {limited(3, 1, 1), limited(700, 1, 1)};
  sparse.topics = {limited(3, 1, 1), limited(1u << 30, 1, 1)};
  for (const Ruleset& rules : {dense, sparse}) {
    auto compiled = CompiledRuleset::compile(rules).value();
    EXPECT_EQ(compiled->find(3), 0);
    EXPECT_EQ(compiled->find(rules.topics[1].topic), 1);
    EXPECT_EQ(compiled->find(4), -1);
    EXPECT_EQ(compiled->find(0xffffffffu), -1);
  }
}

TEST(RulesetTest, BucketsRefillAtTheirRateOnTheTicksTime) {
  World world;
  Ruleset rules;
  rules.topics = {limited(1, 2, 3)};  // 2 per second, burst 3
  Governor governor;
  governor.set_ruleset(CompiledRuleset::compile(rules).value());
  const std::uint64_t second = 1'000'000'000;
  governor.begin_tick(10 * second);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(judge(governor, world, 1).outcome, PacketOutcome::kAdmitted);
  EXPECT_EQ(judge(governor, world, 1).outcome, PacketOutcome::kThrottled);
  EXPECT_EQ(governor.tick_levels(), (std::vector<BucketLevel>{{1, 3 * kNanoTokens, 0}}));
  governor.begin_tick(10 * second + second / 2);  // half a second: one token
  EXPECT_EQ(judge(governor, world, 1).outcome, PacketOutcome::kAdmitted);
  EXPECT_EQ(judge(governor, world, 1).outcome, PacketOutcome::kThrottled);
  EXPECT_EQ(governor.tick_levels(), (std::vector<BucketLevel>{{1, 0, 10 * second}}));
  governor.begin_tick(100 * second);  // long after: full again, never above the burst
  for (int i = 0; i < 3; ++i) EXPECT_EQ(judge(governor, world, 1).outcome, PacketOutcome::kAdmitted);
  EXPECT_EQ(judge(governor, world, 1).outcome, PacketOutcome::kThrottled);
  // Rolling a tick back restores the levels it found.
  governor.rollback_tick();
  governor.begin_tick(100 * second);
  EXPECT_EQ(judge(governor, world, 1).outcome, PacketOutcome::kAdmitted);
}

TEST(RulesetTest, ASwapKeepsBucketsOfUnchangedTopics) {
  World world;
  Ruleset first;
  first.topics = {limited(1, 1, 1), limited(2, 1, 1)};
  Ruleset second;
  second.topics = {limited(1, 1, 1), limited(2, 1, 5)};
  Governor governor;
  governor.set_ruleset(CompiledRuleset::compile(first).value());
  governor.begin_tick(1);
  EXPECT_EQ(judge(governor, world, 1).outcome, PacketOutcome::kAdmitted);
  EXPECT_EQ(judge(governor, world, 2).outcome, PacketOutcome::kAdmitted);
  governor.set_ruleset(CompiledRuleset::compile(second).value());
  governor.begin_tick(2);
  EXPECT_EQ(judge(governor, world, 1).outcome, PacketOutcome::kThrottled);  // kept: empty
  EXPECT_EQ(judge(governor, world, 2).outcome, PacketOutcome::kAdmitted);   // new bucket: full
}

TEST(RulesetTest, DeniesInTheDocumentedOrder) {
  World world;
  Ruleset rules;
  rules.topics = {limited(1, 1, 1), TopicRule{.topic = 2, .allow = false}};
  rules.topics[0].producers = {5};
  rules.topics.push_back(TopicRule{.topic = 3, .mapping = {TopicAction::kOverwrite, PageId(9)}});
  Governor governor;
  EXPECT_EQ(judge(governor, world, 1).reason, DenyReason::kNoRuleset);
  governor.set_ruleset(CompiledRuleset::compile(rules).value());
  governor.begin_tick(1);
  EXPECT_EQ(judge(governor, world, 7).reason, DenyReason::kUnknownTopic);
  EXPECT_EQ(judge(governor, world, 2).reason, DenyReason::kTopicDenied);
  EXPECT_EQ(judge(governor, world, 1, 4).reason, DenyReason::kProducerNotAllowed);
  EXPECT_FALSE(judge(governor, world, 1, 4).payload_needed);
  EXPECT_EQ(judge(governor, world, 3).reason, DenyReason::kPageMissing);
  EXPECT_TRUE(judge(governor, world, 3).payload_needed);
  EXPECT_EQ(judge(governor, world, 1, 5).outcome, PacketOutcome::kAdmitted);
}

}  // namespace
}  // namespace mmsb::ingest

// The compiled governance ruleset and the governor that judges packets with it
// (docs/SEMANTICS.md "Ingest and governance"; encoding: docs/FORMAT.md "Ruleset").
//
// A CompiledRuleset is immutable: topics sorted by id with a dense index for ids below 2^16,
// producer allow lists sorted, the canonical encoding and its hash kept. The Governor owns
// the token buckets and is used by one thread (the sequencer, or replay).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "log/tick_record.hpp"
#include "mmsb/hash.hpp"
#include "mmsb/ingest.hpp"
#include "state/tables.hpp"

namespace mmsb::ingest {

// Token buckets count nano-tokens: one packet is 10^9, and `rate` packets per second add
// `rate` nano-tokens per nanosecond of the ticks' logged time.
inline constexpr std::uint64_t kNanoTokens = 1'000'000'000;
inline constexpr std::uint8_t kRulesetEncodingVersion = 1;

struct CompiledTopic {
  TopicRule rule;
  bool limited = false;         // has a token bucket
  std::uint64_t capacity = 0;   // burst in nano-tokens
};

class CompiledRuleset {
 public:
  // Checks and canonicalizes `spec` (InvalidArgument naming the topic and field).
  static Result<std::shared_ptr<const CompiledRuleset>> compile(Ruleset spec);
  // Checks every mapping against `tables`: the page exists, is not derived, and the
  // topic's largest payload fits (InvalidArgument naming topic and page).
  Status check_pages(const state::Tables& tables) const;
  // From the canonical encoding (Corruption on malformed bytes).
  static Result<std::shared_ptr<const CompiledRuleset>> decode(std::span<const std::byte> bytes);

  const std::vector<std::byte>& encoded() const { return encoded_; }
  const Hash128& hash() const { return hash_; }
  Ruleset spec() const;
  std::size_t size() const { return topics_.size(); }
  const CompiledTopic& topic(std::size_t index) const { return topics_[index]; }
  // The index of `topic`'s rule, or -1.
  std::int64_t find(std::uint32_t topic) const {
    if (!dense_.empty()) return topic < dense_.size() ? dense_[topic] : -1;
    std::size_t low = 0, high = topics_.size();
    while (low < high) {
      const std::size_t mid = (low + high) / 2;
      if (topics_[mid].rule.topic < topic) {
        low = mid + 1;
      } else {
        high = mid;
      }
    }
    return low < topics_.size() && topics_[low].rule.topic == topic
               ? static_cast<std::int64_t>(low)
               : -1;
  }

 private:
  std::vector<CompiledTopic> topics_;  // by topic id
  std::vector<std::int32_t> dense_;    // topic id -> index, when every id is below 2^16
  std::vector<std::byte> encoded_;
  Hash128 hash_;
};

using log::BucketLevel;

struct Verdict {
  PacketOutcome outcome = PacketOutcome::kAdmitted;
  DenyReason reason = DenyReason::kNone;
  std::int64_t topic_index = -1;  // the rule that decided, if any
  // Whether the payload mattered (the packet passed the size check): the log keeps it then.
  bool payload_needed = false;
};

class Governor {
 public:
  // Puts `ruleset` in force. Buckets of topics whose rate and burst are unchanged keep
  // their level; the others start full.
  void set_ruleset(std::shared_ptr<const CompiledRuleset> ruleset);
  const CompiledRuleset* ruleset() const { return ruleset_.get(); }

  // Starts judging a tick at logical time `time_ns` (not below the previous tick's).
  void begin_tick(std::uint64_t time_ns);
  // Judges one packet against the rules, the pages of `tables` and the buckets; an
  // admitted packet takes a token.
  Verdict judge(const Packet& packet, std::span<const std::byte> payload,
                const state::Tables& tables);
  // The levels the buckets touched in this tick had before it, by topic.
  std::vector<BucketLevel> tick_levels() const;
  // Puts the buckets back as the tick found them (the tick is being built again).
  void rollback_tick();
  // Replay: sets the buckets of `levels` (as a logged tick started with). Corruption if a
  // topic has no bucket.
  Status load_levels(std::span<const BucketLevel> levels);

 private:
  struct Bucket {
    std::uint64_t tokens = 0;
    std::uint64_t as_of_ns = 0;
    std::uint64_t touched_tick = 0;  // tick_ when first touched in it
  };
  std::shared_ptr<const CompiledRuleset> ruleset_;
  std::vector<Bucket> buckets_;  // parallel to the ruleset's topics
  std::vector<std::pair<std::size_t, Bucket>> touched_;  // this tick, first touch order
  std::uint64_t tick_ = 0;
  std::uint64_t now_ns_ = 0;
};

// Applies an admitted packet's payload to the page its topic maps to (the governor checked
// that it fits). ResourceExhausted if the allocator is exhausted.
Status apply_packet(state::ForkCore& fork, const CompiledTopic& topic,
                    std::span<const std::byte> payload);

}  // namespace mmsb::ingest

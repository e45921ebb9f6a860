// Ingest: producers push 64-byte packets into rings of their own; the sequencer drains them
// into ticks, judges each packet by the governance ruleset in force, and turns admitted ones
// into writes (docs/SEMANTICS.md "Ingest and governance"; layouts: docs/FORMAT.md).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "mmsb/ids.hpp"
#include "mmsb/packet.hpp"
#include "mmsb/status.hpp"

namespace mmsb {

// What a topic does to state.
enum class TopicAction : std::uint8_t {
  // The payload becomes the page's first bytes and the rest of the page is zeroed.
  kOverwrite = 1,
  // The payload's first 4 bytes are a little-endian offset; the remaining bytes are
  // written there.
  kWriteAtOffset = 2,
  // The page is a ring of records: bytes [0, 8) count the records ever appended (LE u64);
  // record slots of `record_bytes` follow, each a LE u32 length, the payload, zero fill.
  // Record n goes to slot n mod slots.
  kAppend = 3,
};

struct TopicMapping {
  TopicAction action = TopicAction::kOverwrite;
  PageId page;
  std::uint32_t record_bytes = 0;  // kAppend: the size of one slot (header included)
};

// Limits of a ruleset (checked by Engine::set_ruleset).
inline constexpr std::size_t kRulesetTopicsMax = 1u << 16;
inline constexpr std::size_t kTopicProducersMax = 1u << 12;
inline constexpr std::uint64_t kTopicRateMax = 1'000'000'000;  // packets per second
inline constexpr std::uint64_t kTopicBurstMax = 1'000'000'000;  // packets
inline constexpr std::uint32_t kAppendHeaderBytes = 8;
inline constexpr std::uint32_t kRecordHeaderBytes = 4;

struct TopicRule {
  std::uint32_t topic = 0;
  bool allow = true;                     // false: every packet is denied
  std::vector<std::uint32_t> producers = {};  // allowed to publish; empty: any
  std::uint32_t max_payload_bytes = kPacketInlineBytes;
  // Token bucket: at most `burst` packets at once, refilled at `rate_per_second` on the
  // ticks' logged time. 0 and 0: no limit.
  std::uint64_t rate_per_second = 0;
  std::uint64_t burst = 0;
  TopicMapping mapping = {};  // ignored when !allow
};

// The governance ruleset: one rule per topic; packets of other topics are denied.
struct Ruleset {
  std::vector<TopicRule> topics;
};

enum class PacketOutcome : std::uint8_t {
  kAdmitted = 1,   // applied to state in its tick (durable when the producer sees it)
  kDenied = 2,     // a rule refuses it (DenyReason says which)
  kThrottled = 3,  // its topic's token bucket is empty
  kRefused = 4,    // backpressure: never entered the ring (fail fast) or dropped from it
};

enum class DenyReason : std::uint8_t {
  kNone = 0,
  kNoRuleset = 1,          // no ruleset was ever set
  kUnknownTopic = 2,       // the ruleset has no rule for the topic
  kTopicDenied = 3,        // the topic's rule denies it
  kProducerNotAllowed = 4, // the producer is not on the topic's allow list
  kOversize = 5,           // payload above the topic's maximum
  kOutOfRange = 6,         // the write would pass the page's end (or no offset given)
  kPageMissing = 7,        // the mapped page does not exist (any more)
  kPageDerived = 8,        // the mapped page is derived: only propagation writes it
  kTickFailed = 9,         // its tick failed (a derivation or rule): nothing was applied
};
inline constexpr std::size_t kDenyReasons = 10;

std::string_view packet_outcome_name(PacketOutcome outcome);
std::string_view deny_reason_name(DenyReason reason);

enum class Backpressure : std::uint8_t {
  kBlock,       // submit waits for room
  kFailFast,    // submit returns ResourceExhausted; the packet is refused (counted)
  kDropOldest,  // the oldest packet still in the ring is dropped (counted as refused)
};

inline constexpr std::size_t kProducerRingMax = 1u << 24;

// The verdict on one packet, as the engine gave it (Producer::take_verdicts).
struct PacketVerdict {
  PacketOutcome outcome = PacketOutcome::kAdmitted;
  DenyReason reason = DenyReason::kNone;
  friend bool operator==(const PacketVerdict&, const PacketVerdict&) = default;
};

struct ProducerOptions {
  std::uint32_t id = 0;  // 0: the engine picks the lowest unused id; otherwise must be unused
  Backpressure backpressure = Backpressure::kBlock;
  std::size_t ring_packets = 8192;  // rounded up to a power of two; 2..kProducerRingMax
  // Keep every packet's verdict, in sequence order, for take_verdicts (kFailFast only:
  // InvalidArgument otherwise). The handle then also refuses a packet while a ring's worth
  // of verdicts waits to be taken, so the engine never has to drop one.
  bool keep_verdicts = false;
  // Called on the sequencer thread each time packets of this producer got their outcomes
  // (completed_sequence moved). It must be quick and must not wait for the engine.
  std::function<void()> on_complete = {};
};

// What became of one producer's packets so far.
struct ProducerCounters {
  std::uint64_t submitted = 0;  // entered the ring
  std::uint64_t admitted = 0;
  std::uint64_t denied = 0;
  std::uint64_t throttled = 0;
  std::uint64_t refused = 0;  // fail fast: never entered the ring
  std::uint64_t dropped = 0;  // drop-oldest: left the ring unjudged (also refused outcomes)
  // Every packet with a sequence up to this one has its outcome, and admitted ones are
  // durable at the engine's level.
  std::uint64_t completed_sequence = 0;
};

namespace ingest {
struct ProducerState;
}

// A producer's handle: its own ring into the engine. Not thread-safe: one handle per thread
// (Engine::producer hands out as many as wanted). Sequences count from 1 per handle. It may
// outlive the Engine (submits then fail with Unavailable); packets in its ring when it is
// destroyed are still judged.
class Producer {
 public:
  Producer(Producer&&) noexcept;
  Producer& operator=(Producer&&) noexcept;
  ~Producer();

  std::uint32_t id() const;
  // Submits one packet with `payload` inline (at most kPacketInlineBytes; InvalidArgument
  // otherwise). Returns its sequence. Backpressure as configured: ResourceExhausted (fail
  // fast), or waits (block); Unavailable if the engine is closed.
  Result<std::uint64_t> submit(std::uint32_t topic, std::span<const std::byte> payload);
  // Submits a packet that refers to `payload` (at most kPacketReferenceMaxBytes). The bytes
  // must stay unchanged until completed_sequence() reaches the returned sequence.
  Result<std::uint64_t> submit_reference(std::uint32_t topic, std::span<const std::byte> payload);
  // Submits packets as one batch (topic, flags, length and payload as set by the caller;
  // producer and sequence are set here). Returns how many entered the ring: all of them in
  // block and drop-oldest mode, as many as fit in fail-fast mode (the rest are refused and
  // ResourceExhausted returned if none fit).
  Result<std::size_t> submit_batch(std::span<Packet> packets);
  // Submits records.size() / record_bytes packets of `topic`, each carrying the next
  // `record_bytes` bytes inline (1 to kPacketInlineBytes; records.size() a multiple of it:
  // InvalidArgument otherwise), in batches. Returns how many entered the ring: all in block
  // and drop-oldest mode; in fail-fast mode it stops after the first batch that did not fit
  // whole (that batch's rest is refused, later records are not submitted).
  Result<std::size_t> submit_records(std::uint32_t topic, std::span<const std::byte> records,
                                     std::size_t record_bytes);

  ProducerCounters counters() const;
  std::uint64_t completed_sequence() const;
  // Moves the verdicts of completed packets (keep_verdicts), oldest first, into `out`;
  // returns how many. Packets are completed in sequence order, so the n-th verdict ever
  // taken is the one of sequence n.
  std::size_t take_verdicts(std::span<PacketVerdict> out);
  // Waits until every submitted packet has its outcome (or the engine closes: Unavailable).
  Status flush();
  // flush() for at most `wait`: true once every submitted packet has its outcome, false if
  // the time ran out first (call it again), Unavailable if the engine closed.
  Result<bool> flush_for(std::chrono::nanoseconds wait);

 private:
  friend class Engine;
  explicit Producer(std::shared_ptr<ingest::ProducerState> state);
  Result<std::size_t> push(std::span<Packet> packets);
  std::shared_ptr<ingest::ProducerState> state_;
};

}  // namespace mmsb

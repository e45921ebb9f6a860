// The simulator's ingest: governance rulesets drawn against the model's pages, batches of
// packets, and a model of how the engine judges them (docs/SEMANTICS.md "Ingest and
// governance"): deny reasons in their documented order, token buckets in nano-tokens on the
// ticks' logical time, and the writes admitted packets make.
#pragma once

#include <map>
#include <optional>

#include "sim/model.hpp"
#include "sim/random.hpp"

namespace mmsb::sim {

struct PacketDraw {
  std::uint32_t producer = 0;
  std::uint32_t topic = 0;
  std::vector<std::byte> payload;
};

struct PacketCounts {
  std::uint64_t admitted = 0, denied = 0, throttled = 0;
  friend bool operator==(const PacketCounts&, const PacketCounts&) = default;
};

class IngestModel {
 public:
  static constexpr std::uint32_t kProducers = 2;  // producer ids 1 and 2

  // A ruleset the engine must accept against `model`, or nullopt if no page can be mapped.
  static std::optional<Ruleset> draw_ruleset(Random& random, const Model& model);
  std::vector<PacketDraw> draw_packets(Random& random, const Model& model) const;

  // set_ruleset succeeded: the ruleset is in force from the next ingest tick.
  void set(const Ruleset& ruleset) { next_ = ruleset; }
  // The engine opened again: buckets start full; `ruleset` is what it recovered.
  void reopened(const std::optional<Ruleset>& ruleset);

  // One ingest tick of `packets` at logical time `time_ns` on `before`: the State after it
  // (or before's, if propagation fails and the packets are denied tick_failed) and the
  // outcomes per producer. Moves the buckets on.
  Outcome tick(const Model& before, const std::vector<PacketDraw>& packets, std::uint64_t time_ns,
               std::map<std::uint32_t, PacketCounts>& counts);

  const std::optional<Ruleset>& last_set() const { return next_; }

 private:
  struct Bucket {
    std::uint64_t tokens = 0;  // nano-tokens
    std::uint64_t as_of_ns = 0;
  };
  void take_force();
  bool admit(const TopicRule& rule, std::uint64_t time_ns);

  std::optional<Ruleset> next_;              // the last ruleset set
  std::optional<Ruleset> in_force_;          // the one the last ingest tick used
  std::map<std::uint32_t, Bucket> buckets_;  // by topic
  std::uint64_t time_ns_ = 0;
};

bool same_ruleset(const Ruleset& a, const Ruleset& b);

}  // namespace mmsb::sim

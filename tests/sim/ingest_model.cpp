#include "sim/ingest_model.hpp"

#include <algorithm>

#include "core/endian.hpp"

namespace mmsb::sim {
namespace {

constexpr std::uint64_t kNanoTokens = 1'000'000'000;

const TopicRule* find_topic(const std::optional<Ruleset>& ruleset, std::uint32_t topic) {
  if (!ruleset) return nullptr;
  for (const TopicRule& rule : ruleset->topics) {
    if (rule.topic == topic) return &rule;
  }
  return nullptr;
}

bool limited(const TopicRule& rule) { return rule.rate_per_second != 0; }

// Checks the packet against the page and applies it to `model`; false if out of range.
bool write_packet(Model& model, const TopicRule& rule, std::span<const std::byte> payload,
                  bool apply) {
  std::vector<std::byte>& bytes = model.pages.at(rule.mapping.page.value()).bytes;
  if (rule.mapping.action == TopicAction::kOverwrite) {
    if (payload.size() > bytes.size()) return false;
    if (apply) {
      std::fill(bytes.begin(), bytes.end(), std::byte{0});
      std::copy(payload.begin(), payload.end(), bytes.begin());
    }
    return true;
  }
  if (payload.size() < 4) return false;
  const std::uint64_t offset = get_le<std::uint32_t>(payload.data());
  if (offset > bytes.size() || payload.size() - 4 > bytes.size() - offset) return false;
  if (apply)
    std::copy(payload.begin() + 4, payload.end(),
              bytes.begin() + static_cast<std::ptrdiff_t>(offset));
  return true;
}

}  // namespace

bool same_ruleset(const Ruleset& a, const Ruleset& b) {
  if (a.topics.size() != b.topics.size()) return false;
  for (std::size_t i = 0; i < a.topics.size(); ++i) {
    const TopicRule& x = a.topics[i];
    const TopicRule& y = b.topics[i];
    if (x.topic != y.topic || x.allow != y.allow || x.producers != y.producers ||
        x.max_payload_bytes != y.max_payload_bytes || x.rate_per_second != y.rate_per_second ||
        x.burst != y.burst ||
        (x.allow && (x.mapping.action != y.mapping.action || x.mapping.page != y.mapping.page))) {
      return false;
    }
  }
  return true;
}

std::optional<Ruleset> IngestModel::draw_ruleset(Random& random, const Model& model) {
  std::vector<std::uint64_t> pages;
  for (const auto& [id, page] : model.pages) {
    if (!model.is_derived(id) && page.bytes.size() >= 8) pages.push_back(id);
  }
  if (pages.empty()) return std::nullopt;
  Ruleset ruleset;
  const std::size_t topics = static_cast<std::size_t>(random.between(1, 3));
  for (std::uint32_t topic = 1; topic <= topics; ++topic) {  // ascending, as the engine keeps them
    TopicRule rule;
    rule.topic = topic;
    rule.allow = !random.chance(10);
    if (random.chance(20)) rule.producers = {1};
    if (rule.allow) {
      const std::uint64_t page = random.pick(pages);
      const std::uint64_t size = model.pages.at(page).bytes.size();
      rule.mapping.page = PageId(page);
      rule.mapping.action =
          random.chance(60) ? TopicAction::kOverwrite : TopicAction::kWriteAtOffset;
      rule.max_payload_bytes = static_cast<std::uint32_t>(
          random.between(rule.mapping.action == TopicAction::kOverwrite ? 1 : 5,
                         std::min<std::uint64_t>(size, kPacketInlineBytes)));
    }
    if (random.chance(40)) {
      rule.rate_per_second = random.between(1, 20);
      rule.burst = random.between(1, 4);
    }
    ruleset.topics.push_back(rule);
  }
  return ruleset;
}

std::vector<PacketDraw> IngestModel::draw_packets(Random& random, const Model& model) const {
  std::vector<PacketDraw> packets;
  const std::size_t count = static_cast<std::size_t>(random.between(1, 12));
  for (std::size_t i = 0; i < count; ++i) {
    PacketDraw packet;
    packet.producer = static_cast<std::uint32_t>(random.between(1, kProducers));
    packet.topic = static_cast<std::uint32_t>(random.between(1, 4));  // 4 is never a topic
    packet.payload = random.bytes(random.below(kPacketInlineBytes + 1));
    const TopicRule* rule = find_topic(next_, packet.topic);
    if (rule != nullptr && rule->mapping.action == TopicAction::kWriteAtOffset &&
        packet.payload.size() >= 4 && model.pages.count(rule->mapping.page.value())) {
      const std::uint64_t size = model.pages.at(rule->mapping.page.value()).bytes.size();
      put_le<std::uint32_t>(packet.payload.data(),
                            static_cast<std::uint32_t>(random.below(size + 2)));
    }
    packets.push_back(std::move(packet));
  }
  return packets;
}

void IngestModel::reopened(const std::optional<Ruleset>& ruleset) {
  next_ = ruleset;
  in_force_.reset();
  buckets_.clear();
  time_ns_ = 0;
}

void IngestModel::take_force() {
  std::map<std::uint32_t, Bucket> buckets;
  if (next_) {
    for (const TopicRule& rule : next_->topics) {
      if (!limited(rule)) continue;
      const TopicRule* before = find_topic(in_force_, rule.topic);
      const bool kept = before != nullptr && before->rate_per_second == rule.rate_per_second &&
                        before->burst == rule.burst && buckets_.count(rule.topic);
      buckets[rule.topic] = kept ? buckets_.at(rule.topic) : Bucket{rule.burst * kNanoTokens, 0};
    }
  }
  buckets_ = std::move(buckets);
  in_force_ = next_;
}

bool IngestModel::admit(const TopicRule& rule, std::uint64_t time_ns) {
  Bucket& bucket = buckets_.at(rule.topic);
  const std::uint64_t capacity = rule.burst * kNanoTokens;
  if (time_ns > bucket.as_of_ns) {
    std::uint64_t refill = 0;  // nano-tokens: rate per second times nanoseconds
    if (__builtin_mul_overflow(time_ns - bucket.as_of_ns, rule.rate_per_second, &refill) ||
        refill > capacity) {
      refill = capacity;
    }
    bucket.tokens = std::min(capacity, bucket.tokens + refill);  // both at most 10^18
    bucket.as_of_ns = time_ns;
  }
  if (bucket.tokens < kNanoTokens) return false;
  bucket.tokens -= kNanoTokens;
  return true;
}

Outcome IngestModel::tick(const Model& before, const std::vector<PacketDraw>& packets,
                          std::uint64_t time_ns, std::map<std::uint32_t, PacketCounts>& counts) {
  take_force();
  time_ns_ = std::max(time_ns_, time_ns);
  Model after = before;
  for (const PacketDraw& packet : packets) {
    const TopicRule* rule = find_topic(in_force_, packet.topic);
    const bool denied =
        rule == nullptr || !rule->allow ||
        (!rule->producers.empty() && std::find(rule->producers.begin(), rule->producers.end(),
                                               packet.producer) == rule->producers.end()) ||
        packet.payload.size() > rule->max_payload_bytes ||
        !after.pages.count(rule->mapping.page.value()) ||
        after.is_derived(rule->mapping.page.value()) ||
        !write_packet(after, *rule, packet.payload, false);
    if (denied) {
      ++counts[packet.producer].denied;
    } else if (limited(*rule) && !admit(*rule, time_ns_)) {
      ++counts[packet.producer].throttled;
    } else {
      write_packet(after, *rule, packet.payload, true);
      ++counts[packet.producer].admitted;
    }
  }
  Outcome finished = finish_tick(before, std::move(after), {});
  if (!finished.status.is_ok()) {
    // tick_failed: the tick is dropped (not logged), its admitted packets are denied
    // instead; the tokens they took stay taken.
    for (auto& [producer, count] : counts) {
      count.denied += count.admitted;
      count.admitted = 0;
    }
  }
  return finished;
}

}  // namespace mmsb::sim

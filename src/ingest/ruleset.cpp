#include "ingest/ruleset.hpp"

#include <algorithm>
#include <cstring>

#include "core/byte_reader.hpp"

namespace mmsb {

std::string_view packet_outcome_name(PacketOutcome outcome) {
  switch (outcome) {
    case PacketOutcome::kAdmitted:
      return "admitted";
    case PacketOutcome::kDenied:
      return "denied";
    case PacketOutcome::kThrottled:
      return "throttled";
    case PacketOutcome::kRefused:
      return "refused";
  }
  return "unknown";
}

std::string_view deny_reason_name(DenyReason reason) {
  switch (reason) {
    case DenyReason::kNone:
      return "none";
    case DenyReason::kNoRuleset:
      return "no_ruleset";
    case DenyReason::kUnknownTopic:
      return "unknown_topic";
    case DenyReason::kTopicDenied:
      return "topic_denied";
    case DenyReason::kProducerNotAllowed:
      return "producer_not_allowed";
    case DenyReason::kOversize:
      return "oversize";
    case DenyReason::kOutOfRange:
      return "out_of_range";
    case DenyReason::kPageMissing:
      return "page_missing";
    case DenyReason::kPageDerived:
      return "page_derived";
    case DenyReason::kTickFailed:
      return "tick_failed";
  }
  return "unknown";
}

namespace ingest {
namespace {

constexpr std::uint32_t kDenseTopicsBelow = 1u << 16;

std::string topic_name(std::uint32_t topic) { return "ruleset: topic " + std::to_string(topic); }

Status check_rule(const TopicRule& rule) {
  const std::string name = topic_name(rule.topic);
  if (rule.producers.size() > kTopicProducersMax) {
    return invalid_argument(name + ": " + std::to_string(rule.producers.size()) +
                            " allowed producers; the limit is " +
                            std::to_string(kTopicProducersMax));
  }
  for (std::uint32_t producer : rule.producers) {
    if (producer == 0) return invalid_argument(name + ": producer id 0 is not a producer");
  }
  if (rule.max_payload_bytes > kPacketReferenceMaxBytes) {
    return invalid_argument(name + ": max_payload_bytes " + std::to_string(rule.max_payload_bytes) +
                            " is above the packet limit " +
                            std::to_string(kPacketReferenceMaxBytes));
  }
  const bool unlimited = rule.rate_per_second == 0 && rule.burst == 0;
  if (!unlimited && (rule.rate_per_second == 0 || rule.burst == 0 ||
                     rule.rate_per_second > kTopicRateMax || rule.burst > kTopicBurstMax)) {
    return invalid_argument(name + ": impossible token bucket (rate " +
                            std::to_string(rule.rate_per_second) + "/s, burst " +
                            std::to_string(rule.burst) + "): both 0 for no limit, or rate in [1, " +
                            std::to_string(kTopicRateMax) + "] and burst in [1, " +
                            std::to_string(kTopicBurstMax) + "]");
  }
  if (!rule.allow) return Status::ok();
  const TopicMapping& mapping = rule.mapping;
  if (!mapping.page.is_valid()) return invalid_argument(name + ": maps to no page");
  switch (mapping.action) {
    case TopicAction::kOverwrite:
    case TopicAction::kWriteAtOffset:
      if (mapping.record_bytes != 0) {
        return invalid_argument(name + ": record_bytes is for append topics only");
      }
      return Status::ok();
    case TopicAction::kAppend:
      if (mapping.record_bytes <= kRecordHeaderBytes) {
        return invalid_argument(name + ": append record_bytes " +
                                std::to_string(mapping.record_bytes) + " leaves no payload room");
      }
      if (rule.max_payload_bytes > mapping.record_bytes - kRecordHeaderBytes) {
        return invalid_argument(
            name + ": max_payload_bytes " + std::to_string(rule.max_payload_bytes) +
            " does not fit a record of " + std::to_string(mapping.record_bytes) + " bytes");
      }
      return Status::ok();
  }
  return invalid_argument(name + ": unknown action " +
                          std::to_string(static_cast<int>(mapping.action)));
}

void encode(const std::vector<CompiledTopic>& topics, std::vector<std::byte>& out) {
  append_le<std::uint8_t>(out, kRulesetEncodingVersion);
  append_le<std::uint32_t>(out, static_cast<std::uint32_t>(topics.size()));
  for (const CompiledTopic& topic : topics) {
    const TopicRule& rule = topic.rule;
    append_le<std::uint32_t>(out, rule.topic);
    append_le<std::uint8_t>(out, rule.allow ? 1 : 0);
    append_le<std::uint32_t>(out, rule.max_payload_bytes);
    append_le<std::uint64_t>(out, rule.rate_per_second);
    append_le<std::uint64_t>(out, rule.burst);
    append_le<std::uint8_t>(out, static_cast<std::uint8_t>(rule.mapping.action));
    append_le<std::uint64_t>(out, rule.mapping.page.value());
    append_le<std::uint32_t>(out, rule.mapping.record_bytes);
    append_le<std::uint32_t>(out, static_cast<std::uint32_t>(rule.producers.size()));
    for (std::uint32_t producer : rule.producers) append_le<std::uint32_t>(out, producer);
  }
}

}  // namespace

Result<std::shared_ptr<const CompiledRuleset>> CompiledRuleset::compile(Ruleset spec) {
  if (spec.topics.size() > kRulesetTopicsMax) {
    return invalid_argument("ruleset: " + std::to_string(spec.topics.size()) +
                            " topics; the limit is " + std::to_string(kRulesetTopicsMax));
  }
  auto compiled = std::make_shared<CompiledRuleset>();
  compiled->topics_.reserve(spec.topics.size());
  for (TopicRule& rule : spec.topics) {
    MMSB_RETURN_IF_ERROR(check_rule(rule));
    std::sort(rule.producers.begin(), rule.producers.end());
    rule.producers.erase(std::unique(rule.producers.begin(), rule.producers.end()),
                         rule.producers.end());
    if (!rule.allow) rule.mapping = TopicMapping{};  // ignored: not part of its identity
    CompiledTopic topic;
    topic.limited = rule.rate_per_second != 0;
    topic.capacity = rule.burst * kNanoTokens;
    topic.rule = std::move(rule);
    compiled->topics_.push_back(std::move(topic));
  }
  std::sort(
      compiled->topics_.begin(), compiled->topics_.end(),
      [](const CompiledTopic& a, const CompiledTopic& b) { return a.rule.topic < b.rule.topic; });
  for (std::size_t i = 1; i < compiled->topics_.size(); ++i) {
    if (compiled->topics_[i].rule.topic == compiled->topics_[i - 1].rule.topic) {
      return invalid_argument(topic_name(compiled->topics_[i].rule.topic) + " appears twice");
    }
  }
  if (!compiled->topics_.empty() && compiled->topics_.back().rule.topic < kDenseTopicsBelow) {
    compiled->dense_.assign(compiled->topics_.back().rule.topic + 1, -1);
    for (std::size_t i = 0; i < compiled->topics_.size(); ++i) {
      compiled->dense_[compiled->topics_[i].rule.topic] = static_cast<std::int32_t>(i);
    }
  }
  encode(compiled->topics_, compiled->encoded_);
  compiled->hash_ = xxh3_128(compiled->encoded_);
  return std::shared_ptr<const CompiledRuleset>(std::move(compiled));
}

Status CompiledRuleset::check_pages(const state::Tables& tables) const {
  for (const CompiledTopic& topic : topics_) {
    const TopicRule& rule = topic.rule;
    if (!rule.allow) continue;
    const std::string name =
        topic_name(rule.topic) + ": page " + std::to_string(rule.mapping.page.value());
    const state::PageRecord* page = tables.find_page(rule.mapping.page);
    if (page == nullptr) return invalid_argument(name + " does not exist");
    if (tables.find_derivation(rule.mapping.page) != nullptr) {
      return invalid_argument(name + " is derived: only propagation writes it");
    }
    const std::uint64_t size = page->size_bytes;
    switch (rule.mapping.action) {
      case TopicAction::kOverwrite:
        if (rule.max_payload_bytes > size) {
          return invalid_argument(name + " has " + std::to_string(size) +
                                  " bytes, less than max_payload_bytes " +
                                  std::to_string(rule.max_payload_bytes));
        }
        break;
      case TopicAction::kWriteAtOffset:
        break;  // each packet's offset is checked against the page
      case TopicAction::kAppend:
        if (size < kAppendHeaderBytes + rule.mapping.record_bytes ||
            (size - kAppendHeaderBytes) % rule.mapping.record_bytes != 0) {
          return invalid_argument(name + " (" + std::to_string(size) +
                                  " bytes) is not an 8-byte head and whole records of " +
                                  std::to_string(rule.mapping.record_bytes) + " bytes");
        }
        break;
    }
  }
  return Status::ok();
}

Result<std::shared_ptr<const CompiledRuleset>> CompiledRuleset::decode(
    std::span<const std::byte> bytes) {
  ByteReader in(bytes);
  std::uint8_t version = 0;
  std::uint32_t count = 0;
  if (in.read(version, "ruleset version") && version != kRulesetEncodingVersion) {
    in.fail("unknown ruleset version " + std::to_string(version));
  }
  if (in.read(count, "ruleset topic count") && count > kRulesetTopicsMax) {
    in.fail("ruleset topic count " + std::to_string(count) + " above the limit");
  }
  Ruleset spec;
  for (std::uint32_t i = 0; i < count && in.ok(); ++i) {
    TopicRule rule;
    std::uint8_t allow = 0, action = 0;
    std::uint64_t page = 0;
    std::uint32_t producers = 0;
    if (!in.read(rule.topic, "ruleset topic") || !in.read(allow, "ruleset allow") ||
        !in.read(rule.max_payload_bytes, "ruleset max payload") ||
        !in.read(rule.rate_per_second, "ruleset rate") || !in.read(rule.burst, "ruleset burst") ||
        !in.read(action, "ruleset action") || !in.read(page, "ruleset page") ||
        !in.read(rule.mapping.record_bytes, "ruleset record bytes") ||
        !in.read(producers, "ruleset producer count")) {
      break;
    }
    if (producers > kTopicProducersMax || std::uint64_t{producers} * 4 > in.remaining()) {
      in.fail("ruleset producer count " + std::to_string(producers) + " too large");
      break;
    }
    rule.allow = allow != 0;
    rule.mapping.action = static_cast<TopicAction>(action);
    rule.mapping.page = PageId(page);
    rule.producers.resize(producers);
    for (std::uint32_t& producer : rule.producers) in.read(producer, "ruleset producer");
    spec.topics.push_back(std::move(rule));
  }
  if (in.ok() && in.remaining() != 0) in.fail(std::to_string(in.remaining()) + " trailing bytes");
  if (!in.ok()) return corruption("ruleset: " + in.error());
  auto compiled = compile(std::move(spec));
  if (!compiled.is_ok()) return corruption("ruleset: " + compiled.status().message());
  if ((*compiled)->encoded() != std::vector<std::byte>(bytes.begin(), bytes.end())) {
    return corruption("ruleset: not in canonical form");
  }
  return compiled;
}

Ruleset CompiledRuleset::spec() const {
  Ruleset spec;
  for (const CompiledTopic& topic : topics_) spec.topics.push_back(topic.rule);
  return spec;
}

void Governor::set_ruleset(std::shared_ptr<const CompiledRuleset> ruleset) {
  std::vector<Bucket> buckets(ruleset ? ruleset->size() : 0);
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const CompiledTopic& topic = ruleset->topic(i);
    buckets[i].tokens = topic.capacity;  // full
    if (ruleset_ == nullptr) continue;
    const std::int64_t old = ruleset_->find(topic.rule.topic);
    if (old < 0) continue;
    const TopicRule& before = ruleset_->topic(static_cast<std::size_t>(old)).rule;
    if (before.rate_per_second == topic.rule.rate_per_second && before.burst == topic.rule.burst) {
      buckets[i] = buckets_[static_cast<std::size_t>(old)];
      buckets[i].touched_tick = 0;
    }
  }
  ruleset_ = std::move(ruleset);
  buckets_ = std::move(buckets);
  touched_.clear();
}

void Governor::begin_tick(std::uint64_t time_ns) {
  ++tick_;
  now_ns_ = time_ns;
  touched_.clear();
}

Verdict Governor::judge(const Packet& packet, std::span<const std::byte> payload,
                        const state::Tables& tables) {
  Verdict verdict;
  auto deny = [&](DenyReason reason) {
    verdict.outcome = PacketOutcome::kDenied;
    verdict.reason = reason;
    return verdict;
  };
  if (ruleset_ == nullptr) return deny(DenyReason::kNoRuleset);
  verdict.topic_index = ruleset_->find(packet.topic);
  if (verdict.topic_index < 0) return deny(DenyReason::kUnknownTopic);
  const std::size_t index = static_cast<std::size_t>(verdict.topic_index);
  const CompiledTopic& topic = ruleset_->topic(index);
  const TopicRule& rule = topic.rule;
  if (!rule.allow) return deny(DenyReason::kTopicDenied);
  if (!rule.producers.empty() &&
      !std::binary_search(rule.producers.begin(), rule.producers.end(), packet.producer)) {
    return deny(DenyReason::kProducerNotAllowed);
  }
  if (packet.length > rule.max_payload_bytes) return deny(DenyReason::kOversize);
  verdict.payload_needed = true;
  const state::PageRecord* page = tables.find_page(rule.mapping.page);
  if (page == nullptr) return deny(DenyReason::kPageMissing);
  if (tables.find_derivation(rule.mapping.page) != nullptr) return deny(DenyReason::kPageDerived);
  const std::uint64_t size = page->size_bytes;
  switch (rule.mapping.action) {
    case TopicAction::kOverwrite:
      if (payload.size() > size) return deny(DenyReason::kOutOfRange);
      break;
    case TopicAction::kWriteAtOffset: {
      if (payload.size() < 4) return deny(DenyReason::kOutOfRange);
      const std::uint64_t offset = get_le<std::uint32_t>(payload.data());
      if (offset > size || payload.size() - 4 > size - offset) {
        return deny(DenyReason::kOutOfRange);
      }
      break;
    }
    case TopicAction::kAppend:
      if (size < kAppendHeaderBytes + rule.mapping.record_bytes) {
        return deny(DenyReason::kOutOfRange);
      }
      break;
  }
  if (!topic.limited) return verdict;
  Bucket& bucket = buckets_[index];
  if (bucket.touched_tick != tick_) {
    touched_.emplace_back(index, bucket);
    bucket.touched_tick = tick_;
    if (now_ns_ > bucket.as_of_ns) {
      const std::uint64_t elapsed = now_ns_ - bucket.as_of_ns;
      const std::uint64_t rate = rule.rate_per_second;
      if (elapsed >= topic.capacity / rate + 1) {
        bucket.tokens = topic.capacity;
      } else {
        bucket.tokens = std::min(topic.capacity, bucket.tokens + elapsed * rate);
      }
      bucket.as_of_ns = now_ns_;
    }
  }
  if (bucket.tokens < kNanoTokens) {
    verdict.outcome = PacketOutcome::kThrottled;
    return verdict;
  }
  bucket.tokens -= kNanoTokens;
  return verdict;
}

std::vector<BucketLevel> Governor::tick_levels() const {
  std::vector<BucketLevel> levels;
  levels.reserve(touched_.size());
  for (const auto& [index, before] : touched_) {
    levels.push_back(
        BucketLevel{ruleset_->topic(index).rule.topic, before.tokens, before.as_of_ns});
  }
  std::sort(levels.begin(), levels.end(),
            [](const BucketLevel& a, const BucketLevel& b) { return a.topic < b.topic; });
  return levels;
}

void Governor::rollback_tick() {
  for (const auto& [index, before] : touched_) buckets_[index] = before;
  touched_.clear();
  ++tick_;
}

Status Governor::load_levels(std::span<const BucketLevel> levels) {
  for (const BucketLevel& level : levels) {
    const std::int64_t index = ruleset_ ? ruleset_->find(level.topic) : -1;
    if (index < 0 || !ruleset_->topic(static_cast<std::size_t>(index)).limited) {
      return corruption("bucket level for topic " + std::to_string(level.topic) +
                        ", which has no token bucket in the ruleset");
    }
    Bucket& bucket = buckets_[static_cast<std::size_t>(index)];
    bucket.tokens = level.tokens;
    bucket.as_of_ns = level.as_of_ns;
  }
  return Status::ok();
}

Status apply_packet(state::ForkCore& fork, const CompiledTopic& topic,
                    std::span<const std::byte> payload) {
  const TopicMapping& mapping = topic.rule.mapping;
  switch (mapping.action) {
    case TopicAction::kOverwrite: {
      MMSB_ASSIGN_OR_RETURN(state::PageRecord * page, fork.own_page(mapping.page));
      std::span<std::byte> bytes = page->mutable_bytes();
      if (!payload.empty()) std::memcpy(bytes.data(), payload.data(), payload.size());
      std::memset(bytes.data() + payload.size(), 0, bytes.size() - payload.size());
      fork.mark_written(*page, 0, bytes.size());
      return Status::ok();
    }
    case TopicAction::kWriteAtOffset:
      return fork.write(mapping.page, get_le<std::uint32_t>(payload.data()), payload.subspan(4));
    case TopicAction::kAppend: {
      // Two writes, so the root's terms change by the chunks they touch (a raw record would
      // have the seal count the whole page again).
      const state::PageRecord* page = fork.tables().find_page(mapping.page);
      if (page == nullptr) return not_found(state::page_not_found(mapping.page));
      const std::uint64_t record = mapping.record_bytes;
      const std::uint64_t slots = (page->size_bytes - kAppendHeaderBytes) / record;
      const std::uint64_t count = get_le<std::uint64_t>(page->data);
      const std::uint64_t at = kAppendHeaderBytes + (count % slots) * record;
      thread_local std::vector<std::byte> slot;  // the sequencer's; grows to the largest record
      slot.assign(record, std::byte{0});
      put_le<std::uint32_t>(slot.data(), static_cast<std::uint32_t>(payload.size()));
      if (!payload.empty())
        std::memcpy(slot.data() + kRecordHeaderBytes, payload.data(), payload.size());
      MMSB_RETURN_IF_ERROR(fork.write(mapping.page, at, slot));
      std::byte header[kAppendHeaderBytes];
      put_le<std::uint64_t>(header, count + 1);
      return fork.write(mapping.page, 0, header);
    }
  }
  return internal_error("unknown topic action");
}

}  // namespace ingest
}  // namespace mmsb

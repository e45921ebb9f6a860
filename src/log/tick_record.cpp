#include "log/tick_record.hpp"

#include <cstring>

#include "core/byte_reader.hpp"
#include "core/prefetch.hpp"

namespace mmsb::log {
namespace {

// A transaction's outcome is logged as its StatusCode's value (docs/FORMAT.md): the values
// are part of the format and may never change.
static_assert(static_cast<int>(StatusCode::kOk) == 0);
static_assert(static_cast<int>(StatusCode::kInvalidArgument) == 1);
static_assert(static_cast<int>(StatusCode::kNotFound) == 2);
static_assert(static_cast<int>(StatusCode::kAlreadyExists) == 3);
static_assert(static_cast<int>(StatusCode::kConflict) == 4);
static_assert(static_cast<int>(StatusCode::kCorruption) == 5);
static_assert(static_cast<int>(StatusCode::kIOError) == 6);
static_assert(static_cast<int>(StatusCode::kResourceExhausted) == 7);
static_assert(static_cast<int>(StatusCode::kPermissionDenied) == 8);
static_assert(static_cast<int>(StatusCode::kUnavailable) == 9);
static_assert(static_cast<int>(StatusCode::kFailedPrecondition) == 10);
static_assert(static_cast<int>(StatusCode::kInternal) == 11);

// Minimum encoded sizes of the repeated items, as their fixed fields add up; the decoder
// checks a count against them before allocating, and the encoder asserts each item reaches
// its minimum, so the two cannot drift apart unnoticed.
constexpr std::size_t kTransactionMinBytes = 4 + 1;  // op count, outcome
constexpr std::size_t kOpMinBytes = 1 + 8;           // kind, then at least one id
constexpr std::size_t kMergePageMinBytes = 8 + 4 + 8 + 8;
constexpr std::size_t kMergeEdgeBytes = 8 + 4 + 8 + 8;
constexpr std::size_t kMergeDerivationMinBytes = 8 + 4;
constexpr std::size_t kDerivedMinBytes = 8 + kDeltaHeaderBytes;

// The encoder: appends to `out` and remembers the first count that is over its limit (an
// encoding error, since the decoder would refuse it).
class Encoder {
 public:
  explicit Encoder(std::vector<std::byte>& out) : out_(out) {}
  std::vector<std::byte>& out() { return out_; }
  // A u32 count, checked against `max`.
  void count(std::size_t n, std::uint64_t max, const char* field) {
    append_le<std::uint32_t>(out_, checked(n, max, field));
  }
  // `n`, or an error if it is above `max` (at most kCountMax).
  std::uint32_t checked(std::size_t n, std::uint64_t max, const char* field) {
    if (n > max && status_.is_ok()) {
      status_ = invalid_argument(std::string("tick record: ") + field + " " + std::to_string(n) +
                                 " is above the limit " + std::to_string(max));
    }
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, max));
  }
  // Marks the start of an item whose encoding is at least `min_bytes`.
  std::size_t begin() const { return out_.size(); }
  void end(std::size_t begun, std::size_t min_bytes) const {
    MMSB_DEBUG_ASSERT(out_.size() - begun >= min_bytes);
    (void)begun;
    (void)min_bytes;
  }
  // Records an error the caller found (the first one is kept).
  void refuse(const std::string& what) {
    if (status_.is_ok()) status_ = invalid_argument("tick record: " + what);
  }
  const Status& status() const { return status_; }

 private:
  std::vector<std::byte>& out_;
  Status status_;
};

inline constexpr std::uint64_t kCountMax = 0xffffffffu;

// The common op's fields (page, epoch, offset, length, then the bytes), sized once and
// written in place.
void encode_write(const WriteOp& op, const OpResult& result, std::vector<std::byte>& out) {
  constexpr std::size_t kFieldsBytes = 4 * 8;
  const std::size_t at = out.size();
  out.resize(at + kFieldsBytes + op.bytes.size());
  LeCursor put(out.data() + at);
  put.put<std::uint64_t>(op.page);
  put.put<std::uint64_t>(result.epoch);
  put.put<std::uint64_t>(op.offset);
  put.put<std::uint64_t>(op.bytes.size());
  put.put_bytes(op.bytes);
}

void encode_op(const Op& any, const OpResult& result, Encoder& encoder) {
  std::vector<std::byte>& out = encoder.out();
  const std::size_t begun = encoder.begin();
  append_le<std::uint8_t>(out, static_cast<std::uint8_t>(kind_of(any)));
  switch (kind_of(any)) {
    case OpKind::kRead: {
      const auto& op = std::get<ReadOp>(any);
      append_le<std::uint64_t>(out, op.page);
      append_le<std::uint64_t>(out, op.epoch);
      break;
    }
    case OpKind::kCreatePage: {
      const auto& op = std::get<CreatePageOp>(any);
      append_le<std::uint32_t>(out, op.type);
      append_le<std::uint64_t>(out, op.size_bytes);
      append_le<std::uint64_t>(out, result.assigned);
      append_le<std::uint64_t>(out, op.bytes.size());
      append_bytes(out, op.bytes);
      break;
    }
    case OpKind::kWrite:
      encode_write(std::get<WriteOp>(any), result, out);
      break;
    case OpKind::kDeletePage:
      append_le<std::uint64_t>(out, std::get<DeletePageOp>(any).page);
      break;
    case OpKind::kAddEdge: {
      const auto& op = std::get<AddEdgeOp>(any);
      append_le<std::uint32_t>(out, op.edge_kind);
      append_le<std::uint64_t>(out, op.from);
      append_le<std::uint64_t>(out, op.to);
      append_le<std::uint64_t>(out, result.assigned);
      break;
    }
    case OpKind::kRemoveEdge:
      append_le<std::uint64_t>(out, std::get<RemoveEdgeOp>(any).edge);
      break;
    case OpKind::kDerive: {
      const auto& op = std::get<DeriveOp>(any);
      append_le<std::uint64_t>(out, op.page);
      append_le<std::uint64_t>(out, result.assigned);
      encoder.count(op.function.size(), kFunctionNameMaxBytes, "derive function name length");
      append_bytes(out, as_bytes(op.function));
      encoder.count(op.parents.size(), kDerivationParentsMax, "derive parent count");
      for (std::uint64_t parent : op.parents) append_le<std::uint64_t>(out, parent);
      break;
    }
    case OpKind::kApplyRule: {
      const auto& op = std::get<ApplyRuleOp>(any);
      append_le<std::uint64_t>(out, op.family);
      append_le<std::uint64_t>(out, op.page);
      append_le<std::uint64_t>(out, result.assigned);
      break;
    }
  }
  encoder.end(begun, kOpMinBytes);
}

// A count (4) and the ids (8 each).
template <typename Id>
void append_ids(Encoder& encoder, const std::vector<Id>& ids, const char* field) {
  encoder.count(ids.size(), kCountMax, field);
  for (Id id : ids) append_le<std::uint64_t>(encoder.out(), id.value());
}

bool read_length_prefixed(ByteReader& in, std::vector<std::byte>& out, const char* field) {
  std::uint64_t length = 0;
  if (!in.read(length, field)) return false;
  if (length > in.remaining()) return in.fail(std::string(field) + " longer than the record");
  return in.read_bytes(static_cast<std::size_t>(length), out, field);
}

bool decode_derive(ByteReader& in, DeriveOp& op, OpResult& result) {
  std::uint32_t parents = 0;
  if (!in.read(op.page, "derive page") || !in.read(result.assigned, "derive first edge id") ||
      !in.read_string(op.function, kFunctionNameMaxBytes, "derive function") ||
      !in.read_count(parents, 8, "derive parent count")) {
    return false;
  }
  op.parents.resize(parents);
  for (std::uint64_t& parent : op.parents) {
    if (!in.read(parent, "derive parent")) return false;
  }
  return true;
}

// The op `any` holds if it is a T already (its vectors keep their memory), else a new T.
template <typename T>
T& reuse(Op& any) {
  if (T* op = std::get_if<T>(&any)) return *op;
  return any.emplace<T>();
}

bool decode_op(ByteReader& in, Op& any, OpResult& result) {
  std::uint8_t kind = 0;
  if (!in.read(kind, "op kind")) return false;
  switch (static_cast<OpKind>(kind)) {
    case OpKind::kRead: {
      auto& op = any.emplace<ReadOp>();
      return in.read(op.page, "read page") && in.read(op.epoch, "read epoch");
    }
    case OpKind::kCreatePage: {
      auto& op = reuse<CreatePageOp>(any);
      return in.read(op.type, "create type") && in.read(op.size_bytes, "create size") &&
             in.read(result.assigned, "create id") &&
             read_length_prefixed(in, op.bytes, "create initial bytes");
    }
    case OpKind::kWrite: {
      auto& op = reuse<WriteOp>(any);
      return in.read(op.page, "write page") && in.read(result.epoch, "write epoch") &&
             in.read(op.offset, "write offset") &&
             read_length_prefixed(in, op.bytes, "write bytes");
    }
    case OpKind::kDeletePage:
      return in.read(any.emplace<DeletePageOp>().page, "delete page");
    case OpKind::kAddEdge: {
      auto& op = any.emplace<AddEdgeOp>();
      return in.read(op.edge_kind, "edge kind") && in.read(op.from, "edge from") &&
             in.read(op.to, "edge to") && in.read(result.assigned, "edge id");
    }
    case OpKind::kRemoveEdge:
      return in.read(any.emplace<RemoveEdgeOp>().edge, "removed edge");
    case OpKind::kDerive:
      return decode_derive(in, reuse<DeriveOp>(any), result);
    case OpKind::kApplyRule: {
      auto& op = any.emplace<ApplyRuleOp>();
      return in.read(op.family, "apply rule family") && in.read(op.page, "apply rule scope") &&
             in.read(result.assigned, "apply rule scope id");
    }
  }
  return in.fail("unknown op kind " + std::to_string(kind));
}

void encode_merge(const MergeEffect& merge, Encoder& encoder) {
  std::vector<std::byte>& out = encoder.out();
  append_le<std::uint64_t>(out, merge.next_page_id);
  append_le<std::uint64_t>(out, merge.next_edge_id);
  encoder.count(merge.pages_set.size(), kCountMax, "merge page count");
  for (const PageImage& page : merge.pages_set) {
    const std::size_t begun = encoder.begin();
    append_le<std::uint64_t>(out, page.id.value());
    append_le<std::uint32_t>(out, page.type);
    append_le<std::uint64_t>(out, page.epoch.value());
    append_le<std::uint64_t>(out, page.bytes.size());
    append_bytes(out, page.bytes);
    encoder.end(begun, kMergePageMinBytes);
  }
  append_ids(encoder, merge.pages_deleted, "merge deleted page count");
  encoder.count(merge.edges_added.size(), kCountMax, "merge added edge count");
  for (const Edge& edge : merge.edges_added) {
    const std::size_t begun = encoder.begin();
    append_le<std::uint64_t>(out, edge.id.value());
    append_le<std::uint32_t>(out, edge.kind);
    append_le<std::uint64_t>(out, edge.from.value());
    append_le<std::uint64_t>(out, edge.to.value());
    encoder.end(begun, kMergeEdgeBytes);
  }
  append_ids(encoder, merge.edges_removed, "merge removed edge count");
  encoder.count(merge.derivations_set.size(), kCountMax, "merge derivation count");
  for (const auto& [child, function] : merge.derivations_set) {
    const std::size_t begun = encoder.begin();
    append_le<std::uint64_t>(out, child.value());
    encoder.count(function.size(), kFunctionNameMaxBytes, "merge derivation function length");
    append_bytes(out, as_bytes(function));
    encoder.end(begun, kMergeDerivationMinBytes);
  }
  append_ids(encoder, merge.derivations_removed, "merge removed derivation count");
}

bool decode_merge(ByteReader& in, MergeEffect& merge) {
  std::uint32_t count = 0;
  if (!in.read(merge.next_page_id, "merge next page id") ||
      !in.read(merge.next_edge_id, "merge next edge id") ||
      !in.read_count(count, kMergePageMinBytes, "merge page count")) {
    return false;
  }
  merge.pages_set.resize(count);
  for (PageImage& page : merge.pages_set) {
    std::uint64_t id = 0, epoch = 0;
    if (!in.read(id, "merge page id") || !in.read(page.type, "merge page type") ||
        !in.read(epoch, "merge page epoch") ||
        !read_length_prefixed(in, page.bytes, "merge page bytes")) {
      return false;
    }
    page.id = PageId(id);
    page.epoch = Epoch(epoch);
  }
  if (!in.read_ids(merge.pages_deleted, "merge deleted page count", "merge deleted page")) {
    return false;
  }
  if (!in.read_count(count, kMergeEdgeBytes, "merge added edge count")) return false;
  merge.edges_added.resize(count);
  for (Edge& edge : merge.edges_added) {
    std::uint64_t id = 0, from = 0, to = 0;
    if (!in.read(id, "merge edge id") || !in.read(edge.kind, "merge edge kind") ||
        !in.read(from, "merge edge from") || !in.read(to, "merge edge to")) {
      return false;
    }
    edge.id = EdgeId(id);
    edge.from = PageId(from);
    edge.to = PageId(to);
  }
  if (!in.read_ids(merge.edges_removed, "merge removed edge count", "merge removed edge")) {
    return false;
  }
  if (!in.read_count(count, kMergeDerivationMinBytes, "merge derivation count")) return false;
  merge.derivations_set.resize(count);
  for (auto& [child, function] : merge.derivations_set) {
    std::uint64_t id = 0;
    if (!in.read(id, "merge derivation page") ||
        !in.read_string(function, kFunctionNameMaxBytes, "merge derivation function")) {
      return false;
    }
    child = PageId(id);
  }
  return in.read_ids(merge.derivations_removed, "merge removed derivation count",
                     "merge removed derivation");
}

constexpr std::uint8_t kFlagMerge = 1;
constexpr std::uint8_t kFlagIngest = 2;
constexpr std::uint8_t kPacketHasPayload = 1;
constexpr std::size_t kBucketLevelBytes = 4 + 8 + 8;
constexpr std::size_t kIngestPacketBytes = 4 + 8 + 4 + 1 + 1 + 1 + 4;

void encode_ingest(const IngestSection& ingest, Encoder& encoder) {
  std::vector<std::byte>& out = encoder.out();
  const std::uint32_t ruleset_bytes =
      encoder.checked(ingest.ruleset_bytes.size(), kCountMax, "ingest ruleset length");
  const std::uint32_t buckets = encoder.checked(ingest.buckets.size(), kCountMax, "bucket count");
  const std::uint32_t packets =
      encoder.checked(ingest.packets.size(), kCountMax, "ingest packet count");
  // Sized once and written in place: an ingest tick has up to a million packets.
  std::size_t size = 8 + 16 + 4 + ingest.ruleset_bytes.size() + 4 +
                     kBucketLevelBytes * ingest.buckets.size() + 4 +
                     kIngestPacketBytes * ingest.packets.size();
  for (const IngestPacket& packet : ingest.packets) size += packet.has_payload ? packet.length : 0;
  std::size_t at = out.size();
  out.resize(at + size);
  LeCursor put(out.data() + at);
  put.put(ingest.time_ns);
  ingest.ruleset.write_bytes(put.take(16));
  put.put(ruleset_bytes);
  put.put_bytes(ingest.ruleset_bytes);
  put.put(buckets);
  for (const BucketLevel& level : ingest.buckets) {
    put.put(level.topic);
    put.put(level.tokens);
    put.put(level.as_of_ns);
  }
  put.put(packets);
  for (const IngestPacket& packet : ingest.packets) {
    put.put(packet.producer);
    put.put(packet.sequence);
    put.put(packet.topic);
    put.put(static_cast<std::uint8_t>(packet.outcome));
    put.put(static_cast<std::uint8_t>(packet.reason));
    put.put(static_cast<std::uint8_t>(packet.has_payload ? kPacketHasPayload : 0));
    put.put(packet.length);
    if (packet.has_payload) {
      put.put_bytes(std::span(ingest.payload).subspan(packet.payload_at, packet.length));
    }
  }
  MMSB_DEBUG_ASSERT(put.at() == out.data() + out.size());
}

bool decode_ingest(ByteReader& in, IngestSection& ingest) {
  std::uint32_t ruleset_bytes = 0, count = 0;
  if (!in.read(ingest.time_ns, "ingest time")) return false;
  if (in.remaining() < 16) return in.fail("truncated reading ingest ruleset hash");
  ingest.ruleset = read_hash_bytes(in.here());
  in.skip(16, "ingest ruleset hash");
  ingest.payload.clear();
  if (!in.read_count(ruleset_bytes, 1, "ingest ruleset length") ||
      !in.read_bytes(ruleset_bytes, ingest.ruleset_bytes, "ingest ruleset") ||
      !in.read_count(count, kBucketLevelBytes, "ingest bucket count")) {
    return false;
  }
  ingest.buckets.resize(count);
  for (BucketLevel& level : ingest.buckets) {
    if (!in.read(level.topic, "bucket topic") || !in.read(level.tokens, "bucket tokens") ||
        !in.read(level.as_of_ns, "bucket time")) {
      return false;
    }
  }
  if (!in.read_count(count, kIngestPacketBytes, "ingest packet count")) return false;
  ingest.packets.resize(count);
  for (IngestPacket& packet : ingest.packets) {
    std::uint8_t outcome = 0, reason = 0, flags = 0;
    if (!in.read(packet.producer, "packet producer") ||
        !in.read(packet.sequence, "packet sequence") || !in.read(packet.topic, "packet topic") ||
        !in.read(outcome, "packet outcome") || !in.read(reason, "packet deny reason") ||
        !in.read(flags, "packet flags") || !in.read(packet.length, "packet length")) {
      return false;
    }
    if (outcome < static_cast<std::uint8_t>(PacketOutcome::kAdmitted) ||
        outcome > static_cast<std::uint8_t>(PacketOutcome::kThrottled)) {
      return in.fail("unknown packet outcome " + std::to_string(outcome));
    }
    if (reason >= kDenyReasons || flags > kPacketHasPayload) {
      return in.fail("unknown packet deny reason " + std::to_string(reason) + " or flags " +
                     std::to_string(flags));
    }
    packet.outcome = static_cast<PacketOutcome>(outcome);
    packet.reason = static_cast<DenyReason>(reason);
    packet.has_payload = flags == kPacketHasPayload;
    if ((packet.outcome == PacketOutcome::kDenied) == (packet.reason == DenyReason::kNone) ||
        (packet.outcome == PacketOutcome::kAdmitted && !packet.has_payload)) {
      return in.fail("packet outcome " + std::to_string(outcome) + " with deny reason " +
                     std::to_string(reason) + (packet.has_payload ? "" : " and no payload"));
    }
    if (packet.has_payload) {
      if (packet.length > kPacketReferenceMaxBytes) return in.fail("packet longer than the limit");
      packet.payload_at = ingest.payload.size();
      if (!in.append_to(packet.length, ingest.payload, "packet payload")) return false;
    }
  }
  return true;
}

// Rule outcome (docs/FORMAT.md "Rule outcome"): a head byte (outcome, and which optional
// fields follow), then varints but for the family ids. The smallest is 3 bytes (head,
// scope, nonce); a write at least 4 (page, epoch, offset, length).
constexpr std::size_t kOutcomeMinBytes = 3;
constexpr std::size_t kRuleWriteMinBytes = 4;
constexpr std::uint8_t kOutcomeMask = 0x07;
constexpr std::uint8_t kHasAttempt = 0x08;  // attempt > 1 follows
constexpr std::uint8_t kHasFamily = 0x10;   // else: the previous outcome's family

bool has_blocker(ReceiptOutcome outcome) {
  return outcome == ReceiptOutcome::kRejected || outcome == ReceiptOutcome::kDeferred ||
         outcome == ReceiptOutcome::kDuplicate;
}

// True if the receipt carries only fields its outcome logs (the others zero, so it decodes
// to what was encoded).
bool logs_every_field(const RuleOutcome& rule) {
  const RuleReceipt& receipt = rule.receipt;
  return receipt.attempt >= 1 &&
         (has_blocker(receipt.outcome) ||
          (receipt.blocker_family == 0 && !receipt.blocker_scope.is_valid())) &&
         (receipt.outcome == ReceiptOutcome::kDeferred || !receipt.retry_at.is_valid()) &&
         (receipt.outcome == ReceiptOutcome::kApplied || rule.writes.empty());
}

// The bytes `rule` takes.
std::size_t outcome_size(const RuleOutcome& rule, bool family_follows) {
  const RuleReceipt& receipt = rule.receipt;
  std::size_t size = 1 + (family_follows ? 8 : 0) + varint_size(receipt.scope.value()) +
                     varint_size(receipt.nonce);
  if (receipt.attempt > 1) size += varint_size(receipt.attempt);
  if (has_blocker(receipt.outcome)) size += 8 + varint_size(receipt.blocker_scope.value());
  if (receipt.outcome == ReceiptOutcome::kDeferred) size += varint_size(receipt.retry_at.value());
  if (receipt.outcome == ReceiptOutcome::kApplied) size += varint_size(rule.writes.size());
  for (const PageWrite& write : rule.writes) {
    size += varint_size(write.page.value() ^ receipt.scope.value()) +
            varint_size(write.epoch.value()) + varint_size(write.offset) +
            varint_size(write.bytes.size()) + write.bytes.size();
  }
  return size;
}

void encode_rules(const std::vector<RuleOutcome>& rules, Encoder& encoder) {
  std::vector<std::byte>& out = encoder.out();
  encoder.count(rules.size(), kCountMax, "rule receipt count");
  for (std::size_t i = 0; i < rules.size(); ++i) {
    // The writes were made in page order, so in this (canonical) order they are scattered:
    // load them ahead (their bytes once the writes are in).
    if (i + 4 < rules.size()) core::prefetch(rules[i + 4].writes.data());
    if (i + 2 < rules.size() && !rules[i + 2].writes.empty()) {
      core::prefetch(rules[i + 2].writes.front().bytes.data());
    }
    const RuleOutcome& rule = rules[i];
    const RuleReceipt& receipt = rule.receipt;
    const bool family_follows = i == 0 || rules[i - 1].receipt.family != receipt.family;
    const std::size_t size = outcome_size(rule, family_follows);
    if (!logs_every_field(rule)) {
      encoder.refuse("rule receipt " + std::to_string(i) +
                     " carries fields its outcome does not log (attempt 0, a blocker, a retry "
                     "tick or writes)");
    }
    encoder.checked(rule.writes.size(), kCountMax, "receipt write count");
    const std::size_t at = out.size();
    out.resize(at + size);  // once per outcome: its fields are stored, not appended
    LeCursor put(out.data() + at);
    const std::uint8_t head = static_cast<std::uint8_t>(receipt.outcome) |
                              (receipt.attempt > 1 ? kHasAttempt : 0) |
                              (family_follows ? kHasFamily : 0);
    put.put<std::uint8_t>(head);
    if (family_follows) put.put<std::uint64_t>(receipt.family);
    put.put_varint(receipt.scope.value());
    put.put_varint(receipt.nonce);
    if (receipt.attempt > 1) put.put_varint(receipt.attempt);
    if (has_blocker(receipt.outcome)) {
      put.put<std::uint64_t>(receipt.blocker_family);
      put.put_varint(receipt.blocker_scope.value());
    }
    if (receipt.outcome == ReceiptOutcome::kDeferred) put.put_varint(receipt.retry_at.value());
    if (receipt.outcome == ReceiptOutcome::kApplied) put.put_varint(rule.writes.size());
    for (const PageWrite& write : rule.writes) {
      put.put_varint(write.page.value() ^ receipt.scope.value());
      put.put_varint(write.epoch.value());
      put.put_varint(write.offset);
      put.put_varint(write.bytes.size());
      put.put_bytes(write.bytes);
    }
    MMSB_DEBUG_ASSERT(put.at() == out.data() + out.size());
  }
}

bool decode_receipt(ByteReader& in, const RuleReceipt* previous, RuleReceipt& receipt) {
  std::uint8_t head = 0;
  if (!in.read(head, "receipt head")) return false;
  const std::uint8_t outcome = head & kOutcomeMask;
  if ((head & ~(kOutcomeMask | kHasAttempt | kHasFamily)) != 0) {
    return in.fail("receipt head " + std::to_string(head) + " has unknown bits");
  }
  if (outcome < static_cast<std::uint8_t>(ReceiptOutcome::kApplied) ||
      outcome > static_cast<std::uint8_t>(ReceiptOutcome::kDuplicate)) {
    return in.fail("unknown receipt outcome " + std::to_string(outcome));
  }
  receipt = RuleReceipt{};
  receipt.outcome = static_cast<ReceiptOutcome>(outcome);
  if ((head & kHasFamily) != 0) {
    if (!in.read(receipt.family, "receipt family")) return false;
    if (previous != nullptr && receipt.family == previous->family) {  // canonical: left out
      return in.fail("receipt family " + std::to_string(receipt.family) +
                     " given again where it is the previous receipt's");
    }
  } else if (previous == nullptr) {
    return in.fail("first receipt without its family");
  } else {
    receipt.family = previous->family;
  }
  std::uint64_t scope = 0, attempt = 1;
  if (!in.read_varint(scope, "receipt scope") || !in.read_varint(receipt.nonce, "receipt nonce")) {
    return false;
  }
  receipt.scope = PageId(scope);
  if ((head & kHasAttempt) != 0) {
    if (!in.read_varint(attempt, "receipt attempt")) return false;
    if (attempt < 2 || attempt > 0xffffffffu) {
      return in.fail("receipt attempt " + std::to_string(attempt) + " out of range");
    }
  }
  receipt.attempt = static_cast<std::uint32_t>(attempt);
  if (has_blocker(receipt.outcome)) {
    std::uint64_t blocker_scope = 0;
    if (!in.read(receipt.blocker_family, "receipt blocker family") ||
        !in.read_varint(blocker_scope, "receipt blocker scope")) {
      return false;
    }
    receipt.blocker_scope = PageId(blocker_scope);
  }
  if (receipt.outcome == ReceiptOutcome::kDeferred) {
    std::uint64_t retry_at = 0;
    if (!in.read_varint(retry_at, "receipt retry tick")) return false;
    receipt.retry_at = TickId(retry_at);
  }
  return true;
}

bool decode_rule_writes(ByteReader& in, PageId scope, std::vector<PageWrite>& writes) {
  std::uint64_t count = 0;
  if (!in.read_varint(count, "receipt write count")) return false;
  if (count > in.remaining() / kRuleWriteMinBytes) {
    return in.fail("receipt write count " + std::to_string(count) + " exceeds the record");
  }
  writes.resize(count);
  for (PageWrite& write : writes) {
    std::uint64_t page = 0, epoch = 0, length = 0;
    if (!in.read_varint(page, "rule write page") || !in.read_varint(epoch, "rule write epoch") ||
        !in.read_varint(write.offset, "rule write offset") ||
        !in.read_varint(length, "rule write length") ||
        !in.read_bytes(length, write.bytes, "rule write bytes")) {
      return false;
    }
    write.page = PageId(page ^ scope.value());
    write.epoch = Epoch(epoch);
  }
  return true;
}

bool decode_rules(ByteReader& in, std::vector<RuleOutcome>& rules) {
  std::uint32_t count = 0;
  if (!in.read_count(count, kOutcomeMinBytes, "rule receipt count")) return false;
  rules.resize(count);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    RuleOutcome& rule = rules[i];
    if (!decode_receipt(in, i == 0 ? nullptr : &rules[i - 1].receipt, rule.receipt)) return false;
    rule.writes.clear();
    if (rule.receipt.outcome == ReceiptOutcome::kApplied &&
        !decode_rule_writes(in, rule.receipt.scope, rule.writes)) {
      return false;
    }
  }
  return true;
}

bool decode_derived(ByteReader& in, std::vector<Delta>& derived) {
  std::uint32_t count = 0;
  if (!in.read_count(count, kDerivedMinBytes, "derived delta count")) return false;
  derived.reserve(count);
  std::vector<std::byte> bytes;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (!read_length_prefixed(in, bytes, "derived delta")) return false;
    auto delta = decode_delta(bytes);
    if (!delta.is_ok())
      return in.fail("derived delta " + std::to_string(i) + ": " + delta.status().message());
    derived.push_back(std::move(*delta));
  }
  return true;
}

}  // namespace

std::uint64_t encoded_size_bound(const std::vector<Op>& ops) {
  std::uint64_t bytes = 8;  // op count and outcome
  for (const Op& any : ops) {
    // The largest fixed part is 41 bytes (a create); a derive adds its name and parents.
    bytes += 48;
    if (const auto* create = std::get_if<CreatePageOp>(&any)) bytes += create->bytes.size();
    if (const auto* write = std::get_if<WriteOp>(&any)) bytes += write->bytes.size();
    if (const auto* derive = std::get_if<DeriveOp>(&any)) {
      bytes += derive->function.size() + 8 * derive->parents.size();
    }
  }
  return bytes;
}

Status encode_tick_record(const TickRecord& record, std::vector<std::byte>& out) {
  const std::size_t start = out.size();
  Encoder encoder(out);
  append_le<std::uint8_t>(out, kTickRecordVersion);
  append_le<std::uint8_t>(
      out, (record.has_merge ? kFlagMerge : 0) | (record.has_ingest ? kFlagIngest : 0));
  append_le<std::uint16_t>(out, 0);
  encoder.count(record.transactions.size(), kCountMax, "transaction count");
  append_le<std::uint64_t>(out, record.tick.value());
  append_hash(out, record.previous);
  append_hash(out, record.root);
  append_le<std::uint64_t>(out, record.wall_time_ns);
  for (const LoggedTransaction& transaction : record.transactions) {
    const std::vector<Op>& ops = transaction.input.ops;
    // A failed transaction produced no results; one that committed has one per op.
    if (transaction.committed() &&
        (transaction.result.first > record.op_results.size() ||
         ops.size() > record.op_results.size() - transaction.result.first)) {
      out.resize(start);
      return invalid_argument("tick record: a transaction of " + std::to_string(ops.size()) +
                              " ops has results past the tick's " +
                              std::to_string(record.op_results.size()));
    }
    const std::span<const OpResult> results = record.results_of(transaction);
    const std::size_t begun = encoder.begin();
    out.resize(begun + kTransactionMinBytes);  // op count, outcome
    LeCursor put(out.data() + begun);
    put.put<std::uint32_t>(encoder.checked(ops.size(), kOpsPerTransactionMax, "op count"));
    put.put<std::uint8_t>(static_cast<std::uint8_t>(transaction.result.outcome));
    encoder.end(begun, kTransactionMinBytes);
    for (std::size_t i = 0; i < ops.size(); ++i) {
      encode_op(ops[i], results.empty() ? OpResult{} : results[i], encoder);
    }
  }
  if (record.has_merge) encode_merge(record.merge, encoder);
  if (record.has_ingest) encode_ingest(record.ingest, encoder);
  encode_rules(record.rules, encoder);
  encoder.count(record.derived.size(), kCountMax, "derived delta count");
  std::vector<std::byte> delta;
  for (const Delta& derived : record.derived) {
    delta.clear();
    encode_delta(derived, delta);
    append_le<std::uint64_t>(out, delta.size());
    append_bytes(out, delta);
  }
  if (!encoder.status().is_ok()) {
    out.resize(start);
    return encoder.status();
  }
  return Status::ok();
}

Result<TickRecord> decode_tick_record(std::span<const std::byte> payload) {
  TickRecord record;
  MMSB_RETURN_IF_ERROR(decode_tick_record(payload, record));
  return record;
}

Status decode_tick_record(std::span<const std::byte> payload, TickRecord& record) {
  ByteReader in(payload);
  record.op_results.clear();
  record.rules.clear();
  record.derived.clear();
  std::uint8_t version = 0, flags = 0;
  std::uint16_t reserved = 0;
  std::uint32_t transactions = 0;
  std::uint64_t tick = 0;
  if (in.read(version, "version") && version != kTickRecordVersion) {
    in.fail("unknown tick record version " + std::to_string(version) + " (this build reads " +
            std::to_string(kTickRecordVersion) + "; logs of other versions are not migrated)");
  }
  if (in.read(flags, "flags") &&
      (flags > (kFlagMerge | kFlagIngest) || flags == (kFlagMerge | kFlagIngest))) {
    in.fail("unknown flags " + std::to_string(flags));
  }
  if (in.read(reserved, "reserved") && reserved != 0) in.fail("reserved bytes are not zero");
  in.read_count(transactions, kTransactionMinBytes, "transaction count");
  in.read(tick, "tick");
  if (in.ok() && in.remaining() >= 40) {
    record.previous = read_hash_bytes(payload.data() + in.offset());
    record.root = read_hash_bytes(payload.data() + in.offset() + 16);
    in.skip(32, "hashes");
  } else if (in.ok()) {
    in.fail("truncated reading hashes");
  }
  in.read(record.wall_time_ns, "wall time");
  record.tick = TickId(tick);
  record.has_merge = (flags & kFlagMerge) != 0;
  record.has_ingest = (flags & kFlagIngest) != 0;
  if (in.ok()) record.transactions.resize(transactions);
  for (LoggedTransaction& transaction : record.transactions) {
    std::uint32_t ops = 0;
    std::uint8_t outcome = 0;
    if (!in.read_count(ops, kOpMinBytes, "op count") || !in.read(outcome, "outcome")) break;
    if (ops > kOpsPerTransactionMax) {
      in.fail("op count " + std::to_string(ops) + " above the limit");
      break;
    }
    if (outcome > kStatusCodeLast) {
      in.fail("unknown outcome " + std::to_string(outcome));
      break;
    }
    transaction.result.outcome = static_cast<StatusCode>(outcome);
    transaction.result.first = record.op_results.size();
    transaction.input.ops.resize(ops);
    record.op_results.resize(transaction.result.first + ops);
    for (std::uint32_t i = 0; i < ops; ++i) {
      if (!decode_op(in, transaction.input.ops[i],
                     record.op_results[transaction.result.first + i])) {
        break;
      }
    }
    if (!in.ok()) break;
    // A failed transaction applied nothing: it has no results (all were logged as zero).
    if (transaction.result.outcome != StatusCode::kOk) {
      for (std::uint64_t i = transaction.result.first; i < record.op_results.size(); ++i) {
        if (record.op_results[i] != OpResult{}) {
          in.fail("a failed transaction with assigned ids or epochs");
          break;
        }
      }
      record.op_results.resize(transaction.result.first);
    }
  }
  if (!record.has_merge) record.merge = {};
  if (!record.has_ingest) record.ingest = {};
  if (in.ok() && record.has_merge) decode_merge(in, record.merge);
  if (in.ok() && record.has_ingest) decode_ingest(in, record.ingest);
  if (in.ok()) decode_rules(in, record.rules);
  if (in.ok()) decode_derived(in, record.derived);
  if (in.ok() && in.remaining() != 0) in.fail(std::to_string(in.remaining()) + " trailing bytes");
  if (!in.ok()) return corruption("tick record: " + in.error());
  return Status::ok();
}

Status encode_ops(const std::vector<Op>& ops, std::vector<std::byte>& out) {
  const std::size_t start = out.size();
  Encoder encoder(out);
  encoder.count(ops.size(), kOpsPerTransactionMax, "op count");
  for (const Op& op : ops) encode_op(op, OpResult{}, encoder);
  if (!encoder.status().is_ok()) {
    out.resize(start);
    return encoder.status();
  }
  return Status::ok();
}

Status decode_ops(std::span<const std::byte> bytes, std::vector<Op>& ops) {
  ByteReader in(bytes);
  std::uint32_t count = 0;
  if (in.read_count(count, kOpMinBytes, "op count") && count > kOpsPerTransactionMax) {
    in.fail("op count " + std::to_string(count) + " above the limit");
  }
  if (in.ok()) ops.resize(count);
  for (std::uint32_t i = 0; in.ok() && i < count; ++i) {
    OpResult result;
    if (decode_op(in, ops[i], result) && result != OpResult{}) {
      in.fail("op " + std::to_string(i) + " has a non-zero result field");
    }
  }
  if (in.ok() && in.remaining() != 0) in.fail("bytes after the last op");
  if (!in.ok()) {
    ops.clear();
    return invalid_argument("transaction ops: " + in.error());
  }
  return Status::ok();
}

}  // namespace mmsb::log

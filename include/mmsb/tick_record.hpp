// The log's record of one tick (docs/FORMAT.md "TickRecord"): what the engine committed, as
// replay, verification and `scan_log` (mmsb/replay.hpp) hand it out.
//
// A tick's inputs are the transactions as submitted (immutable once recorded), in sequence
// order, or the packets it drained, or a merge's effect. Beside each transaction's inputs
// the record keeps what applying them produced (its outcome, the ids and epochs it was
// applied with), and after the inputs what the rules step and propagation produced: enough
// both to apply the tick again (replay) and to re-execute it and compare (the determinism
// oracle). Results are never written into inputs: a tick built again re-runs the inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mmsb/delta.hpp"
#include "mmsb/hash.hpp"
#include "mmsb/ids.hpp"
#include "mmsb/ingest.hpp"
#include "mmsb/page.hpp"
#include "mmsb/rule.hpp"
#include "mmsb/state.hpp"
#include "mmsb/status.hpp"

namespace mmsb::log {

// Provisional ids name pages and edges a transaction creates before commit: the top bit set,
// then the creation's index within the transaction.
inline constexpr std::uint64_t kProvisionalBit = std::uint64_t{1} << 63;
inline bool is_provisional(std::uint64_t id) { return (id & kProvisionalBit) != 0; }

enum class OpKind : std::uint8_t {
  kRead = 1,        // page, epoch seen
  kCreatePage = 2,  // type, size, initial bytes (empty: zero-filled)
  kWrite = 3,       // page, offset, bytes
  kDeletePage = 4,  // page
  kAddEdge = 5,     // kind, from, to
  kRemoveEdge = 6,  // edge
  kDerive = 7,      // page (the child), function (empty: no longer derived), parents
  kApplyRule = 8,   // family, page (the scope; may be provisional)
};

// One operation as recorded from the API, a type per kind (page, edge and scope ids may be
// provisional): an input, never changed once recorded.
struct ReadOp {
  std::uint64_t page = 0;
  std::uint64_t epoch = 0;  // the epoch seen
  friend bool operator==(const ReadOp&, const ReadOp&) = default;
};
struct CreatePageOp {
  PageType type = 0;
  std::uint64_t size_bytes = 0;
  std::vector<std::byte> bytes;  // initial content; empty: zero-filled
  friend bool operator==(const CreatePageOp&, const CreatePageOp&) = default;
};
struct WriteOp {
  std::uint64_t page = 0;
  std::uint64_t offset = 0;
  std::vector<std::byte> bytes;
  friend bool operator==(const WriteOp&, const WriteOp&) = default;
};
struct DeletePageOp {
  std::uint64_t page = 0;
  friend bool operator==(const DeletePageOp&, const DeletePageOp&) = default;
};
struct AddEdgeOp {
  EdgeKind edge_kind = 0;
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  friend bool operator==(const AddEdgeOp&, const AddEdgeOp&) = default;
};
struct RemoveEdgeOp {
  std::uint64_t edge = 0;
  friend bool operator==(const RemoveEdgeOp&, const RemoveEdgeOp&) = default;
};
struct DeriveOp {
  std::uint64_t page = 0;  // the child
  std::string function;    // empty: no longer derived
  std::vector<std::uint64_t> parents;
  friend bool operator==(const DeriveOp&, const DeriveOp&) = default;
};
struct ApplyRuleOp {
  RuleFamilyId family = 0;
  std::uint64_t page = 0;  // the scope
  friend bool operator==(const ApplyRuleOp&, const ApplyRuleOp&) = default;
};
// The alternatives in OpKind order: a kind is the index + 1.
using Op = std::variant<ReadOp, CreatePageOp, WriteOp, DeletePageOp, AddEdgeOp, RemoveEdgeOp,
                        DeriveOp, ApplyRuleOp>;
inline OpKind kind_of(const Op& op) { return static_cast<OpKind>(op.index() + 1); }

// Records one transaction's ops as the API calls them, giving provisional ids to what it
// creates: Transaction (embedded) and RemoteTransaction (mmsb::Client) both record through
// it, so the same calls make the same inputs wherever they are committed.
class OpRecorder {
 public:
  PageId create_page(const PageSpec& spec);
  void write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes);
  void delete_page(PageId page);
  EdgeId add_edge(EdgeKind kind, PageId from, PageId to);
  void remove_edge(EdgeId edge);
  void derive(PageId child, std::span<const PageId> parents, std::string_view function);
  void apply(RuleFamilyId family, PageId scope);
  void read(PageId page, Epoch epoch);
  // An op recorded elsewhere (decoded from the wire, say): its creations are counted.
  void add(Op op);
  // The size of a page this transaction creates (`page` provisional), if it is one.
  std::optional<std::uint64_t> created_size(PageId page) const;
  const std::vector<Op>& ops() const { return ops_; }
  std::vector<Op> take() { return std::move(ops_); }

 private:
  std::vector<Op> ops_;
  std::uint64_t edges_created_ = 0;
  std::vector<std::uint64_t> created_sizes_;  // by provisional index
};

struct TransactionInput {
  std::vector<Op> ops;
  friend bool operator==(const TransactionInput&, const TransactionInput&) = default;
};

// What applying one op produced.
struct OpResult {
  // kCreatePage, kAddEdge, kDerive: the (first) id given; kApplyRule: the scope's id
  std::uint64_t assigned = 0;
  std::uint64_t epoch = 0;  // kWrite: the page's epoch when applied
  friend bool operator==(const OpResult&, const OpResult&) = default;
};

// What applying a transaction produced: its outcome and, if it committed, where its ops'
// results are in TickRecord::op_results (one per op; a failed transaction applied nothing
// and has none). One array per tick rather than one per transaction: a tick of thousands of
// small transactions allocates it once.
struct TransactionResult {
  StatusCode outcome = StatusCode::kOk;  // kOk: applied; otherwise why not
  std::uint64_t first = 0;               // committed: op_results[first, first + ops)
  friend bool operator==(const TransactionResult&, const TransactionResult&) = default;
};

struct LoggedTransaction {
  TransactionInput input;
  TransactionResult result;
  bool committed() const { return result.outcome == StatusCode::kOk; }
  friend bool operator==(const LoggedTransaction&, const LoggedTransaction&) = default;
};

// A write the rules step made, against the page's epoch before the tick.
struct PageWrite {
  PageId page;
  Epoch epoch;
  std::uint64_t offset = 0;
  std::vector<std::byte> bytes;
  friend bool operator==(const PageWrite&, const PageWrite&) = default;
};

// A page as a merge left it (whole content, epoch included).
struct PageImage {
  PageId id;
  PageType type = 0;
  Epoch epoch;
  std::vector<std::byte> bytes;
  friend bool operator==(const PageImage&, const PageImage&) = default;
};

// The effect of a merge tick.
struct MergeEffect {
  std::vector<PageImage> pages_set;  // created or changed, by id
  std::vector<PageId> pages_deleted;
  std::vector<Edge> edges_added;
  std::vector<EdgeId> edges_removed;
  std::vector<std::pair<PageId, std::string>> derivations_set;  // by child id
  std::vector<PageId> derivations_removed;
  std::uint64_t next_page_id = 0;
  std::uint64_t next_edge_id = 0;
  friend bool operator==(const MergeEffect&, const MergeEffect&) = default;
};

// One candidate of the rules step: its receipt and, if applied, its writes in the order the
// executor made them.
struct RuleOutcome {
  RuleReceipt receipt;
  std::vector<PageWrite> writes;
  friend bool operator==(const RuleOutcome&, const RuleOutcome&) = default;
};

// A token bucket's level at some logical time: what an ingest tick's bucket started with.
struct BucketLevel {
  std::uint32_t topic = 0;
  std::uint64_t tokens = 0;  // nano-tokens (10^9 per packet)
  std::uint64_t as_of_ns = 0;
  friend bool operator==(const BucketLevel&, const BucketLevel&) = default;
};

// One drained packet and the governor's verdict. Its payload is logged when the verdict
// depended on it (the packet passed the size check), admitted packets always.
struct IngestPacket {
  std::uint32_t producer = 0;
  std::uint64_t sequence = 0;
  std::uint32_t topic = 0;
  PacketOutcome outcome = PacketOutcome::kAdmitted;
  DenyReason reason = DenyReason::kNone;
  std::uint32_t length = 0;
  bool has_payload = false;
  std::uint64_t payload_at = 0;  // offset of its payload in IngestSection::payload
  friend bool operator==(const IngestPacket&, const IngestPacket&) = default;
};

// The packets an ingest tick drained, in the sequencer's round-robin order, judged by the
// ruleset `ruleset` (its hash; the full encoding when it differs from the one the previous
// ingest tick of this process logged) at logical time `time_ns`.
struct IngestSection {
  std::uint64_t time_ns = 0;
  Hash128 ruleset;                       // zero: no ruleset in force
  std::vector<std::byte> ruleset_bytes;  // empty unless logged in full here
  std::vector<BucketLevel> buckets;      // by topic
  std::vector<IngestPacket> packets;
  std::vector<std::byte> payload;
  std::span<const std::byte> payload_of(const IngestPacket& packet) const {
    return std::span<const std::byte>(payload).subspan(packet.payload_at, packet.length);
  }
  friend bool operator==(const IngestSection&, const IngestSection&) = default;
};

struct TickRecord {
  TickId tick;
  Hash128 previous;                // hash of the previous TickRecord's payload (zero for the first)
  Hash128 root;                    // state root after the tick
  std::uint64_t wall_time_ns = 0;  // metadata only: never enters the state or its root
  std::vector<LoggedTransaction> transactions;
  std::vector<OpResult> op_results;  // of the committed transactions' ops, in order
  bool has_merge = false;
  MergeEffect merge;
  bool has_ingest = false;
  IngestSection ingest;
  // The rules step: every candidate in canonical order.
  std::vector<RuleOutcome> rules;
  // Written by propagation after the inputs, in the order they were committed (topological);
  // each against the page's epoch before the tick.
  std::vector<Delta> derived;
  // A transaction's op results: one per op if it committed, none if it failed.
  std::span<const OpResult> results_of(const LoggedTransaction& transaction) const {
    if (!transaction.committed()) return {};
    return std::span<const OpResult>(op_results)
        .subspan(transaction.result.first, transaction.input.ops.size());
  }
  friend bool operator==(const TickRecord&, const TickRecord&) = default;
};

}  // namespace mmsb::log

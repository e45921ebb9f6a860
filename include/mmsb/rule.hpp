// Rules: rewrites matched at a scope page, scheduled deterministically and executed in
// parallel (docs/SEMANTICS.md "Rules and scheduling").
//
// A rule is code, like a derivation function: register it with Engine::register_rule after
// every open. In a tick, every candidate (rule, scope) declares a Footprint; the reserve
// gate admits, in canonical order, the candidates independent of everything admitted
// before them; those run in parallel against the tick's rule snapshot and their writes are
// merged in canonical order. The result never depends on the number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mmsb/ids.hpp"
#include "mmsb/page.hpp"
#include "mmsb/state.hpp"
#include "mmsb/status.hpp"

namespace mmsb {

// A rule's stable identity in logs and on the wire: the first 8 bytes (little-endian) of
// BLAKE2b-256("mmsb:rule-family:v1\0" || name). docs/FORMAT.md "Rule family id".
using RuleFamilyId = std::uint64_t;
RuleFamilyId rule_family_id(std::string_view name);

// Longest rule name.
inline constexpr std::size_t kRuleNameMaxBytes = 256;
// Most entries (pages, edges and ports together) one footprint may declare.
inline constexpr std::size_t kFootprintEntriesMax = 64;
// Most attempts a Retry policy may ask for, and the largest backoff exponent: a retry
// waits 1 to 2^min(attempt, kRetryBackoffExponentMax) ticks.
inline constexpr std::uint32_t kRetryAttemptsMax = 32;
inline constexpr std::uint32_t kRetryBackoffExponentMax = 10;

// The factor mask that claims nothing: conflicts with every other mask.
inline constexpr std::uint64_t kFactorMaskAll = ~std::uint64_t{0};

enum class PortDirection : std::uint8_t { kIn = 0, kOut = 1 };

// A named connection point on a page. Two footprints that name the same port (page, id and
// direction) conflict.
struct Port {
  PageId page;
  std::uint32_t id = 0;
  PortDirection direction = PortDirection::kIn;
  friend auto operator<=>(const Port&, const Port&) = default;
};

// What a candidate may touch. Build it with the adders; the scheduler sorts the sets,
// removes repeats, and drops reads of pages or edges the footprint also writes.
//
// Independence (docs/SEMANTICS.md): two footprints conflict if their factor masks share a
// bit AND (they name a common port, or one writes a page or edge the other reads or writes).
// The factor mask must over-approximate: two footprints that conflict otherwise must share
// a bit (kFactorMaskAll, the default, is always safe).
struct Footprint {
  std::vector<PageId> pages_read;
  std::vector<PageId> pages_written;
  std::vector<EdgeId> edges_read;
  std::vector<EdgeId> edges_written;
  std::vector<Port> ports;
  std::uint64_t factor_mask = kFactorMaskAll;

  Footprint& read(PageId page) { return pages_read.push_back(page), *this; }
  Footprint& write(PageId page) { return pages_written.push_back(page), *this; }
  Footprint& read_edge(EdgeId edge) { return edges_read.push_back(edge), *this; }
  Footprint& write_edge(EdgeId edge) { return edges_written.push_back(edge), *this; }
  Footprint& port(PageId page, std::uint32_t id, PortDirection direction) {
    return ports.push_back(Port{page, id, direction}), *this;
  }
  Footprint& mask(std::uint64_t bits) { return factor_mask = bits, *this; }

  // Empty, with the factor mask back to kFactorMaskAll; keeps the storage.
  void clear() {
    pages_read.clear();
    pages_written.clear();
    edges_read.clear();
    edges_written.clear();
    ports.clear();
    factor_mask = kFactorMaskAll;
  }
  std::size_t entries() const {
    return pages_read.size() + pages_written.size() + edges_read.size() + edges_written.size() +
           ports.size();
  }
  // Sorts and deduplicates (see above). InvalidArgument if it has more than
  // kFootprintEntriesMax entries afterwards.
  Status normalize();
  // For normalized footprints: reads or writes the page / edge.
  bool may_read(PageId page) const;
  bool may_write(PageId page) const;
  bool may_read_edge(EdgeId edge) const;
  friend bool operator==(const Footprint&, const Footprint&) = default;
};

// True if the two normalized footprints are independent, checked in the order factor mask,
// ports, edges, pages.
bool independent(const Footprint& a, const Footprint& b);

// Read access for a rule. Matchers and footprints see the whole rule snapshot; an executor
// sees only what its footprint declares: anything else fails with FailedPrecondition and
// aborts the tick (whether or not the executor returns the error).
class RuleView {
 public:
  virtual Result<PageView> page(PageId page) const = 0;
  virtual Result<Edge> edge(EdgeId edge) const = 0;
  // Edges with `page` as either end, in id order (the page must be readable).
  virtual Result<std::vector<Edge>> edges_of(PageId page) const = 0;
  // The page's bytes, as page() gives them (a view may answer without building the view).
  virtual Result<std::span<const std::byte>> read(PageId page) const;

 protected:
  ~RuleView() = default;
};

// Where an executor writes. Writes land in the candidate's own buffer and reach the State
// at the end of the rules step, in canonical order. Writing a page outside the footprint's
// writes fails with FailedPrecondition and aborts the tick.
class DeltaSink {
 public:
  virtual Status write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes) = 0;

 protected:
  ~DeltaSink() = default;
};

// What happens to a candidate the reserve gate rejects.
struct ConflictPolicy {
  enum class Kind : std::uint8_t { kAbort = 0, kRetry = 1 };
  Kind kind = Kind::kAbort;
  std::uint32_t max_attempts = 1;  // kRetry: attempts in all, the first included

  static ConflictPolicy abort() { return {}; }
  static ConflictPolicy retry(std::uint32_t max_attempts) {
    return ConflictPolicy{Kind::kRetry, max_attempts};
  }
};

// One reserved candidate handed to a bulk executor: its scope, the view of what its
// footprint lets it read, and the sink its writes go to (checked against its own footprint,
// as for the per-candidate executor).
struct RuleCall {
  PageId scope;
  const RuleView* view = nullptr;
  DeltaSink* out = nullptr;
};

// Most candidates one bulk executor call receives.
inline constexpr std::size_t kBulkCallsMax = 64;

struct Rule {
  std::string name;
  // Whether the rule applies at `scope`; empty: always. A candidate that does not match is
  // skipped (receipt kSkipped) and reserves nothing.
  std::function<bool(const RuleView& view, PageId scope)> matcher;
  // Declares into `out` (empty on entry) what a candidate at `scope` may touch. Required.
  // Filling a footprint the scheduler keeps lets its storage be reused tick after tick.
  std::function<Status(const RuleView& view, PageId scope, Footprint& out)> footprint;
  // The rewrite. Required unless bulk_executor is set. An error aborts the tick
  // (docs/SEMANTICS.md).
  std::function<Status(const RuleView& view, PageId scope, DeltaSink& out)> executor;
  // The rewrite of several reserved candidates of this rule at once (used instead of
  // `executor` when set): one call per run of up to kBulkCallsMax consecutive candidates of
  // the rule in the step's execution order. Each call's view and sink are its own
  // candidate's: an access outside that footprint fails that candidate and aborts the tick,
  // as in the per-candidate form. An error returned is reported against the call's first
  // candidate (docs/SEMANTICS.md "Bulk executors").
  std::function<Status(std::span<const RuleCall> calls)> bulk_executor;
  // ANDed with each footprint's mask.
  std::uint64_t factor_mask = kFactorMaskAll;
  ConflictPolicy policy;
  // Standing rule: a candidate at every page of this type, every tick.
  std::optional<PageType> standing_type;
  // Opt-in promise: what `matcher` and `footprint` give at a scope depends only on the bytes
  // of the scope page and, where the candidate matches, of the pages its footprint declares
  // (not on edges or other pages). The sequencer then reuses a candidate's match from the
  // previous tick when none of those pages changed since (docs/SEMANTICS.md
  // "Re-matching"); re-executing replay matches afresh, so a broken promise shows as a
  // divergence there.
  bool depends_only_on_footprint = false;
};

// What the scheduler did with one candidate.
enum class ReceiptOutcome : std::uint8_t {
  kApplied = 1,    // reserved and executed
  kRejected = 2,   // blocked (by `blocker`), for good
  kDeferred = 3,   // blocked, retried at `retry_at`
  kSkipped = 4,    // the matcher said no, or the scope page is gone
  kDuplicate = 5,  // same rule and scope as the earlier candidate `blocker`: collapsed into it
};
std::string_view receipt_outcome_name(ReceiptOutcome outcome);

struct RuleReceipt {
  RuleFamilyId family = 0;
  PageId scope;
  std::uint64_t nonce = 0;
  ReceiptOutcome outcome = ReceiptOutcome::kApplied;
  std::uint32_t attempt = 1;  // 1 for the first try
  // kRejected, kDeferred, kDuplicate: the rule and scope of the blocking candidate.
  RuleFamilyId blocker_family = 0;
  PageId blocker_scope;
  TickId retry_at;  // kDeferred
  friend bool operator==(const RuleReceipt&, const RuleReceipt&) = default;
};

}  // namespace mmsb

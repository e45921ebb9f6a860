// Three-way merge of two States that share a fork point (DESIGN.md section 6,
// docs/SEMANTICS.md "Merge").
//
//   merge(base, ours, theirs) -> a State one tick after `ours` holding both sides' changes.
//
// The result is always one tick after `ours`. Fast paths, O(1): `theirs` unchanged since
// `base` -> `ours`' content; `ours` unchanged since `base` -> `theirs`' content. Otherwise pages
// changed on one side take that side; pages changed on both merge their byte ranges when the ranges
// are disjoint; overlapping ranges and delete/modify clashes follow the MergePolicy. Edges merge as
// a union. Pages and edges `theirs` created get fresh ids after `ours`' (the remap is returned), so
// ids never collide. The result is a pure function of the three States.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "mmsb/fork.hpp"
#include "mmsb/state.hpp"

namespace mmsb {

enum class MergePolicy : std::uint8_t {
  kFail,          // any clash fails the merge with Conflict naming pages and byte ranges
  kPreferOurs,    // clashing bytes and delete/modify clashes resolve to ours
  kPreferTheirs,  // ... to theirs
  kCustom,        // clashing bytes go to MergeOptions::resolve; delete/modify clashes fail
};

struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

// Both sides changed the same bytes of one page.
struct PageClash {
  PageId page;
  std::vector<ByteRange> ranges;  // byte ranges both sides changed, sorted
  std::span<const std::byte> base;
  std::span<const std::byte> ours;
  std::span<const std::byte> theirs;
};

// Returns the merged content of a clashing page (exactly its size), or a Status to fail
// the merge with. Must be a pure function of its argument for merges to be deterministic.
using MergeResolver = std::function<Result<std::vector<std::byte>>(const PageClash&)>;

struct MergeOptions {
  MergePolicy policy = MergePolicy::kFail;
  MergeResolver resolve = nullptr;  // required for kCustom
};

enum class MergePath : std::uint8_t { kTheirsUnchanged, kOursUnchanged, kThreeWay };

struct IdRemap {
  std::uint64_t from = 0;  // id in theirs
  std::uint64_t to = 0;    // id in the result
  friend bool operator==(const IdRemap&, const IdRemap&) = default;
};

struct MergeResult {
  State state;
  MergePath path = MergePath::kThreeWay;
  std::size_t pages_taken_from_theirs = 0;  // changed on their side only
  std::size_t pages_merged = 0;             // changed on both sides, combined
  std::size_t clashes_resolved = 0;         // settled by the policy or the resolver
  std::vector<IdRemap> page_remap;          // theirs' new pages whose id changed, by id
  std::vector<IdRemap> edge_remap;          // theirs' new edges whose id changed, by id
};

// InvalidArgument if `base` cannot be the fork point of both (its counters are ahead of
// either side's) or kCustom has no resolver; Conflict (naming every clashing page and its
// ranges, up to a limit) under kFail; the resolver's Status if it fails.
Result<MergeResult> merge(const State& base, const State& ours, const State& theirs,
                          const MergeOptions& options = {});

}  // namespace mmsb

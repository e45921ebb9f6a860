// Strong id types. Each is a distinct u64 so a PageId cannot be passed where an EdgeId is
// expected. Ids are assigned by mmsb, at commit, from counters that live in the State, so
// replaying the same inputs reproduces the same ids. Value 0 is never assigned and means
// "no id" for PageId and EdgeId.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

namespace mmsb {

template <typename Tag>
class StrongId {
 public:
  constexpr StrongId() = default;
  constexpr explicit StrongId(std::uint64_t value) : value_(value) {}

  constexpr std::uint64_t value() const { return value_; }
  constexpr bool is_valid() const { return value_ != 0; }

  friend constexpr auto operator<=>(StrongId, StrongId) = default;
  friend std::ostream& operator<<(std::ostream& out, StrongId id) { return out << id.value_; }

 private:
  std::uint64_t value_ = 0;
};

struct PageIdTag {};
struct EdgeIdTag {};
struct TickIdTag {};
struct EpochTag {};

// Identifies a page for its whole life; never reused after deletion.
using PageId = StrongId<PageIdTag>;
// Identifies an edge for its whole life; never reused after removal.
using EdgeId = StrongId<EdgeIdTag>;
// Number of a tick: the State produced by the n-th committed tick has tick n; the empty
// State has tick 0.
using TickId = StrongId<TickIdTag>;
// Content version of a page: 0 at creation, +1 for each tick in which its bytes change.
using Epoch = StrongId<EpochTag>;

// Page type tag (indexes rules by type in later modules).
using PageType = std::uint32_t;
// Edge kind tag. Kinds below kEdgeKindUserFirst are reserved by mmsb.
using EdgeKind = std::uint32_t;
// Dependency edges, parent -> child (docs/SEMANTICS.md "Derived pages"). A Data edge makes
// the child's derivation function read the parent; a Control edge only marks the child
// stale (an event) when the parent changes. Both count for the no-cycle rule.
inline constexpr EdgeKind kEdgeKindData = 1;
inline constexpr EdgeKind kEdgeKindControl = 2;
inline constexpr EdgeKind kEdgeKindUserFirst = 1024;
inline constexpr bool is_dependency_kind(EdgeKind kind) {
  return kind == kEdgeKindData || kind == kEdgeKindControl;
}

}  // namespace mmsb

template <typename Tag>
struct std::hash<mmsb::StrongId<Tag>> {
  std::size_t operator()(mmsb::StrongId<Tag> id) const noexcept {
    return std::hash<std::uint64_t>{}(id.value());
  }
};

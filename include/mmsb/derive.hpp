// Derived pages: functions that compute a page from its parents, and the events a tick's
// propagation reports. Contracts: docs/SEMANTICS.md "Derived pages" and "Events".
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "mmsb/ids.hpp"
#include "mmsb/status.hpp"

namespace mmsb {

// What a derivation function is given.
struct DeriveInput {
  PageId child;
  // The Data parents' bytes, in the order of their edges (the order given to derive()).
  std::span<const std::span<const std::byte>> parents;
  // The child's bytes before this recompute.
  std::span<const std::byte> current;
};

// A derivation function: writes the child's new content into `out`, which arrives empty (its
// capacity kept between calls) and must leave with exactly the child's size. It must be a
// pure function of its input: replay re-runs it and compares. It may run on any propagation
// worker, concurrently with other calls. A returned error or a thrown exception fails the
// tick (nothing of it is applied) with a Status naming the page and the function.
using DeriveFunction = std::function<Status(const DeriveInput& input, std::vector<std::byte>& out)>;

// Built-in functions, registered in every engine.
// Copies its single parent, which must have the child's size.
inline constexpr std::string_view kDerivePassthrough = "mmsb.passthrough";
// Concatenates its parents in order; their sizes must add up to the child's.
inline constexpr std::string_view kDeriveConcat = "mmsb.concat";

// What happened to a page in a tick, as told to subscribers (Engine::subscribe).
enum class EventType : std::uint8_t {
  kInvalidated = 0,  // a derived page's inputs changed: it is recomputed in this tick
  kApplied = 1,      // the tick's transactions or merge changed the page's bytes
  kChanged = 2,      // a recompute changed a derived page's bytes
  kStale = 3,        // a parent changed through a Control edge (or a Data edge into a page
                     // with no derivation): the page was not recomputed
};
std::string_view event_type_name(EventType type);

struct Event {
  EventType type = EventType::kApplied;
  PageId page;
  Epoch epoch;  // kInvalidated, kStale: the page's epoch before the tick; else after it
  friend bool operator==(const Event&, const Event&) = default;
};

// One tick's events, in the order docs/SEMANTICS.md "Events" defines: topological (level
// in the tick, then page id), then epoch, then type.
struct EventBatch {
  TickId tick;
  std::vector<Event> events;
  // Batches this subscriber lost to a full queue since its previous delivery.
  std::uint64_t batches_dropped_before = 0;
};

// Which events a subscriber wants. Empty `pages` means every page.
struct EventFilter {
  std::vector<PageId> pages;  // any order; duplicates are harmless
  std::uint32_t types = 0xF;  // bit (1 << EventType)
  bool wants(EventType type) const { return (types >> static_cast<unsigned>(type)) & 1u; }
};

using EventCallback = std::function<void(const EventBatch&)>;

// Longest queue of undelivered batches a subscriber may have (EngineOptions).
inline constexpr std::size_t kEventQueueBatchesMax = 1u << 20;

}  // namespace mmsb

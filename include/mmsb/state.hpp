// State: one immutable version of everything (pages, edges, id counters, tick, root).
//
// A State is a handle: copying it is O(1) (a reference count) and never copies pages, so a
// Snapshot is just a State kept for reading. New versions come from a Fork (fork.hpp),
// which shares all unchanged structure with the State it started from; the old State is
// never changed. Thread-safety: a State may be read from any number of threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mmsb/allocator.hpp"
#include "mmsb/delta.hpp"
#include "mmsb/hash.hpp"
#include "mmsb/ids.hpp"
#include "mmsb/page.hpp"
#include "mmsb/status.hpp"

namespace mmsb {

namespace state {
struct StateData;
struct StateAccessors;
}  // namespace state

class Fork;

struct StateOptions {
  // Largest page a State accepts, at most kPageSizeHardMaxBytes.
  std::uint64_t page_size_max_bytes = kPageSizeMaxDefaultBytes;
  // Where page bytes come from; nullptr means default_payload_allocator(). Must outlive
  // every State and Fork that uses it.
  PayloadAllocator* allocator = nullptr;
};

// A typed, directed link between two existing pages.
struct Edge {
  EdgeId id;
  EdgeKind kind = 0;
  PageId from;
  PageId to;
  friend bool operator==(const Edge&, const Edge&) = default;
};

// Longest name a derivation function may have.
inline constexpr std::size_t kFunctionNameMaxBytes = 256;
// Most Data parents one derivation may have.
inline constexpr std::size_t kDerivationParentsMax = 65536;

// A derived page's registration (docs/SEMANTICS.md "Derived pages"): propagation keeps
// `child` equal to `function` applied to its Data parents' bytes.
struct Derivation {
  PageId child;
  std::string function;
  std::vector<PageId> parents;  // the child's Data parents, in edge id order
  friend bool operator==(const Derivation&, const Derivation&) = default;
};

// A rule candidate the reserve gate rejected, waiting to be tried again at tick `due`
// (docs/SEMANTICS.md "Rules and scheduling"). Part of the State and its root.
struct PendingRetry {
  TickId due;
  std::uint64_t family = 0;  // RuleFamilyId
  PageId scope;
  std::uint32_t attempt = 0;  // the attempt it will be
  friend auto operator<=>(const PendingRetry&, const PendingRetry&) = default;
};

class State {
 public:
  // The empty State: no pages, no edges, tick 0, default options.
  State();
  // An empty State with the given options; InvalidArgument if they are out of range.
  static Result<State> empty(const StateOptions& options);

  State(const State& other);
  State(State&& other) noexcept;
  State& operator=(const State& other);
  State& operator=(State&& other) noexcept;
  ~State();

  TickId tick() const;
  // The ids the next created page and edge will get.
  PageId next_page_id() const;
  EdgeId next_edge_id() const;
  std::size_t page_count() const;
  std::size_t edge_count() const;
  const StateOptions& options() const;

  bool contains(PageId page) const;
  // NotFound naming the page if it does not exist.
  Result<PageView> page(PageId page) const;
  Result<std::span<const std::byte>> read(PageId page) const;
  Result<Edge> edge(EdgeId edge) const;
  // Edges with `page` as either end, in id order.
  std::vector<Edge> edges_of(PageId page) const;
  // The page's derivation, or nullopt if it is not derived (or does not exist).
  std::optional<Derivation> derivation(PageId child) const;
  std::size_t derivation_count() const;
  // Pages of one type, in id order (the type index; type 0, untyped, is not indexed and
  // gives none).
  std::size_t page_count_of_type(PageType type) const;
  void for_each_page_of_type(PageType type, const std::function<void(PageId)>& visit) const;
  // Rule candidates waiting for a later tick, by (due, family, scope).
  std::span<const PendingRetry> pending_retries() const;

  // Visit every page or edge in id order.
  void for_each_page(const std::function<void(const PageView&)>& visit) const;
  void for_each_edge(const std::function<void(const Edge&)>& visit) const;
  void for_each_derivation(const std::function<void(const Derivation&)>& visit) const;

  // The state root: a hash committing to every page (id, type, size, epoch, content),
  // every edge and the counters. Computed when the State was made, so this is O(1).
  // Layout: docs/FORMAT.md, "State root".
  Hash128 root() const;

  // state x delta -> state': a new State one tick later with `delta` applied (the law of
  // the system). NotFound for a missing page, Conflict if the delta was computed against
  // another epoch, InvalidArgument for a malformed delta; *this is never changed.
  Result<State> apply(const Delta& delta) const;

  // O(1): a read-only handle on this version.
  State snapshot() const { return *this; }
  // O(1): a writable branch starting at this version.
  Fork fork() const;

  // True if both handles are the same version (same object), an O(1) check.
  bool same_version(const State& other) const { return data_ == other.data_; }

 private:
  friend class Fork;
  friend struct state::StateAccessors;
  explicit State(const state::StateData* data);  // adopts one reference

  const state::StateData* data_;
};

// A read-only handle on one version: the same thing as a State, named for what it is used
// for. Taking one is O(1) and it never blocks writers.
using Snapshot = State;

}  // namespace mmsb

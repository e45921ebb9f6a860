// Internal representation shared by State, Fork and merge: the records stored in the
// persistent maps, the Tables that make up one version, and StateData (a frozen version).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "core/arena.hpp"
#include "core/ref.hpp"
#include "mmsb/fork.hpp"
#include "mmsb/state.hpp"
#include "state/radix_map.hpp"

namespace mmsb::state {

// One page: metadata plus its bytes, which it owns exclusively. Immutable once frozen; a
// record whose owner matches a Fork's token was made by that Fork in the current tick.
struct PageRecord final : RefCounted {
  PageRecord(const PageRecord&) = delete;
  ~PageRecord() override { allocator->deallocate(data, size_bytes); }
  // Records live in the arena (see make()); `delete this` in RefCounted returns them there.
  static void operator delete(void* record, std::size_t size_bytes) noexcept {
    core::arena_deallocate(static_cast<std::byte*>(record), size_bytes);
  }

  // A zero-filled or `initial`-filled record; nullptr if the allocator is exhausted.
  static Ref<PageRecord> make(PageId id, PageType type, std::uint64_t size_bytes, Epoch epoch,
                              std::span<const std::byte> initial, PayloadAllocator* allocator,
                              std::uint64_t owner);
  // A copy with a new owner (and optionally a new id); nullptr if the allocator is exhausted.
  Ref<PageRecord> copy(std::uint64_t new_owner, PageId new_id) const;

  std::span<const std::byte> bytes() const { return {data, size_bytes}; }
  std::span<std::byte> mutable_bytes() { return {data, size_bytes}; }
  PageView view() const { return PageView{id, type, size_bytes, epoch, location, bytes()}; }
  // Hash of (id, type, location, size, epoch, content hash); docs/FORMAT.md. Cached.
  Hash128 leaf_hash() const;
  // Widens the hull of bytes written in this tick; commit compares only that hull with the
  // page as it was (the copy equals it everywhere else).
  void mark_written(std::uint64_t offset, std::uint64_t length) {
    written_begin = std::min(written_begin, offset);
    written_end = std::max(written_end, offset + length);
  }

  PageId id;
  PageType type = 0;
  Location location = Location::kHost;
  std::uint64_t size_bytes = 0;
  Epoch epoch;
  std::uint64_t owner = 0;
  std::uint64_t written_begin = ~std::uint64_t{0};  // hull of this tick's writes (see above)
  std::uint64_t written_end = 0;
  std::byte* data = nullptr;
  PayloadAllocator* allocator = nullptr;

 private:
  PageRecord() = default;
  mutable bool hash_valid_ = false;
  mutable Hash128 leaf_hash_;
};

struct EdgeRecord final : RefCounted {
  explicit EdgeRecord(const Edge& edge_in) : edge(edge_in) {}
  Hash128 leaf_hash() const;
  Edge edge;
};

// A derived page's registration: the name of the function that computes it from its Data
// parents (docs/SEMANTICS.md "Derived pages"). Immutable once made.
struct DerivationRecord final : RefCounted {
  DerivationRecord(PageId child_in, std::string function_in)
      : child(child_in), function(std::move(function_in)) {}
  Hash128 leaf_hash() const;
  PageId child;
  std::string function;
};

// The edges touching one page, sorted by id (the adjacency index; not part of the root).
struct EdgeList final : RefCounted {
  explicit EdgeList(std::uint64_t owner_in) : owner(owner_in) {}
  EdgeList(const EdgeList& other, std::uint64_t owner_in)
      : RefCounted(other), owner(owner_in), ids(other.ids) {}
  std::uint64_t owner;
  std::vector<EdgeId> ids;
};

// The pages of one type (the type index; not part of the root). Values are a shared marker.
struct TypeMembers final : RefCounted {
  explicit TypeMembers(std::uint64_t owner_in) : owner(owner_in) {}
  TypeMembers(const TypeMembers& other, std::uint64_t owner_in)
      : RefCounted(other), owner(owner_in), pages(other.pages) {}
  struct Marker final : RefCounted {};
  static Ref<Marker> marker();
  std::uint64_t owner;
  RadixMap<Marker> pages;
};

// Rule candidates waiting for a later tick, sorted by (due, family, scope). Immutable once
// made; a tick that changes the queue makes a new one.
struct RetryList final : RefCounted {
  explicit RetryList(std::vector<PendingRetry> items_in);
  std::vector<PendingRetry> items;
  Hash128 hash;  // of the items (docs/FORMAT.md "State root")
};

struct Tables {
  RadixMap<PageRecord> pages;
  RadixMap<EdgeRecord> edges;
  RadixMap<EdgeList> adjacency;
  RadixMap<DerivationRecord> derivations;  // by child page id
  RadixMap<TypeMembers> types;             // by page type; type 0 is not indexed
  Ref<RetryList> retries;                  // nullptr: none pending
  std::uint64_t next_page_id = 1;
  std::uint64_t next_edge_id = 1;

  const PageRecord* find_page(PageId page) const { return pages.find(page.value()); }
  Result<PageView> page(PageId page) const;
  Result<Edge> edge(EdgeId edge) const;
  std::vector<Edge> edges_of(PageId page) const;
  const DerivationRecord* find_derivation(PageId child) const {
    return derivations.find(child.value());
  }
  // The child's Data parents in edge id order.
  std::vector<PageId> data_parents(PageId child) const;
  Derivation derivation(const DerivationRecord& record) const {
    return Derivation{record.child, record.function, data_parents(record.child)};
  }
  // True if every map and counter is the same object or value: the same content.
  bool same_as(const Tables& other) const;
};

// A frozen version. Every node and record reachable from it has its hash cached.
struct StateData final : RefCounted {
  Tables tables;
  TickId tick;
  Hash128 root;
  StateOptions options;
  // Which engine (in this process, in this open) the State descends from; 0: none. Not
  // state: never hashed, logged or checkpointed. Commits keep their base's lineage.
  std::uint64_t lineage = 0;
};

// The State's lineage, and the same State under a new lineage (unique in the process).
std::uint64_t lineage_of(const State& state);
State with_new_lineage(const State& state);

// The state root over frozen (or fully hashable) tables.
Hash128 compute_root(const Tables& tables, TickId tick);

std::string page_not_found(PageId page);

// State <-> StateData, for the state module's own code.
struct StateAccessors {
  static const StateData& data(const State& state);
  static State adopt(Ref<StateData> data);
};

// The writable tables behind a Fork, also used directly by merge().
class ForkCore {
 public:
  explicit ForkCore(const State& base);

  const State& base() const { return base_; }
  const State& head() const { return head_; }
  const Tables& tables() const { return tables_; }
  const StateOptions& options() const { return options_; }
  bool has_uncommitted_changes() const { return changed_; }

  Result<PageId> create_page(const PageSpec& spec);
  Result<PageRecord*> own_page(PageId page);  // copies on first write in this tick
  Status write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes);
  Status apply(const Delta& delta);
  Status delete_page(PageId page);
  Result<EdgeId> add_edge(EdgeKind kind, PageId from, PageId to);
  Status remove_edge(EdgeId edge);
  // Registers `child` as derived by `function` (empty: no longer derived). The page must
  // exist. Deleting the page drops its derivation.
  void set_derivation(PageId child, const std::string& function);

  // Replaces the pending rule retries (sorted by (due, family, scope)).
  void set_retries(std::vector<PendingRetry> retries);

  // For merge: install a finished record (epoch already decided) or an edge with its id,
  // and set the counters. Installed records are not epoch-bumped by commit().
  void install_page(Ref<PageRecord> record);
  void install_edge(const Edge& edge);
  void set_counters(std::uint64_t next_page_id, std::uint64_t next_edge_id);
  std::uint64_t token() const { return token_; }
  // True if the page was created or copied for writing in the current tick.
  bool written_this_tick(PageId page) const {
    const PageRecord* record = tables_.find_page(page);
    return record != nullptr && record->owner == token_;
  }
  // Pages created or copied for writing in this tick, in the order it happened (a page may
  // have been deleted or replaced since).
  const std::vector<PageId>& written_pages() const { return written_; }
  // Pages whose dependency inputs changed in this tick: the child end of every dependency
  // edge added or removed, and every page whose derivation was set. May repeat.
  const std::vector<PageId>& dependency_touched() const { return dependency_touched_; }
  // True if the page's bytes in this tick differ from head() (or it is new in this tick);
  // its epoch then goes up by one at commit.
  bool bytes_changed(PageId page) const;

  // Seals the tick as `tick` (head().tick() + 1 by default).
  State commit();
  State commit_as(TickId tick);

 private:
  void link_edge(EdgeId edge, PageId page);
  void index_type(PageType type, PageId page, bool add);
  void unlink_edge(EdgeId edge, PageId page);
  void renew_token();

  State base_;
  State head_;
  StateOptions options_;
  Tables tables_;
  std::uint64_t lineage_ = 0;
  std::uint64_t token_ = 0;
  bool changed_ = false;
  std::vector<PageId> written_;  // pages copied or created in this tick, for epoch bumps
  std::vector<PageId> dependency_touched_;
};

}  // namespace mmsb::state

namespace mmsb {

// The working tables of a Fork, for code of the engine that applies a transaction to one.
struct ForkAccess {
  static state::ForkCore& core(Fork& fork) { return fork.core(); }
};

}  // namespace mmsb

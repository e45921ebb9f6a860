// Internal representation shared by State, Fork and merge: the records stored in the
// persistent maps, the Tables that make up one version, and StateData (a frozen version).
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/arena.hpp"
#include "core/ref.hpp"
#include "mmsb/fork.hpp"
#include "mmsb/state.hpp"
#include "state/radix_map.hpp"
#include "state/root_terms.hpp"

namespace mmsb::state {

// One page: metadata plus its bytes, which it owns exclusively. Immutable once frozen; a
// Fork changes only the records it made in the current tick (ForkCore::owns), and for
// those `tick_write` indexes its list of the tick's writes. 48 bytes, one block of the
// arena's object class: no vtable (Counted; the trie releases it as a PageRecord), its
// allocator named by an index, the fields in the count's tail, nothing cached.
struct PageRecord final : Counted<PageRecord> {
  PageRecord(const PageRecord&) = delete;
  ~PageRecord() {
    if (!zero_backed()) allocator()->deallocate(data, size_bytes);
  }
  // Records live in the arena (see make()); the last unref returns them there.
  static void operator delete(void* record, std::size_t size_bytes) noexcept {
    core::arena_deallocate(static_cast<std::byte*>(record), size_bytes);
  }

  // A zero-filled or `initial`-filled record; nullptr if the allocator is exhausted. A zero
  // one from the default allocator, up to core::kZeroRegionBytes, is zero-backed: its bytes
  // are the shared read-only zero region until ForkCore makes it writable (make_writable).
  static Ref<PageRecord> make(PageId id, PageType type, std::uint64_t size_bytes, Epoch epoch,
                              std::span<const std::byte> initial, PayloadAllocator* allocator);
  // The same with the allocator named by its index (core::payload_allocator_index), as a
  // record names its own: a copy does not look its allocator up again.
  static Ref<PageRecord> make_indexed(PageId id, PageType type, std::uint64_t size_bytes,
                                      Epoch epoch, std::span<const std::byte> initial,
                                      std::uint8_t allocator_index);
  // A copy (with `new_id`), zero-backed if this one is; nullptr if the allocator is exhausted.
  Ref<PageRecord> copy(PageId new_id) const;
  // Gives a zero-backed record a zero block of its own; false if the allocator refused.
  bool make_writable() { return !zero_backed() || take_zero_block(); }

  bool zero_backed() const { return data == core::zero_region(); }
  std::span<const std::byte> bytes() const { return {data, size_bytes}; }
  // Not of a zero-backed record (make_writable first).
  std::span<std::byte> mutable_bytes() {
    MMSB_DEBUG_ASSERT(!zero_backed());
    return {data, size_bytes};
  }
  PageView view() const { return PageView{id, type, size_bytes, epoch, location, bytes()}; }
  // The page's terms in the state root (docs/FORMAT.md "State root"): its metadata's, and
  // the sum of its content chunks'.
  Hash128 meta_term() const { return page_meta_term(id, type, location, size_bytes, epoch); }
  TermSum content_terms() const {
    return zero_backed() ? TermSum{} : page_content_terms(id, bytes());
  }

  PayloadAllocator* allocator() const { return core::payload_allocator_at(allocator_index); }

  PageType type = 0;  // first: it fills the 4 bytes Counted leaves after its count
  PageId id;
  std::uint64_t size_bytes = 0;
  Epoch epoch;
  std::byte* data = nullptr;
  std::uint32_t tick_write = 0;  // while a Fork owns it: its TickWrite (see above)
  Location location = Location::kHost;
  std::uint8_t allocator_index = 0;  // core::payload_allocator_at

 private:
  PageRecord() = default;
  bool take_zero_block();  // make_writable of a zero-backed record
};
static_assert(sizeof(PageRecord) <= 48, "a page record is one 48-byte arena block");

struct EdgeRecord final : RefCounted {
  explicit EdgeRecord(const Edge& edge_in) : edge(edge_in) {}
  Hash128 term() const;  // in the root's edges sum (docs/FORMAT.md "State root")
  Edge edge;
};

// A derived page's registration: the name of the function that computes it from its Data
// parents (docs/SEMANTICS.md "Derived pages"). Immutable once made.
struct DerivationRecord final : RefCounted {
  DerivationRecord(PageId child_in, std::string function_in)
      : child(child_in), function(std::move(function_in)) {}
  Hash128 term() const;  // in the root's derivations sum (docs/FORMAT.md "State root")
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
  // "Present": one object for every type index, immortal and immutable, so it is not
  // counted (a count would be one line written by every thread that creates a typed page).
  struct Marker {
    void ref() const {}
    void unref() const {}
  };
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
  // The root's sums over the maps' terms (docs/FORMAT.md "State root"), kept by the writer.
  TermSum pages_sum;
  TermSum edges_sum;
  TermSum derivations_sum;
  RadixMap<EdgeRecord> edges;
  RadixMap<EdgeList> adjacency;
  RadixMap<DerivationRecord> derivations;  // by child page id
  RadixMap<TypeMembers> types;             // by page type; type 0 is not indexed
  Ref<RetryList> retries;                  // nullptr: none pending
  std::uint64_t next_page_id = 1;
  std::uint64_t next_edge_id = 1;

  const PageRecord* find_page(PageId page) const { return pages.find(page.value()); }
  Result<PageView> page(PageId page) const;
  // The page's bytes (what page() would view, without building the view).
  Result<std::span<const std::byte>> read(PageId page) const;
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

// A frozen version.
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

// What one version's pages take in memory, shared parts counted once (docs/ARCHITECTURE.md
// "Memory per page"). Page bytes are `payload_bytes`; everything else is metadata.
struct MemoryUsage {
  std::uint64_t pages = 0;
  std::uint64_t payload_bytes = 0;   // the pages' sizes
  std::uint64_t metadata_bytes = 0;  // records, trie nodes, type index, size-class rounding
  double metadata_per_page() const {
    return pages == 0 ? 0.0 : static_cast<double>(metadata_bytes) / static_cast<double>(pages);
  }
};
MemoryUsage memory_usage(const Tables& tables);

// The state root of `tables` at `tick`, from the sums the tables keep: O(1).
Hash128 compute_root(const Tables& tables, TickId tick);

std::string page_not_found(PageId page);

inline Result<std::span<const std::byte>> Tables::read(PageId page) const {
  const PageRecord* record = find_page(page);
  if (record == nullptr) return not_found(page_not_found(page));
  return record->bytes();
}

// State <-> StateData, for the state module's own code.
struct StateAccessors {
  static const StateData& data(const State& state);
  static State adopt(Ref<StateData> data);
};

// A page created, copied or claimed for writing in the current tick: the record it replaced
// (null: created in this tick, or written in place) and the hull of the bytes written since.
// Sealing compares only that hull with `previous` (the copy equals it everywhere else); a
// page written in place is compared with the bytes its writes overwrote (its undo runs).
struct TickWrite {
  PageId id;
  // The record written; null once the tick deleted or replaced it (so it never points at a
  // freed record whose address a new one could take).
  PageRecord* current = nullptr;
  Ref<PageRecord> previous;
  std::uint64_t begin = ~std::uint64_t{0};
  std::uint64_t end = 0;
  bool in_place = false;
  // The caller of own_page() may have written anywhere: the page's content terms left the
  // pages sum then and come back at the seal (writes otherwise keep them current).
  bool raw = false;
  std::uint32_t last_undo = kNoUndo;  // the latest of its undo runs (see ForkCore::UndoRun)
  // Unless raw: what this tick's writes changed the page's content terms by. Not zero: the
  // bytes changed (equal bytes have equal terms), once no chunk is pending.
  TermSum content_delta;
  // Chunks (bit c: chunk c) whose terms as the page stood before a later write in this tick
  // left the pages sum and content_delta, and whose terms as they are now come back at the
  // seal (ForkCore::settle): a page written many times in a tick hashes each chunk it
  // writes twice, not twice a write. Pages of up to 64 chunks (kPendingPageBytesMax).
  std::uint64_t pending_chunks = 0;
  static constexpr std::uint32_t kNoUndo = ~std::uint32_t{0};
};

// The writable tables behind a Fork, also used directly by merge() and the tick step.
//
// Each tick's writes go to nodes and records the fork owns (made in this tick, or reachable
// from its tables alone: see RadixMap "Persistence"); everything else is copied first. A
// record reachable from the fork alone is written in place by write() and apply(), which
// keep the bytes they overwrite (undo runs) for the seal's comparison. A
// ForkCore made with the constructor keeps its base and each committed State, so their nodes
// are shared and a tick copies the paths it writes. A working() one keeps no State: once
// the caller drops its copies, its tables are reachable from it alone, and a tick after the
// first changes the nodes it reaches in place (replay's version between publications).
class ForkCore {
 public:
  explicit ForkCore(const State& base);
  static ForkCore working(State base);
  ForkCore(ForkCore&&) = default;
  ForkCore& operator=(ForkCore&&) = default;
  ForkCore(const ForkCore&) = delete;
  ForkCore& operator=(const ForkCore&) = delete;
  // Leaves its per-tick lists (empty, their memory kept) to the next ForkCore made on this
  // thread, so a tick after the first allocates none of them.
  ~ForkCore();

  const State& base() const { return base_; }
  const State& head() const { return head_; }
  const Tables& tables() const { return tables_; }
  const StateOptions& options() const { return options_; }
  bool has_uncommitted_changes() const { return changed_; }
  // True if versions the fork keeps (its base, each committed State) share its pages, so a
  // page's first write in a tick copies the whole page; false for a working() one, whose
  // pages only it reaches and are written in place.
  bool keeps_versions() const { return keeps_versions_; }

  Result<PageId> create_page(const PageSpec& spec);
  // A record of the page the caller may write anywhere (then mark_written): copied on the
  // first write in this tick (a page written in place so far is copied then).
  Result<PageRecord*> own_page(PageId page);
  // `epoch`, if given, receives the page's epoch (what the write is logged against): the
  // caller needs no lookup of its own.
  Status write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes,
               Epoch* epoch = nullptr);
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
  // The fork's entry for `record` if it made or claimed it in the current tick, else null.
  const TickWrite* write_of(const PageRecord& record) const {
    const bool mine =
        record.tick_write < writes_.size() && writes_[record.tick_write].current == &record;
    return mine ? &writes_[record.tick_write] : nullptr;
  }
  TickWrite* write_of(const PageRecord& record) {
    return const_cast<TickWrite*>(std::as_const(*this).write_of(record));
  }
  // True if the fork made `record` in the current tick (created, copied or claimed it).
  bool owns(const PageRecord& record) const { return write_of(record) != nullptr; }
  // True if the page was created or copied for writing in the current tick.
  bool written_this_tick(PageId page) const {
    const PageRecord* record = tables_.find_page(page);
    return record != nullptr && owns(*record);
  }
  // Pages created or copied for writing in this tick, in the order it happened (a page may
  // have been deleted or replaced since).
  const std::vector<TickWrite>& tick_writes() const { return writes_; }
  // Widens the hull of bytes written in this tick of a page own_page() returned.
  void mark_written(PageRecord& page, std::uint64_t offset, std::uint64_t length) {
    MMSB_DEBUG_ASSERT(owns(page));
    TickWrite& write = writes_[page.tick_write];
    write.begin = std::min(write.begin, offset);
    write.end = std::max(write.end, offset + length);
  }
  // The page's epoch when the tick began; nullopt if it did not exist then (or it is gone).
  std::optional<Epoch> epoch_at_tick_start(PageId page) const;
  // Pages whose dependency inputs changed in this tick: the child end of every dependency
  // edge added or removed, and every page whose derivation was set. May repeat.
  const std::vector<PageId>& dependency_touched() const { return dependency_touched_; }
  // True if the page's bytes in this tick differ from head() (or it is new in this tick);
  // its epoch then goes up by one at commit.
  bool bytes_changed(PageId page) const;

  // The tick of the last seal (the base's if none).
  TickId sealed_tick() const { return sealed_tick_; }
  // Seals the tick as `tick`: bumps the epochs of pages whose bytes changed, computes the
  // root and starts the next tick. Makes no State (see publish()).
  Hash128 seal(TickId tick);
  // The State of the last sealed tick (the base's if none), sharing the tables. Not with
  // writes in the current tick: seal them first.
  State publish() const;
  // seal() and publish(); the State becomes head(). `tick` is the last sealed one + 1 by
  // default.
  State commit();
  State commit_as(TickId tick);

 private:
  void link_edge(EdgeId edge, PageId page);
  void index_type(PageType type, PageId page, bool add);
  void unlink_edge(EdgeId edge, PageId page);
  // Bytes a write in place overwrote: [offset, offset + length) of the page, kept at `at` in
  // undo_bytes_; `previous` is the page's undo run before it (TickWrite::kNoUndo: none).
  struct UndoRun {
    std::uint64_t offset;
    std::uint64_t length;
    std::uint64_t at;
    std::uint32_t previous;
  };

  // What one tick of writes keeps; reused from tick to tick and fork to fork (~ForkCore).
  struct TickLists {
    std::vector<TickWrite> writes;
    std::vector<UndoRun> undo;
    std::vector<std::byte> undo_bytes;
  };
  static TickLists& spare_lists();

  static std::uint64_t next_token();
  void record_write(PageRecord& page, Ref<PageRecord> previous);
  void forget_write(const PageRecord* replaced);
  // The record to write [offset, offset + length) of: owned (`write`, the page's write in
  // this tick: write_of(record)), claimed (written in place, the overwritten bytes kept) or
  // a copy.
  Result<PageRecord*> write_target(const PageRecord& record, TickWrite* write, std::uint64_t offset,
                                   std::uint64_t length);
  Result<PageRecord*> copy_into(OwnedSlot<PageRecord> slot, const PageRecord& record);
  // Gives a zero-backed record the fork may write (made or claimed in this tick) its own
  // block (PageRecord::make_writable), or says the allocator refused.
  static Status make_writable(PageRecord& record) {
    return record.make_writable() ? Status::ok() : allocator_refused(record);
  }
  static Status allocator_refused(const PageRecord& record);
  // Moves the pages sum (and the write's content_delta) from `before` to `after`, the terms
  // of the chunks a write touched before and after it.
  void count_content(TickWrite& write, const TermSum& before, const TermSum& after);
  // Puts the terms of the write's pending chunks, as they are now, into the pages sum and its
  // content_delta: before anything reads a written page's terms whole, and at the seal.
  void settle(TickWrite& write);
  // Marks a page own_page() hands out as written anywhere (TickWrite::raw).
  PageRecord* make_raw(PageRecord& page);
  // The page's term in the pages sum as it stands, for taking it out (a deletion, a record
  // installed over it): its metadata's and, unless own_page() took its content terms out
  // for the seal, its content's; a written page's pending chunks are settled first.
  TermSum page_term(const PageRecord& record);
  void keep_undo(TickWrite& write, const PageRecord& page, std::uint64_t offset,
                 std::uint64_t length);
  // True if a page written in place differs from what the tick found, inside its hull.
  bool in_place_differs(const PageRecord& page, const TickWrite& write) const;
  // True if the page `write` made differs from what the tick found (or is new in it).
  bool differs(const PageRecord& page, const TickWrite& write) const;
  // Puts back what the tick's writes in place overwrote.
  void undo_in_place(PageRecord& page, TickWrite& write);
  // The record the tick found for `page` (`record`: its record now, may be null): what a
  // write this tick is compared with and bumps the epoch of.
  PageRecord* page_at_tick_start(PageId page, const PageRecord* record) const;

  State base_;
  State head_;
  StateOptions options_;
  std::uint8_t allocator_index_;  // options_.allocator's (core::payload_allocator_index)
  Tables tables_;
  std::uint64_t lineage_ = 0;
  std::uint64_t token_ = 0;
  std::uint64_t tick_start_next_page_ = 0;  // pages with ids from here are new in this tick
  // The type index entry index_type() changed last (null once it erased it): the tables
  // hold it, so it lives while cached; it is the fork's to change while its owner is the
  // fork's token (the same tick).
  PageType indexed_type_ = 0;
  TypeMembers* indexed_members_ = nullptr;
  TickId sealed_tick_;                      // of the last seal, or the base's
  Hash128 sealed_root_;
  bool changed_ = false;
  bool keeps_versions_ = true;
  std::vector<TickWrite> writes_;  // pages copied or created in this tick, for epoch bumps
  std::vector<UndoRun> undo_;
  std::vector<std::byte> undo_bytes_;
  // Pages install_page() replaced in this tick, with the record the tick found (null: none).
  std::map<PageId, Ref<PageRecord>> installed_over_;
  std::vector<PageId> dependency_touched_;
};

}  // namespace mmsb::state

namespace mmsb {

// The working tables of a Fork, for code of the engine that applies a transaction to one.
struct ForkAccess {
  static state::ForkCore& core(Fork& fork) { return fork.core(); }
};

}  // namespace mmsb

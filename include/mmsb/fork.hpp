// Fork: a private, writable branch of a State.
//
// Creating a Fork is O(1): it holds a handle on the State and nothing else until its first
// write, which sets up the working tables (still sharing every page). The first write to a
// page copies that page only (make-owned); later writes in the same tick change the copy in
// place. commit() seals the writes made since the last commit into a new State one tick
// later, bumps the epoch of every page whose bytes changed, computes the new root from the
// changed parts only, and carries on from that State. The State the Fork started from, and
// every State it returned, stay as they were.
//
// Thread-safety: a Fork belongs to one thread at a time. States it returns may be shared.
#pragma once

#include <memory>

#include "mmsb/state.hpp"

namespace mmsb {

namespace state {
class ForkCore;
struct Tables;
}  // namespace state

class Fork {
 public:
  explicit Fork(const State& base);
  Fork(Fork&&) noexcept;
  Fork& operator=(Fork&&) noexcept;
  ~Fork();

  // The State this Fork started from (its fork point); unchanged by commit().
  const State& base() const;
  // The State returned by the last commit(), or base() before the first one.
  const State& head() const;
  // True if anything was written since the last commit().
  bool has_uncommitted_changes() const;

  // Reads see this Fork's own writes, committed or not.
  bool contains(PageId page) const;
  Result<PageView> page(PageId page) const;
  Result<std::span<const std::byte>> read(PageId page) const;
  Result<Edge> edge(EdgeId edge) const;
  std::vector<Edge> edges_of(PageId page) const;
  std::size_t page_count() const;
  std::size_t edge_count() const;

  // Creates a page with the next page id. InvalidArgument for a size of 0 or above the
  // limit, or an `initial` of the wrong length; ResourceExhausted if the allocator is.
  Result<PageId> create_page(const PageSpec& spec);
  // Writes `bytes` at `offset`. InvalidArgument if the range leaves the page.
  Status write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes);
  // Replaces the whole content; `bytes` must be exactly the page's size.
  Status put(PageId page, std::span<const std::byte> bytes);
  // Applies a delta; Conflict if it was computed against an epoch other than the page's
  // epoch at the start of this tick.
  Status apply(const Delta& delta);
  // Writable view of a page's bytes, copying the page first if it is shared. Valid until
  // the next call on this Fork.
  Result<std::span<std::byte>> mutable_bytes(PageId page);
  // Deletes a page and every edge that touches it.
  Status delete_page(PageId page);
  // Adds an edge between two existing pages; returns its id.
  Result<EdgeId> add_edge(EdgeKind kind, PageId from, PageId to);
  Status remove_edge(EdgeId edge);

  // Seals the tick: returns the new State (tick + 1). Always succeeds.
  State commit();

 private:
  friend struct ForkAccess;  // state/tables.hpp: the engine applies transactions to forks
  const state::Tables& tables() const;
  state::ForkCore& core();  // created on first use

  State base_;
  std::unique_ptr<state::ForkCore> core_;
};

}  // namespace mmsb

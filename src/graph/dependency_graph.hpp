// DependencyGraph: the dependency edges (kinds Data and Control) of one State, indexed for
// propagation (parents and children of each page) and kept acyclic.
//
// The State holds the edges; this is an in-memory index of them that the sequencer (or a
// replay) keeps in step with the State it builds ticks on, rebuilt from the State on open.
// It maintains a topological order incrementally (Pearce and Kelly, "A dynamic topological
// sort algorithm for directed acyclic graphs", 2006): adding an edge that agrees with the
// order costs O(1); otherwise only the pages between its two ends in the order are visited,
// so the cost of the cycle check never grows with the whole graph.
//
// Every change is journaled, so a failed transaction or tick rolls the index back with
// undo_to(mark()). Thread-safety: one owner thread; const calls may run concurrently with
// each other.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "mmsb/state.hpp"
#include "mmsb/status.hpp"

namespace mmsb::graph {

class DependencyGraph {
 public:
  static constexpr std::uint32_t kNoNode = ~std::uint32_t{0};
  // One edge as seen from one of its ends: the edge and the page (and node) at its other end.
  struct Link {
    EdgeId edge;
    PageId page;
    EdgeKind kind = 0;
    std::uint32_t node = kNoNode;
  };

  // Replaces the contents with the dependency edges of `state`. Corruption naming the cycle
  // if they are not acyclic (a State only the engine wrote never is).
  Status build(const State& state);

  // Adds a dependency edge. InvalidArgument naming the cycle if it would close one; the
  // graph is then unchanged. Edges of other kinds are ignored.
  Status add_edge(const Edge& edge);
  // Removes a dependency edge that was added (edges of other kinds are ignored).
  void remove_edge(const Edge& edge);

  // Journal: a mark, and rolling every change since a mark back, newest first.
  std::size_t mark() const { return journal_.size(); }
  void undo_to(std::size_t mark);
  // Forgets the journal (the changes are final).
  void clear_journal() { journal_.clear(); }

  std::size_t edge_count() const { return edge_count_; }
  // The page's node index, or kNoNode if no dependency edge touches it.
  std::uint32_t node_of(PageId page) const {
    auto found = index_.find(page.value());
    return found == index_.end() ? kNoNode : found->second;
  }
  // Upper bound of node indices (for per-node scratch arrays).
  std::size_t node_capacity() const { return nodes_.size(); }
  PageId page_of(std::uint32_t node) const { return nodes_[node].page; }
  // Links in edge id order.
  const std::vector<Link>& parents(std::uint32_t node) const { return nodes_[node].parents; }
  const std::vector<Link>& children(std::uint32_t node) const { return nodes_[node].children; }
  // Position in the maintained topological order: a parent's is always below its child's.
  std::uint64_t order_of(std::uint32_t node) const { return nodes_[node].order; }

 private:
  struct Node {
    PageId page;
    std::uint64_t order = 0;
    std::uint32_t visited = 0;  // search stamp
    std::uint32_t came_from = kNoNode;
    std::vector<Link> parents;
    std::vector<Link> children;
  };
  struct JournalEntry {
    bool added;
    Edge edge;
  };

  // The unjournaled halves of add_edge and remove_edge (undo uses them directly).
  Status insert(const Edge& edge);
  void erase(const Edge& edge);
  std::uint32_t node_for(PageId page);  // creates it at the end of the order
  void release_if_unlinked(std::uint32_t node);
  void link(const Edge& edge, std::uint32_t from, std::uint32_t to);
  // Pearce-Kelly: restores the order after adding from -> to where order(to) < order(from);
  // false (with the cycle in cycle_) if `to` reaches `from`.
  bool reorder(std::uint32_t from, std::uint32_t to);
  std::string cycle_text(const Edge& edge) const;

  std::unordered_map<std::uint64_t, std::uint32_t> index_;  // lookups only, never iterated
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> free_;
  std::uint64_t next_order_ = 0;
  std::uint32_t stamp_ = 0;
  std::size_t edge_count_ = 0;
  std::vector<JournalEntry> journal_;
  // Search scratch, kept to avoid allocating per edge.
  std::vector<std::uint32_t> stack_, forward_, backward_;
  std::vector<std::uint64_t> orders_;
  std::vector<std::uint32_t> cycle_;
};

}  // namespace mmsb::graph

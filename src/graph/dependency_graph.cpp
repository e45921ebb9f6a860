#include "graph/dependency_graph.hpp"

#include <algorithm>

#include "mmsb/assert.hpp"

namespace mmsb::graph {
namespace {

// A cycle message lists at most this many pages, then counts the rest.
constexpr std::size_t kCyclePagesShownMax = 16;

void erase_link(std::vector<DependencyGraph::Link>& links, EdgeId edge) {
  auto found = std::find_if(links.begin(), links.end(),
                            [&](const DependencyGraph::Link& link) { return link.edge == edge; });
  MMSB_ASSERT(found != links.end());
  links.erase(found);
}

}  // namespace

Status DependencyGraph::build(const State& state) {
  index_.clear();
  nodes_.clear();
  free_.clear();
  journal_.clear();
  next_order_ = 0;
  edge_count_ = 0;
  Status status;
  state.for_each_edge([&](const Edge& edge) {
    if (status.is_ok()) status = add_edge(edge);
  });
  journal_.clear();
  if (!status.is_ok()) return corruption("state " + std::to_string(state.tick().value()) + ": " +
                                         status.message());
  return Status::ok();
}

std::uint32_t DependencyGraph::node_for(PageId page) {
  auto [slot, inserted] = index_.try_emplace(page.value(), kNoNode);
  if (!inserted) return slot->second;
  std::uint32_t node;
  if (!free_.empty()) {
    node = free_.back();
    free_.pop_back();
  } else {
    node = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& created = nodes_[node];
  created.page = page;
  created.order = next_order_++;
  created.visited = 0;
  slot->second = node;
  return node;
}

void DependencyGraph::release_if_unlinked(std::uint32_t node) {
  Node& released = nodes_[node];
  if (!released.parents.empty() || !released.children.empty()) return;
  index_.erase(released.page.value());
  released.page = PageId();
  free_.push_back(node);
}

void DependencyGraph::link(const Edge& edge, std::uint32_t from, std::uint32_t to) {
  // Kept in edge id order, also when an undo puts an old edge back.
  auto insert = [](std::vector<Link>& links, const Link& link) {
    auto at = std::lower_bound(links.begin(), links.end(), link.edge,
                               [](const Link& a, EdgeId id) { return a.edge < id; });
    links.insert(at, link);
  };
  insert(nodes_[from].children, Link{edge.id, edge.to, edge.kind, to});
  insert(nodes_[to].parents, Link{edge.id, edge.from, edge.kind, from});
  ++edge_count_;
}

Status DependencyGraph::add_edge(const Edge& edge) {
  if (!is_dependency_kind(edge.kind)) return Status::ok();
  MMSB_RETURN_IF_ERROR(insert(edge));
  journal_.push_back(JournalEntry{true, edge});
  return Status::ok();
}

void DependencyGraph::remove_edge(const Edge& edge) {
  if (!is_dependency_kind(edge.kind)) return;
  erase(edge);
  journal_.push_back(JournalEntry{false, edge});
}

Status DependencyGraph::insert(const Edge& edge) {
  if (edge.from == edge.to) return invalid_argument(cycle_text(edge));
  const std::uint32_t from = node_for(edge.from);
  const std::uint32_t to = node_for(edge.to);
  if (nodes_[from].order > nodes_[to].order && !reorder(from, to)) {
    std::string message = cycle_text(edge);
    release_if_unlinked(to);
    release_if_unlinked(from);
    return invalid_argument(std::move(message));
  }
  link(edge, from, to);
  return Status::ok();
}

void DependencyGraph::erase(const Edge& edge) {
  const std::uint32_t from = node_of(edge.from);
  const std::uint32_t to = node_of(edge.to);
  MMSB_ASSERT(from != kNoNode && to != kNoNode);
  erase_link(nodes_[from].children, edge.id);
  erase_link(nodes_[to].parents, edge.id);
  --edge_count_;
  release_if_unlinked(from);
  release_if_unlinked(to);
}

void DependencyGraph::undo_to(std::size_t mark) {
  MMSB_ASSERT(mark <= journal_.size());
  while (journal_.size() > mark) {
    const JournalEntry entry = journal_.back();
    journal_.pop_back();
    if (entry.added) {
      erase(entry.edge);
    } else {
      // The graph without the later changes was acyclic, so this cannot close a cycle.
      Status restored = insert(entry.edge);
      MMSB_ASSERT(restored.is_ok());
    }
  }
}

bool DependencyGraph::reorder(std::uint32_t from, std::uint32_t to) {
  const std::uint64_t upper = nodes_[from].order;
  const std::uint64_t lower = nodes_[to].order;
  if (stamp_ >= ~std::uint32_t{0} - 2) {
    for (Node& node : nodes_) node.visited = 0;
    stamp_ = 0;
  }
  const std::uint32_t forward_stamp = ++stamp_;
  const std::uint32_t backward_stamp = ++stamp_;

  // Forward from `to` through pages ordered at most `upper`: reaching `from` is a cycle.
  forward_.clear();
  stack_.assign(1, to);
  nodes_[to].visited = forward_stamp;
  nodes_[to].came_from = kNoNode;
  while (!stack_.empty()) {
    const std::uint32_t node = stack_.back();
    stack_.pop_back();
    forward_.push_back(node);
    for (const Link& child : nodes_[node].children) {
      const std::uint32_t next = child.node;
      if (next == from) {
        cycle_.clear();
        for (std::uint32_t at = node; at != kNoNode; at = nodes_[at].came_from) {
          cycle_.push_back(at);
        }
        std::reverse(cycle_.begin(), cycle_.end());  // to ... node
        return false;
      }
      if (nodes_[next].visited == forward_stamp || nodes_[next].order > upper) continue;
      nodes_[next].visited = forward_stamp;
      nodes_[next].came_from = node;
      stack_.push_back(next);
    }
  }
  // Backward from `from` through pages ordered at least `lower`.
  backward_.clear();
  stack_.assign(1, from);
  nodes_[from].visited = backward_stamp;
  while (!stack_.empty()) {
    const std::uint32_t node = stack_.back();
    stack_.pop_back();
    backward_.push_back(node);
    for (const Link& parent : nodes_[node].parents) {
      const std::uint32_t next = parent.node;
      if (nodes_[next].visited == backward_stamp || nodes_[next].order < lower) continue;
      nodes_[next].visited = backward_stamp;
      stack_.push_back(next);
    }
  }
  // The affected pages keep their set of positions: the backward ones (ancestors of
  // `from`) take the lowest, in their old relative order, then the forward ones.
  auto by_order = [&](std::uint32_t a, std::uint32_t b) { return nodes_[a].order < nodes_[b].order; };
  std::sort(forward_.begin(), forward_.end(), by_order);
  std::sort(backward_.begin(), backward_.end(), by_order);
  orders_.clear();
  for (std::uint32_t node : backward_) orders_.push_back(nodes_[node].order);
  for (std::uint32_t node : forward_) orders_.push_back(nodes_[node].order);
  std::sort(orders_.begin(), orders_.end());
  std::size_t next = 0;
  for (std::uint32_t node : backward_) nodes_[node].order = orders_[next++];
  for (std::uint32_t node : forward_) nodes_[node].order = orders_[next++];
  return true;
}

std::string DependencyGraph::cycle_text(const Edge& edge) const {
  std::string text = "edge " + std::to_string(edge.id.value()) + " (" +
                     std::to_string(edge.from.value()) + " -> " + std::to_string(edge.to.value()) +
                     ") would close the cycle " + std::to_string(edge.from.value());
  if (edge.from == edge.to) return text + " -> " + std::to_string(edge.to.value());
  // cycle_ runs from `to` to the parent of `from`.
  for (std::size_t i = 0; i < cycle_.size() && i < kCyclePagesShownMax; ++i) {
    text += " -> " + std::to_string(nodes_[cycle_[i]].page.value());
  }
  if (cycle_.size() > kCyclePagesShownMax) {
    text += " -> ... (" + std::to_string(cycle_.size() - kCyclePagesShownMax) + " more pages)";
  }
  return text + " -> " + std::to_string(edge.from.value()) + " (" +
         std::to_string(cycle_.size() + 1) + " pages)";
}

}  // namespace mmsb::graph

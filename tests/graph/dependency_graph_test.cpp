#include "graph/dependency_graph.hpp"

#include <gtest/gtest.h>

#include <set>

#include "state/tables.hpp"
#include "support/rapidcheck_gtest.hpp"

namespace mmsb::graph {
namespace {

Edge data_edge(std::uint64_t id, std::uint64_t from, std::uint64_t to) {
  return Edge{EdgeId(id), kEdgeKindData, PageId(from), PageId(to)};
}

// Every edge goes from a lower to a higher position in the maintained order.
void expect_topological(const DependencyGraph& graph, const std::vector<Edge>& edges) {
  for (const Edge& edge : edges) {
    const std::uint32_t from = graph.node_of(edge.from);
    const std::uint32_t to = graph.node_of(edge.to);
    ASSERT_NE(from, DependencyGraph::kNoNode);
    ASSERT_NE(to, DependencyGraph::kNoNode);
    EXPECT_LT(graph.order_of(from), graph.order_of(to))
        << "edge " << edge.id << " " << edge.from << " -> " << edge.to;
  }
}

TEST(DependencyGraphTest, KeepsATopologicalOrderWhenEdgesArriveBackwards) {
  DependencyGraph graph;
  std::vector<Edge> edges;
  // A chain added from its end: every edge disagrees with the order of first appearance.
  for (std::uint64_t page = 10; page > 1; --page) {
    edges.push_back(data_edge(edges.size() + 1, page - 1, page));
    ASSERT_TRUE(graph.add_edge(edges.back()).is_ok());
  }
  EXPECT_EQ(graph.edge_count(), 9u);
  expect_topological(graph, edges);
}

TEST(DependencyGraphTest, RefusesASelfLoopAndAShortCycle) {
  DependencyGraph graph;
  Status self = graph.add_edge(data_edge(1, 4, 4));
  EXPECT_EQ(self.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(self.message(), "edge 1 (4 -> 4) would close the cycle 4 -> 4");
  ASSERT_TRUE(graph.add_edge(data_edge(2, 1, 2)).is_ok());
  ASSERT_TRUE(graph.add_edge(data_edge(3, 2, 3)).is_ok());
  Status cycle = graph.add_edge(data_edge(4, 3, 1));
  EXPECT_EQ(cycle.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cycle.message(), "edge 4 (3 -> 1) would close the cycle 3 -> 1 -> 2 -> 3 (3 pages)");
  EXPECT_EQ(graph.edge_count(), 2u);
  EXPECT_EQ(graph.node_of(PageId(4)), DependencyGraph::kNoNode);  // nothing left behind
}

TEST(DependencyGraphTest, RefusesALongCycleAndStaysUsable) {
  DependencyGraph graph;
  std::vector<Edge> edges;
  for (std::uint64_t page = 1; page < 1000; ++page) {
    edges.push_back(data_edge(page, page, page + 1));
    ASSERT_TRUE(graph.add_edge(edges.back()).is_ok());
  }
  Status cycle = graph.add_edge(data_edge(5000, 1000, 1));
  EXPECT_EQ(cycle.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cycle.message().find("would close the cycle 1000 -> 1 -> 2 -> 3"), std::string::npos)
      << cycle.message();
  EXPECT_NE(cycle.message().find("(1000 pages)"), std::string::npos) << cycle.message();
  EXPECT_EQ(graph.edge_count(), 999u);
  expect_topological(graph, edges);
  // A control edge closing the same cycle is refused too; a shortcut is not a cycle.
  EXPECT_FALSE(
      graph.add_edge(Edge{EdgeId(5001), kEdgeKindControl, PageId(500), PageId(2)}).is_ok());
  edges.push_back(data_edge(5002, 2, 900));
  EXPECT_TRUE(graph.add_edge(edges.back()).is_ok());
  expect_topological(graph, edges);
}

TEST(DependencyGraphTest, IgnoresEdgesOfOtherKinds) {
  DependencyGraph graph;
  EXPECT_TRUE(graph.add_edge(Edge{EdgeId(1), kEdgeKindUserFirst, PageId(1), PageId(1)}).is_ok());
  EXPECT_EQ(graph.edge_count(), 0u);
  EXPECT_EQ(graph.node_of(PageId(1)), DependencyGraph::kNoNode);
}

TEST(DependencyGraphTest, UndoRestoresTheEdgesOfTheMark) {
  DependencyGraph graph;
  ASSERT_TRUE(graph.add_edge(data_edge(1, 1, 2)).is_ok());
  ASSERT_TRUE(graph.add_edge(data_edge(2, 2, 3)).is_ok());
  const std::size_t mark = graph.mark();
  graph.remove_edge(data_edge(1, 1, 2));
  ASSERT_TRUE(graph.add_edge(data_edge(3, 3, 1)).is_ok());  // legal once 1 -> 2 is gone
  ASSERT_TRUE(graph.add_edge(data_edge(4, 4, 2)).is_ok());
  graph.undo_to(mark);
  EXPECT_EQ(graph.edge_count(), 2u);
  EXPECT_EQ(graph.node_of(PageId(4)), DependencyGraph::kNoNode);
  expect_topological(graph, {data_edge(1, 1, 2), data_edge(2, 2, 3)});
  const auto& parents = graph.parents(graph.node_of(PageId(2)));
  ASSERT_EQ(parents.size(), 1u);
  EXPECT_EQ(parents[0].edge, EdgeId(1));
  EXPECT_FALSE(graph.add_edge(data_edge(5, 3, 1)).is_ok());
}

TEST(DependencyGraphTest, BuildRefusesACyclicState) {
  state::ForkCore fork{State{}};
  (void)fork.create_page({.size_bytes = 1}).value();
  (void)fork.create_page({.size_bytes = 1}).value();
  (void)fork.add_edge(kEdgeKindData, PageId(1), PageId(2)).value();
  (void)fork.add_edge(kEdgeKindControl, PageId(2), PageId(1)).value();
  DependencyGraph graph;
  Status built = graph.build(fork.commit());
  EXPECT_EQ(built.code(), StatusCode::kCorruption);
  EXPECT_NE(built.message().find("would close the cycle"), std::string::npos);
}

// Does `to` reach `from` through `edges`? (A plain search: the reference.)
bool reaches(const std::set<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>>& edges,
             std::uint64_t start, std::uint64_t goal) {
  std::vector<std::uint64_t> stack{start};
  std::set<std::uint64_t> seen{start};
  while (!stack.empty()) {
    std::uint64_t page = stack.back();
    stack.pop_back();
    if (page == goal) return true;
    for (const auto& [id, from, to] : edges) {
      if (from == page && seen.insert(to).second) stack.push_back(to);
    }
  }
  return false;
}

RC_GTEST_PROP(DependencyGraphProperty, AcceptsExactlyTheEdgesThatCloseNoCycle, ()) {
  // (operation: 0 removes an edge, else adds one; two pages)
  const auto steps = *rc::gen::container<std::vector<std::tuple<int, int, int>>>(rc::gen::tuple(
      rc::gen::inRange(0, 4), rc::gen::inRange(1, 30), rc::gen::inRange(1, 30)));
  DependencyGraph graph;
  std::set<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>> edges;  // id, from, to
  std::uint64_t next_id = 1;
  for (const auto& [operation, a, b] : steps) {
    if (operation == 0 && !edges.empty()) {
      auto victim = edges.begin();
      std::advance(victim, (a * 7 + b) % edges.size());
      const auto [id, from, to] = *victim;
      graph.remove_edge(data_edge(id, from, to));
      edges.erase(victim);
      continue;
    }
    const std::uint64_t from = a, to = b;
    const bool cycle = reaches(edges, to, from);
    Status added = graph.add_edge(data_edge(next_id, from, to));
    RC_ASSERT(added.is_ok() == !cycle);
    if (added.is_ok()) edges.emplace(next_id, from, to);
    ++next_id;
    RC_ASSERT(graph.edge_count() == edges.size());
    for (const auto& [id, f, t] : edges) {
      RC_ASSERT(graph.order_of(graph.node_of(PageId(f))) <
                graph.order_of(graph.node_of(PageId(t))));
    }
  }
}

}  // namespace
}  // namespace mmsb::graph

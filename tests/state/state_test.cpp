#include <gtest/gtest.h>

#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"

namespace mmsb {
namespace {

using test::bytes_of;
using test::filled;

TEST(StateTest, EmptyStateHasNothing) {
  State state;
  EXPECT_EQ(state.tick(), TickId(0));
  EXPECT_EQ(state.page_count(), 0u);
  EXPECT_EQ(state.edge_count(), 0u);
  EXPECT_EQ(state.next_page_id(), PageId(1));
  EXPECT_EQ(state.next_edge_id(), EdgeId(1));
  EXPECT_FALSE(state.contains(PageId(1)));
  EXPECT_EQ(state.options().page_size_max_bytes, kPageSizeMaxDefaultBytes);
  EXPECT_NE(state.options().allocator, nullptr);
  EXPECT_EQ(state.root(), State().root());
}

TEST(StateTest, OptionsAreValidated) {
  EXPECT_EQ(State::empty({.page_size_max_bytes = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(State::empty({.page_size_max_bytes = kPageSizeHardMaxBytes + 1}).status().code(),
            StatusCode::kInvalidArgument);
  State small = State::empty({.page_size_max_bytes = 128}).value();
  EXPECT_EQ(small.options().page_size_max_bytes, 128u);
  Fork fork(small);
  EXPECT_EQ(fork.create_page({.size_bytes = 129}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fork.create_page({.size_bytes = 128}).is_ok());
}

TEST(StateTest, MissingThingsAreNotFoundByName) {
  State state;
  EXPECT_EQ(state.page(PageId(42)).status().message(), "page 42 does not exist");
  EXPECT_EQ(state.read(PageId(42)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(state.edge(EdgeId(9)).status().message(), "edge 9 does not exist");
  EXPECT_TRUE(state.edges_of(PageId(42)).empty());
}

TEST(StateTest, ReadsAreZeroCopyAndStable) {
  Fork fork{State{}};
  PageId page = fork.create_page({.type = 5, .size_bytes = 4, .initial = bytes_of("abcd")}).value();
  State state = fork.commit();
  PageView view = state.page(page).value();
  EXPECT_EQ(view.id, page);
  EXPECT_EQ(view.type, 5u);
  EXPECT_EQ(view.size_bytes, 4u);
  EXPECT_EQ(view.epoch, Epoch(0));
  EXPECT_EQ(view.location, Location::kHost);
  EXPECT_EQ(test::to_vector(view.bytes), bytes_of("abcd"));
  EXPECT_EQ(state.read(page)->data(), view.bytes.data());  // same storage, no copy
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(view.bytes.data()) % kPayloadAlignment, 0u);
}

TEST(StateTest, IterationIsInIdOrder) {
  Fork fork{State{}};
  for (int i = 0; i < 200; ++i) (void)fork.create_page({.size_bytes = 8}).value();
  (void)fork.delete_page(PageId(100));
  EdgeId e1 = fork.add_edge(kEdgeKindUserFirst, PageId(3), PageId(1)).value();
  EdgeId e2 = fork.add_edge(kEdgeKindUserFirst, PageId(1), PageId(2)).value();
  State state = fork.commit();
  std::vector<std::uint64_t> ids;
  state.for_each_page([&](const PageView& page) { ids.push_back(page.id.value()); });
  ASSERT_EQ(ids.size(), 199u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 100u), 0);
  std::vector<Edge> edges;
  state.for_each_edge([&](const Edge& edge) { edges.push_back(edge); });
  ASSERT_EQ(edges.size(), 2u);
  EXPECT_EQ(edges[0].id, e1);
  EXPECT_EQ(edges[1].id, e2);
  std::vector<Edge> of_one = state.edges_of(PageId(1));
  ASSERT_EQ(of_one.size(), 2u);
  EXPECT_EQ(of_one[0], (Edge{e1, kEdgeKindUserFirst, PageId(3), PageId(1)}));
}

TEST(StateTest, ApplyIsOneTickAndLeavesTheOldStateAlone) {
  Fork fork{State{}};
  PageId page = fork.create_page({.size_bytes = 8, .initial = bytes_of("........")}).value();
  State v1 = fork.commit();
  Delta delta = Delta::from_runs(page, Epoch(0), {{2, 3}}, bytes_of("abc"));
  State v2 = v1.apply(delta).value();
  EXPECT_EQ(v2.tick(), TickId(v1.tick().value() + 1));
  EXPECT_EQ(test::to_vector(*v2.read(page)), bytes_of("..abc..."));
  EXPECT_EQ(v2.page(page)->epoch, Epoch(1));
  EXPECT_EQ(test::to_vector(*v1.read(page)), bytes_of("........"));
  EXPECT_NE(v1.root(), v2.root());
}

TEST(StateTest, ApplyRejectsBadDeltasWithoutChange) {
  Fork fork{State{}};
  PageId page = fork.create_page({.size_bytes = 8}).value();
  State v1 = fork.commit();
  auto stale = v1.apply(Delta::from_runs(page, Epoch(3), {{0, 1}}, bytes_of("x")));
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);
  EXPECT_EQ(stale.status().message(),
            "page 1: delta computed against epoch 3 but the page is at epoch 0");
  auto missing = v1.apply(Delta::from_runs(PageId(77), Epoch(0), {{0, 1}}, bytes_of("x")));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto outside = v1.apply(Delta::from_runs(page, Epoch(0), {{6, 4}}, bytes_of("wxyz")));
  EXPECT_EQ(outside.status().message(), "page 1: delta run 0 [6,10) exceeds page size 8");
  EXPECT_EQ(test::to_vector(*v1.read(page)), filled(8, 0));
}

TEST(StateTest, SnapshotIsTheSameVersion) {
  Fork fork{State{}};
  (void)fork.create_page({.size_bytes = 8}).value();
  State state = fork.commit();
  Snapshot snapshot = state.snapshot();
  EXPECT_TRUE(snapshot.same_version(state));
  EXPECT_EQ(snapshot.root(), state.root());
  EXPECT_FALSE(snapshot.same_version(State()));
}

}  // namespace
}  // namespace mmsb

#include <gtest/gtest.h>

#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"

namespace mmsb {
namespace {

using test::bytes_of;
using test::filled;
using test::to_vector;

class MergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Fork builder{State{}};
    for (int i = 0; i < 30; ++i) (void)builder.create_page({.type = 1, .size_bytes = 16}).value();
    base_ = builder.commit();
  }

  // A State one tick after base_ made by `change`.
  template <typename Change>
  State side(Change&& change) {
    Fork fork(base_);
    change(fork);
    return fork.commit();
  }

  static void write(Fork& fork, std::uint64_t page, std::uint64_t offset, std::string_view text) {
    ASSERT_TRUE(fork.write(PageId(page), offset, bytes_of(text)).is_ok());
  }

  State base_;
};

TEST_F(MergeTest, TheirsUnchangedKeepsOurs) {
  State ours = side([](Fork& f) { write(f, 1, 0, "o"); });
  MergeResult result = merge(base_, ours, base_).value();
  EXPECT_EQ(result.path, MergePath::kTheirsUnchanged);
  EXPECT_EQ(result.state.tick().value(), ours.tick().value() + 1);
  EXPECT_EQ(result.state.read(PageId(1))->data(), ours.read(PageId(1))->data());
}

TEST_F(MergeTest, OursUnchangedTakesTheirsOneTickLater) {
  State theirs = side([](Fork& f) { write(f, 1, 0, "t"); });
  MergeResult result = merge(base_, base_, theirs).value();
  EXPECT_EQ(result.path, MergePath::kOursUnchanged);
  EXPECT_EQ(result.state.tick().value(), base_.tick().value() + 1);
  EXPECT_EQ(result.state.read(PageId(1))->data(), theirs.read(PageId(1))->data());
  EXPECT_EQ(result.state.page(PageId(1))->epoch, Epoch(1));
}

TEST_F(MergeTest, DisjointPagesTakeEachSide) {
  State ours = side([](Fork& f) { write(f, 1, 0, "o"); });
  State theirs = side([](Fork& f) { write(f, 2, 0, "t"); });
  MergeResult result = merge(base_, ours, theirs).value();
  EXPECT_EQ(result.path, MergePath::kThreeWay);
  EXPECT_EQ(result.pages_taken_from_theirs, 1u);
  EXPECT_EQ(result.pages_merged, 0u);
  EXPECT_EQ(result.state.tick().value(), ours.tick().value() + 1);
  EXPECT_EQ(result.state.read(PageId(1)).value()[0], std::byte{'o'});
  EXPECT_EQ(result.state.read(PageId(2)).value()[0], std::byte{'t'});
  EXPECT_EQ(result.state.read(PageId(2))->data(), theirs.read(PageId(2))->data());  // shared
  EXPECT_EQ(result.state.page(PageId(2))->epoch, Epoch(1));
}

TEST_F(MergeTest, DisjointRangesOfOnePageCombine) {
  State ours = side([](Fork& f) { write(f, 1, 0, "oo"); });
  State theirs = side([](Fork& f) { write(f, 1, 8, "tt"); });
  MergeResult result = merge(base_, ours, theirs).value();
  EXPECT_EQ(result.pages_merged, 1u);
  EXPECT_EQ(result.clashes_resolved, 0u);
  auto expected = filled(16, 0);
  expected[0] = expected[1] = std::byte{'o'};
  expected[8] = expected[9] = std::byte{'t'};
  EXPECT_EQ(to_vector(*result.state.read(PageId(1))), expected);
  EXPECT_EQ(result.state.page(PageId(1))->epoch, Epoch(2));
}

TEST_F(MergeTest, OverlapFailsNamingPageAndRanges) {
  State ours = side([](Fork& f) { write(f, 3, 2, "oooo"); });
  State theirs = side([](Fork& f) { write(f, 3, 4, "tttt"); });
  auto result = merge(base_, ours, theirs);
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.status().code(), StatusCode::kConflict);
  EXPECT_EQ(result.status().message(), "merge: 1 clash: page 3 bytes [4,6) changed on both sides");
}

TEST_F(MergeTest, PreferPoliciesSettleOverlapsAndKeepTheRest) {
  State ours = side([](Fork& f) { write(f, 3, 2, "oooo"); });
  State theirs = side([](Fork& f) { write(f, 3, 4, "tttt"); });
  MergeResult prefer_ours =
      merge(base_, ours, theirs, {.policy = MergePolicy::kPreferOurs}).value();
  MergeResult prefer_theirs =
      merge(base_, ours, theirs, {.policy = MergePolicy::kPreferTheirs}).value();
  EXPECT_EQ(to_vector(prefer_ours.state.read(PageId(3))->subspan(0, 10)),
            bytes_of(std::string_view("\0\0oooott\0\0", 10)));
  EXPECT_EQ(to_vector(prefer_theirs.state.read(PageId(3))->subspan(0, 10)),
            bytes_of(std::string_view("\0\0oott"
                                      "tt\0\0",
                                      10)));
  EXPECT_EQ(prefer_ours.clashes_resolved, 1u);
  EXPECT_EQ(prefer_theirs.clashes_resolved, 1u);
}

TEST_F(MergeTest, CustomResolverSeesTheClash) {
  State ours = side([](Fork& f) { write(f, 3, 2, "oooo"); });
  State theirs = side([](Fork& f) { write(f, 3, 4, "tttt"); });
  MergeOptions options{.policy = MergePolicy::kCustom,
                       .resolve = [](const PageClash& clash) -> Result<std::vector<std::byte>> {
                         EXPECT_EQ(clash.page, PageId(3));
                         EXPECT_EQ(clash.ranges, (std::vector<ByteRange>{{4, 2}}));
                         EXPECT_EQ(clash.base[4], std::byte{0});
                         EXPECT_EQ(clash.ours[4], std::byte{'o'});
                         EXPECT_EQ(clash.theirs[4], std::byte{'t'});
                         return filled(16, 'c');
                       }};
  MergeResult result = merge(base_, ours, theirs, options).value();
  EXPECT_EQ(to_vector(*result.state.read(PageId(3))), filled(16, 'c'));

  options.resolve = [](const PageClash&) -> Result<std::vector<std::byte>> {
    return filled(3, 'c');
  };
  EXPECT_EQ(merge(base_, ours, theirs, options).status().message(),
            "merge: resolver returned 3 bytes for page 3 of 16 bytes");
  options.resolve = [](const PageClash&) -> Result<std::vector<std::byte>> {
    return failed_precondition("no");
  };
  EXPECT_EQ(merge(base_, ours, theirs, options).status().code(), StatusCode::kFailedPrecondition);
  options.resolve = nullptr;
  EXPECT_EQ(merge(base_, ours, theirs, options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(MergeTest, IdenticalChangesAreTakenOnce) {
  State ours = side([](Fork& f) { write(f, 4, 0, "same"); });
  State theirs = side([](Fork& f) { write(f, 4, 0, "same"); });
  MergeResult result = merge(base_, ours, theirs).value();
  EXPECT_EQ(result.state.read(PageId(4))->data(), ours.read(PageId(4))->data());
  EXPECT_EQ(result.state.page(PageId(4))->epoch, Epoch(1));
  EXPECT_EQ(result.pages_merged, 0u);
}

TEST_F(MergeTest, DeleteAgainstModifyFollowsThePolicy) {
  State ours = side([](Fork& f) { ASSERT_TRUE(f.delete_page(PageId(5)).is_ok()); });
  State theirs = side([](Fork& f) { write(f, 5, 0, "t"); });
  EXPECT_EQ(merge(base_, ours, theirs).status().message(),
            "merge: 1 clash: page 5 deleted in ours, changed in theirs");
  EXPECT_FALSE(
      merge(base_, ours, theirs, {.policy = MergePolicy::kPreferOurs})->state.contains(PageId(5)));
  State kept = merge(base_, ours, theirs, {.policy = MergePolicy::kPreferTheirs})->state;
  EXPECT_EQ(kept.read(PageId(5)).value()[0], std::byte{'t'});
  // And the other way round.
  EXPECT_EQ(merge(base_, theirs, ours).status().message(),
            "merge: 1 clash: page 5 deleted in theirs, changed in ours");
  EXPECT_TRUE(
      merge(base_, theirs, ours, {.policy = MergePolicy::kPreferOurs})->state.contains(PageId(5)));
}

TEST_F(MergeTest, DeletesOnEitherSideAreKept) {
  State ours = side([](Fork& f) {
    ASSERT_TRUE(f.delete_page(PageId(6)).is_ok());
    write(f, 1, 0, "o");
  });
  State theirs = side([](Fork& f) {
    ASSERT_TRUE(f.delete_page(PageId(6)).is_ok());
    ASSERT_TRUE(f.delete_page(PageId(7)).is_ok());
  });
  State merged = merge(base_, ours, theirs)->state;
  EXPECT_FALSE(merged.contains(PageId(6)));
  EXPECT_FALSE(merged.contains(PageId(7)));
  EXPECT_EQ(merged.page_count(), 28u);
}

TEST_F(MergeTest, TheirNewPagesAndEdgesGetFreshIds) {
  State ours = side([](Fork& f) {
    PageId mine = f.create_page({.size_bytes = 4, .initial = bytes_of("ours")}).value();
    (void)f.add_edge(kEdgeKindUserFirst, PageId(1), mine).value();
  });
  State theirs = side([](Fork& f) {
    PageId a = f.create_page({.size_bytes = 4, .initial = bytes_of("aaaa")}).value();
    PageId b = f.create_page({.size_bytes = 4, .initial = bytes_of("bbbb")}).value();
    (void)f.add_edge(kEdgeKindUserFirst, a, b).value();
    (void)f.add_edge(kEdgeKindUserFirst, PageId(2), PageId(3)).value();
  });
  MergeResult result = merge(base_, ours, theirs).value();
  const State& merged = result.state;
  EXPECT_EQ(result.page_remap, (std::vector<IdRemap>{{31, 32}, {32, 33}}));
  EXPECT_EQ(result.edge_remap, (std::vector<IdRemap>{{1, 2}, {2, 3}}));
  EXPECT_EQ(to_vector(*merged.read(PageId(31))), bytes_of("ours"));
  EXPECT_EQ(to_vector(*merged.read(PageId(32))), bytes_of("aaaa"));
  EXPECT_EQ(to_vector(*merged.read(PageId(33))), bytes_of("bbbb"));
  EXPECT_EQ(merged.edge(EdgeId(2)).value(),
            (Edge{EdgeId(2), kEdgeKindUserFirst, PageId(32), PageId(33)}));
  EXPECT_EQ(merged.edge(EdgeId(3)).value(),
            (Edge{EdgeId(3), kEdgeKindUserFirst, PageId(2), PageId(3)}));
  EXPECT_EQ(merged.next_page_id(), PageId(34));
  EXPECT_EQ(merged.next_edge_id(), EdgeId(4));
  EXPECT_EQ(merged.edges_of(PageId(33)).size(), 1u);
}

TEST_F(MergeTest, IdenticalNewEdgesCollapse) {
  State ours =
      side([](Fork& f) { (void)f.add_edge(kEdgeKindUserFirst, PageId(1), PageId(2)).value(); });
  State theirs =
      side([](Fork& f) { (void)f.add_edge(kEdgeKindUserFirst, PageId(1), PageId(2)).value(); });
  MergeResult result = merge(base_, ours, theirs).value();
  EXPECT_EQ(result.state.edge_count(), 1u);
  EXPECT_EQ(result.edge_remap, (std::vector<IdRemap>{{1, 1}}));
}

TEST_F(MergeTest, EdgeToAPageDeletedOnTheOtherSide) {
  State ours = side([](Fork& f) { ASSERT_TRUE(f.delete_page(PageId(8)).is_ok()); });
  State theirs =
      side([](Fork& f) { (void)f.add_edge(kEdgeKindUserFirst, PageId(1), PageId(8)).value(); });
  EXPECT_EQ(merge(base_, ours, theirs).status().message(),
            "merge: 1 clash: edge 1 (1 -> 8) added in theirs to a page deleted in ours");
  MergeResult dropped = merge(base_, ours, theirs, {.policy = MergePolicy::kPreferOurs}).value();
  EXPECT_EQ(dropped.state.edge_count(), 0u);
  EXPECT_EQ(dropped.clashes_resolved, 1u);
}

TEST_F(MergeTest, EdgesRemovedByTheirsAreRemoved) {
  Fork builder(base_);
  EdgeId edge = builder.add_edge(kEdgeKindUserFirst, PageId(1), PageId(2)).value();
  State with_edge = builder.commit();
  Fork ours_fork(with_edge);
  ASSERT_TRUE(ours_fork.write(PageId(9), 0, bytes_of("o")).is_ok());
  Fork theirs_fork(with_edge);
  ASSERT_TRUE(theirs_fork.remove_edge(edge).is_ok());
  State merged = merge(with_edge, ours_fork.commit(), theirs_fork.commit())->state;
  EXPECT_EQ(merged.edge_count(), 0u);
  EXPECT_TRUE(merged.edges_of(PageId(1)).empty());
}

TEST_F(MergeTest, RejectsABaseThatIsNotAForkPoint) {
  State later = side([](Fork& f) { (void)f.create_page({.size_bytes = 1}).value(); });
  auto result = merge(later, base_, base_);
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(),
            "merge: base is not a fork point of ours: its id counters are ahead");
}

TEST_F(MergeTest, LongClashListsAreCapped) {
  State ours = side([](Fork& f) {
    for (std::uint64_t page = 1; page <= 20; ++page) write(f, page, 0, "o");
  });
  State theirs = side([](Fork& f) {
    for (std::uint64_t page = 1; page <= 20; ++page) write(f, page, 0, "t");
  });
  std::string message = merge(base_, ours, theirs).status().message();
  EXPECT_EQ(message.rfind("merge: 20 clashes: page 1 bytes [0,1)", 0), 0u) << message;
  EXPECT_NE(message.find("page 16 bytes"), std::string::npos);
  EXPECT_EQ(message.find("page 17 bytes"), std::string::npos);
  EXPECT_NE(message.find("; and 4 more"), std::string::npos);
}

}  // namespace
}  // namespace mmsb

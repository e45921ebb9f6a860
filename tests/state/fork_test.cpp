#include <gtest/gtest.h>

#include <map>
#include <set>

#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"

namespace mmsb {
namespace {

using test::bytes_of;
using test::filled;

class ForkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Fork builder{State{}};
    for (int i = 0; i < 10; ++i) {
      pages_.push_back(builder.create_page({.type = 2, .size_bytes = 16}).value());
    }
    base_ = builder.commit();
  }

  State base_;
  std::vector<PageId> pages_;
};

TEST_F(ForkTest, CreatePageAssignsIdsInOrderAndValidates) {
  Fork fork(base_);
  EXPECT_EQ(fork.create_page({.size_bytes = 4}).value(), PageId(11));
  EXPECT_EQ(fork.create_page({.size_bytes = 4}).value(), PageId(12));
  auto zero = fork.create_page({.size_bytes = 0});
  EXPECT_EQ(zero.status().message(), "new page: size 0 bytes is outside [1, 67108864]");
  auto too_big = fork.create_page({.size_bytes = kPageSizeMaxDefaultBytes + 1});
  EXPECT_EQ(too_big.status().code(), StatusCode::kInvalidArgument);
  auto wrong_initial = fork.create_page({.size_bytes = 4, .initial = bytes_of("abc")});
  EXPECT_EQ(wrong_initial.status().message(),
            "new page: initial content of 3 bytes for a page of 4 bytes");
  EXPECT_EQ(fork.create_page({.size_bytes = 4}).value(), PageId(13));  // failures used no id
}

TEST_F(ForkTest, WriteAndPutValidateRanges) {
  Fork fork(base_);
  PageId page = pages_[0];
  EXPECT_EQ(fork.write(page, 14, bytes_of("abc")).message(),
            "page 1: write [14,17) exceeds page size 16");
  EXPECT_EQ(fork.write(page, ~std::uint64_t{0}, bytes_of("a")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(fork.write(PageId(99), 0, bytes_of("a")).code(), StatusCode::kNotFound);
  EXPECT_EQ(fork.put(page, bytes_of("short")).message(),
            "page 1: put of 5 bytes into a page of 16 bytes");
  EXPECT_EQ(fork.put(PageId(99), filled(16, 1)).code(), StatusCode::kNotFound);
  EXPECT_FALSE(fork.has_uncommitted_changes());  // failures changed nothing
  EXPECT_TRUE(fork.write(page, 13, bytes_of("abc")).is_ok());
  EXPECT_TRUE(fork.put(pages_[1], filled(16, 7)).is_ok());
  EXPECT_TRUE(fork.has_uncommitted_changes());
  EXPECT_EQ(test::to_vector(*fork.read(pages_[1])), filled(16, 7));
}

TEST_F(ForkTest, FirstWriteCopiesThatPageOnly) {
  Fork fork(base_);
  ASSERT_TRUE(fork.write(pages_[3], 0, bytes_of("x")).is_ok());
  EXPECT_NE(fork.read(pages_[3])->data(), base_.read(pages_[3])->data());
  for (PageId other : pages_) {
    if (other == pages_[3]) continue;
    EXPECT_EQ(fork.read(other)->data(), base_.read(other)->data()) << other;
  }
  const std::byte* copy = fork.read(pages_[3])->data();
  ASSERT_TRUE(fork.write(pages_[3], 1, bytes_of("y")).is_ok());
  EXPECT_EQ(fork.read(pages_[3])->data(), copy);  // second write in the tick: in place
  EXPECT_EQ(test::to_vector(*base_.read(pages_[3])), filled(16, 0));
}

TEST_F(ForkTest, EpochBumpsOncePerTickWithChangedBytes) {
  Fork fork(base_);
  ASSERT_TRUE(fork.write(pages_[0], 0, bytes_of("a")).is_ok());
  ASSERT_TRUE(fork.write(pages_[0], 1, bytes_of("b")).is_ok());
  State t1 = fork.commit();
  EXPECT_EQ(t1.page(pages_[0])->epoch, Epoch(1));
  EXPECT_EQ(t1.page(pages_[1])->epoch, Epoch(0));
  EXPECT_EQ(t1.tick(), TickId(base_.tick().value() + 1));
  // Writing the bytes it already has is not a change: no bump, the record stays shared.
  ASSERT_TRUE(fork.write(pages_[0], 0, bytes_of("ab")).is_ok());
  State t2 = fork.commit();
  EXPECT_EQ(t2.page(pages_[0])->epoch, Epoch(1));
  EXPECT_EQ(t2.read(pages_[0])->data(), t1.read(pages_[0])->data());
  ASSERT_TRUE(fork.write(pages_[0], 0, bytes_of("c")).is_ok());
  State t3 = fork.commit();
  EXPECT_EQ(t3.page(pages_[0])->epoch, Epoch(2));
  EXPECT_EQ(t2.tick().value() + 1, t3.tick().value());
}

TEST_F(ForkTest, ApplyChecksEpochAndRange) {
  Fork fork(base_);
  Delta delta = Delta::from_runs(pages_[0], Epoch(0), {{0, 2}}, bytes_of("hi"));
  ASSERT_TRUE(fork.apply(delta).is_ok());
  ASSERT_TRUE(fork.apply(delta).is_ok());  // same tick: still against epoch 0
  State t1 = fork.commit();
  EXPECT_EQ(fork.apply(delta).code(), StatusCode::kConflict);  // page is now at epoch 1
  Delta bad = Delta::from_runs(pages_[0], Epoch(1), {{15, 2}}, bytes_of("hi"));
  EXPECT_EQ(fork.apply(bad).message(), "page 1: delta run 0 [15,17) exceeds page size 16");
  EXPECT_EQ(fork.apply(Delta::from_runs(PageId(99), Epoch(0), {}, {})).code(),
            StatusCode::kNotFound);
  EXPECT_FALSE(fork.has_uncommitted_changes());
  EXPECT_EQ(test::to_vector(*fork.read(pages_[0])).at(0), std::byte{'h'});
  (void)t1;
}

TEST_F(ForkTest, MutableBytesCopiesOnFirstUse) {
  Fork fork(base_);
  std::span<std::byte> bytes = fork.mutable_bytes(pages_[2]).value();
  bytes[0] = std::byte{9};
  EXPECT_EQ(base_.read(pages_[2]).value()[0], std::byte{0});
  EXPECT_EQ(fork.commit().read(pages_[2]).value()[0], std::byte{9});
  EXPECT_EQ(fork.mutable_bytes(PageId(99)).status().code(), StatusCode::kNotFound);
}

TEST_F(ForkTest, EdgesNeedExistingPagesAndDieWithThem) {
  Fork fork(base_);
  EXPECT_EQ(fork.add_edge(kEdgeKindUserFirst, pages_[0], PageId(99)).status().message(),
            "new edge 1 -> 99: page 99 does not exist");
  EdgeId a = fork.add_edge(kEdgeKindUserFirst, pages_[0], pages_[1]).value();
  EdgeId b = fork.add_edge(kEdgeKindUserFirst, pages_[1], pages_[2]).value();
  EdgeId self = fork.add_edge(kEdgeKindUserFirst, pages_[1], pages_[1]).value();
  EXPECT_EQ(fork.edges_of(pages_[1]).size(), 3u);
  EXPECT_EQ(fork.remove_edge(EdgeId(99)).message(), "edge 99 does not exist");
  ASSERT_TRUE(fork.remove_edge(self).is_ok());
  ASSERT_TRUE(fork.delete_page(pages_[1]).is_ok());
  EXPECT_EQ(fork.edge_count(), 0u);
  EXPECT_EQ(fork.edge(a).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fork.edge(b).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(fork.edges_of(pages_[0]).empty());
  EXPECT_TRUE(fork.edges_of(pages_[2]).empty());
  EXPECT_EQ(fork.delete_page(pages_[1]).code(), StatusCode::kNotFound);
  State after = fork.commit();
  EXPECT_EQ(after.page_count(), 9u);
  EXPECT_EQ(after.next_edge_id(), EdgeId(4));  // ids are never reused
}

TEST_F(ForkTest, WritesNeverLeakIntoTheBaseOrEarlierCommits) {
  Hash128 base_root = base_.root();
  Snapshot snapshot = base_.snapshot();
  Fork fork(base_);
  ASSERT_TRUE(fork.put(pages_[0], filled(16, 1)).is_ok());
  State t1 = fork.commit();
  ASSERT_TRUE(fork.put(pages_[0], filled(16, 2)).is_ok());
  ASSERT_TRUE(fork.delete_page(pages_[5]).is_ok());
  (void)fork.create_page({.size_bytes = 3}).value();
  State t2 = fork.commit();
  EXPECT_EQ(base_.root(), base_root);
  EXPECT_EQ(snapshot.root(), base_root);
  EXPECT_EQ(test::to_vector(*base_.read(pages_[0])), filled(16, 0));
  EXPECT_EQ(test::to_vector(*t1.read(pages_[0])), filled(16, 1));
  EXPECT_TRUE(t1.contains(pages_[5]));
  EXPECT_EQ(test::to_vector(*t2.read(pages_[0])), filled(16, 2));
  EXPECT_EQ(fork.base().root(), base_root);
  EXPECT_TRUE(fork.head().same_version(t2));
}

TEST_F(ForkTest, CommitWithoutChangesStillAdvancesTheTick) {
  Fork fork(base_);
  State next = fork.commit();
  EXPECT_EQ(next.tick().value(), base_.tick().value() + 1);
  EXPECT_NE(next.root(), base_.root());  // the tick is part of the root
  EXPECT_EQ(next.page_count(), base_.page_count());
}

}  // namespace
}  // namespace mmsb

namespace mmsb {
namespace {

// An allocator that refuses once its budget of blocks is spent.
class BudgetAllocator final : public PayloadAllocator {
 public:
  explicit BudgetAllocator(int blocks) : blocks_left_(blocks) {}
  std::byte* allocate(std::size_t size_bytes) override {
    if (blocks_left_ == 0) return nullptr;
    --blocks_left_;
    ++stats_.allocations;
    return default_payload_allocator().allocate(size_bytes);
  }
  void deallocate(std::byte* block, std::size_t size_bytes) noexcept override {
    ++stats_.deallocations;
    default_payload_allocator().deallocate(block, size_bytes);
  }
  AllocatorStats stats() const override { return stats_; }
  void grant(int blocks) { blocks_left_ += blocks; }

 private:
  int blocks_left_;
  AllocatorStats stats_;
};

TEST(ForkAllocatorTest, ExhaustedAllocatorFailsCleanly) {
  BudgetAllocator allocator(2);
  {
    State empty = State::empty({.allocator = &allocator}).value();
    Fork fork(empty);
    PageId a = fork.create_page({.size_bytes = 100}).value();
    State v1 = fork.commit();
    PageId b = fork.create_page({.size_bytes = 100}).value();
    auto refused = fork.create_page({.size_bytes = 100});
    EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(refused.status().message(), "new page: allocator refused 100 bytes");
    State v2 = fork.commit();
    // Page a is shared with v1, so writing it needs a copy, which the allocator refuses.
    Status write = fork.write(a, 0, test::bytes_of("x"));
    EXPECT_EQ(write.code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(write.message(), "page 1: allocator refused 100 bytes for a copy");
    EXPECT_EQ(fork.read(a).value()[0], std::byte{0});
    EXPECT_EQ(v2.page_count(), 2u);
    EXPECT_EQ(v2.next_page_id(), PageId(3));  // the refused create used no id
    allocator.grant(1);
    EXPECT_TRUE(fork.write(a, 0, test::bytes_of("x")).is_ok());
    EXPECT_EQ(v1.read(a).value()[0], std::byte{0});
    (void)b;
  }
  AllocatorStats stats = allocator.stats();
  EXPECT_EQ(stats.allocations, 3u);
  EXPECT_EQ(stats.deallocations, 3u);  // every page's bytes went back
}

// The type index under runs of creations and deletions of mixed types, across commits: every
// committed State lists exactly the model's pages of each type, and keeps listing them after
// later ticks change the index (ForkCore keeps the entry it changed last for the next page
// of the same type within a tick).
TEST(ForkTypeIndexTest, RunsOfTypesAcrossTicksMatchAModel) {
  std::uint64_t seed = 11;
  auto next = [&] { return seed = seed * 6364136223846793005ull + 1442695040888963407ull; };
  Fork fork{State{}};
  std::map<PageType, std::set<std::uint64_t>> model;
  std::vector<std::pair<State, std::map<PageType, std::set<std::uint64_t>>>> committed;
  auto listed = [](const State& state, PageType type) {
    std::set<std::uint64_t> pages;
    state.for_each_page_of_type(type, [&](PageId page) { pages.insert(page.value()); });
    return pages;
  };
  for (int step = 0; step < 3000; ++step) {
    const std::uint64_t r = next() >> 33;
    const auto type = static_cast<PageType>(1 + (r % 7 < 5 ? 0 : r % 3));  // runs of type 1
    if (r % 5 == 0 && !model[type].empty()) {
      const std::uint64_t victim = *model[type].begin();
      ASSERT_TRUE(fork.delete_page(PageId(victim)).is_ok());
      model[type].erase(victim);
    } else {
      model[type].insert(fork.create_page({.type = type, .size_bytes = 8}).value().value());
    }
    if (r % 97 == 0) {
      committed.emplace_back(fork.commit(), model);
      // A type emptied and filled again within one tick.
      while (!model[3].empty()) {
        const std::uint64_t victim = *model[3].begin();
        ASSERT_TRUE(fork.delete_page(PageId(victim)).is_ok());
        model[3].erase(victim);
      }
      model[3].insert(fork.create_page({.type = 3, .size_bytes = 8}).value().value());
    }
  }
  committed.emplace_back(fork.commit(), model);
  ASSERT_GT(committed.size(), 10u);
  for (const auto& [state, expected] : committed) {
    for (PageType type = 1; type <= 3; ++type) {
      const auto found = expected.find(type);
      const std::set<std::uint64_t> want =
          found == expected.end() ? std::set<std::uint64_t>{} : found->second;
      EXPECT_EQ(listed(state, type), want)
          << "type " << type << " at tick " << state.tick().value();
      EXPECT_EQ(state.page_count_of_type(type), want.size());
    }
  }
}

}  // namespace
}  // namespace mmsb

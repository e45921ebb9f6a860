// The working version (state::ForkCore::working): ticks change in place the nodes no other
// version can reach. It must give the roots of the copying path, tick by tick, and a State
// published from it must never see a later tick's write, also while other threads read it
// (run under TSan by `make tsan` and in CI).
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "mmsb/mmsb.hpp"
#include "state/tables.hpp"
#include "support/rapidcheck_gtest.hpp"
#include "support/reference_root.hpp"
#include "support/tick_words.hpp"

namespace mmsb {
namespace {

using state::ForkCore;

// The same pages on every call (ids, sizes, bytes), so two bases share no node.
State make_base(int pages, std::uint64_t page_bytes) {
  Fork fork{State{}};
  for (int i = 0; i < pages; ++i) {
    std::vector<std::byte> initial(page_bytes, static_cast<std::byte>(i));
    (void)fork.create_page({.size_bytes = page_bytes, .initial = initial}).value();
  }
  return fork.commit();
}

// One operation, applied alike to both versions.
struct Op {
  int kind = 0;  // 0 write, 1 write back the page's own bytes, 2 create, 3 delete, 4 edge
  std::uint64_t page = 0;
  std::uint64_t other = 0;
  std::uint64_t offset = 0;
  std::vector<std::byte> bytes;
};

Status apply(ForkCore& fork, const Op& op) {
  const PageId page(op.page);
  switch (op.kind) {
    case 0:
      return fork.write(page, op.offset, op.bytes);
    case 1: {
      const state::PageRecord* record = fork.tables().find_page(page);
      if (record == nullptr) return not_found("no page");
      std::vector<std::byte> same(record->bytes().begin(), record->bytes().end());
      return fork.write(page, 0, same);
    }
    case 2:
      return fork.create_page({.size_bytes = 1 + op.offset}).status();
    case 3:
      return fork.delete_page(page);
    default:
      return fork.add_edge(kEdgeKindData, page, PageId(op.other)).status();
  }
}

Op random_op(std::uint64_t next_page) {
  Op op;
  op.kind = *rc::gen::weightedElement<int>({{8, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}});
  op.page = *rc::gen::inRange<std::uint64_t>(1, next_page + 1);
  op.other = *rc::gen::inRange<std::uint64_t>(1, next_page + 1);
  op.offset = *rc::gen::inRange<std::uint64_t>(0, 200);
  op.bytes = *rc::gen::container<std::vector<std::byte>>(
      *rc::gen::inRange<std::size_t>(1, 40),
      rc::gen::cast<std::byte>(rc::gen::arbitrary<unsigned char>()));
  return op;
}

RC_GTEST_PROP(WorkingVersionProperty, GivesTheRootsOfTheCopyingPathAndSnapshotsStayPut, ()) {
  const int pages = *rc::gen::inRange(1, 100);
  const std::uint64_t page_bytes = *rc::gen::inRange<std::uint64_t>(16, 300);
  ForkCore copying(make_base(pages, page_bytes));
  ForkCore working = ForkCore::working(make_base(pages, page_bytes));
  struct Held {
    State state;
    Hash128 root;
  };
  std::vector<Held> held;
  const int ticks = *rc::gen::inRange(1, 25);
  for (int t = 1; t <= ticks; ++t) {
    const int ops = *rc::gen::inRange(0, 30);
    for (int i = 0; i < ops; ++i) {
      const Op op = random_op(copying.tables().next_page_id);
      RC_ASSERT(apply(copying, op).code() == apply(working, op).code());
    }
    const State committed = copying.commit_as(TickId(t));
    const Hash128 copied = committed.root();
    RC_ASSERT(test::reference_root(committed) == copied);
    RC_ASSERT(working.seal(TickId(t)) == copied);
    // Snapshots come and go: a held one keeps its nodes shared, a dropped one frees them
    // for the next tick to claim.
    if (*rc::gen::inRange(0, 4) == 0) held.push_back({working.publish(), copied});
    if (!held.empty() && *rc::gen::inRange(0, 3) == 0) {
      held.erase(held.begin() + *rc::gen::inRange<std::size_t>(0, held.size()));
    }
  }
  for (const Held& snapshot : held) {
    RC_ASSERT(snapshot.state.root() == snapshot.root);
    RC_ASSERT(test::reference_root(snapshot.state) == snapshot.root);
  }
  RC_ASSERT(test::reference_root(working.publish()) == copying.head().root());
}

// The in-place path is taken: once no State holds the trie, a tick's write changes the
// nodes of the tick before instead of copying them; a held State stops that.
TEST(WorkingVersionTest, ClaimsTheNodesNoStateHolds) {
  ForkCore working = ForkCore::working(make_base(100, 64));
  const std::byte one[1] = {std::byte{1}};
  ASSERT_TRUE(working.write(PageId(7), 0, one).is_ok());
  working.seal(TickId(1));
  const state::RadixNode* root = working.tables().pages.root_node();
  ASSERT_TRUE(working.write(PageId(7), 1, one).is_ok());
  working.seal(TickId(2));
  EXPECT_EQ(working.tables().pages.root_node(), root) << "the unshared root was copied";

  const State held = working.publish();
  ASSERT_TRUE(working.write(PageId(7), 2, one).is_ok());
  const Hash128 root_after = working.seal(TickId(3));
  EXPECT_NE(working.tables().pages.root_node(), root) << "a node a State holds was changed";
  EXPECT_EQ(held.read(PageId(7)).value()[2], std::byte{6});  // make_base's byte for page 7
  EXPECT_EQ(test::reference_root(held), held.root());
  EXPECT_NE(held.root(), root_after);
}

TEST(WorkingVersionTest, PublishedStatesNeverSeeLaterInPlaceWrites) {
  constexpr int kPages = 48;
  constexpr std::uint64_t kPageBytes = 128;
  constexpr std::uint64_t kTicks = 3000;
  constexpr std::uint64_t kTickCap = 10'000'000;
  ForkCore working = ForkCore::working(make_base(kPages, kPageBytes));
  // make_base fills page i with byte i; make every word say tick 0 first.
  for (int i = 1; i <= kPages; ++i) {
    std::vector<std::byte> zero(kPageBytes);
    ASSERT_TRUE(working.write(PageId(i), 0, zero).is_ok());
  }
  working.seal(TickId(1));
  std::mutex mutex;
  State published = working.publish();
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<std::uint64_t> checks{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!done.load(std::memory_order_acquire)) {
        State snapshot;
        {
          std::lock_guard<std::mutex> lock(mutex);
          snapshot = published;
        }
        const Hash128 before = test::reference_root(snapshot);
        if (!test::words_hold_their_tick(snapshot, kPages) || before != snapshot.root())
          bad.fetch_add(1);
        std::this_thread::yield();
        if (test::reference_root(snapshot) != before) bad.fetch_add(1);
        checks.fetch_add(1);
      }
    });
  }
  // Seal until both enough ticks and enough checks happened: on a loaded machine the writer's
  // 3000 ticks take a few milliseconds and can end before a reader ran once.
  std::uint64_t seed = 5;
  for (std::uint64_t tick = 2; tick <= kTicks || checks.load() < 20; ++tick) {
    if (tick > kTickCap) break;  // readers never ran: the checks expectation below says so
    for (int i = 0; i < 4; ++i) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      std::vector<std::byte> words(kPageBytes);
      for (std::uint64_t at = 0; at < kPageBytes; at += sizeof(tick)) {
        std::memcpy(words.data() + at, &tick, sizeof(tick));
      }
      ASSERT_TRUE(working.write(PageId(1 + (seed >> 33) % kPages), 0, words).is_ok());
    }
    working.seal(TickId(tick));
    if (tick % 16 == 0) {
      State next = working.publish();
      std::lock_guard<std::mutex> lock(mutex);
      published = std::move(next);
    }
  }
  done.store(true, std::memory_order_release);
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GE(checks.load(), 20u) << "the readers barely ran while the writer sealed";
  EXPECT_EQ(test::reference_root(working.publish()), working.publish().root());
}

}  // namespace
}  // namespace mmsb

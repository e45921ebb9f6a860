// A page's content terms in the root (docs/FORMAT.md "State root") are kept as writes
// happen: a page's first write in a tick counts the chunks it touches before and after; a
// later write to a page of up to 64 chunks leaves its chunks pending and the seal counts them
// once (state::TickWrite::pending_chunks). Whatever a tick does to a page after such writes
// (write it again, apply a delta, take it whole with own_page, install another record over
// it, delete it, write its own bytes back), the root must be the one computed from scratch.
#include <algorithm>
#include <cstring>
#include <vector>

#include "mmsb/mmsb.hpp"
#include "state/tables.hpp"
#include "support/rapidcheck_gtest.hpp"
#include "support/reference_root.hpp"

namespace mmsb {
namespace {

using state::ForkCore;

// Pages of 60 to 5,000 bytes: short last chunks, and pages on both sides of 64 chunks.
State make_base(int pages) {
  Fork fork{State{}};
  for (int i = 0; i < pages; ++i) {
    const std::uint64_t size = 60 + (static_cast<std::uint64_t>(i) * 977) % 4941;
    std::vector<std::byte> initial(size, static_cast<std::byte>(i + 1));
    (void)fork.create_page({.type = 3, .size_bytes = size, .initial = initial}).value();
  }
  return fork.commit();
}

std::vector<std::byte> random_bytes(std::size_t size) {
  return *rc::gen::container<std::vector<std::byte>>(
      size, rc::gen::cast<std::byte>(rc::gen::arbitrary<unsigned char>()));
}

// One operation on `page` of `fork` (each one valid, so each must succeed).
void random_op(ForkCore& fork, PageId page) {
  const state::PageRecord* record = fork.tables().find_page(page);
  if (record == nullptr) return;
  const std::uint64_t size = record->size_bytes;
  const std::uint64_t offset = *rc::gen::inRange<std::uint64_t>(0, size);
  const std::size_t length =
      std::min<std::uint64_t>(size - offset, *rc::gen::inRange<std::uint64_t>(1, 130));
  switch (*rc::gen::weightedElement<int>({{12, 0}, {2, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}})) {
    case 0:  // a write
      RC_ASSERT(fork.write(page, offset, random_bytes(length)).is_ok());
      return;
    case 1: {  // the bytes the page has there, written back
      std::vector<std::byte> same(record->data + offset, record->data + offset + length);
      RC_ASSERT(fork.write(page, offset, same).is_ok());
      return;
    }
    case 2: {  // a delta
      std::vector<std::byte> after(record->bytes().begin(), record->bytes().end());
      const std::vector<std::byte> changed = random_bytes(length);
      std::memcpy(after.data() + offset, changed.data(), length);
      Result<Delta> delta = diff(page, record->epoch, record->bytes(), after);
      RC_ASSERT(delta.is_ok());
      RC_ASSERT(fork.apply(*delta).is_ok());
      return;
    }
    case 3: {  // the whole page, written anywhere
      Result<state::PageRecord*> owned = fork.own_page(page);
      RC_ASSERT(owned.is_ok());
      std::memset((*owned)->data + offset, 0x5a, length);
      fork.mark_written(**owned, offset, length);
      return;
    }
    case 4: {  // another record installed over it (as a merge does)
      auto installed = state::PageRecord::make(page, record->type, size, record->epoch,
                                               random_bytes(size), fork.options().allocator);
      fork.install_page(std::move(installed));
      return;
    }
    default:
      RC_ASSERT(fork.delete_page(page).is_ok());
      return;
  }
}

// Copying (the engine's sequencer: earlier States stay alive) or working (replay's: writes
// in place) alike.
RC_GTEST_PROP(PageTermsProperty, ManyWritesToAPageInATickGiveTheRootComputedFromScratch, ()) {
  const int pages = *rc::gen::inRange(1, 12);
  const bool working = *rc::gen::arbitrary<bool>();
  ForkCore fork = working ? ForkCore::working(make_base(pages)) : ForkCore(make_base(pages));
  std::vector<State> kept;  // the copying fork's States stay alive, as the engine's do
  const int ticks = *rc::gen::inRange(1, 8);
  for (int t = 1; t <= ticks; ++t) {
    // A few hot pages take most operations, so a page is written many times in a tick.
    const int ops = *rc::gen::inRange(0, 60);
    for (int i = 0; i < ops; ++i) {
      const bool hot = *rc::gen::inRange(0, 4) != 0;
      const int last = hot ? std::min(pages, 3) : pages;
      random_op(fork, PageId(static_cast<std::uint64_t>(*rc::gen::inRange(1, last + 1))));
    }
    // The working fork's States are dropped, so its next tick writes in place.
    const State state =
        working ? (fork.seal(TickId(t)), fork.publish()) : fork.commit_as(TickId(t));
    RC_ASSERT(test::reference_root(state) == state.root());
    if (!working) kept.push_back(state);
  }
  for (const State& state : kept) RC_ASSERT(test::reference_root(state) == state.root());
}

// Writes that end where the page began, in several pieces over the tick: the page keeps its
// record and epoch (the seal compares what was written), and the root is the tick's only.
TEST(PageTermsTest, SeveralWritesThatPutThePageBackLeaveItsEpoch) {
  const State base = make_base(2);
  ForkCore fork(base);
  const PageId page(2);  // 1,037 bytes, 17 chunks
  const std::vector<std::byte> before(fork.tables().find_page(page)->bytes().begin(),
                                      fork.tables().find_page(page)->bytes().end());
  const std::vector<std::byte> other(40, std::byte{0x77});
  ASSERT_TRUE(fork.write(page, 10, other).is_ok());
  ASSERT_TRUE(fork.write(page, 30, other).is_ok());  // a later write: pending chunks
  ASSERT_TRUE(fork.write(page, 10, std::span(before).subspan(10, 40)).is_ok());
  ASSERT_TRUE(fork.write(page, 50, std::span(before).subspan(50, 20)).is_ok());
  fork.seal(TickId(base.tick().value() + 1));
  const State state = fork.publish();
  EXPECT_EQ(state.read(page).value().size(), before.size());
  EXPECT_EQ(state::StateAccessors::data(state).tables.find_page(page)->epoch,
            state::StateAccessors::data(base).tables.find_page(page)->epoch);
  EXPECT_EQ(test::reference_root(state), state.root());
  Fork unchanged(base);
  EXPECT_EQ(unchanged.commit().root(), state.root());
}

}  // namespace
}  // namespace mmsb

// Zero-backed pages (state/tables.hpp PageRecord): a zero page created with the default
// allocator takes no payload block until its first write, whichever way that write comes
// (write, apply, mutable_bytes, in the tick that created it or later, copied or claimed in
// place), and versions that saw it zero keep seeing zeros.
#include <gtest/gtest.h>

#include <vector>

#include "mmsb/allocator.hpp"
#include "mmsb/mmsb.hpp"
#include "state/tables.hpp"
#include "support/bytes.hpp"
#include "support/reference_root.hpp"

namespace mmsb {
namespace {

using test::bytes_of;

constexpr std::uint64_t kPageBytes = 1024;

std::uint64_t payload_allocations() { return default_payload_allocator().stats().allocations; }

// True if every byte of `bytes` (a page of kPageBytes) is zero.
bool all_zero(std::span<const std::byte> bytes) {
  return test::to_vector(bytes) == test::filled(kPageBytes, 0);
}

TEST(ZeroPageTest, CreatingTakesNoPayloadBlock) {
  const std::uint64_t before = payload_allocations();
  Fork fork{State{}};
  std::vector<PageId> pages;
  for (int i = 0; i < 1000; ++i)
    pages.push_back(fork.create_page({.size_bytes = kPageBytes}).value());
  const State state = fork.commit();
  EXPECT_EQ(payload_allocations(), before);
  for (PageId page : pages) EXPECT_TRUE(all_zero(state.read(page).value()));
  EXPECT_EQ(state.root(), test::reference_root(state));
  // A page with content, or larger than the shared zero region, still gets its block.
  Fork more(state);
  std::vector<std::byte> content(kPageBytes, std::byte{7});
  (void)more.create_page({.size_bytes = kPageBytes, .initial = content}).value();
  (void)more.create_page({.size_bytes = core::kZeroRegionBytes + 1}).value();
  EXPECT_EQ(payload_allocations(), before + 2);
}

TEST(ZeroPageTest, EveryFirstWriteGivesThePageItsOwnBytes) {
  Fork fork{State{}};
  std::vector<PageId> pages;
  for (int i = 0; i < 5; ++i) pages.push_back(fork.create_page({.size_bytes = kPageBytes}).value());
  const State zeros = fork.commit();
  const std::uint64_t before = payload_allocations();
  ASSERT_TRUE(fork.write(pages[0], 70, bytes_of("written")).is_ok());
  const std::vector<std::byte> ones(kPageBytes, std::byte{1});
  const Delta delta = diff(pages[1], Epoch(0), zeros.read(pages[1]).value(), ones).value();
  ASSERT_TRUE(fork.apply(delta).is_ok());
  fork.mutable_bytes(pages[2]).value()[kPageBytes - 1] = std::byte{3};
  // Created and written in the same tick.
  pages.push_back(fork.create_page({.size_bytes = kPageBytes}).value());
  ASSERT_TRUE(fork.write(pages.back(), 0, bytes_of("new")).is_ok());
  const State written = fork.commit();
  EXPECT_EQ(payload_allocations(), before + 4);

  EXPECT_EQ(test::to_vector(written.read(pages[0]).value()).at(70), std::byte{'w'});
  EXPECT_EQ(test::to_vector(written.read(pages[1]).value()), ones);
  EXPECT_EQ(written.read(pages[2]).value()[kPageBytes - 1], std::byte{3});
  EXPECT_EQ(written.read(pages.back()).value()[0], std::byte{'n'});
  EXPECT_TRUE(all_zero(written.read(pages[3]).value()));  // never written: still shared zeros
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(all_zero(zeros.read(pages[i]).value()));
  EXPECT_EQ(written.root(), test::reference_root(written));
  EXPECT_EQ(written.page(pages[0]).value().epoch, Epoch(1));
  EXPECT_EQ(written.page(pages[3]).value().epoch, Epoch(0));
}

// The working version claims records only it reaches and writes them in place: a zero-backed
// one gets its block there, and a State published before never sees the write.
TEST(ZeroPageTest, AClaimedZeroPageIsWrittenInPlace) {
  state::ForkCore working = state::ForkCore::working(State{});
  std::vector<PageId> pages;
  for (int i = 0; i < 3; ++i)
    pages.push_back(working.create_page({.size_bytes = kPageBytes}).value());
  (void)working.seal(TickId(1));
  ASSERT_TRUE(working.write(pages[1], 8, bytes_of("claimed")).is_ok());
  ASSERT_TRUE(working.tick_writes().back().in_place);
  const State published = working.commit();
  EXPECT_EQ(published.read(pages[1]).value()[8], std::byte{'c'});
  EXPECT_EQ(published.root(), test::reference_root(published));

  state::ForkCore next(published);
  ASSERT_TRUE(next.write(pages[2], 0, bytes_of("copied")).is_ok());
  const State after = next.commit();
  EXPECT_TRUE(all_zero(published.read(pages[2]).value()));
  EXPECT_EQ(after.read(pages[2]).value()[0], std::byte{'c'});
  EXPECT_EQ(after.root(), test::reference_root(after));
}

// A merge installs the pages the other side created, copied under a new id where ours took
// theirs: a zero one stays zero-backed in the copy.
TEST(ZeroPageTest, MergedZeroPagesReadAsZeros) {
  Fork builder{State{}};
  (void)builder.create_page({.size_bytes = kPageBytes}).value();
  const State base = builder.commit();
  Fork ours(base);
  const PageId our_page = ours.create_page({.size_bytes = kPageBytes}).value();
  Fork theirs(base);
  const PageId their_page = theirs.create_page({.size_bytes = kPageBytes}).value();
  ASSERT_EQ(our_page, their_page);  // so theirs is copied under a new id
  const State our_head = ours.commit();
  const State their_head = theirs.commit();
  const std::uint64_t before = payload_allocations();
  const MergeResult merged = merge(base, our_head, their_head).value();
  EXPECT_EQ(payload_allocations(), before);
  ASSERT_EQ(merged.page_remap.size(), 1u);
  const PageId copied(merged.page_remap[0].to);
  EXPECT_TRUE(all_zero(merged.state.read(copied).value()));
  EXPECT_EQ(merged.state.root(), test::reference_root(merged.state));
}

}  // namespace
}  // namespace mmsb

// Golden values pin the on-disk and hashed layouts of docs/FORMAT.md. If one of these
// changes, the format changed: bump its version and say so in docs/FORMAT.md.
#include <gtest/gtest.h>

#include "mmsb/mmsb.hpp"
#include "state/tables.hpp"
#include "support/bytes.hpp"
#include "support/reference_root.hpp"

namespace mmsb {
namespace {

using test::bytes_of;

using test::hex;

TEST(GoldenTest, DeltaEncoding) {
  Delta runs = Delta::from_runs(PageId(0x0102030405060708), Epoch(9), {{1, 2}, {0x10000, 1}},
                                bytes_of("abc"));
  EXPECT_EQ(hex(encode_delta(runs)),
            "01"                // version
            "00"                // encoding: runs
            "0000"              // reserved
            "02000000"          // run count
            "0807060504030201"  // page id
            "0900000000000000"  // base epoch
            "0300000000000000"  // payload bytes
            "0100000002000000"  // run 0: offset 1, length 2
            "0000010001000000"  // run 1: offset 65536, length 1
            "616263");          // payload
  Delta dense = Delta::from_dense(PageId(1), Epoch(0), bytes_of("xy"));
  EXPECT_EQ(hex(encode_delta(dense)),
            "0101000000000000"
            "0100000000000000"
            "0000000000000000"
            "0200000000000000"
            "7879");
}

// A fixed little history: three pages, an edge, two ticks.
State golden_state() {
  Fork fork{State{}};
  PageId a =
      fork.create_page({.type = 1, .size_bytes = 8, .initial = bytes_of("mmsb-one")}).value();
  PageId b = fork.create_page({.type = 2, .size_bytes = 4}).value();
  PageId c = fork.create_page({.type = 1, .size_bytes = 70}).value();
  (void)fork.add_edge(kEdgeKindData, a, b).value();
  (void)fork.commit();
  EXPECT_TRUE(fork.write(b, 1, bytes_of("xy")).is_ok());
  EXPECT_TRUE(fork.write(c, 64, bytes_of("tail")).is_ok());
  return fork.commit();
}

TEST(GoldenTest, StateRoot) {
  EXPECT_EQ(State().root().to_hex(), "646b0a772120a1532dadfc7703174bd0");
  State state = golden_state();
  EXPECT_EQ(state.tick(), TickId(2));
  EXPECT_EQ(state.page(PageId(2))->epoch, Epoch(1));
  EXPECT_EQ(state.root().to_hex(), "0dda0b8b72c922d6b74ceade19e9298c");
  EXPECT_EQ(state.root(), test::reference_root(state));
}

TEST(GoldenTest, RootOfAStateWithHighIds) {
  // Ids far apart, with most of the pages between them deleted.
  Fork fork{State{}};
  for (int i = 0; i < 70; ++i) (void)fork.create_page({.size_bytes = 1}).value();
  for (int i = 2; i <= 69; ++i) ASSERT_TRUE(fork.delete_page(PageId(i)).is_ok());
  State state = fork.commit();
  EXPECT_EQ(state.root(), test::reference_root(state));
  EXPECT_EQ(state.root().to_hex(), "1ac3b7dbf3a3e06ba16be0830c5a090d");
  // Only id 1 left: the deletions took every term they had added.
  ASSERT_TRUE(fork.delete_page(PageId(70)).is_ok());
  State single = fork.commit();
  EXPECT_EQ(single.root(), test::reference_root(single));
}

TEST(GoldenTest, RootOfAStateWithADerivation) {
  state::ForkCore fork(golden_state());
  fork.set_derivation(PageId(2), "mmsb.passthrough");
  State state = fork.commit();
  EXPECT_EQ(state.root(), test::reference_root(state));
  EXPECT_EQ(state.root().to_hex(), "29e6caf5aa0119cf66ef217aa895114a");
  EXPECT_EQ(state.derivation(PageId(2)), (Derivation{PageId(2), "mmsb.passthrough", {PageId(1)}}));
}

TEST(GoldenTest, RootOfAStateWithPendingRetries) {
  state::ForkCore fork(golden_state());
  fork.set_retries(
      {PendingRetry{TickId(4), 0xab, PageId(1), 2}, PendingRetry{TickId(9), 0xcd, PageId(3), 3}});
  State state = fork.commit();
  EXPECT_EQ(state.root(), test::reference_root(state));
  EXPECT_EQ(state.root().to_hex(), "5f1fd4629dcf26e1f38728825e465937");
  EXPECT_EQ(state.pending_retries().size(), 2u);
  fork.set_retries({});
  State emptied = fork.commit();
  EXPECT_TRUE(emptied.pending_retries().empty());
  EXPECT_EQ(emptied.root(), test::reference_root(emptied));
}

TEST(GoldenTest, TypeIndexFollowsCreateDeleteAndForks) {
  State state = golden_state();  // pages 1 and 3 of type 1, page 2 of type 2
  std::vector<PageId> ones;
  state.for_each_page_of_type(1, [&](PageId page) { ones.push_back(page); });
  EXPECT_EQ(ones, (std::vector<PageId>{PageId(1), PageId(3)}));
  EXPECT_EQ(state.page_count_of_type(2), 1u);
  EXPECT_EQ(state.page_count_of_type(0), 0u);
  Fork fork(state);
  ASSERT_TRUE(fork.delete_page(PageId(1)).is_ok());
  PageId added = fork.create_page({.type = 2, .size_bytes = 8}).value();
  State after = fork.commit();
  EXPECT_EQ(after.page_count_of_type(1), 1u);
  EXPECT_EQ(after.page_count_of_type(2), 2u);
  std::vector<PageId> twos;
  after.for_each_page_of_type(2, [&](PageId page) { twos.push_back(page); });
  EXPECT_EQ(twos, (std::vector<PageId>{PageId(2), added}));
  EXPECT_EQ(state.page_count_of_type(1), 2u);  // the old version is unchanged
}

}  // namespace
}  // namespace mmsb

// Golden bytes of the segment header, the record frame and the checkpoint layout of
// docs/FORMAT.md. If one of these changes, the on-disk format changed: bump its version.
#include <gtest/gtest.h>

#include "log/checkpoint.hpp"
#include "log/format.hpp"
#include "mmsb/mmsb.hpp"
#include "state/tables.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

namespace mmsb::log {
namespace {

using test::hex;

TEST(GoldenLogTest, SegmentHeaderAndFrame) {
  std::vector<std::byte> bytes;
  encode_segment_header(TickId(5), bytes);
  append_frame(RecordType::kTick, test::bytes_of("hi"), bytes);
  const std::string expected_header =
      "6d6d73622d6c6f67"   // "mmsb-log"
      "01000000"           // version
      "00000000"           // reserved
      "0500000000000000";  // first tick
  const std::string text = hex(bytes);
  EXPECT_EQ(text.substr(0, expected_header.size()), expected_header);
  const std::string frame = text.substr(64);
  EXPECT_EQ(frame.substr(0, 16),
            "02000000"                  // payload length
            "01"                        // type: tick
            "000000");                  // reserved
  EXPECT_EQ(frame.substr(48), "6869");  // payload
  EXPECT_EQ(text,
            "6d6d73622d6c6f6701000000000000000500000000000000b5e8effad654f1e4"
            "02000000010000009a6eead7bb00232a007dfd1b58bb63d66869");
}

TEST(GoldenLogTest, Checkpoint) {
  test::TempDir dir;
  state::ForkCore fork{State{}};
  (void)fork.create_page({.type = 7, .size_bytes = 3, .initial = test::bytes_of("abc")}).value();
  (void)fork.add_edge(kEdgeKindUserFirst, PageId(1), PageId(1)).value();
  fork.set_derivation(PageId(1), "f");
  fork.set_retries({PendingRetry{TickId(5), 0xab, PageId(1), 2}});
  State state = fork.commit();
  ASSERT_TRUE(write_checkpoint(*Env::posix(), dir.path(), state).is_ok());
  auto bytes = read_file(*Env::posix(), dir / checkpoint_file_name(TickId(1))).value();
  const std::string text = hex(bytes);
  EXPECT_EQ(text.substr(0, 128),
            "6d6d73622d636b70"    // "mmsb-ckp"
            "04000000"            // version
            "00000000"            // reserved
            "0100000000000000"    // tick
            "0200000000000000"    // next page id
            "0200000000000000"    // next edge id
            "0100000000000000"    // pages
            "0100000000000000"    // edges
            "0100000000000000");  // derivations
  EXPECT_EQ(text.substr(128, 32), state.root().to_hex());
  EXPECT_EQ(text.substr(160, 80),
            "0100000000000000"    // page id
            "07000000"            // type
            "00000000"            // location, reserved
            "0000000000000000"    // epoch
            "0300000000000000"    // size
            "0000000000000000");  // reserved
  EXPECT_EQ(text.substr(240, 6), "616263");
  EXPECT_EQ(text.substr(246, 64),
            "0100000000000000"    // edge id
            "00040000"            // kind (1024)
            "00000000"            // reserved
            "0100000000000000"    // from
            "0100000000000000");  // to
  EXPECT_EQ(text.substr(310, 34),
            "0100000000000000"  // derived page
            "01000000"          // function name length
            "00000000"          // reserved
            "66");              // "f"
  EXPECT_EQ(text.substr(344, 80),
            "0100000000000000"  // retries
            "0500000000000000"  // due tick
            "ab00000000000000"  // family
            "0100000000000000"  // scope
            "02000000"          // attempt
            "00000000");        // reserved
  EXPECT_EQ(bytes.size(), 80u + 40 + 3 + 32 + 17 + 8 + 32 + 8);
  auto loaded = load_checkpoint(*Env::posix(), dir / checkpoint_file_name(TickId(1)), {});
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->root(), state.root());
  EXPECT_EQ(loaded->derivation(PageId(1))->function, "f");
  ASSERT_EQ(loaded->pending_retries().size(), 1u);
  EXPECT_EQ(loaded->pending_retries()[0], (PendingRetry{TickId(5), 0xab, PageId(1), 2}));
}

}  // namespace
}  // namespace mmsb::log

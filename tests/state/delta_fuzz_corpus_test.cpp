// Runs the delta decoder fuzz target over a corpus of valid encodings and their damaged
// variants, so every build checks what `make fuzz` explores at length.
#include <gtest/gtest.h>

#include "fuzz/delta_decode_target.hpp"
#include "support/bytes.hpp"

namespace mmsb {
namespace {

TEST(DeltaFuzzCorpusTest, ValidAndDamagedEncodings) {
  std::vector<std::vector<std::byte>> corpus = {
      encode_delta(
          Delta::from_runs(PageId(1), Epoch(2), {{0, 3}, {10, 2}}, test::bytes_of("abcde"))),
      encode_delta(Delta::from_dense(PageId(9), Epoch(0), test::bytes_of("dense"))),
      encode_delta(Delta()),
  };
  int cases = 0;
  for (const auto& valid : corpus) {
    for (std::size_t cut = 0; cut <= valid.size(); ++cut) {
      for (std::size_t flip = 0; flip < cut; flip += 3) {
        std::vector<std::byte> input(valid.begin(),
                                     valid.begin() + static_cast<std::ptrdiff_t>(cut));
        input[flip] ^= std::byte{0x41};
        fuzz::delta_decode_target(reinterpret_cast<const std::uint8_t*>(input.data()),
                                  input.size());
        ++cases;
      }
      fuzz::delta_decode_target(reinterpret_cast<const std::uint8_t*>(valid.data()), cut);
      ++cases;
    }
  }
  EXPECT_GT(cases, 100);
  EXPECT_TRUE(decode_delta(corpus[0]).is_ok());  // the corpus itself is valid
}

}  // namespace
}  // namespace mmsb

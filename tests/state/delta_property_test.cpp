// The laws of Delta, as RapidCheck properties. A failure prints a seed; rerun with
// RC_PARAMS="seed=<n>" to replay it.
#include "mmsb/delta.hpp"
#include "mmsb/page.hpp"
#include "state/diff_internal.hpp"
#include "support/generators.hpp"
#include "support/rapidcheck_gtest.hpp"

namespace mmsb {
namespace {

using test::edit;
using test::gen_bytes;
using test::gen_delta;

RC_GTEST_PROP(DeltaProperty, DecodeOfEncodeIsIdentity, ()) {
  const auto size = *rc::gen::inRange<std::size_t>(1, 3000);
  Delta delta = gen_delta(PageId(*rc::gen::arbitrary<std::uint64_t>()), size);
  auto decoded = decode_delta(encode_delta(delta));
  RC_ASSERT(decoded.is_ok());
  RC_ASSERT(*decoded == delta);
}

RC_GTEST_PROP(DeltaProperty, ApplyOfDiffGivesTheNewPage, ()) {
  const auto size = *rc::gen::inRange<std::size_t>(1, 5000);
  std::vector<std::byte> old_bytes = *gen_bytes(size);
  std::vector<std::byte> new_bytes = edit(old_bytes);
  Delta delta = diff(PageId(1), Epoch(0), old_bytes, new_bytes).value();
  std::vector<std::byte> page = old_bytes;
  RC_ASSERT(apply_delta(delta, page).is_ok());
  RC_ASSERT(page == new_bytes);
  RC_ASSERT((old_bytes == new_bytes) == delta.is_identity());
}

// A byte-at-a-time oracle for diff: runs of changed bytes merged across gaps of at most
// kDeltaMergeGapBytes, dense when that is no larger.
std::vector<DeltaRun> oracle_runs(const std::vector<std::byte>& a, const std::vector<std::byte>& b,
                                  std::uint32_t merge_gap_bytes = kDeltaMergeGapBytes) {
  std::vector<DeltaRun> runs;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    auto at = static_cast<std::uint32_t>(i);
    if (!runs.empty() && at - runs.back().end() <= merge_gap_bytes) {
      runs.back().length = at + 1 - runs.back().offset;
    } else {
      runs.push_back(DeltaRun{at, 1});
    }
  }
  return runs;
}

RC_GTEST_PROP(DeltaProperty, DiffMatchesTheByteOracle, ()) {
  const auto size = *rc::gen::inRange<std::size_t>(1, 5000);
  std::vector<std::byte> old_bytes = *gen_bytes(size);
  std::vector<std::byte> new_bytes = edit(old_bytes);
  Delta delta = diff(PageId(1), Epoch(0), old_bytes, new_bytes).value();
  std::vector<DeltaRun> expected = oracle_runs(old_bytes, new_bytes);
  std::size_t runs_size = sizeof(DeltaRun) * expected.size();
  for (const DeltaRun& run : expected) runs_size += run.length;
  if (!expected.empty() && runs_size >= size) {
    RC_ASSERT(delta.encoding() == DeltaEncoding::kDense);
  } else {
    RC_ASSERT(delta.encoding() == DeltaEncoding::kRuns);
    RC_ASSERT(std::vector<DeltaRun>(delta.runs().begin(), delta.runs().end()) == expected);
  }
}

// Pages of up to 40 KiB (ten of the scan's 4 KiB chunks): a changed prefix of any length
// (the scan copies a wholly changed start while it scans), runs that cross chunk ends, and
// scattered bytes close enough to merge. Runs and bytes must be the oracle's.
// `old_bytes` changed as the scan's cases need: a changed prefix of any length (the scan
// copies a wholly changed start while it scans), runs that cross chunk ends, and scattered
// bytes close enough to merge.
std::vector<std::byte> edited_page(const std::vector<std::byte>& old_bytes) {
  const std::size_t size = old_bytes.size();
  std::vector<std::byte> new_bytes = old_bytes;
  if (*rc::gen::inRange(0, 3) == 0) {
    const auto prefix = *rc::gen::inRange<std::size_t>(0, size + 1);
    for (std::size_t i = 0; i < prefix; ++i) new_bytes[i] = ~new_bytes[i];
  }
  for (int run = *rc::gen::inRange(0, 20); run > 0; --run) {
    const auto at = *rc::gen::inRange<std::size_t>(0, size);
    const auto length = std::min<std::size_t>(size - at, *rc::gen::inRange<std::size_t>(1, 9000));
    for (std::size_t i = at; i < at + length; ++i) new_bytes[i] = ~old_bytes[i];
  }
  for (int scattered = *rc::gen::inRange(0, 400); scattered > 0; --scattered) {
    new_bytes[*rc::gen::inRange<std::size_t>(0, size)] ^= std::byte{0x5a};
  }
  return new_bytes;
}

RC_GTEST_PROP(DeltaProperty, DiffOfLargePagesMatchesTheByteOracle, ()) {
  const auto size = *rc::gen::inRange<std::size_t>(1, 40 * 1024);
  std::vector<std::byte> old_bytes = *gen_bytes(size);
  std::vector<std::byte> new_bytes = edited_page(old_bytes);
  Delta delta = diff(PageId(1), Epoch(0), old_bytes, new_bytes).value();
  std::vector<std::byte> page = old_bytes;
  RC_ASSERT(apply_delta(delta, page).is_ok());
  RC_ASSERT(page == new_bytes);
  const std::vector<DeltaRun> expected = oracle_runs(old_bytes, new_bytes);
  std::size_t runs_size = sizeof(DeltaRun) * expected.size();
  for (const DeltaRun& run : expected) runs_size += run.length;
  if (!expected.empty() && runs_size >= size) {
    RC_ASSERT(delta.encoding() == DeltaEncoding::kDense);
    RC_ASSERT(std::vector<std::byte>(delta.bytes().begin(), delta.bytes().end()) == new_bytes);
  } else {
    RC_ASSERT(std::vector<DeltaRun>(delta.runs().begin(), delta.runs().end()) == expected);
  }
}

// Every build of the scan this CPU runs (the baseline one, which CPUs without AVX2 use,
// always; the AVX2 one where the CPU has it) gives the oracle's runs, exact (gap 0, as a
// merge asks) and merged, with and without the runs' new bytes.
RC_GTEST_PROP(DeltaProperty, EveryScanBuildGivesTheOraclesRunsAndBytes, ()) {
  const auto size = *rc::gen::inRange<std::size_t>(1, 20 * 1024);
  const std::vector<std::byte> old_bytes = *gen_bytes(size);
  const std::vector<std::byte> new_bytes = edited_page(old_bytes);
  using Scan = void (*)(const std::byte*, const std::byte*, std::uint64_t, std::uint32_t,
                        std::vector<DeltaRun>&, std::vector<std::byte>*);
  std::vector<Scan> builds = {&state::changed_runs_baseline};
#if defined(__x86_64__)
  if (state::diff_uses_avx2()) builds.push_back(&state::changed_runs_avx2);
#endif
  for (const std::uint32_t gap : {0u, kDeltaMergeGapBytes}) {
    const std::vector<DeltaRun> expected = oracle_runs(old_bytes, new_bytes, gap);
    std::vector<std::byte> expected_bytes;
    for (const DeltaRun& run : expected) {
      expected_bytes.insert(expected_bytes.end(), new_bytes.begin() + run.offset,
                            new_bytes.begin() + run.end());
    }
    for (const Scan scan : builds) {
      std::vector<DeltaRun> runs;
      std::vector<std::byte> bytes;
      scan(old_bytes.data(), new_bytes.data(), size, gap, runs, &bytes);
      RC_ASSERT(runs == expected);
      RC_ASSERT(bytes == expected_bytes);
      scan(old_bytes.data(), new_bytes.data(), size, gap, runs, nullptr);
      RC_ASSERT(runs == expected);
    }
  }
}

RC_GTEST_PROP(DeltaProperty, ComposeMatchesSequentialApply, ()) {
  const auto size = *rc::gen::inRange<std::size_t>(1, 2000);
  std::vector<std::byte> page = *gen_bytes(size);
  Delta first = gen_delta(PageId(3), size);
  Delta second = gen_delta(PageId(3), size);
  std::vector<std::byte> sequential = page;
  RC_ASSERT(apply_delta(first, sequential).is_ok());
  RC_ASSERT(apply_delta(second, sequential).is_ok());
  Delta composed = compose(first, second).value();
  std::vector<std::byte> at_once = page;
  RC_ASSERT(apply_delta(composed, at_once).is_ok());
  RC_ASSERT(at_once == sequential);
  RC_ASSERT(composed.base_epoch() == first.base_epoch());
}

RC_GTEST_PROP(DeltaProperty, EmptyDeltaIsTheIdentityOfCompose, ()) {
  const auto size = *rc::gen::inRange<std::size_t>(1, 2000);
  Delta delta = gen_delta(PageId(3), size);
  Delta identity = Delta::from_runs(PageId(3), delta.base_epoch(), {}, {});
  std::vector<std::byte> page = *gen_bytes(size);
  std::vector<std::byte> expected = page;
  RC_ASSERT(apply_delta(delta, expected).is_ok());
  for (const Delta& composed :
       {compose(identity, delta).value(), compose(delta, identity).value()}) {
    std::vector<std::byte> got = page;
    RC_ASSERT(apply_delta(composed, got).is_ok());
    RC_ASSERT(got == expected);
  }
  std::vector<std::byte> untouched = page;
  RC_ASSERT(apply_delta(identity, untouched).is_ok());
  RC_ASSERT(untouched == page);
}

// Truncated or bit-flipped encodings never crash the decoder; whatever it accepts is valid.
RC_GTEST_PROP(DeltaProperty, DecoderSurvivesDamagedInput, ()) {
  const auto size = *rc::gen::inRange<std::size_t>(1, 500);
  std::vector<std::byte> encoded = encode_delta(gen_delta(PageId(9), size));
  const auto cut = *rc::gen::inRange<std::size_t>(0, encoded.size() + 1);
  encoded.resize(cut);
  if (!encoded.empty()) {
    const auto at = *rc::gen::inRange<std::size_t>(0, encoded.size());
    encoded[at] ^= std::byte{static_cast<std::uint8_t>(1u << *rc::gen::inRange(0, 8))};
  }
  auto decoded = decode_delta(encoded);
  if (decoded.is_ok()) {
    if (decoded->encoding() == DeltaEncoding::kDense) {
      RC_ASSERT(decoded->validate(decoded->bytes().size()).is_ok());
    } else {
      RC_ASSERT(decoded->validate(kPageSizeHardMaxBytes).is_ok());
    }
  } else {
    RC_ASSERT(decoded.status().code() == StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace mmsb

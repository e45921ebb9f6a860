#include "sched/order.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace mmsb::sched {
namespace {

constexpr int kDigitBits = 8;
constexpr int kPasses = 64 / kDigitBits;
constexpr std::size_t kBuckets = std::size_t{1} << kDigitBits;

std::size_t digit(const Candidate& c, int pass) {
  return (c.key.scope_hash >> (pass * kDigitBits)) & (kBuckets - 1);
}

bool by_key(const Candidate& a, const Candidate& b) { return a.key < b.key; }

}  // namespace

void comparison_sort_candidates(std::vector<Candidate>& candidates) {
  std::sort(candidates.begin(), candidates.end(), by_key);
}

void sort_candidates(std::vector<Candidate>& candidates, std::vector<Candidate>& scratch) {
  const std::size_t n = candidates.size();
  if (n < kRadixSortMin) {
    comparison_sort_candidates(candidates);
    return;
  }
  // LSD radix sort on the scope hash, 8 bits a pass (all histograms from one read),
  // skipping passes where every key has the same digit. Stable, so equal hashes keep their
  // input order until the fix-up below.
  scratch.resize(n);
  std::array<std::array<std::uint32_t, kBuckets>, kPasses> counts{};
  for (const Candidate& c : candidates) {
    for (int pass = 0; pass < kPasses; ++pass) ++counts[pass][digit(c, pass)];
  }
  for (int pass = 0; pass < kPasses; ++pass) {
    std::array<std::uint32_t, kBuckets>& count = counts[pass];
    if (count[digit(candidates[0], pass)] == n) continue;
    std::uint32_t offset = 0;
    for (std::uint32_t& bucket : count) offset += std::exchange(bucket, offset);
    for (const Candidate& c : candidates) scratch[count[digit(c, pass)]++] = c;
    candidates.swap(scratch);
  }
  // Runs of one scope hash: order by (family, nonce).
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin + 1;
    while (end < n && candidates[end].key.scope_hash == candidates[begin].key.scope_hash) ++end;
    if (end - begin > 1) std::sort(candidates.begin() + begin, candidates.begin() + end, by_key);
    begin = end;
  }
}

}  // namespace mmsb::sched

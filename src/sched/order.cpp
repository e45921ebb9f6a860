#include "sched/order.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace mmsb::sched {
namespace {

constexpr int kDigitBits = 11;
constexpr int kPasses = (64 + kDigitBits - 1) / kDigitBits;
constexpr std::size_t kBuckets = std::size_t{1} << kDigitBits;

std::size_t digit(std::uint64_t key, int pass) {
  return (key >> (pass * kDigitBits)) & (kBuckets - 1);
}

bool by_key(const Candidate& a, const Candidate& b) { return a.key < b.key; }

}  // namespace

void comparison_sort_candidates(std::vector<Candidate>& candidates) {
  std::sort(candidates.begin(), candidates.end(), by_key);
}

void sort_keys(std::vector<SortKey>& keys, std::vector<SortKey>& spare) {
  const std::size_t n = keys.size();
  if (n < 2) return;
  if (n < kRadixSortMin) {
    std::sort(keys.begin(), keys.end(),
              [](const SortKey& a, const SortKey& b) { return a.key < b.key; });
    return;
  }
  // LSD radix sort, 11 bits a pass (all histograms from one read), skipping passes where
  // every key has the same digit. Stable.
  spare.resize(n);
  std::array<std::array<std::uint32_t, kBuckets>, kPasses> counts{};
  for (const SortKey& key : keys) {
    for (int pass = 0; pass < kPasses; ++pass) ++counts[pass][digit(key.key, pass)];
  }
  for (int pass = 0; pass < kPasses; ++pass) {
    std::array<std::uint32_t, kBuckets>& count = counts[pass];
    if (count[digit(keys[0].key, pass)] == n) continue;
    std::uint32_t offset = 0;
    for (std::uint32_t& bucket : count) offset += std::exchange(bucket, offset);
    for (const SortKey& key : keys) spare[count[digit(key.key, pass)]++] = key;
    keys.swap(spare);
  }
}

namespace {

// scratch.keys: where each candidate goes, as (scope hash, input index) in canonical order.
void sort_keys_of(const std::vector<Candidate>& candidates, CandidateSortScratch& scratch) {
  const std::size_t n = candidates.size();
  // (scope hash, index) pairs: 16 bytes to move instead of a candidate.
  std::vector<SortKey>& keys = scratch.keys;
  keys.resize(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = SortKey{candidates[i].key.scope_hash, i};
  sort_keys(keys, scratch.spare);
  // Runs of one scope hash (one scope, several rules or repeats): order by (family, nonce).
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin + 1;
    while (end < n && keys[end].key == keys[begin].key) ++end;
    if (end - begin > 1) {
      std::sort(keys.begin() + static_cast<std::ptrdiff_t>(begin),
                keys.begin() + static_cast<std::ptrdiff_t>(end),
                [&](const SortKey& a, const SortKey& b) {
                  return candidates[a.index].key < candidates[b.index].key;
                });
    }
    begin = end;
  }
}

}  // namespace

void sort_candidates(std::vector<Candidate>& candidates, CandidateSortScratch& scratch) {
  const std::size_t n = candidates.size();
  const std::vector<SortKey>& keys = scratch.keys;
  // scratch.candidates is the input of the last sort; keys and visit are its order.
  if (candidates != scratch.candidates) {
    sort_keys_of(candidates, scratch);
    scratch.visit.resize(n);
    for (std::size_t i = 0; i < n; ++i) scratch.visit[keys[i].index] = static_cast<std::uint32_t>(i);
  }
  // One gather; the input stays in scratch.candidates.
  std::vector<Candidate>& gathered = scratch.candidates;
  gathered.resize(n);
  for (std::size_t i = 0; i < n; ++i) gathered[i] = candidates[keys[i].index];
  candidates.swap(gathered);
}

}  // namespace mmsb::sched

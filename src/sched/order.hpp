// Candidates and their canonical order (docs/SEMANTICS.md "Rules and scheduling"): by
// (scope hash, rule family id, nonce), compared as 24 big-endian bytes, which is the
// numeric order of the three words.
#pragma once

#include <compare>
#include <cstdint>
#include <vector>

#include "mmsb/ids.hpp"
#include "mmsb/rule.hpp"

namespace mmsb::sched {

// A bijective mix of the scope's id (the MurmurHash3 64-bit finalizer): spreads
// neighbouring scopes over the order, and distinct scopes never share a hash, so
// candidates with the same rule and scope sit next to each other once sorted.
constexpr std::uint64_t scope_hash(PageId scope) {
  std::uint64_t x = scope.value();
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

struct CandidateKey {
  std::uint64_t scope_hash = 0;
  RuleFamilyId family = 0;
  std::uint64_t nonce = 0;
  friend constexpr auto operator<=>(const CandidateKey&, const CandidateKey&) = default;
};

// Where a candidate came from.
inline constexpr std::uint32_t kOriginStanding = 0xffffffffu;
inline constexpr std::uint32_t kOriginRetry = 0xfffffffeu;

struct Candidate {
  CandidateKey key;
  PageId scope;
  std::uint32_t rule = 0;     // compact id in the engine's rule table
  std::uint32_t attempt = 1;  // 1 for the first try
  // The index of the transaction (in its tick) that applied it, or kOriginStanding /
  // kOriginRetry.
  std::uint32_t origin = kOriginStanding;
  friend bool operator==(const Candidate&, const Candidate&) = default;
};

// A candidate with its canonical key: the key is always derived from the scope this way.
inline Candidate make_candidate(PageId scope, RuleFamilyId family, std::uint64_t nonce,
                                std::uint32_t rule, std::uint32_t attempt, std::uint32_t origin) {
  return Candidate{{scope_hash(scope), family, nonce}, scope, rule, attempt, origin};
}

// Batches at least this large are radix sorted.
inline constexpr std::size_t kRadixSortMin = 1024;

// A 64-bit key and where its item is.
struct SortKey {
  std::uint64_t key = 0;
  std::uint64_t index = 0;
};

// Sorts by key (radix from kRadixSortMin keys, std::sort below; the order of equal keys is
// unspecified). `spare` is scratch, reused between calls.
void sort_keys(std::vector<SortKey>& keys, std::vector<SortKey>& spare);

// Sorts into canonical order: (scope hash, index) pairs sorted by hash (radix from
// kRadixSortMin candidates, std::sort below), the few runs of equal scope hash (one scope,
// several rules) by (family, nonce), then one gather. `scratch` is reused between calls;
// an input equal to the one it sorted last (a standing rule's candidates, tick after tick,
// while its pages are the same) keeps that order, and only the gather runs.
// comparison_sort_candidates is the plain std::sort on the whole key (the reference).
struct CandidateSortScratch {
  // After a sort: the input as it was, and where each of its candidates went (input j is
  // sorted candidate visit[j]). Standing candidates come in page order, so visiting them in
  // the input's order reads their pages one after another.
  std::vector<Candidate> candidates;
  std::vector<std::uint32_t> visit;
  std::vector<SortKey> keys, spare;
};
void sort_candidates(std::vector<Candidate>& candidates, CandidateSortScratch& scratch);
void comparison_sort_candidates(std::vector<Candidate>& candidates);

}  // namespace mmsb::sched

// The terms of the state root (docs/FORMAT.md "State root", version 4). The root commits to
// three sums modulo 2^128: one term per page, per edge and per derivation, and a page's term
// is its metadata term plus one term per non-zero 64-byte chunk of its bytes. A change
// therefore costs the terms it changes: a 16-byte write two chunk terms, an epoch bump two
// metadata terms, whatever the page's size or the number of pages.
#pragma once

#include <cstdint>
#include <span>

#include "mmsb/hash.hpp"
#include "mmsb/ids.hpp"
#include "mmsb/page.hpp"

namespace mmsb::state {

// Bytes a content chunk covers; a page's last chunk may be shorter.
inline constexpr std::uint64_t kRootChunkBytes = 64;

// A sum of terms modulo 2^128. Its 16-byte form is Hash128's, the number's high 64 bits in
// `high`.
class TermSum {
 public:
  void add(const Hash128& term) {
    sum_.low += term.low;
    sum_.high += term.high + (sum_.low < term.low ? 1 : 0);
  }
  void subtract(const Hash128& term) {
    sum_.high -= term.high + (sum_.low < term.low ? 1 : 0);
    sum_.low -= term.low;
  }
  void add(const TermSum& other) { add(other.sum_); }
  void subtract(const TermSum& other) { subtract(other.sum_); }
  const Hash128& as_hash() const { return sum_; }
  friend bool operator==(const TermSum&, const TermSum&) = default;

 private:
  Hash128 sum_;  // the number's low and high 64 bits
};

// XXH3-128 (seed 1) over id (8), type (4), location (1), size (8), epoch (8).
Hash128 page_meta_term(PageId id, PageType type, Location location, std::uint64_t size_bytes,
                       Epoch epoch);

// Zero for an all-zero chunk, else XXH3-128 (seed 2) over page id (8), chunk index (4) and
// the chunk's bytes (1 to 64).
Hash128 page_chunk_term(PageId id, std::uint64_t index, std::span<const std::byte> chunk);

// The sum of the terms of the chunks of `page` (the whole page's bytes) that [begin, end)
// touches; the whole page's content when begin = 0 and end = its size.
TermSum page_content_terms(PageId id, std::span<const std::byte> page, std::uint64_t begin,
                           std::uint64_t end);
inline TermSum page_content_terms(PageId id, std::span<const std::byte> page) {
  return page_content_terms(id, page, 0, page.size());
}

}  // namespace mmsb::state

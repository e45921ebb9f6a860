// The terms of the state root (state/root_terms.hpp) against FORMAT.md's definition
// computed the plain way: one XXH3-128 (seed 2) over page id (8), chunk index (4) and the
// chunk's bytes per non-zero chunk, summed modulo 2^128. Covers the batched path of whole
// chunks, a shorter last chunk, zero chunks and every kind of range.
#include "state/root_terms.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "core/endian.hpp"

namespace mmsb::state {
namespace {

Hash128 plain_chunk_term(PageId id, std::uint64_t index, std::span<const std::byte> chunk) {
  bool zero = true;
  for (std::byte byte : chunk) zero = zero && byte == std::byte{0};
  if (zero) return Hash128{};
  std::vector<std::byte> input(12 + chunk.size());
  put_le<std::uint64_t>(input.data(), id.value());
  put_le<std::uint32_t>(input.data() + 8, static_cast<std::uint32_t>(index));
  std::copy(chunk.begin(), chunk.end(), input.begin() + 12);
  return xxh3_128(input, 2);
}

TermSum plain_terms(PageId id, std::span<const std::byte> page, std::uint64_t begin,
                    std::uint64_t end) {
  TermSum sum;
  if (begin == end) return sum;
  for (std::uint64_t index = begin / 64; index * 64 < end; ++index) {
    const std::uint64_t at = index * 64;
    sum.add(plain_chunk_term(id, index,
                             page.subspan(at, std::min<std::uint64_t>(64, page.size() - at))));
  }
  return sum;
}

// Random bytes with whole zero chunks here and there.
std::vector<std::byte> page_of(std::size_t size, std::mt19937_64& random) {
  std::vector<std::byte> page(size);
  for (std::byte& byte : page) byte = static_cast<std::byte>(random());
  for (std::size_t at = 0; at < size; at += 64) {
    if (random() % 4 == 0)
      std::fill_n(page.begin() + at, std::min<std::size_t>(64, size - at), std::byte{0});
  }
  return page;
}

TEST(RootTermsTest, ChunkTermsAreXxh3OfIdIndexAndBytes) {
  std::mt19937_64 random(7);
  for (std::size_t size = 1; size <= 64; ++size) {
    const std::vector<std::byte> chunk = page_of(size, random);
    std::vector<std::byte> nonzero = chunk;
    nonzero[size - 1] = std::byte{1};
    EXPECT_EQ(page_chunk_term(PageId(9), 3, nonzero), plain_chunk_term(PageId(9), 3, nonzero));
    EXPECT_EQ(page_chunk_term(PageId(9), 3, std::vector<std::byte>(size)), Hash128{}) << size;
  }
}

TEST(RootTermsTest, ContentTermsOfEveryRangeAreTheSumOfItsChunks) {
  std::mt19937_64 random(11);
  for (std::size_t size : {1u, 13u, 63u, 64u, 65u, 100u, 1024u, 1100u, 2065u, 4096u}) {
    const std::vector<std::byte> page = page_of(size, random);
    const PageId id(1000 + size);
    EXPECT_EQ(page_content_terms(id, page), plain_terms(id, page, 0, size)) << size;
    for (int trial = 0; trial < 200; ++trial) {
      std::uint64_t begin = random() % (size + 1);
      std::uint64_t end = random() % (size + 1);
      if (begin > end) std::swap(begin, end);
      EXPECT_EQ(page_content_terms(id, page, begin, end), plain_terms(id, page, begin, end))
          << "size " << size << " [" << begin << ", " << end << ")";
    }
  }
}

}  // namespace
}  // namespace mmsb::state

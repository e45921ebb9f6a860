// The terms of the state root (state/root_terms.hpp) against FORMAT.md's definition
// computed the plain way: one XXH3-128 (seed 2) over page id (8), chunk index (4) and the
// chunk's bytes per non-zero chunk, summed modulo 2^128. Covers whole chunks hashed from
// registers and in batches, a shorter last chunk, zero chunks and every kind of range.
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

// A chunk's term is computed from its bytes where they lie (root_terms.cpp: a whole chunk
// from its aligned words, one of 12 to 63 bytes from words read and put together): it must
// be XXH3 of the laid-out input for every size, id, index and content, zero words included.
TEST(RootTermsTest, ChunkTermsFromThePageAreXxh3OfTheLaidOutInput) {
  std::mt19937_64 random(13);
  const std::uint64_t ids[] = {0, 1, 0xffffffffull, 0x100000000ull, ~std::uint64_t{0}};
  for (int trial = 0; trial < 8000; ++trial) {
    const std::size_t size = trial % 2 == 0 ? 64 : 1 + random() % 64;
    std::vector<std::byte> chunk(size);
    for (std::byte& byte : chunk) byte = static_cast<std::byte>(random());
    for (std::size_t word = 0; word * 8 < size; ++word) {  // some words zero, some one byte
      const std::size_t length = std::min<std::size_t>(8, size - word * 8);
      const std::uint64_t pick = random() % 4;
      if (pick < 2) std::fill_n(chunk.begin() + 8 * word, length, std::byte{0});
      if (pick == 1) chunk[8 * word + random() % length] = std::byte{0x80};
    }
    const PageId id(trial < 50 ? ids[trial % 5] : random());
    const std::uint64_t index = trial % 3 == 0 ? random() : random() % 64;
    ASSERT_EQ(page_chunk_term(id, index, chunk), plain_chunk_term(id, index, chunk))
        << "size " << size << " id " << id.value() << " index " << index;
    ASSERT_EQ(page_content_terms(id, chunk), plain_terms(id, chunk, 0, size)) << size;
  }
}

// A page's metadata term is put together in registers (root_terms.cpp): it must be XXH3-128
// (seed 1) of id (8), type (4), location (1), size (8) and epoch (8) laid out.
TEST(RootTermsTest, MetaTermsAreXxh3OfTheLaidOutMetadata) {
  std::mt19937_64 random(17);
  for (int trial = 0; trial < 4000; ++trial) {
    const PageId id(trial < 4 ? (trial % 2 == 0 ? 0 : ~std::uint64_t{0}) : random());
    const auto type = static_cast<PageType>(trial % 5 == 0 ? 0 : random());
    const std::uint64_t size = trial % 3 == 0 ? random() : random() % 4096;
    const Epoch epoch(trial % 7 == 0 ? random() : random() % 100);
    std::vector<std::byte> input(29);
    put_le<std::uint64_t>(input.data(), id.value());
    put_le<std::uint32_t>(input.data() + 8, type);
    put_le<std::uint8_t>(input.data() + 12, static_cast<std::uint8_t>(Location::kHost));
    put_le<std::uint64_t>(input.data() + 13, size);
    put_le<std::uint64_t>(input.data() + 21, epoch.value());
    ASSERT_EQ(page_meta_term(id, type, Location::kHost, size, epoch), xxh3_128(input, 1))
        << "id " << id.value() << " type " << type << " size " << size;
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

#include "state/root_terms.hpp"

#include <algorithm>
#include <cstring>

#include "core/endian.hpp"
#include "mmsb/assert.hpp"

// The terms are short inputs (29 and at most 76 bytes): xxhash inlined here runs them in a
// few nanoseconds, without the call into the shared library. The digests are XXH3's,
// whichever way it is built.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace mmsb::state {
namespace {

constexpr std::uint64_t kMetaSeed = 1;
constexpr std::uint64_t kChunkSeed = 2;

Hash128 xxh3_128_seeded(const std::byte* input, std::size_t size_bytes, std::uint64_t seed) {
  const XXH128_hash_t hash = XXH3_128bits_withSeed(input, size_bytes, seed);
  return Hash128{hash.low64, hash.high64};
}

bool all_zero(const std::byte* bytes, std::size_t size_bytes) {
  std::uint64_t any = 0;
  std::size_t i = 0;
  for (; i + 8 <= size_bytes; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    any |= word;
  }
  for (; i < size_bytes; ++i) any |= static_cast<std::uint64_t>(bytes[i]);
  return any == 0;
}

// A chunk term's input: page id (8), chunk index (4), the chunk's `size` bytes (FORMAT.md).
constexpr std::size_t kChunkInputBytesMax = 12 + kRootChunkBytes;
void lay_out_chunk(std::byte* input, PageId id, std::uint64_t index, const std::byte* chunk,
                   std::size_t size) {
  put_le<std::uint64_t>(input, id.value());
  put_le<std::uint32_t>(input + 8, static_cast<std::uint32_t>(index));
  std::memcpy(input + 12, chunk, size);
}

// Ranges of at least this many whole chunks are hashed in batches of laid-out inputs; fewer
// (a small write's one or two) from the page.
constexpr std::uint64_t kBatchChunksMin = 8;

// XXH3's 16-byte mix (XXH3_mix16B) over two input words held in registers.
std::uint64_t mix16(std::uint64_t low, std::uint64_t high, const std::uint8_t* secret,
                    std::uint64_t seed) {
  return XXH3_mul128_fold64(low ^ (XXH_readLE64(secret) + seed),
                            high ^ (XXH_readLE64(secret + 8) - seed));
}

// XXH3's 32-byte mix (XXH128_mix32B) over the input words at two offsets, in registers.
void mix32(XXH128_hash_t& acc, std::uint64_t a0, std::uint64_t a1, std::uint64_t b0,
           std::uint64_t b1, const std::uint8_t* secret, std::uint64_t seed) {
  acc.low64 += mix16(a0, a1, secret, seed);
  acc.low64 ^= b0 + b1;
  acc.high64 += mix16(b0, b1, secret + 16, seed);
  acc.high64 ^= a0 + a1;
}

// XXH3-128 with `seed` of a term's input of `length` bytes from its words:
// XXH3_len_17to128_128b step for step (17 <= length <= 96), with `word(at)` the input's 8
// bytes at `at` however the caller puts them together.
template <typename Word>
inline __attribute__((always_inline)) Hash128 xxh3_17to96(std::uint64_t length,
                                                          std::uint64_t seed, Word word) {
  const std::uint8_t* secret = XXH3_kSecret;
  XXH128_hash_t acc{length * XXH_PRIME64_1, 0};
  if (length > 64) {
    mix32(acc, word(32), word(40), word(length - 48), word(length - 40), secret + 64, seed);
  }
  if (length > 32) {
    mix32(acc, word(16), word(24), word(length - 32), word(length - 24), secret + 32, seed);
  }
  mix32(acc, word(0), word(8), word(length - 16), word(length - 8), secret, seed);
  const std::uint64_t low = XXH3_avalanche(acc.low64 + acc.high64);
  const std::uint64_t high =
      std::uint64_t{0} - XXH3_avalanche(acc.low64 * XXH_PRIME64_1 + acc.high64 * XXH_PRIME64_4 +
                                        (length - seed) * XXH_PRIME64_2);
  return Hash128{low, high};
}

// A chunk's term from its bytes where they lie in the page, not from its input laid out in
// memory: XXH3 reads the input as 8-byte words, and a laid-out input makes those reads wait
// for the stores that wrote it (about 20 ns for a term alone, 5-6 once the stores are
// through). RootTermsTest checks both forms against XXH3 of the laid-out input.
//
// A whole chunk (76 bytes of input): XXH3 reads the words at 0, 8, ..., 40 and at 28, 36,
// ..., 68. With the 12 bytes of id and index in front, the second kind are the chunk's own
// eight words; the first kind start 4 bytes into them and are put together from two, so
// every read is of an aligned word (one a 16-byte store of a write just made holds whole).
inline __attribute__((always_inline)) Hash128 whole_chunk_term(PageId id, std::uint64_t index,
                                                               const std::byte* chunk) {
  std::uint64_t c[8];
  for (int k = 0; k < 8; ++k) c[k] = get_le<std::uint64_t>(chunk + 8 * k);
  if ((c[0] | c[1] | c[2] | c[3] | c[4] | c[5] | c[6] | c[7]) == 0) return Hash128{};
  return xxh3_17to96(kChunkInputBytesMax, kChunkSeed, [&](std::uint64_t at) -> std::uint64_t {
    if (at % 8 == 4) return c[(at - 12) / 8];  // 28, 36, ..., 68
    if (at == 0) return id.value();
    const std::size_t k = (at - 8) / 8;  // 8, 16, ..., 40: chunk bytes 8k - 4 to 8k + 4
    const std::uint64_t low = k == 0 ? (index & 0xffffffffu) : c[k - 1] >> 32;
    return low | c[k] << 32;
  });
}

// A chunk of 12 to 63 bytes (a page's last, or a small page's only one): the words inside
// the chunk are read from it, those reaching into the 12 bytes in front put together from
// the id, the index and the chunk's first 12 bytes.
Hash128 short_chunk_term(PageId id, std::uint64_t index, const std::byte* chunk, std::size_t size) {
  MMSB_DEBUG_ASSERT(size >= 12 && size < kRootChunkBytes);
  if (all_zero(chunk, size)) return Hash128{};
  const std::uint64_t head[3] = {
      id.value(),
      (index & 0xffffffffu) | std::uint64_t{get_le<std::uint32_t>(chunk)} << 32,
      get_le<std::uint64_t>(chunk + 4)};
  return xxh3_17to96(12 + size, kChunkSeed, [&](std::uint64_t at) -> std::uint64_t {
    if (at >= 12) return get_le<std::uint64_t>(chunk + (at - 12));
    const unsigned shift = 8 * (at % 8);
    const std::uint64_t low = head[at / 8];
    return shift == 0 ? low : low >> shift | head[at / 8 + 1] << (64 - shift);
  });
}

}  // namespace

Hash128 page_meta_term(PageId id, PageType type, Location location, std::uint64_t size_bytes,
                       Epoch epoch) {
  // id (8), type (4), location (1), size (8), epoch (8): FORMAT.md. XXH3 reads these 29
  // bytes as the words at 0 (the id), 8 (the type, the location and the size's low 3
  // bytes), 13 (the size) and 21 (the epoch): put together here, nothing is laid out (a
  // laid-out input's reads wait for its stores: 12 ns a term, 3.7-6 with the stores
  // arranged so that each read fell inside one).
  const std::uint64_t type_location_size = std::uint64_t{type} |
                                           std::uint64_t{static_cast<std::uint8_t>(location)} << 32 |
                                           size_bytes << 40;
  return xxh3_17to96(29, kMetaSeed, [&](std::uint64_t at) -> std::uint64_t {
    switch (at) {
      case 0:
        return id.value();
      case 8:
        return type_location_size;
      case 13:
        return size_bytes;
      default:  // 21
        return epoch.value();
    }
  });
}

Hash128 page_chunk_term(PageId id, std::uint64_t index, std::span<const std::byte> chunk) {
  MMSB_DEBUG_ASSERT(!chunk.empty() && chunk.size() <= kRootChunkBytes);
  if (chunk.size() == kRootChunkBytes) return whole_chunk_term(id, index, chunk.data());
  if (chunk.size() >= 12) return short_chunk_term(id, index, chunk.data(), chunk.size());
  if (all_zero(chunk.data(), chunk.size())) return Hash128{};
  std::byte input[kChunkInputBytesMax];
  lay_out_chunk(input, id, index, chunk.data(), chunk.size());
  return xxh3_128_seeded(input, 12 + chunk.size(), kChunkSeed);
}

TermSum page_content_terms(PageId id, std::span<const std::byte> page, std::uint64_t begin,
                           std::uint64_t end) {
  MMSB_DEBUG_ASSERT(begin <= end && end <= page.size());
  TermSum sum;
  if (begin == end) return sum;
  std::uint64_t index = begin / kRootChunkBytes;
  const std::uint64_t whole_end =
      std::min(page.size() / kRootChunkBytes, (end + kRootChunkBytes - 1) / kRootChunkBytes);
  if (whole_end - index < kBatchChunksMin) {
    for (; index < whole_end; ++index) {
      sum.add(whole_chunk_term(id, index, page.data() + index * kRootChunkBytes));
    }
  }
  // Many whole chunks: a batch at a time, every input laid out first, then hashed. A batch
  // later, the stores that laid out an input have reached the cache and its reads do not
  // wait: the 16 terms of a 1 KiB page take 114-122 ns this way and 120-128 from the page
  // (BM_page_content_terms; the hashes alone over inputs laid out in advance,
  // BM_xxh3_chunks: 88-95 ns).
  constexpr std::size_t kBatch = 16;
  std::byte inputs[kBatch][kChunkInputBytesMax];
  bool nonzero[kBatch];
  while (index < whole_end) {
    const std::size_t count = std::min<std::uint64_t>(kBatch, whole_end - index);
    for (std::size_t k = 0; k < count; ++k) {
      const std::byte* chunk = page.data() + (index + k) * kRootChunkBytes;
      nonzero[k] = !all_zero(chunk, kRootChunkBytes);
      lay_out_chunk(inputs[k], id, index + k, chunk, kRootChunkBytes);
    }
    for (std::size_t k = 0; k < count; ++k) {
      if (nonzero[k]) sum.add(xxh3_128_seeded(inputs[k], kChunkInputBytesMax, kChunkSeed));
    }
    index += count;
  }
  if (index * kRootChunkBytes < end) {  // the page's last chunk, shorter than the others
    const std::uint64_t at = index * kRootChunkBytes;
    sum.add(page_chunk_term(id, index, page.subspan(at, page.size() - at)));
  }
  return sum;
}

}  // namespace mmsb::state

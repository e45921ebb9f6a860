#include "state/root_terms.hpp"

#include <algorithm>
#include <bit>
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

}  // namespace

Hash128 page_meta_term(PageId id, PageType type, Location location, std::uint64_t size_bytes,
                       Epoch epoch) {
  // id (8), type (4), location (1), size (8), epoch (8): FORMAT.md. XXH3 reads these 29
  // bytes as the words at 0, 8, 13 and 21; each must lie inside one store the processor
  // can forward from, or the read waits until the stores reach the cache (about 9 ns a
  // term, measured). So: id at 0, bytes 8-23 in one 16-byte store, then epoch at 21.
  std::byte input[32];
  put_le<std::uint64_t>(input, id.value());
  if constexpr (std::endian::native == std::endian::little) {
    const std::uint64_t middle[2] = {
        std::uint64_t{type} | std::uint64_t{static_cast<std::uint8_t>(location)} << 32 |
            size_bytes << 40,
        size_bytes >> 24 | epoch.value() << 40};
    std::memcpy(input + 8, middle, sizeof(middle));
  } else {
    put_le<std::uint32_t>(input + 8, type);
    put_le<std::uint8_t>(input + 12, static_cast<std::uint8_t>(location));
    put_le<std::uint64_t>(input + 13, size_bytes);
  }
  put_le<std::uint64_t>(input + 21, epoch.value());
  return xxh3_128_seeded(input, 29, kMetaSeed);
}

Hash128 page_chunk_term(PageId id, std::uint64_t index, std::span<const std::byte> chunk) {
  MMSB_DEBUG_ASSERT(!chunk.empty() && chunk.size() <= kRootChunkBytes);
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
  // Whole chunks a batch at a time: every input laid out first, then hashed. XXH3 reads its
  // 76-byte input as 8-byte words at offsets of both parities of 4, many of which span two
  // of the stores that wrote the input; such a read cannot take its bytes from the stores in
  // flight and waits until they reach the cache. A batch later, they have: the 16 terms of
  // a 1 KiB page take 119-129 ns instead of 245-251 (BM_page_content_terms; the hashes
  // alone over inputs laid out in advance, BM_xxh3_chunks: 88-95 ns).
  constexpr std::size_t kBatch = 16;
  std::byte inputs[kBatch][kChunkInputBytesMax];
  bool nonzero[kBatch];
  std::uint64_t index = begin / kRootChunkBytes;
  const std::uint64_t whole_end =
      std::min(page.size() / kRootChunkBytes, (end + kRootChunkBytes - 1) / kRootChunkBytes);
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

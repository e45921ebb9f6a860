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
  // page id (8), chunk index (4), bytes: FORMAT.md.
  std::byte input[12 + kRootChunkBytes];
  put_le<std::uint64_t>(input, id.value());
  put_le<std::uint32_t>(input + 8, static_cast<std::uint32_t>(index));
  std::memcpy(input + 12, chunk.data(), chunk.size());
  return xxh3_128_seeded(input, 12 + chunk.size(), kChunkSeed);
}

TermSum page_content_terms(PageId id, std::span<const std::byte> page, std::uint64_t begin,
                           std::uint64_t end) {
  MMSB_DEBUG_ASSERT(begin <= end && end <= page.size());
  TermSum sum;
  if (begin == end) return sum;
  for (std::uint64_t index = begin / kRootChunkBytes; index * kRootChunkBytes < end; ++index) {
    const std::uint64_t at = index * kRootChunkBytes;
    const std::uint64_t length = std::min<std::uint64_t>(kRootChunkBytes, page.size() - at);
    sum.add(page_chunk_term(id, index, page.subspan(at, length)));
  }
  return sum;
}

}  // namespace mmsb::state

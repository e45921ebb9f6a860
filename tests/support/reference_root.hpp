// An independent, from-scratch computation of the state root, written from docs/FORMAT.md
// ("State root") rather than from the implementation. Tests compare it with State::root(),
// which is maintained incrementally.
#pragma once

#include <algorithm>
#include <vector>

#include "mmsb/mmsb.hpp"

namespace mmsb::test {

// docs/FORMAT.md "State root": a sum of terms modulo 2^128, each term a Hash128 read as the
// number high * 2^64 + low.
inline Hash128 reference_sum(const std::vector<Hash128>& terms) {
  __extension__ using Number = unsigned __int128;
  Number sum = 0;
  for (const Hash128& term : terms) sum += (static_cast<Number>(term.high) << 64) | term.low;
  return Hash128{static_cast<std::uint64_t>(sum), static_cast<std::uint64_t>(sum >> 64)};
}

// What the root commits to, gathered from a State or from any model of one (the
// simulator's oracle builds it from its own maps).
struct RootParts {
  std::uint64_t tick = 0;
  std::uint64_t next_page_id = 1;
  std::uint64_t next_edge_id = 1;
  std::uint64_t page_count = 0;
  std::uint64_t edge_count = 0;
  std::uint64_t derivation_count = 0;
  std::vector<Hash128> page_terms;        // reference_page_terms of every page
  std::vector<Hash128> edge_terms;        // reference_edge_term of every edge
  std::vector<Hash128> derivation_terms;  // reference_derivation_term of every derived page
  std::vector<PendingRetry> retries;      // by (due, family, scope)
};

// A page's metadata term and the terms of its non-zero 64-byte chunks, appended to `terms`.
inline void reference_page_terms(std::uint64_t id, PageType type, Location location,
                                 std::span<const std::byte> bytes, std::uint64_t epoch,
                                 std::vector<Hash128>& terms) {
  Hasher128 meta(1);
  meta.update_u64(id);
  meta.update_u32(type);
  meta.update_u8(static_cast<std::uint8_t>(location));
  meta.update_u64(bytes.size());
  meta.update_u64(epoch);
  terms.push_back(meta.digest());
  for (std::uint64_t at = 0; at < bytes.size(); at += 64) {
    const std::span<const std::byte> chunk =
        bytes.subspan(at, std::min<std::uint64_t>(64, bytes.size() - at));
    bool zero = true;
    for (std::byte byte : chunk) zero = zero && byte == std::byte{0};
    if (zero) continue;
    Hasher128 content(2);
    content.update_u64(id);
    content.update_u32(static_cast<std::uint32_t>(at / 64));
    content.update(chunk);
    terms.push_back(content.digest());
  }
}

inline Hash128 reference_edge_term(const Edge& edge) {
  Hasher128 hasher;
  hasher.update_u64(edge.id.value());
  hasher.update_u32(edge.kind);
  hasher.update_u64(edge.from.value());
  hasher.update_u64(edge.to.value());
  return hasher.digest();
}

inline Hash128 reference_derivation_term(PageId child, std::string_view function) {
  Hasher128 hasher;
  hasher.update_u64(child.value());
  hasher.update_u32(static_cast<std::uint32_t>(function.size()));
  hasher.update(as_bytes(function));
  return hasher.digest();
}

inline Hash128 reference_root(const RootParts& parts) {
  Hasher128 hasher;
  hasher.update_string("mmsb:state-root:v4");
  hasher.update_u64(parts.tick);
  hasher.update_u64(parts.next_page_id);
  hasher.update_u64(parts.next_edge_id);
  hasher.update_u64(parts.page_count);
  hasher.update_u64(parts.edge_count);
  hasher.update_u64(parts.derivation_count);
  hasher.update_hash(reference_sum(parts.page_terms));
  hasher.update_hash(reference_sum(parts.edge_terms));
  hasher.update_hash(reference_sum(parts.derivation_terms));
  // Pending retries: count, then XXH3-128 over (due, family, scope, attempt) per entry.
  Hasher128 retries;
  for (const PendingRetry& retry : parts.retries) {
    retries.update_u64(retry.due.value());
    retries.update_u64(retry.family);
    retries.update_u64(retry.scope.value());
    retries.update_u32(retry.attempt);
  }
  hasher.update_u64(parts.retries.size());
  hasher.update_hash(retries.digest());
  return hasher.digest();
}

inline Hash128 reference_root(const State& state) {
  RootParts parts;
  parts.tick = state.tick().value();
  parts.next_page_id = state.next_page_id().value();
  parts.next_edge_id = state.next_edge_id().value();
  state.for_each_page([&](const PageView& page) {
    ++parts.page_count;
    reference_page_terms(page.id.value(), page.type, page.location, page.bytes, page.epoch.value(),
                         parts.page_terms);
  });
  state.for_each_edge([&](const Edge& edge) {
    ++parts.edge_count;
    parts.edge_terms.push_back(reference_edge_term(edge));
  });
  state.for_each_derivation([&](const Derivation& derivation) {
    ++parts.derivation_count;
    parts.derivation_terms.push_back(
        reference_derivation_term(derivation.child, derivation.function));
  });
  const auto retries = state.pending_retries();
  parts.retries.assign(retries.begin(), retries.end());
  return reference_root(parts);
}

}  // namespace mmsb::test

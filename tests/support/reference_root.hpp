// An independent, from-scratch computation of the state root, written from docs/FORMAT.md
// ("State root") rather than from the implementation. Tests compare it with State::root(),
// which is maintained incrementally.
#pragma once

#include <map>
#include <vector>

#include "mmsb/mmsb.hpp"

namespace mmsb::test {

using LeafHashes = std::vector<std::pair<std::uint64_t, Hash128>>;  // sorted by key

// docs/FORMAT.md: 32-way, 5 bits a level, levels 0..12.
constexpr int kBits = 5;
constexpr int kLevelMax = 12;

inline int top_level(std::uint64_t key) {
  int level = 0;
  while (level < kLevelMax && (key >> (kBits * (level + 1))) != 0) ++level;
  return level;
}

inline Hash128 reference_node_hash(const LeafHashes& entries, int level) {
  std::map<int, LeafHashes> slots;
  for (const auto& entry : entries)
    slots[static_cast<int>((entry.first >> (kBits * level)) & ((1 << kBits) - 1))].push_back(entry);
  if (level > 0 && slots.size() == 1 && slots.begin()->first == 0) {
    return reference_node_hash(slots.begin()->second, level - 1);
  }
  std::uint64_t bitmap = 0;
  for (const auto& [slot, unused] : slots) bitmap |= std::uint64_t{1} << slot;
  Hasher128 hasher;
  hasher.update_u8(static_cast<std::uint8_t>(level));
  hasher.update_u64(bitmap);
  for (const auto& [slot, below] : slots) {
    hasher.update_hash(level == 0 ? below.front().second : reference_node_hash(below, level - 1));
  }
  return hasher.digest();
}

inline Hash128 reference_map_hash(const LeafHashes& entries) {
  if (entries.empty()) return xxh3_128(as_bytes("mmsb:radix:empty"));
  return reference_node_hash(entries, top_level(entries.back().first));
}

// What the root commits to, gathered from a State or from any model of one (the
// simulator's oracle builds it from its own maps).
struct RootParts {
  std::uint64_t tick = 0;
  std::uint64_t next_page_id = 1;
  std::uint64_t next_edge_id = 1;
  LeafHashes pages;                   // reference_page_leaf per page, by id
  LeafHashes edges;                   // reference_edge_leaf per edge, by id
  LeafHashes derivations;             // reference_derivation_leaf per derived page, by child id
  std::vector<PendingRetry> retries;  // by (due, family, scope)
};

inline Hash128 reference_page_leaf(std::uint64_t id, PageType type, Location location,
                                   std::span<const std::byte> bytes, std::uint64_t epoch) {
  Hasher128 hasher;
  hasher.update_u64(id);
  hasher.update_u32(type);
  hasher.update_u8(static_cast<std::uint8_t>(location));
  hasher.update_u64(bytes.size());
  hasher.update_u64(epoch);
  hasher.update_hash(xxh3_128(bytes));
  return hasher.digest();
}

inline Hash128 reference_edge_leaf(const Edge& edge) {
  Hasher128 hasher;
  hasher.update_u64(edge.id.value());
  hasher.update_u32(edge.kind);
  hasher.update_u64(edge.from.value());
  hasher.update_u64(edge.to.value());
  return hasher.digest();
}

inline Hash128 reference_derivation_leaf(PageId child, std::string_view function) {
  Hasher128 hasher;
  hasher.update_u64(child.value());
  hasher.update_u32(static_cast<std::uint32_t>(function.size()));
  hasher.update(as_bytes(function));
  return hasher.digest();
}

inline Hash128 reference_root(const RootParts& parts) {
  Hasher128 hasher;
  hasher.update_string("mmsb:state-root:v3");
  hasher.update_u64(parts.tick);
  hasher.update_u64(parts.next_page_id);
  hasher.update_u64(parts.next_edge_id);
  hasher.update_u64(parts.pages.size());
  hasher.update_u64(parts.edges.size());
  hasher.update_u64(parts.derivations.size());
  hasher.update_hash(reference_map_hash(parts.pages));
  hasher.update_hash(reference_map_hash(parts.edges));
  hasher.update_hash(reference_map_hash(parts.derivations));
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
    parts.pages.emplace_back(
        page.id.value(), reference_page_leaf(page.id.value(), page.type, page.location, page.bytes,
                                             page.epoch.value()));
  });
  state.for_each_edge([&](const Edge& edge) {
    parts.edges.emplace_back(edge.id.value(), reference_edge_leaf(edge));
  });
  state.for_each_derivation([&](const Derivation& derivation) {
    parts.derivations.emplace_back(
        derivation.child.value(), reference_derivation_leaf(derivation.child, derivation.function));
  });
  const auto retries = state.pending_retries();
  parts.retries.assign(retries.begin(), retries.end());
  return reference_root(parts);
}

}  // namespace mmsb::test

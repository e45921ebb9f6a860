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

inline Hash128 reference_root(const State& state) {
  LeafHashes pages;
  state.for_each_page([&](const PageView& page) {
    Hasher128 hasher;
    hasher.update_u64(page.id.value());
    hasher.update_u32(page.type);
    hasher.update_u8(static_cast<std::uint8_t>(page.location));
    hasher.update_u64(page.size_bytes);
    hasher.update_u64(page.epoch.value());
    hasher.update_hash(xxh3_128(page.bytes));
    pages.emplace_back(page.id.value(), hasher.digest());
  });
  LeafHashes edges;
  state.for_each_edge([&](const Edge& edge) {
    Hasher128 hasher;
    hasher.update_u64(edge.id.value());
    hasher.update_u32(edge.kind);
    hasher.update_u64(edge.from.value());
    hasher.update_u64(edge.to.value());
    edges.emplace_back(edge.id.value(), hasher.digest());
  });
  LeafHashes derivations;
  state.for_each_derivation([&](const Derivation& derivation) {
    Hasher128 hasher;
    hasher.update_u64(derivation.child.value());
    hasher.update_u32(static_cast<std::uint32_t>(derivation.function.size()));
    hasher.update(as_bytes(derivation.function));
    derivations.emplace_back(derivation.child.value(), hasher.digest());
  });
  Hasher128 hasher;
  hasher.update_string("mmsb:state-root:v3");
  hasher.update_u64(state.tick().value());
  hasher.update_u64(state.next_page_id().value());
  hasher.update_u64(state.next_edge_id().value());
  hasher.update_u64(state.page_count());
  hasher.update_u64(state.edge_count());
  hasher.update_u64(state.derivation_count());
  hasher.update_hash(reference_map_hash(pages));
  hasher.update_hash(reference_map_hash(edges));
  hasher.update_hash(reference_map_hash(derivations));
  // Pending retries: count, then XXH3-128 over (due, family, scope, attempt) per entry.
  Hasher128 retries;
  for (const PendingRetry& retry : state.pending_retries()) {
    retries.update_u64(retry.due.value());
    retries.update_u64(retry.family);
    retries.update_u64(retry.scope.value());
    retries.update_u32(retry.attempt);
  }
  hasher.update_u64(state.pending_retries().size());
  hasher.update_hash(retries.digest());
  return hasher.digest();
}

}  // namespace mmsb::test

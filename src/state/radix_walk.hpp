// The read-only walks over the nodes of a RadixMap (state/radix_map.hpp): every entry in key
// order, every node, and the entries where two tries differ. They read nodes and never
// change them, so they are free functions of the node types, typed by the map's value `T`.
#pragma once

#include <cstdint>

#include "state/radix_node.hpp"

namespace mmsb::state {

inline const RadixNode* radix_child(const RadixNode* node, int index) {
  return static_cast<const RadixNode*>(radix_slot(node, index));
}

// Calls fn(key, const T&) for every entry below `node`, in ascending key order; `prefix`
// holds the key bits of the levels above.
template <typename T, typename Fn>
void radix_for_each(const RadixNode* node, std::uint64_t prefix, Fn& fn) {
  for (std::uint32_t bits = node->bitmap; bits != 0; bits &= bits - 1) {
    const int index = __builtin_ctz(bits);
    const std::uint64_t key = prefix | (std::uint64_t(index) << (kRadixBits * node->level));
    if (node->level == 0) {
      fn(key, *static_cast<const T*>(radix_slot(node, index)));
    } else {
      radix_for_each<T>(radix_child(node, index), key, fn);
    }
  }
}

// Calls fn(const RadixNode&) for `node` and every node below it, a diff's base after the
// diff, parents before children.
template <typename Fn>
void radix_for_each_node(const RadixNode* node, Fn& fn) {
  fn(*node);
  if (node->diff) fn(*static_cast<const RadixDiff*>(node)->base);
  if (node->level == 0) return;
  for (std::uint32_t bits = node->bitmap; bits != 0; bits &= bits - 1) {
    radix_for_each_node(radix_child(node, __builtin_ctz(bits)), fn);
  }
}

// Calls fn(key, const T* in_a, const T* in_b) for every key whose value differs by identity
// between the tries below `a` and `b` (either may be null), in ascending key order; shared
// subtrees are skipped.
template <typename T, typename Fn>
void radix_diff(const RadixNode* a, const RadixNode* b, std::uint64_t prefix, Fn& fn) {
  if (a == b) return;
  if (a == nullptr || b == nullptr) {
    const RadixNode* present = a != nullptr ? a : b;
    auto report = [&](std::uint64_t key, const T& value) {
      if (a != nullptr)
        fn(key, &value, static_cast<const T*>(nullptr));
      else
        fn(key, static_cast<const T*>(nullptr), &value);
    };
    radix_for_each<T>(present, prefix, report);
    return;
  }
  if (a->level != b->level) {
    // The taller side's slot 0 lines up with the other root and holds the smaller keys;
    // its other slots exist on that side only.
    const bool a_taller = a->level > b->level;
    const RadixNode* tall = a_taller ? a : b;
    if (a_taller)
      radix_diff<T>(radix_child(a, 0), b, prefix, fn);
    else
      radix_diff<T>(a, radix_child(b, 0), prefix, fn);
    for (std::uint32_t bits = tall->bitmap & ~std::uint32_t{1}; bits != 0; bits &= bits - 1) {
      const int index = __builtin_ctz(bits);
      const std::uint64_t key = prefix | (std::uint64_t(index) << (kRadixBits * tall->level));
      if (a_taller)
        radix_diff<T>(radix_child(tall, index), nullptr, key, fn);
      else
        radix_diff<T>(nullptr, radix_child(tall, index), key, fn);
    }
    return;
  }
  for (std::uint32_t bits = a->bitmap | b->bitmap; bits != 0; bits &= bits - 1) {
    const int index = __builtin_ctz(bits);
    const std::uint64_t key = prefix | (std::uint64_t(index) << (kRadixBits * a->level));
    if (a->level == 0) {
      const auto* in_a = static_cast<const T*>(radix_slot(a, index));
      const auto* in_b = static_cast<const T*>(radix_slot(b, index));
      if (in_a != in_b) fn(key, in_a, in_b);
    } else {
      radix_diff<T>(radix_child(a, index), radix_child(b, index), key, fn);
    }
  }
}

}  // namespace mmsb::state

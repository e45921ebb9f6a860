// RadixMap<T>: a persistent map from u64 keys to Ref<T>, the page, edge and adjacency tables
// of a State.
//
// Shape: a 32-way radix trie over the key, 5 bits a level, level 0 holding values. mmsb ids
// are dense counters, so nodes fill up and the trie stays shallow: 1M pages need 4 levels.
// 32 rather than 64: a write copies one node per level, and each copy takes a reference on
// every child, so half the fan-out halves that cost at the same depth up to 1M pages.
// Iteration is in key order, which gives deterministic traversal for free.
//
// Persistence: nodes are shared between versions and never changed once shared. A writer
// holds an owner token; nodes it created carry that token and may be changed in place,
// every other node on a path it writes is copied first (path copying). Giving up the token
// (a seal takes a new one) freezes everything it owned. A frozen node is claimed instead of
// copied (it takes the writer's token and is changed in place) when no other version can
// reach it: its reference count is 1 and its parent is the writer's, so the one reference
// is the writer's own path. That is a working version whose older versions nobody holds.
//
// The map keeps no hashes: the state root is a sum of per-entry terms that the writer
// maintains as it changes entries (state/root_terms.hpp), so the trie's shape never enters
// it.
#pragma once

#include <cstdint>
#include <utility>

#include "core/ref.hpp"
#include "mmsb/assert.hpp"

namespace mmsb::state {

inline constexpr int kRadixBits = 5;
inline constexpr int kRadixFanout = 1 << kRadixBits;
inline constexpr int kRadixMaxLevel = (64 + kRadixBits - 1) / kRadixBits - 1;

struct RadixNode final : RefCounted {
  RadixNode(std::uint8_t level_in, std::uint64_t owner_in) : owner(owner_in), level(level_in) {}
  RadixNode(const RadixNode& other, std::uint64_t owner_in)
      : RefCounted(other), owner(owner_in), bitmap(other.bitmap), level(other.level) {
    for (int i = 0; i < kRadixFanout; ++i) slots[i] = other.slots[i];
  }

  std::uint64_t owner;       // token allowed to change this node in place; 0: frozen
  std::uint64_t bitmap = 0;  // bit i set <=> slots[i] non-null
  std::uint8_t level;        // 0: slots hold values; otherwise child nodes of level - 1
  Ref<RefCounted> slots[kRadixFanout];
};

inline int radix_index(std::uint64_t key, int level) {
  return static_cast<int>((key >> (kRadixBits * level)) & (kRadixFanout - 1));
}

// Level of the smallest trie whose root can hold `key`.
inline int radix_level_for(std::uint64_t key) {
  int level = 0;
  while (level < kRadixMaxLevel && (key >> (kRadixBits * (level + 1))) != 0) ++level;
  return level;
}

template <typename T>
class RadixMap {
 public:
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool same_as(const RadixMap& other) const { return root_ == other.root_; }
  // The root node's identity, for tests of the in-place path.
  const RadixNode* root_node() const { return root_.get(); }

  const T* find(std::uint64_t key) const {
    const RadixNode* node = root_.get();
    if (node == nullptr || radix_level_for(key) > node->level) return nullptr;
    while (node->level > 0) {
      node = static_cast<const RadixNode*>(node->slots[radix_index(key, node->level)].get());
      if (node == nullptr) return nullptr;
    }
    return static_cast<const T*>(node->slots[radix_index(key, 0)].get());
  }

  Ref<T> find_ref(std::uint64_t key) const { return Ref<T>(const_cast<T*>(find(key))); }

  // Inserts or replaces. Nodes not owned by `token` are copied on the way down.
  void set(std::uint64_t key, Ref<T> value, std::uint64_t token) {
    MMSB_ASSERT(value);
    RadixNode* leaf = own_path(key, token);
    const int index = radix_index(key, 0);
    if (!leaf->slots[index]) ++size_;
    leaf->slots[index] = Ref<RefCounted>(std::move(value));
    leaf->bitmap |= std::uint64_t{1} << index;
  }

  // The slot of `key`, which must be present, on a path the writer owns: nodes on the way
  // down are claimed or copied as set() does. The value may then be replaced through it, or
  // changed in place if the slot holds its only reference (the path is the writer's alone).
  Ref<RefCounted>& own_slot(std::uint64_t key, std::uint64_t token) {
    MMSB_DEBUG_ASSERT(find(key) != nullptr);
    return own_path(key, token)->slots[radix_index(key, 0)];
  }

  // Removes `key`; returns whether it was present. Emptied nodes are unlinked.
  bool erase(std::uint64_t key, std::uint64_t token) {
    MMSB_ASSERT(token != 0);
    if (find(key) == nullptr) return false;
    own(root_, token);
    erase_below(root_.get(), key, token);
    if (root_->bitmap == 0) root_ = nullptr;
    --size_;
    return true;
  }

  // Calls fn(key, const T&) for every entry, in ascending key order.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    if (root_) for_each_below(root_.get(), 0, fn);
  }

  // Calls fn(const RadixNode&) for every node, parents before children (memory accounting).
  template <typename Fn>
  void for_each_node(Fn&& fn) const {
    if (root_) for_each_node_below(root_.get(), fn);
  }

  // Calls fn(key, const T* in_a, const T* in_b) for every key whose value differs by
  // identity between a and b (nullptr where absent), in ascending key order. Subtrees the
  // two maps share are skipped, so the cost is O(differences x depth).
  template <typename Fn>
  static void diff(const RadixMap& a, const RadixMap& b, Fn&& fn) {
    diff_nodes(a.root_.get(), b.root_.get(), 0, fn);
  }

 private:
  // True if the writer holding `token` may change `node` (reached through nodes it may
  // change) in place; see "Persistence".
  static bool claim(RadixNode* node, std::uint64_t token) {
    if (node->owner == token) return true;
    if (node->ref_count() != 1) return false;
    node->owner = token;
    return true;
  }

  // The leaf node of `key` on a path the writer owns: the trie grown to hold the key, nodes
  // claimed or copied (or made, where missing) on the way down.
  RadixNode* own_path(std::uint64_t key, std::uint64_t token) {
    MMSB_ASSERT(token != 0);
    grow_to(radix_level_for(key), token);
    RadixNode* node = own(root_, token);
    while (node->level > 0) {
      const int index = radix_index(key, node->level);
      if (!node->slots[index]) {
        node->slots[index] =
            Ref<RefCounted>(Ref<RadixNode>::adopt(new RadixNode(node->level - 1, token)));
        node->bitmap |= std::uint64_t{1} << index;
      }
      node = own_child(node, index, token);
    }
    return node;
  }

  static RadixNode* own(Ref<RadixNode>& slot, std::uint64_t token) {
    if (!claim(slot.get(), token)) slot = Ref<RadixNode>::adopt(new RadixNode(*slot, token));
    return slot.get();
  }

  static RadixNode* own_child(RadixNode* parent, int index, std::uint64_t token) {
    auto* child = static_cast<RadixNode*>(parent->slots[index].get());
    if (!claim(child, token)) {
      child = new RadixNode(*child, token);
      parent->slots[index] = Ref<RefCounted>(Ref<RadixNode>::adopt(child));
    }
    return child;
  }

  void grow_to(int level, std::uint64_t token) {
    if (!root_) {
      root_ = Ref<RadixNode>::adopt(new RadixNode(static_cast<std::uint8_t>(level), token));
      return;
    }
    while (root_->level < level) {
      auto* parent = new RadixNode(static_cast<std::uint8_t>(root_->level + 1), token);
      parent->slots[0] = Ref<RefCounted>(root_);
      parent->bitmap = 1;
      root_ = Ref<RadixNode>::adopt(parent);
    }
  }

  static void erase_below(RadixNode* node, std::uint64_t key, std::uint64_t token) {
    int index = radix_index(key, node->level);
    const std::uint64_t bit = std::uint64_t{1} << index;
    if (node->level > 0) {
      RadixNode* child = own_child(node, index, token);
      erase_below(child, key, token);
      if (child->bitmap != 0) return;
    }
    node->slots[index] = nullptr;
    node->bitmap &= ~bit;
  }

  template <typename Fn>
  static void for_each_below(const RadixNode* node, std::uint64_t prefix, Fn& fn) {
    for (std::uint64_t bits = node->bitmap; bits != 0; bits &= bits - 1) {
      int index = __builtin_ctzll(bits);
      std::uint64_t key = prefix | (std::uint64_t(index) << (kRadixBits * node->level));
      if (node->level == 0) {
        fn(key, *static_cast<const T*>(node->slots[index].get()));
      } else {
        for_each_below(static_cast<const RadixNode*>(node->slots[index].get()), key, fn);
      }
    }
  }

  template <typename Fn>
  static void for_each_node_below(const RadixNode* node, Fn& fn) {
    fn(*node);
    if (node->level == 0) return;
    for (std::uint64_t bits = node->bitmap; bits != 0; bits &= bits - 1) {
      for_each_node_below(child(node, __builtin_ctzll(bits)), fn);
    }
  }

  static const RadixNode* child(const RadixNode* node, int index) {
    return static_cast<const RadixNode*>(node->slots[index].get());
  }

  template <typename Fn>
  static void diff_nodes(const RadixNode* a, const RadixNode* b, std::uint64_t prefix, Fn& fn) {
    if (a == b) return;
    if (a == nullptr || b == nullptr) {
      const RadixNode* present = a != nullptr ? a : b;
      auto report = [&](std::uint64_t key, const T& value) {
        if (a != nullptr)
          fn(key, &value, static_cast<const T*>(nullptr));
        else
          fn(key, static_cast<const T*>(nullptr), &value);
      };
      for_each_below(present, prefix, report);
      return;
    }
    if (a->level != b->level) {
      // The taller side's slot 0 lines up with the other root and holds the smaller keys;
      // its other slots exist on that side only.
      bool a_taller = a->level > b->level;
      const RadixNode* tall = a_taller ? a : b;
      if (a_taller)
        diff_nodes(child(a, 0), b, prefix, fn);
      else
        diff_nodes(a, child(b, 0), prefix, fn);
      for (std::uint64_t bits = tall->bitmap & ~std::uint64_t{1}; bits != 0; bits &= bits - 1) {
        int index = __builtin_ctzll(bits);
        std::uint64_t key = prefix | (std::uint64_t(index) << (kRadixBits * tall->level));
        if (a_taller)
          diff_nodes(child(tall, index), nullptr, key, fn);
        else
          diff_nodes(nullptr, child(tall, index), key, fn);
      }
      return;
    }
    for (std::uint64_t bits = a->bitmap | b->bitmap; bits != 0; bits &= bits - 1) {
      int index = __builtin_ctzll(bits);
      std::uint64_t key = prefix | (std::uint64_t(index) << (kRadixBits * a->level));
      if (a->level == 0) {
        const auto* in_a = static_cast<const T*>(a->slots[index].get());
        const auto* in_b = static_cast<const T*>(b->slots[index].get());
        if (in_a != in_b) fn(key, in_a, in_b);
      } else {
        diff_nodes(child(a, index), child(b, index), key, fn);
      }
    }
  }

  Ref<RadixNode> root_;
  std::size_t size_ = 0;
};

}  // namespace mmsb::state

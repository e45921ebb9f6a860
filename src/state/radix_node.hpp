// The nodes of RadixMap (state/radix_map.hpp, which describes the trie and its persistence):
// full nodes of 32 slots, diff nodes of up to kRadixDiffSlots slots over a full base, the
// slot type and its index arithmetic, and the handle of a slot a writer owns.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstddef>
#include <new>
#include <utility>

#include "core/arena.hpp"
#include "core/ref.hpp"
#include "mmsb/assert.hpp"

namespace mmsb::state {

inline constexpr int kRadixBits = 5;
inline constexpr int kRadixFanout = 1 << kRadixBits;
inline constexpr int kRadixMaxLevel = (64 + kRadixBits - 1) / kRadixBits - 1;
// Slots a diff node replaces at most before it becomes a full node.
inline constexpr int kRadixDiffSlots = 8;
// The owner of a base while a writer writes a diff's slots into it (never a token: tokens
// count up from 1).
inline constexpr std::uint64_t kFolding = ~std::uint64_t{0};

// A node's slot: a child node (level > 0) or a value (level 0), whose reference the node
// holds. Slots are plain pointers counted by hand, so the values need no vtable (a page
// record is 48 bytes): the map, which knows their type, takes references, and a node
// releases its values through its map's release function.
using RadixSlot = void*;
using RadixRelease = void (*)(RadixSlot value);

// What every node has: a full node (RadixFull) or a diff over one (RadixDiff).
struct RadixNode : RefCounted {
  RadixNode(std::uint8_t level_in, std::uint64_t owner_in, bool diff_in, RadixRelease release_in)
      : owner(owner_in), release_value(release_in), level(level_in), diff(diff_in) {}

  // Drops the reference `slot` holds (a node's, or a value's at level 0).
  void release(RadixSlot slot) const {
    if (slot == nullptr) return;
    if (level > 0) {
      static_cast<RadixNode*>(slot)->unref();
    } else {
      release_value(slot);
    }
  }

  // The token allowed to change this node in place (a dead token once its writer sealed).
  std::atomic<std::uint64_t> owner;
  RadixRelease release_value;
  std::uint32_t bitmap = 0;  // bit i set <=> slot i (as this node shows it) is non-null
  std::uint8_t level;        // 0: slots hold values; otherwise child nodes of level - 1
  bool diff;                 // a RadixDiff, else a RadixFull
};
static_assert(sizeof(RadixNode) == 40);

struct RadixFull final : RadixNode {
  RadixFull(std::uint8_t level_in, std::uint64_t owner_in, RadixRelease release_in)
      : RadixNode(level_in, owner_in, false, release_in) {}
  RadixFull(const RadixFull&) = delete;
  ~RadixFull() override {
    for (RadixSlot slot : slots) release(slot);
  }
  RadixSlot slots[kRadixFanout] = {};
};

struct RadixDiff final : RadixNode {
  RadixDiff(Ref<RadixFull> base_in, std::uint32_t bitmap_in, std::uint64_t owner_in)
      : RadixNode(base_in->level, owner_in, true, base_in->release_value),
        base(std::move(base_in)) {
    bitmap = bitmap_in;
  }
  RadixDiff(const RadixDiff&) = delete;
  ~RadixDiff() override {
    for (int i = 0; i < count; ++i) release(values[i]);
  }
  // Made and dropped once a tick per node a tick writes: one 128-byte arena block.
  static void* operator new(std::size_t size_bytes) {
    void* block = core::arena_allocate(size_bytes);
    if (block == nullptr) throw std::bad_alloc();
    return block;
  }
  static void operator delete(void* block, std::size_t size_bytes) noexcept {
    core::arena_deallocate(static_cast<std::byte*>(block), size_bytes);
  }
  // The slot this diff replaces at `index`, or null if it shows the base's.
  RadixSlot* replaced(int index) {
    for (int i = 0; i < count; ++i) {
      if (indexes[i] == index) return &values[i];
    }
    return nullptr;
  }
  const RadixSlot* replaced(int index) const {
    return const_cast<RadixDiff*>(this)->replaced(index);
  }

  Ref<RadixFull> base;
  std::uint8_t count = 0;
  std::uint8_t indexes[kRadixDiffSlots] = {};
  RadixSlot values[kRadixDiffSlots] = {};
};
static_assert(sizeof(RadixDiff) <= 128, "a diff is one 128-byte arena block");

inline int radix_index(std::uint64_t key, int level) {
  return static_cast<int>((key >> (kRadixBits * level)) & (kRadixFanout - 1));
}

// Level of the smallest trie whose root can hold `key`.
inline int radix_level_for(std::uint64_t key) {
  int level = 0;
  while (level < kRadixMaxLevel && (key >> (kRadixBits * (level + 1))) != 0) ++level;
  return level;
}

// Slot `index` of `node` as it shows it (a diff's own, else its base's).
inline RadixSlot radix_slot(const RadixNode* node, int index) {
  if (!node->diff) return static_cast<const RadixFull*>(node)->slots[index];
  const auto* diff = static_cast<const RadixDiff*>(node);
  const RadixSlot* replaced = diff->replaced(index);
  return replaced != nullptr ? *replaced : diff->base->slots[index];
}

// A level-0 slot the writer owns (RadixMap::own_slot): its value may be replaced, or
// changed in place if the slot holds its only reference.
template <typename T>
class OwnedSlot {
 public:
  explicit OwnedSlot(RadixSlot& slot) : slot_(&slot) {}
  T* get() const { return static_cast<T*>(*slot_); }
  T* operator->() const { return get(); }
  // Puts `value` in the slot and drops the reference to what it held.
  void reset(Ref<T> value) { exchange(std::move(value)); }
  // Puts `value` in the slot and hands over the slot's reference to what it held: no count
  // changes (each would be a locked instruction on the old value's line).
  Ref<T> exchange(Ref<T> value) {
    T* old = get();
    *slot_ = value.release();
    return Ref<T>::take_over(old);
  }

 private:
  RadixSlot* slot_;
};

}  // namespace mmsb::state

// RadixMap<T>: a persistent map from u64 keys to Ref<T>, the page, edge and adjacency tables
// of a State.
//
// Shape: a 32-way radix trie over the key, 5 bits a level, level 0 holding values. mmsb ids
// are dense counters, so nodes fill up and the trie stays shallow: 1M pages need 4 levels.
// Iteration is in key order, which gives deterministic traversal for free.
//
// Persistence: nodes are shared between versions and their content never changes once
// shared. A writer holds an owner token; nodes it made carry the token and are changed in
// place. A node it reaches that others may share is not copied: the writer puts a diff node
// in its place, which names the shared node as its base and holds up to kRadixDiffSlots
// slots that replace the base's. Copying a node would take a reference on each of its 32
// children, most of them on cache lines nothing else touches (and drop them all again when
// the old version dies); a diff takes one, on its base. A diff's base is always a full
// node, so a lookup takes at most one extra hop. A diff whose slots run out becomes a full
// node (the copy, once).
//
// A node nobody else can reach is changed in place instead: one whose reference count is 1
// on a path the writer owns (a working version whose older versions nobody holds). And when
// a new diff is made over a diff whose base is held by that diff alone, the old diff's slots
// are first written into the base: the base is then reached only through the old diff,
// which shows its own slots at those indexes, so no reader can tell; the new diff takes the
// base as it is now. A writer that keeps publishing versions while the one before dies (the
// sequencer) so keeps every node at one diff over one full node, and a write costs a
// handful of reference counts whatever the fan-out. The writer claims such a base with a
// compare-and-swap on its owner, since another writer may reach it through the same shared
// diff; one that cannot takes the old diff's slots into the new one instead.
//
// The map keeps no hashes: the state root is a sum of per-entry terms that the writer
// maintains as it changes entries (state/root_terms.hpp), so the trie's shape never enters
// it.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "core/ref.hpp"
#include "mmsb/assert.hpp"
#include "state/radix_node.hpp"
#include "state/radix_walk.hpp"

namespace mmsb::state {

template <typename T>
class RadixMap {
 public:
  RadixMap() = default;
  // A copy or a move starts without a finger (see finger_).
  RadixMap(const RadixMap& other) : root_(other.root_), size_(other.size_) {
    if (root_ != nullptr) root()->ref();
  }
  RadixMap(RadixMap&& other) noexcept
      : root_(std::exchange(other.root_, nullptr)), size_(std::exchange(other.size_, 0)) {
    other.finger_ = nullptr;
  }
  RadixMap& operator=(RadixMap other) noexcept {
    std::swap(root_, other.root_);
    std::swap(size_, other.size_);
    finger_ = nullptr;
    return *this;
  }
  ~RadixMap() {
    if (root_ != nullptr) root()->unref();
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool same_as(const RadixMap& other) const { return root_ == other.root_; }
  // The root node's identity, for tests of the in-place path.
  const RadixNode* root_node() const { return root(); }

  const T* find(std::uint64_t key) const {
    const RadixNode* leaf = leaf_of(key);
    return leaf == nullptr ? nullptr : static_cast<const T*>(radix_slot(leaf, radix_index(key, 0)));
  }

  // The level-0 node that holds `key` or would, if it exists.
  const RadixNode* leaf_of(std::uint64_t key) const {
    const RadixNode* node = root();
    if (node == nullptr || radix_level_for(key) > node->level) return nullptr;
    while (node->level > 0) {
      node = static_cast<const RadixNode*>(radix_slot(node, radix_index(key, node->level)));
      if (node == nullptr) return nullptr;
    }
    return node;
  }

  Ref<T> find_ref(std::uint64_t key) const { return Ref<T>(const_cast<T*>(find(key))); }

  // Inserts or replaces. Nodes the writer holding `token` may not change are replaced by
  // diffs (or claimed) on the way down.
  void set(std::uint64_t key, Ref<T> value, std::uint64_t token) {
    MMSB_ASSERT(value);
    RadixSlot& slot = own_path(key, token, true);
    if (slot == nullptr) ++size_;
    OwnedSlot<T>(slot).reset(std::move(value));
  }

  // The slot of `key`, which must be present, in a node the writer owns (made as set()
  // makes them). The value may then be replaced through it, or changed in place if the slot
  // holds its only reference (no version but the writer's can reach it).
  OwnedSlot<T> own_slot(std::uint64_t key, std::uint64_t token) {
    MMSB_DEBUG_ASSERT(find(key) != nullptr);
    return OwnedSlot<T>(own_path(key, token, false));
  }

  // Removes `key`; returns whether it was present. Emptied nodes are unlinked.
  bool erase(std::uint64_t key, std::uint64_t token) {
    MMSB_ASSERT(token != 0);
    if (find(key) == nullptr) return false;
    finger_ = nullptr;  // the erase may unlink nodes
    erase_below(root_, key, token);
    if (root()->bitmap == 0) {
      root()->unref();
      root_ = nullptr;
    }
    --size_;
    return true;
  }

  // Calls fn(key, const T&) for every entry, in ascending key order.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    if (root_ != nullptr) radix_for_each<T>(root(), 0, fn);
  }

  // Calls fn(const RadixNode&) for every node a lookup may pass, a diff's base after the
  // diff, parents before children (memory accounting).
  template <typename Fn>
  void for_each_node(Fn&& fn) const {
    if (root_ != nullptr) radix_for_each_node(root(), fn);
  }

  // Calls fn(key, const T* in_a, const T* in_b) for every key whose value differs by
  // identity between a and b (nullptr where absent), in ascending key order. Subtrees the
  // two maps share are skipped, so the cost is O(differences x depth).
  template <typename Fn>
  static void diff(const RadixMap& a, const RadixMap& b, Fn&& fn) {
    radix_diff<T>(a.root(), b.root(), 0, fn);
  }

 private:
  static void release_value(RadixSlot value) { static_cast<T*>(value)->unref(); }

  const RadixNode* root() const { return static_cast<const RadixNode*>(root_); }
  RadixNode* root() { return static_cast<RadixNode*>(root_); }
  static RadixNode* node_in(RadixSlot link) { return static_cast<RadixNode*>(link); }

  // A reference to what `slot` of a node at `level` holds, taken for a second holder.
  static RadixSlot shared(RadixSlot slot, int level) {
    if (slot != nullptr) {
      if (level > 0) {
        static_cast<RadixNode*>(slot)->ref();
      } else {
        static_cast<T*>(slot)->ref();
      }
    }
    return slot;
  }

  // Puts `node` (whose reference the caller hands over) in `link`, a link to a node, and
  // drops the reference to what the link held.
  static void relink(RadixSlot& link, RadixNode* node) {
    RadixNode* old = node_in(link);
    link = node;
    if (old != nullptr) old->unref();
  }

  static RadixFull* make_full(std::uint8_t level, std::uint64_t token) {
    auto* node = new RadixFull(level, token, &release_value);
    node->adopt_first_reference();
    return node;
  }

  // The slot of `key` at level 0, in nodes the writer owns from the root down; missing
  // nodes are made if `make`, which must be set for a key not present.
  RadixSlot& own_path(std::uint64_t key, std::uint64_t token, bool make) {
    MMSB_ASSERT(token != 0);
    const int leaf_index = radix_index(key, 0);
    if (finger_ != nullptr && key >> kRadixBits == finger_keys_ &&
        finger_->owner.load(std::memory_order_relaxed) == token) {
      if (RadixSlot* slot = slot_in_place(*finger_, leaf_index)) {
        finger_->bitmap |= std::uint32_t{1} << leaf_index;  // the caller fills the slot
        return *slot;
      }
    }
    finger_ = nullptr;  // the walk may replace nodes
    grow_to(radix_level_for(key), token);
    RadixSlot* link = &root_;
    for (;;) {
      const int index = radix_index(key, own(*link, token)->level);
      RadixSlot& slot = writable_slot(*link, index, token);
      RadixNode* node = node_in(*link);  // writable_slot may have replaced it
      if (node->level == 0) {
        node->bitmap |= std::uint32_t{1} << index;  // the caller fills the slot
        finger_ = node;
        finger_keys_ = key >> kRadixBits;
        return slot;
      }
      if (slot == nullptr) {
        MMSB_ASSERT(make);
        slot = make_full(static_cast<std::uint8_t>(node->level - 1), token);
        node->bitmap |= std::uint32_t{1} << index;
      }
      link = &slot;
    }
  }

  // The node in `link` (which the writer's path owns), made the writer's: its own, claimed,
  // or replaced by a diff over what others share.
  static RadixNode* own(RadixSlot& link, std::uint64_t token) {
    RadixNode* node = node_in(link);
    if (node->owner.load(std::memory_order_relaxed) == token) return node;
    if (node->ref_count() == 1) {
      // Reached only through the writer's own path: no one else can see it change.
      node->owner.store(token, std::memory_order_relaxed);
      if (node->diff) collapse_if_private(link, token);
      return node_in(link);
    }
    RadixFull* base;
    const RadixDiff* over = nullptr;
    if (node->diff) {
      over = static_cast<const RadixDiff*>(node);
      base = over->base.get();
      if (fold_into_base(*over, token)) over = nullptr;  // the base now shows what it did
    } else {
      base = static_cast<RadixFull*>(node);
    }
    auto* diff = new RadixDiff(Ref<RadixFull>(base), node->bitmap, token);
    diff->adopt_first_reference();
    if (over != nullptr) {
      diff->count = over->count;
      for (int i = 0; i < over->count; ++i) {
        diff->indexes[i] = over->indexes[i];
        diff->values[i] = shared(over->values[i], over->level);
      }
    }
    relink(link, diff);
    return diff;
  }

  // A private diff whose base only it holds: the base takes the diff's slots and its place.
  static void collapse_if_private(RadixSlot& link, std::uint64_t token) {
    auto* diff = static_cast<RadixDiff*>(node_in(link));
    if (diff->base->ref_count() != 1) return;
    RadixFull* base = diff->base.get();
    write_slots(*diff, *base);
    base->owner.store(token, std::memory_order_relaxed);
    base->ref();         // for the link
    relink(link, base);  // the diff goes, and its reference to the base with it
  }

  // A shared diff whose base only it holds: the base takes the diff's slots (see the
  // header). Another writer may reach the base through the same diff, so the base is claimed
  // first (its owner set to kFolding; the count is checked again once claimed): false if it
  // is shared or another writer has it.
  static bool fold_into_base(const RadixDiff& diff, std::uint64_t token) {
    RadixFull& base = *diff.base;
    if (base.ref_count() != 1) return false;
    std::uint64_t owner = base.owner.load(std::memory_order_acquire);
    if (owner == kFolding ||
        !base.owner.compare_exchange_strong(owner, kFolding, std::memory_order_acq_rel)) {
      return false;
    }
    if (base.ref_count() != 1) {
      base.owner.store(owner, std::memory_order_release);
      return false;
    }
    write_slots(diff, base);
    base.owner.store(token, std::memory_order_release);
    return true;
  }

  static void write_slots(const RadixDiff& diff, RadixFull& base) {
    for (int i = 0; i < diff.count; ++i) {
      RadixSlot& slot = base.slots[diff.indexes[i]];
      const RadixSlot old = slot;
      slot = shared(diff.values[i], diff.level);
      base.release(old);
    }
    base.bitmap = diff.bitmap;
  }

  // Slot `index` of the writer's `node`, writable where it stands: a full node's, or a
  // diff's own (taken over from the base's value). Null if the node is a diff out of slots.
  static RadixSlot* slot_in_place(RadixNode& node, int index) {
    if (!node.diff) return &static_cast<RadixFull&>(node).slots[index];
    auto& diff = static_cast<RadixDiff&>(node);
    if (RadixSlot* replaced = diff.replaced(index)) return replaced;
    if (diff.count == kRadixDiffSlots) return nullptr;
    const int at = diff.count++;
    diff.indexes[at] = static_cast<std::uint8_t>(index);
    diff.values[at] = shared(diff.base->slots[index], diff.level);
    return &diff.values[at];
  }

  // Slot `index` of the writer's node in `link`, writable (slot_in_place); a diff out of
  // slots becomes a full node first.
  static RadixSlot& writable_slot(RadixSlot& link, int index, std::uint64_t token) {
    if (RadixSlot* slot = slot_in_place(*node_in(link), index)) return *slot;
    auto* diff = static_cast<RadixDiff*>(node_in(link));
    RadixFull* full = make_full(diff->level, token);
    full->bitmap = diff->bitmap;
    // The diff's own slots move over when the link holds its only reference (it dies here):
    // only the base's slots take a reference.
    const bool dying = diff->ref_count() == 1;
    for (std::uint32_t bits = diff->bitmap; bits != 0; bits &= bits - 1) {
      const int i = __builtin_ctz(bits);
      RadixSlot* own = diff->replaced(i);
      if (own != nullptr && dying) {
        full->slots[i] = std::exchange(*own, nullptr);
      } else {
        full->slots[i] = shared(own != nullptr ? *own : diff->base->slots[i], diff->level);
      }
    }
    relink(link, full);  // the diff goes
    return full->slots[index];
  }

  void grow_to(int level, std::uint64_t token) {
    if (root_ == nullptr) {
      root_ = make_full(static_cast<std::uint8_t>(level), token);
      return;
    }
    while (root()->level < level) {
      RadixFull* parent = make_full(static_cast<std::uint8_t>(root()->level + 1), token);
      parent->slots[0] = root_;  // the map's reference to the old root moves to the parent
      parent->bitmap = 1;
      root_ = parent;
    }
  }

  static void erase_below(RadixSlot& link, std::uint64_t key, std::uint64_t token) {
    const int index = radix_index(key, own(link, token)->level);
    RadixSlot& slot = writable_slot(link, index, token);
    RadixNode* node = node_in(link);
    if (node->level > 0) {
      erase_below(slot, key, token);
      if (node_in(slot)->bitmap != 0) return;
    }
    const RadixSlot old = slot;
    slot = nullptr;
    node->bitmap &= ~(std::uint32_t{1} << index);
    node->release(old);
  }

  RadixSlot root_ = nullptr;  // a RadixNode, or null when empty
  std::size_t size_ = 0;
  // The level-0 node the last own_path() reached, and its keys (key >> kRadixBits): while
  // the writer still owns it, the next key it holds skips the walk from the root (ids are
  // counters, and writers go through pages in id order: page creation, the rules step's
  // apply). Every change that may unlink a node goes through a walk or erase(), which drop
  // it, so it never outlives its node.
  RadixNode* finger_ = nullptr;
  std::uint64_t finger_keys_ = 0;
};

}  // namespace mmsb::state

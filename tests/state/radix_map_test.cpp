// RadixMap against a std::map oracle: contents, persistence and diff.
#include "state/radix_map.hpp"

#include <map>
#include <memory>
#include <vector>

#include "support/rapidcheck_gtest.hpp"

namespace mmsb::state {
namespace {

struct Value final : RefCounted {
  explicit Value(std::uint64_t v) : value(v) {}
  std::uint64_t value;
};

using Oracle = std::map<std::uint64_t, std::uint64_t>;

Oracle contents(const RadixMap<Value>& map) {
  Oracle out;
  std::uint64_t previous = 0;
  bool first = true;
  map.for_each([&](std::uint64_t key, const Value& v) {
    EXPECT_TRUE(first || key > previous) << "for_each out of order";
    previous = key;
    first = false;
    out.emplace(key, v.value);
  });
  return out;
}

rc::Gen<std::uint64_t> gen_key() {
  // Mostly dense small ids (the common case), sometimes anywhere in the u64 range.
  return rc::gen::weightedOneOf<std::uint64_t>(
      {{6, rc::gen::inRange<std::uint64_t>(0, 300)}, {1, rc::gen::arbitrary<std::uint64_t>()}});
}

// Applies random sets and erases to `map` (under `token`) and `oracle` alike.
void random_edits(RadixMap<Value>& map, Oracle& oracle, std::uint64_t token) {
  const auto count = *rc::gen::inRange(0, 200);
  for (int i = 0; i < count; ++i) {
    std::uint64_t key = *gen_key();
    if (*rc::gen::inRange(0, 4) == 0) {
      bool erased = map.erase(key, token);
      RC_ASSERT(erased == (oracle.erase(key) == 1));
    } else {
      std::uint64_t value = *rc::gen::arbitrary<std::uint64_t>();
      map.set(key, make_ref<Value>(value), token);
      oracle[key] = value;
    }
  }
}

RC_GTEST_PROP(RadixMapProperty, BehavesLikeAnOrderedMap, ()) {
  RadixMap<Value> map;
  Oracle oracle;
  random_edits(map, oracle, 1);
  RC_ASSERT(map.size() == oracle.size());
  RC_ASSERT(contents(map) == oracle);
  for (const auto& [key, value] : oracle) {
    RC_ASSERT(map.find(key) != nullptr);
    RC_ASSERT(map.find(key)->value == value);
  }
  std::uint64_t probe = *gen_key();
  RC_ASSERT((map.find(probe) != nullptr) == (oracle.count(probe) == 1));
}

RC_GTEST_PROP(RadixMapProperty, OldVersionsStayIntactUnderANewToken, ()) {
  RadixMap<Value> map;
  Oracle oracle;
  random_edits(map, oracle, 1);
  RadixMap<Value> frozen = map;  // token 1 is never used again
  Oracle frozen_oracle = oracle;
  random_edits(map, oracle, 2);
  RC_ASSERT(contents(frozen) == frozen_oracle);
  RC_ASSERT(contents(map) == oracle);
}

RC_GTEST_PROP(RadixMapProperty, DiffReportsExactlyTheChangedKeys, ()) {
  RadixMap<Value> a;
  Oracle oracle_a;
  random_edits(a, oracle_a, 1);
  RadixMap<Value> b = a;
  Oracle oracle_b = oracle_a;
  random_edits(b, oracle_b, 2);
  std::map<std::uint64_t, std::pair<const Value*, const Value*>> reported;
  std::uint64_t previous = 0;
  bool first = true;
  RadixMap<Value>::diff(a, b, [&](std::uint64_t key, const Value* in_a, const Value* in_b) {
    RC_ASSERT(first || key > previous);
    first = false;
    previous = key;
    reported[key] = {in_a, in_b};
  });
  // Every key whose entry differs by identity is reported, with the right sides.
  for (const auto& [key, sides] : reported) {
    RC_ASSERT(sides.first == a.find(key));
    RC_ASSERT(sides.second == b.find(key));
    RC_ASSERT(sides.first != sides.second);
  }
  for (const auto& [key, value] : oracle_b) {
    auto in_a = oracle_a.find(key);
    if (in_a == oracle_a.end() || in_a->second != value) RC_ASSERT(reported.count(key) == 1);
  }
  for (const auto& [key, value] : oracle_a) {
    if (oracle_b.count(key) == 0) RC_ASSERT(reported.count(key) == 1);
  }
}

// A writer that keeps making versions (a new token each), while older ones are kept or
// dropped at random: diffs over shared nodes, folds into bases only a diff holds, collapses
// of private diffs and diffs that run out of slots all happen, and every version kept reads
// as it was made.
RC_GTEST_PROP(RadixMapProperty, VersionsKeptAndDroppedAtRandomStayIntact, ()) {
  RadixMap<Value> map;
  Oracle oracle;
  std::vector<std::pair<RadixMap<Value>, Oracle>> kept;
  const auto steps = *rc::gen::inRange(1, 30);
  for (std::uint64_t token = 1; token <= static_cast<std::uint64_t>(steps); ++token) {
    const auto edits = *rc::gen::inRange(0, 14);  // mostly fewer than a diff's slots
    for (int i = 0; i < edits; ++i) {
      const std::uint64_t key = *rc::gen::inRange<std::uint64_t>(0, 200);
      if (*rc::gen::inRange(0, 5) == 0) {
        RC_ASSERT(map.erase(key, token) == (oracle.erase(key) == 1));
      } else {
        const std::uint64_t value = *rc::gen::arbitrary<std::uint64_t>();
        map.set(key, make_ref<Value>(value), token);
        oracle[key] = value;
      }
    }
    if (*rc::gen::inRange(0, 2) == 0) kept.emplace_back(map, oracle);
    if (!kept.empty() && *rc::gen::inRange(0, 2) == 0) {
      kept.erase(kept.begin() + *rc::gen::inRange<std::size_t>(0, kept.size()));
    }
  }
  for (const auto& [version, expected] : kept) RC_ASSERT(contents(version) == expected);
  RC_ASSERT(contents(map) == oracle);
}

const RadixDiff* diff_of(const RadixMap<Value>& map, std::uint64_t key) {
  const RadixNode* leaf = map.leaf_of(key);
  return leaf != nullptr && leaf->diff ? static_cast<const RadixDiff*>(leaf) : nullptr;
}

TEST(RadixMapTest, AWriteToASharedNodeMakesADiffNotACopy) {
  RadixMap<Value> map;
  for (std::uint64_t key = 0; key < 32; ++key) map.set(key, make_ref<Value>(key), 1);
  const RadixNode* full = map.leaf_of(0);
  RadixMap<Value> v1 = map;  // shares every node
  map.set(3, make_ref<Value>(300), 2);
  const RadixDiff* diff = diff_of(map, 3);
  ASSERT_NE(diff, nullptr);
  EXPECT_EQ(diff->base.get(), full);  // the 31 other slots are the base's, not copies
  EXPECT_EQ(diff->count, 1);
  EXPECT_EQ(v1.find(3)->value, 3u);
  EXPECT_EQ(map.find(3)->value, 300u);
  EXPECT_EQ(map.find(4), v1.find(4));
}

TEST(RadixMapTest, ADiffWhoseBaseOnlyItHoldsIsFoldedIntoIt) {
  RadixMap<Value> map;
  for (std::uint64_t key = 0; key < 32; ++key) map.set(key, make_ref<Value>(key), 1);
  auto v1 = std::make_unique<RadixMap<Value>>(map);
  map.set(3, make_ref<Value>(300), 2);
  RadixMap<Value> v2 = map;  // holds the diff
  v1.reset();                // now only the diff holds the base
  map.set(5, make_ref<Value>(500), 3);
  const RadixDiff* diff = diff_of(map, 5);
  ASSERT_NE(diff, nullptr);
  EXPECT_EQ(diff->count, 1) << "the diff of version 2 was copied, not folded";
  EXPECT_EQ(static_cast<const Value*>(diff->base->slots[3])->value, 300u);  // as v2 did
  EXPECT_EQ(v2.find(3)->value, 300u);
  EXPECT_EQ(v2.find(5)->value, 5u);
  EXPECT_EQ(map.find(3)->value, 300u);
  EXPECT_EQ(map.find(5)->value, 500u);
}

TEST(RadixMapTest, ADiffOutOfSlotsBecomesAFullNode) {
  RadixMap<Value> map;
  for (std::uint64_t key = 0; key < 32; ++key) map.set(key, make_ref<Value>(key), 1);
  RadixMap<Value> v1 = map;
  for (std::uint64_t key = 0; key <= kRadixDiffSlots; ++key) map.set(key, make_ref<Value>(9), 2);
  EXPECT_FALSE(map.leaf_of(0)->diff);
  for (std::uint64_t key = 0; key < 32; ++key) {
    EXPECT_EQ(map.find(key)->value, key <= kRadixDiffSlots ? 9u : key);
    EXPECT_EQ(v1.find(key)->value, key);
  }
}

TEST(RadixMapTest, APrivateDiffGivesWayToItsBase) {
  // A working version: once the version it forked from is gone, its diff and the diff's base
  // are its alone, and the base takes the diff's place.
  RadixMap<Value> map;
  for (std::uint64_t key = 0; key < 32; ++key) map.set(key, make_ref<Value>(key), 1);
  auto v1 = std::make_unique<RadixMap<Value>>(map);
  map.set(3, make_ref<Value>(300), 2);
  const RadixFull* base = diff_of(map, 3)->base.get();
  v1.reset();
  map.set(4, make_ref<Value>(400), 3);
  EXPECT_EQ(map.leaf_of(3), base);
  EXPECT_EQ(map.find(3)->value, 300u);
  EXPECT_EQ(map.find(4)->value, 400u);
}

TEST(RadixMapTest, SharesUntouchedSubtrees) {
  RadixMap<Value> map;
  for (std::uint64_t key = 0; key < 64 * 64; ++key) map.set(key, make_ref<Value>(key), 1);
  RadixMap<Value> copy = map;
  copy.set(5, make_ref<Value>(99), 2);
  int differences = 0;
  RadixMap<Value>::diff(map, copy, [&](std::uint64_t key, const Value*, const Value*) {
    EXPECT_EQ(key, 5u);
    ++differences;
  });
  EXPECT_EQ(differences, 1);
  EXPECT_EQ(map.find(5)->value, 5u);
  EXPECT_EQ(copy.find(5)->value, 99u);
  EXPECT_EQ(map.find(4000), copy.find(4000));  // same record, not a copy
}

// Writes in key order reuse the last leaf they reached (the finger) while the writer owns
// it; a new token, an erase that unlinks the leaf, or a diff out of slots sends the next
// write down from the root again (under ASan, a finger left on a freed leaf would fault).
TEST(RadixMapTest, WritesInKeyOrderStayCorrectAcrossTokensAndErases) {
  RadixMap<Value> map;
  for (std::uint64_t key = 0; key < 64; ++key) map.set(key, make_ref<Value>(key), 1);
  const RadixNode* second = map.leaf_of(32);
  RadixMap<Value> v1 = map;
  for (std::uint64_t key = 32; key < 64; ++key) map.set(key, make_ref<Value>(key + 100), 2);
  EXPECT_NE(map.leaf_of(32), second);  // a diff, then a full node of token 2's
  for (std::uint64_t key = 32; key < 64; ++key) {
    EXPECT_EQ(v1.find(key)->value, key);
    EXPECT_EQ(map.find(key)->value, key + 100);
  }
  for (std::uint64_t key = 32; key < 64; ++key) EXPECT_TRUE(map.erase(key, 2));
  EXPECT_EQ(map.leaf_of(40), nullptr);  // unlinked
  for (std::uint64_t key = 32; key < 40; ++key) map.set(key, make_ref<Value>(key + 200), 2);
  EXPECT_EQ(map.size(), 40u);
  for (std::uint64_t key = 0; key < 64; ++key) {
    EXPECT_EQ(v1.find(key)->value, key);
    const Value* value = map.find(key);
    if (key >= 40) {
      EXPECT_EQ(value, nullptr);
    } else {
      EXPECT_EQ(value->value, key < 32 ? key : key + 200);
    }
  }
}

TEST(RadixMapTest, ErasingTheLastKeyLeavesAnEmptyMap) {
  RadixMap<Value> a;
  RadixMap<Value> b;
  b.set(1000000, make_ref<Value>(1), 1);
  EXPECT_TRUE(b.erase(1000000, 1));
  EXPECT_FALSE(b.erase(1000000, 1));
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.same_as(a));  // no node left behind
  EXPECT_EQ(b.find(1000000), nullptr);
}

}  // namespace
}  // namespace mmsb::state

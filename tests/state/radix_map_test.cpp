// RadixMap against a std::map oracle: contents, persistence, hash canonicity and diff.
#include "state/radix_map.hpp"

#include <map>

#include "support/rapidcheck_gtest.hpp"

namespace mmsb::state {
namespace {

struct Value final : RefCounted {
  explicit Value(std::uint64_t v) : value(v) {}
  std::uint64_t value;
};

Hash128 value_hash(const Value& v) {
  Hasher128 hasher;
  hasher.update_u64(v.value);
  return hasher.digest();
}

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
  (void)map.hash(value_hash);
  RadixMap<Value> frozen = map;  // token 1 is never used again
  Oracle frozen_oracle = oracle;
  Hash128 frozen_hash = frozen.hash(value_hash);
  random_edits(map, oracle, 2);
  RC_ASSERT(contents(frozen) == frozen_oracle);
  RC_ASSERT(frozen.hash(value_hash) == frozen_hash);
  RC_ASSERT(contents(map) == oracle);
}

RC_GTEST_PROP(RadixMapProperty, HashDependsOnContentOnly, ()) {
  RadixMap<Value> a;
  Oracle oracle;
  random_edits(a, oracle, 1);
  // Rebuild the same content in another order, with a different history of heights.
  RadixMap<Value> b;
  b.set(~std::uint64_t{0}, make_ref<Value>(1), 3);  // forces the tallest trie
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries(oracle.rbegin(), oracle.rend());
  for (const auto& [key, value] : entries) b.set(key, make_ref<Value>(value), 3);
  if (oracle.count(~std::uint64_t{0}) == 0) {
    b.erase(~std::uint64_t{0}, 3);
  } else {
    b.set(~std::uint64_t{0}, make_ref<Value>(oracle.at(~std::uint64_t{0})), 3);
  }
  RC_ASSERT(contents(b) == oracle);
  RC_ASSERT(a.hash(value_hash) == b.hash(value_hash));
}

RC_GTEST_PROP(RadixMapProperty, HashChangesWithAnyValue, ()) {
  RadixMap<Value> map;
  Oracle oracle;
  random_edits(map, oracle, 1);
  if (oracle.empty()) {
    map.set(7, make_ref<Value>(7), 1);
    oracle[7] = 7;
  }
  Hash128 before = map.hash(value_hash);
  auto it = oracle.begin();
  std::advance(it, *rc::gen::inRange<std::size_t>(0, oracle.size()));
  map.set(it->first, make_ref<Value>(it->second + 1), 2);
  RC_ASSERT(map.hash(value_hash) != before);
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

TEST(RadixMapTest, EmptyMapsHashAlike) {
  RadixMap<Value> a;
  RadixMap<Value> b;
  b.set(1000000, make_ref<Value>(1), 1);
  b.erase(1000000, 1);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(a.hash(value_hash), b.hash(value_hash));
  EXPECT_EQ(a.hash(value_hash), RadixMap<Value>::empty_hash());
}

}  // namespace
}  // namespace mmsb::state

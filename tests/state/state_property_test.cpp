// Properties of State, Fork, merge and the state root. A failure prints a seed; rerun with
// RC_PARAMS="seed=<n>" to replay it.
#include <algorithm>
#include <map>

#include "mmsb/mmsb.hpp"
#include "support/generators.hpp"
#include "support/rapidcheck_gtest.hpp"
#include "support/reference_root.hpp"

namespace mmsb {
namespace {

using test::gen_bytes;

// Everything observable about a State except its tick.
struct Contents {
  std::map<std::uint64_t, std::tuple<PageType, std::uint64_t, std::vector<std::byte>>> pages;
  std::vector<Edge> edges;
  PageId next_page_id;
  EdgeId next_edge_id;
  friend bool operator==(const Contents&, const Contents&) = default;
};

Contents contents_of(const State& state) {
  Contents out;
  state.for_each_page([&](const PageView& page) {
    out.pages[page.id.value()] = {page.type, page.epoch.value(),
                                  std::vector<std::byte>(page.bytes.begin(), page.bytes.end())};
  });
  state.for_each_edge([&](const Edge& edge) { out.edges.push_back(edge); });
  out.next_page_id = state.next_page_id();
  out.next_edge_id = state.next_edge_id();
  return out;
}

State random_base() {
  Fork fork{State{}};
  const auto pages = *rc::gen::inRange(1, 150);
  for (int i = 0; i < pages; ++i) {
    const auto size = *rc::gen::inRange<std::size_t>(1, 300);
    auto initial = *gen_bytes(size);
    (void)fork.create_page({.type = 1, .size_bytes = size, .initial = initial}).value();
  }
  return fork.commit();
}

PageId random_page(const Fork& fork, std::uint64_t limit) {
  for (int tries = 0; tries < 20; ++tries) {
    PageId page(*rc::gen::inRange<std::uint64_t>(1, limit));
    if (fork.contains(page)) return page;
  }
  return PageId();
}

// A random mix of writes, creates, deletes and edge changes, over a few commits.
State random_history(const State& from) {
  Fork fork(from);
  const auto commits = *rc::gen::inRange(1, 4);
  for (int c = 0; c < commits; ++c) {
    const auto ops = *rc::gen::inRange(0, 40);
    for (int i = 0; i < ops; ++i) {
      const std::uint64_t limit = fork.head().next_page_id().value() + 2;
      PageId page = random_page(fork, limit);
      switch (const int kind = *rc::gen::inRange(0, 9)) {
        case 0:
        case 1:
        case 2:
        case 6:  // zeros: chunks going back to zero leave the root's sum
          if (page.is_valid()) {
            const std::uint64_t size = fork.page(page)->size_bytes;
            const auto offset = *rc::gen::inRange<std::uint64_t>(0, size);
            const auto length = *rc::gen::inRange<std::uint64_t>(1, size - offset + 1);
            const std::vector<std::byte> bytes =
                kind == 6 ? std::vector<std::byte>(length) : *gen_bytes(length);
            RC_ASSERT(fork.write(page, offset, bytes).is_ok());
          }
          break;
        case 3:
          (void)fork.create_page({.size_bytes = *rc::gen::inRange<std::uint64_t>(1, 100)}).value();
          break;
        case 4:
          if (page.is_valid()) RC_ASSERT(fork.delete_page(page).is_ok());
          break;
        case 5: {
          PageId other = random_page(fork, limit);
          if (page.is_valid() && other.is_valid()) {
            RC_ASSERT(fork.add_edge(kEdgeKindUserFirst, page, other).is_ok());
          }
          break;
        }
        case 7:  // a delta: runs (or dense) against the page as it is now
          if (page.is_valid()) {
            const PageView view = fork.page(page).value();
            std::vector<std::byte> changed(view.bytes.begin(), view.bytes.end());
            for (int k = *rc::gen::inRange(1, 4); k > 0; --k) {
              changed[*rc::gen::inRange<std::size_t>(0, changed.size())] = (*gen_bytes(1))[0];
            }
            const Delta delta = diff(page, view.epoch, view.bytes, changed).value();
            RC_ASSERT(fork.apply(delta).is_ok());
          }
          break;
        case 8:  // raw bytes: the caller may write anywhere
          if (page.is_valid()) {
            std::span<std::byte> bytes = fork.mutable_bytes(page).value();
            const auto at = *rc::gen::inRange<std::size_t>(0, bytes.size());
            bytes[at] = (*gen_bytes(1))[0];
          }
          break;
      }
    }
    (void)fork.commit();
  }
  return fork.head();
}

RC_GTEST_PROP(StateProperty, ForkWritesNeverReachTheParentOrSnapshots, ()) {
  State base = random_base();
  Contents before = contents_of(base);
  Hash128 root = base.root();
  Snapshot snapshot = base.snapshot();
  State after = random_history(base);
  RC_ASSERT(contents_of(base) == before);
  RC_ASSERT(contents_of(snapshot) == before);
  RC_ASSERT(base.root() == root);
  (void)after;
}

RC_GTEST_PROP(StateProperty, IncrementalRootEqualsFromScratchRoot, ()) {
  State state = random_history(random_base());
  RC_ASSERT(state.root() == test::reference_root(state));
}

// Each side writes only its own part of every page (split at a random point) and deletes
// only pages the other side leaves alone, so the changes are disjoint.
std::pair<State, State> disjoint_sides(const State& base) {
  Fork ours(base);
  Fork theirs(base);
  base.for_each_page([&](const PageView& page) {
    const auto split = *rc::gen::inRange<std::uint64_t>(0, page.size_bytes + 1);
    const auto what = *rc::gen::inRange(0, 8);
    if (what == 0) {
      RC_ASSERT(ours.delete_page(page.id).is_ok());
      return;
    }
    if (what == 1) {
      RC_ASSERT(theirs.delete_page(page.id).is_ok());
      return;
    }
    if (split > 0 && what % 2 == 0) RC_ASSERT(ours.write(page.id, 0, *gen_bytes(split)).is_ok());
    if (split < page.size_bytes && what < 6) {
      RC_ASSERT(theirs.write(page.id, split, *gen_bytes(page.size_bytes - split)).is_ok());
    }
  });
  return {ours.commit(), theirs.commit()};
}

RC_GTEST_PROP(StateProperty, DisjointMergesCommute, ()) {
  State base = random_base();
  auto [x, y] = disjoint_sides(base);
  auto xy = merge(base, x, y);
  auto yx = merge(base, y, x);
  RC_ASSERT(xy.is_ok());
  RC_ASSERT(yx.is_ok());
  RC_ASSERT(contents_of(xy->state) == contents_of(yx->state));
  RC_ASSERT(xy->state.root() == yx->state.root());
  RC_ASSERT(xy->state.root() == test::reference_root(xy->state));
}

RC_GTEST_PROP(StateProperty, MergingIdenticalChangesIsIdempotent, ()) {
  State base = random_base();
  Fork fork(base);
  base.for_each_page([&](const PageView& page) {
    if (*rc::gen::inRange(0, 3) == 0) {
      RC_ASSERT(fork.write(page.id, 0, *gen_bytes(page.size_bytes)).is_ok());
    }
  });
  State x = fork.commit();
  auto merged = merge(base, x, x);
  RC_ASSERT(merged.is_ok());
  RC_ASSERT(contents_of(merged->state) == contents_of(x));
}

RC_GTEST_PROP(StateProperty, FastPathsGiveTheChangedSideOneTickLater, ()) {
  State base = random_base();
  State x = random_history(base);
  for (const State& merged : {merge(base, x, base)->state, merge(base, base, x)->state}) {
    RC_ASSERT(contents_of(merged) == contents_of(x));
    RC_ASSERT(merged.root() == test::reference_root(merged));
  }
  RC_ASSERT(merge(base, x, base)->state.tick().value() == x.tick().value() + 1);
  RC_ASSERT(merge(base, base, x)->state.tick().value() == base.tick().value() + 1);
}

struct Write {
  std::uint64_t page;
  std::uint64_t offset;
  std::vector<std::byte> bytes;
};

// Writes to disjoint slots of 16 pages of 64 bytes.
std::vector<Write> disjoint_writes() {
  std::vector<Write> writes{Write{1, 0, *gen_bytes(1)}};
  for (std::uint64_t page = 1; page <= 16; ++page) {
    std::uint64_t at = page == 1 ? 1 : 0;
    while (at < 64 && *rc::gen::inRange(0, 3) != 0) {
      const auto length = *rc::gen::inRange<std::uint64_t>(1, 64 - at + 1);
      writes.push_back(Write{page, at, *gen_bytes(length)});
      at += length + *rc::gen::inRange<std::uint64_t>(0, 8);
    }
  }
  return writes;
}

State build(const std::vector<Write>& writes) {
  Fork fork{State{}};
  for (int i = 0; i < 16; ++i) (void)fork.create_page({.type = 3, .size_bytes = 64}).value();
  (void)fork.commit();
  for (const Write& write : writes)
    RC_ASSERT(fork.write(PageId(write.page), write.offset, write.bytes).is_ok());
  (void)fork.add_edge(kEdgeKindUserFirst, PageId(1), PageId(2)).value();
  return fork.commit();
}

RC_GTEST_PROP(StateProperty, RootIsTheSameForTheSameStateBuiltInAnotherOrder, ()) {
  std::vector<Write> writes = disjoint_writes();
  const auto keys = *rc::gen::container<std::vector<std::uint32_t>>(
      writes.size(), rc::gen::arbitrary<std::uint32_t>());
  std::vector<std::size_t> order(writes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
  std::vector<Write> shuffled;
  for (std::size_t i : order) shuffled.push_back(writes[i]);
  RC_ASSERT(build(writes).root() == build(shuffled).root());
}

RC_GTEST_PROP(StateProperty, RootChangesWithAnySingleByte, ()) {
  std::vector<Write> writes = disjoint_writes();
  std::vector<Write> changed = writes;
  Write& victim = changed[*rc::gen::inRange<std::size_t>(0, changed.size())];
  victim.bytes[*rc::gen::inRange<std::size_t>(0, victim.bytes.size())] ^=
      std::byte{static_cast<std::uint8_t>(1u << *rc::gen::inRange(0, 8))};
  State a = build(writes);
  State b = build(changed);
  RC_ASSERT(a.root() != b.root());
  RC_ASSERT(b.root() == test::reference_root(b));
}

}  // namespace
}  // namespace mmsb

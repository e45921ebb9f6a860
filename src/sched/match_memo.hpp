// MatchMemo: the sequencer's record of what each candidate of a rule that depends only on
// its footprint (Rule::depends_only_on_footprint) matched in the previous rules step, so a
// candidate whose pages did not change since is not matched again (docs/SEMANTICS.md
// "Re-matching"). It only saves work: a reused match is, by the rule's promise, what the
// matcher and footprint would give again, so receipts and roots are those of a full match
// (re-executing replay matches everything afresh and so checks the promise).
//
// A page's content is named by (page id, epoch): ids are never reused and an epoch grows in
// every tick that changes the bytes, so on one line of ticks two equal pairs name equal
// bytes. Mid-tick a page written by the tick's inputs still shows its old epoch, so pages
// the fork wrote in the current tick count as changed. Entries hold only from the step of
// the tick just before; any other step (a tick without a rules step between, a tick built
// again) forgets them all.
//
// Layout: entries sit in blocks of 64 consecutive scope page ids per rule, so candidates
// visited in page order walk a block from end to end (one hash lookup finds the block); a
// block holds only the entries it has (a presence bitmap and their ranks), so scopes far
// apart cost an entry each, not a block.
//
// Thread-safety: find(), renew() and record() may run on several threads for different
// entries; begin(), add() and end() run alone.
#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mmsb/rule.hpp"
#include "state/tables.hpp"

namespace mmsb::sched {

class MatchMemo {
 public:
  struct Entry {
    TickId tick;  // the step that recorded it (0: never)
    Epoch scope_epoch;
    bool reusable = false;  // every page it depends on existed, unwritten in that step's tick
    bool matched = false;
    // Matched: the footprint (normalized, the rule's mask applied) and the epochs of its
    // pages other than the scope.
    struct Footprinted {
      Footprint footprint;
      std::vector<std::pair<PageId, Epoch>> pages;
    };
    std::unique_ptr<Footprinted> footprinted;  // kept when unmatched again (storage reuse)
  };

  // Starts the step of `tick`: forgets everything unless the last step was tick - 1.
  void begin(TickId tick);
  // The entry of the rule (compact id) at `scope`, or null.
  Entry* find(std::uint32_t rule, PageId scope);
  // The entry, made (empty) if it is not there. Moves other entries of its block.
  Entry& add(std::uint32_t rule, PageId scope);
  // True if the entry's match is still the rule's answer in `fork`'s tables, given the
  // scope's record there; it then counts as recorded in this step.
  bool renew(Entry& entry, const state::PageRecord& scope, const state::ForkCore& fork) const;
  // Records a fresh match (`footprint` read only when `matched`).
  void record(Entry& entry, const state::PageRecord& scope, const state::ForkCore& fork,
              bool matched, const Footprint& footprint) const;
  // Ends the step: now and then, blocks the last steps did not touch go.
  void end();

 private:
  static constexpr int kBlockBits = 6;
  // The scope's place in its block (the low bits of its id).
  static std::uint64_t in_block(PageId scope) {
    return scope.value() & ((std::uint64_t{1} << kBlockBits) - 1);
  }
  struct Block {
    std::uint64_t present = 0;  // bit k: the entry of the block's k-th scope is there
    std::vector<Entry> entries;  // those present, by k
    std::size_t rank(std::uint64_t k) const {
      return static_cast<std::size_t>(std::popcount(present & ((std::uint64_t{1} << k) - 1)));
    }
  };
  struct BlockKey {
    std::uint32_t rule = 0;
    std::uint64_t first = 0;  // scope >> kBlockBits
    friend bool operator==(const BlockKey&, const BlockKey&) = default;
  };
  struct BlockKeyHash {
    std::size_t operator()(const BlockKey& key) const {
      return static_cast<std::size_t>((key.first * 0x9e3779b97f4a7c15ULL) ^ key.rule);
    }
  };
  static BlockKey key_of(std::uint32_t rule, PageId scope) {
    return BlockKey{rule, scope.value() >> kBlockBits};
  }
  bool holds(const Entry& entry, const state::PageRecord& scope, const state::ForkCore& fork) const;

  // Looked up only, never iterated in an order that decides anything.
  std::unordered_map<BlockKey, std::unique_ptr<Block>, BlockKeyHash> blocks_;
  TickId tick_;  // the current step's; 0 before the first (a rules step is never tick 0)
  std::uint64_t steps_ = 0;
};

}  // namespace mmsb::sched

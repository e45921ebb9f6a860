#include "sched/match_memo.hpp"

#include <algorithm>

namespace mmsb::sched {
namespace {

// Every this many steps, blocks with no entry recorded in the last step go, so scopes that
// stopped being candidates do not pile up.
constexpr std::uint64_t kSweepEvery = 64;

// True if the page exists and its content has an (id, epoch) name: the fork has not
// written it in this tick.
const state::PageRecord* named(const state::ForkCore& fork, PageId page) {
  const state::PageRecord* record = fork.tables().find_page(page);
  return record == nullptr || fork.owns(*record) ? nullptr : record;
}

}  // namespace

void MatchMemo::begin(TickId tick) {
  if (tick.value() != tick_.value() + 1) blocks_.clear();  // (tick_ 0: no step yet)
  tick_ = tick;
}

MatchMemo::Entry* MatchMemo::find(std::uint32_t rule, PageId scope) {
  auto found = blocks_.find(key_of(rule, scope));
  if (found == blocks_.end()) return nullptr;
  Block& block = *found->second;
  const std::uint64_t k = in_block(scope);
  if ((block.present >> k & 1) == 0) return nullptr;
  return &block.entries[block.rank(k)];
}

MatchMemo::Entry& MatchMemo::add(std::uint32_t rule, PageId scope) {
  std::unique_ptr<Block>& block = blocks_[key_of(rule, scope)];
  if (block == nullptr) block = std::make_unique<Block>();
  const std::uint64_t k = in_block(scope);
  const std::size_t at = block->rank(k);
  if ((block->present >> k & 1) == 0) {
    block->present |= std::uint64_t{1} << k;
    block->entries.emplace(block->entries.begin() + static_cast<std::ptrdiff_t>(at));
  }
  return block->entries[at];
}

bool MatchMemo::holds(const Entry& entry, const state::PageRecord& scope,
                      const state::ForkCore& fork) const {
  if (!entry.reusable || entry.tick.value() + 1 != tick_.value()) return false;
  if (scope.epoch != entry.scope_epoch || fork.owns(scope)) return false;
  if (!entry.matched) return true;
  for (const auto& [page, epoch] : entry.footprinted->pages) {
    const state::PageRecord* record = named(fork, page);
    if (record == nullptr || record->epoch != epoch) return false;
  }
  return true;
}

bool MatchMemo::renew(Entry& entry, const state::PageRecord& scope,
                      const state::ForkCore& fork) const {
  if (!holds(entry, scope, fork)) return false;
  entry.tick = tick_;
  return true;
}

void MatchMemo::record(Entry& entry, const state::PageRecord& scope, const state::ForkCore& fork,
                       bool matched, const Footprint& footprint) const {
  entry.tick = tick_;
  entry.scope_epoch = scope.epoch;
  entry.matched = matched;
  entry.reusable = !fork.owns(scope);
  if (!matched) return;
  if (entry.footprinted == nullptr) entry.footprinted = std::make_unique<Entry::Footprinted>();
  Entry::Footprinted& out = *entry.footprinted;
  out.footprint = footprint;
  out.pages.clear();
  // The scope is checked on its own (scope_epoch) whether or not the footprint names it.
  auto depend = [&](PageId page) {
    if (page == scope.id) return;
    const state::PageRecord* record = named(fork, page);
    if (record == nullptr) {
      entry.reusable = false;  // gone, or its content has no (id, epoch) name yet
    } else {
      out.pages.emplace_back(page, record->epoch);
    }
  };
  for (const PageId page : footprint.pages_read) depend(page);
  for (const PageId page : footprint.pages_written) depend(page);
}

void MatchMemo::end() {
  if (++steps_ % kSweepEvery != 0) return;
  std::erase_if(blocks_, [&](const auto& item) {
    const auto& entries = item.second->entries;
    return std::none_of(entries.begin(), entries.end(),
                        [&](const Entry& entry) { return entry.tick == tick_; });
  });
}

}  // namespace mmsb::sched

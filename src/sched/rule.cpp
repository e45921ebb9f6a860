// include/mmsb/rule.hpp: rule identity, footprints and their independence, views and
// receipts (docs/SEMANTICS.md "Rules and scheduling").
#include <algorithm>
#include <array>
#include <cstring>

#include "mmsb/hash.hpp"
#include "mmsb/rule.hpp"

namespace mmsb {
namespace {

template <typename T>
void sort_unique(std::vector<T>& items) {
  if (items.size() < 2) return;
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
}

// Removes from `reads` what `writes` holds (both sorted).
template <typename T>
void drop_written(std::vector<T>& reads, const std::vector<T>& writes) {
  if (writes.empty() || reads.empty()) return;
  std::erase_if(reads, [&](const T& id) { return std::binary_search(writes.begin(), writes.end(), id); });
}

// True if the sorted ranges share an element.
template <typename T>
bool intersects(const std::vector<T>& a, const std::vector<T>& b) {
  auto i = a.begin();
  auto j = b.begin();
  while (i != a.end() && j != b.end()) {
    if (*i < *j) {
      ++i;
    } else if (*j < *i) {
      ++j;
    } else {
      return true;
    }
  }
  return false;
}

RuleFamilyId family_id_of(std::string_view name) {
  static constexpr char kDomain[] = "mmsb:rule-family:v1";  // and its terminating zero
  std::vector<std::byte> input(sizeof(kDomain) + name.size());
  std::memcpy(input.data(), kDomain, sizeof(kDomain));
  std::memcpy(input.data() + sizeof(kDomain), name.data(), name.size());
  const Blake2b256 digest = blake2b_256(input);
  RuleFamilyId id = 0;
  for (int i = 7; i >= 0; --i) id = (id << 8) | digest[static_cast<std::size_t>(i)];
  return id;
}

}  // namespace

// Transactions name their rule at every apply, and a thread names few rules: the last ones
// it asked for are remembered (the hash and its input's allocation were 6.5% of
// BM_particle_world's tick). Names longer than a rule's are not kept.
RuleFamilyId rule_family_id(std::string_view name) {
  struct Remembered {
    std::string name;
    RuleFamilyId id = 0;
    bool used = false;
  };
  constexpr std::size_t kRemembered = 8;
  thread_local std::array<Remembered, kRemembered> remembered;
  thread_local std::size_t next = 0;
  for (const Remembered& entry : remembered) {
    if (entry.used && entry.name == name) return entry.id;
  }
  const RuleFamilyId id = family_id_of(name);
  if (name.size() <= kRuleNameMaxBytes) {
    remembered[next] = Remembered{std::string(name), id, true};
    next = (next + 1) % kRemembered;
  }
  return id;
}

Status Footprint::normalize() {
  sort_unique(pages_read);
  sort_unique(pages_written);
  sort_unique(edges_read);
  sort_unique(edges_written);
  sort_unique(ports);
  drop_written(pages_read, pages_written);
  drop_written(edges_read, edges_written);
  if (entries() > kFootprintEntriesMax) {
    return invalid_argument("footprint has " + std::to_string(entries()) +
                            " entries; the limit is " + std::to_string(kFootprintEntriesMax));
  }
  return Status::ok();
}

bool Footprint::may_read(PageId page) const {
  return std::binary_search(pages_read.begin(), pages_read.end(), page) || may_write(page);
}

bool Footprint::may_write(PageId page) const {
  return std::binary_search(pages_written.begin(), pages_written.end(), page);
}

bool Footprint::may_read_edge(EdgeId edge) const {
  return std::binary_search(edges_read.begin(), edges_read.end(), edge) ||
         std::binary_search(edges_written.begin(), edges_written.end(), edge);
}

bool independent(const Footprint& a, const Footprint& b) {
  if ((a.factor_mask & b.factor_mask) == 0) return true;
  if (intersects(a.ports, b.ports)) return false;
  if (intersects(a.edges_written, b.edges_written) || intersects(a.edges_written, b.edges_read) ||
      intersects(a.edges_read, b.edges_written)) {
    return false;
  }
  return !(intersects(a.pages_written, b.pages_written) ||
           intersects(a.pages_written, b.pages_read) || intersects(a.pages_read, b.pages_written));
}

Result<std::span<const std::byte>> RuleView::read(PageId page) const {
  MMSB_ASSIGN_OR_RETURN(PageView view, this->page(page));
  return view.bytes;
}

std::string_view receipt_outcome_name(ReceiptOutcome outcome) {
  switch (outcome) {
    case ReceiptOutcome::kApplied:
      return "applied";
    case ReceiptOutcome::kRejected:
      return "rejected";
    case ReceiptOutcome::kDeferred:
      return "deferred";
    case ReceiptOutcome::kSkipped:
      return "skipped";
    case ReceiptOutcome::kDuplicate:
      return "duplicate";
  }
  return "unknown";
}

}  // namespace mmsb

#include "mmsb/merge.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "state/diff_internal.hpp"
#include "state/tables.hpp"

namespace mmsb {
namespace state {
namespace {

// A Conflict status lists at most this many clashes, then counts the rest.
constexpr std::size_t kClashReportMax = 16;

struct PageChange {
  std::uint64_t id;
  const PageRecord* base;
  const PageRecord* theirs;
};

struct EdgeChange {
  std::uint64_t id;
  const EdgeRecord* base;
  const EdgeRecord* theirs;
};

std::string ranges_text(const std::vector<ByteRange>& ranges) {
  std::string out;
  for (std::size_t i = 0; i < ranges.size() && i < 4; ++i) {
    if (i > 0) out += " ";
    out += "[" + std::to_string(ranges[i].offset) + "," +
           std::to_string(ranges[i].offset + ranges[i].length) + ")";
  }
  if (ranges.size() > 4) out += " and " + std::to_string(ranges.size() - 4) + " more ranges";
  return out;
}

// Byte ranges covered by both run lists.
std::vector<ByteRange> overlaps(const std::vector<DeltaRun>& a, const std::vector<DeltaRun>& b) {
  std::vector<ByteRange> out;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    std::uint64_t begin = std::max<std::uint64_t>(a[i].offset, b[j].offset);
    std::uint64_t end = std::min(a[i].end(), b[j].end());
    if (begin < end) out.push_back(ByteRange{begin, end - begin});
    if (a[i].end() < b[j].end())
      ++i;
    else
      ++j;
  }
  return out;
}

void copy_runs(std::span<std::byte> into, std::span<const std::byte> from,
               const std::vector<DeltaRun>& runs) {
  for (const DeltaRun& run : runs)
    std::memcpy(into.data() + run.offset, from.data() + run.offset, run.length);
}

class ThreeWayMerge {
 public:
  ThreeWayMerge(const State& base, const State& ours, const State& theirs,
                const MergeOptions& options)
      : base_(StateAccessors::data(base).tables),
        ours_(StateAccessors::data(ours).tables),
        theirs_(StateAccessors::data(theirs).tables),
        ours_state_(ours),
        options_(options),
        fork_(ours) {}

  Result<MergeResult> run() {
    MMSB_RETURN_IF_ERROR(merge_pages());
    MMSB_RETURN_IF_ERROR(merge_edges());
    merge_derivations();
    if (!clashes_.empty()) {
      std::string message = "merge: " + std::to_string(clashes_.size()) + " clash" +
                            (clashes_.size() == 1 ? "" : "es") + ": ";
      for (std::size_t i = 0; i < clashes_.size() && i < kClashReportMax; ++i) {
        message += (i > 0 ? "; " : "") + clashes_[i];
      }
      if (clashes_.size() > kClashReportMax) {
        message += "; and " + std::to_string(clashes_.size() - kClashReportMax) + " more";
      }
      return conflict(std::move(message));
    }
    fork_.set_counters(ours_.next_page_id + (theirs_.next_page_id - base_.next_page_id),
                       ours_.next_edge_id + (theirs_.next_edge_id - base_.next_edge_id));
    result_.path = MergePath::kThreeWay;
    result_.state = fork_.commit_as(TickId(ours_state_.tick().value() + 1));
    return std::move(result_);
  }

 private:
  std::uint64_t remap_page(std::uint64_t id) const {
    return id < base_.next_page_id ? id : ours_.next_page_id + (id - base_.next_page_id);
  }
  std::uint64_t remap_edge(std::uint64_t id) const {
    return id < base_.next_edge_id ? id : ours_.next_edge_id + (id - base_.next_edge_id);
  }

  // A delete/modify clash: returns true if theirs' side should win.
  Result<bool> structural_clash(std::uint64_t page, const char* what) {
    switch (options_.policy) {
      case MergePolicy::kPreferOurs:
        ++result_.clashes_resolved;
        return false;
      case MergePolicy::kPreferTheirs:
        ++result_.clashes_resolved;
        return true;
      case MergePolicy::kFail:
      case MergePolicy::kCustom:
        clashes_.push_back("page " + std::to_string(page) + " " + what);
        return false;
    }
    return false;
  }

  Status merge_pages() {
    std::vector<PageChange> changes;
    RadixMap<PageRecord>::diff(base_.pages, theirs_.pages,
                               [&](std::uint64_t id, const PageRecord* b, const PageRecord* t) {
                                 changes.push_back(PageChange{id, b, t});
                               });
    for (const PageChange& change : changes) {
      const PageRecord* ours = ours_.pages.find(change.id);
      if (change.base == nullptr) {
        MMSB_RETURN_IF_ERROR(take_created(*change.theirs));
      } else if (change.theirs == nullptr) {
        if (ours == change.base) {
          MMSB_RETURN_IF_ERROR(fork_.delete_page(PageId(change.id)));
        } else if (ours != nullptr) {
          MMSB_ASSIGN_OR_RETURN(bool take_theirs,
                                structural_clash(change.id, "deleted in theirs, changed in ours"));
          if (take_theirs) MMSB_RETURN_IF_ERROR(fork_.delete_page(PageId(change.id)));
        }
      } else if (ours == change.base) {
        fork_.install_page(Ref<PageRecord>(const_cast<PageRecord*>(change.theirs)));
        ++result_.pages_taken_from_theirs;
      } else if (ours == nullptr) {
        MMSB_ASSIGN_OR_RETURN(bool take_theirs,
                              structural_clash(change.id, "deleted in ours, changed in theirs"));
        if (take_theirs)
          fork_.install_page(Ref<PageRecord>(const_cast<PageRecord*>(change.theirs)));
      } else {
        MMSB_RETURN_IF_ERROR(merge_bytes(*change.base, *ours, *change.theirs));
      }
    }
    return Status::ok();
  }

  Status take_created(const PageRecord& theirs) {
    std::uint64_t id = remap_page(theirs.id.value());
    Ref<PageRecord> record(const_cast<PageRecord*>(&theirs));
    if (id != theirs.id.value()) {
      record = theirs.copy(PageId(id));
      if (!record)
        return resource_exhausted("merge: allocator refused a copy of page " +
                                  std::to_string(theirs.id.value()));
      result_.page_remap.push_back(IdRemap{theirs.id.value(), id});
    }
    fork_.install_page(std::move(record));
    ++result_.pages_taken_from_theirs;
    return Status::ok();
  }

  // Both sides changed the page.
  Status merge_bytes(const PageRecord& base, const PageRecord& ours, const PageRecord& theirs) {
    if (std::memcmp(ours.data, theirs.data, ours.size_bytes) == 0) return Status::ok();
    std::vector<DeltaRun> ours_runs, theirs_runs;
    changed_runs(base.bytes(), ours.bytes(), 0, ours_runs);
    changed_runs(base.bytes(), theirs.bytes(), 0, theirs_runs);
    std::vector<ByteRange> both = overlaps(ours_runs, theirs_runs);
    std::vector<std::byte> merged(base.bytes().begin(), base.bytes().end());
    if (both.empty() || options_.policy == MergePolicy::kPreferOurs) {
      copy_runs(merged, theirs.bytes(), theirs_runs);
      copy_runs(merged, ours.bytes(), ours_runs);
    } else if (options_.policy == MergePolicy::kPreferTheirs) {
      copy_runs(merged, ours.bytes(), ours_runs);
      copy_runs(merged, theirs.bytes(), theirs_runs);
    } else if (options_.policy == MergePolicy::kCustom) {
      PageClash clash{ours.id, both, base.bytes(), ours.bytes(), theirs.bytes()};
      MMSB_ASSIGN_OR_RETURN(merged, options_.resolve(clash));
      if (merged.size() != ours.size_bytes) {
        return invalid_argument("merge: resolver returned " + std::to_string(merged.size()) +
                                " bytes for page " + std::to_string(ours.id.value()) + " of " +
                                std::to_string(ours.size_bytes) + " bytes");
      }
    } else {
      clashes_.push_back("page " + std::to_string(ours.id.value()) + " bytes " + ranges_text(both) +
                         " changed on both sides");
      return Status::ok();
    }
    if (!both.empty()) ++result_.clashes_resolved;
    ++result_.pages_merged;
    if (std::memcmp(merged.data(), ours.data, ours.size_bytes) == 0) return Status::ok();
    Epoch epoch(std::max(ours.epoch.value(), theirs.epoch.value()) + 1);
    Ref<PageRecord> record = PageRecord::make_indexed(ours.id, ours.type, ours.size_bytes, epoch,
                                                      merged, ours.allocator_index);
    if (!record)
      return resource_exhausted("merge: allocator refused page " + std::to_string(ours.id.value()));
    record->location = ours.location;
    fork_.install_page(std::move(record));
    return Status::ok();
  }

  Status merge_edges() {
    // Edges ours created, to collapse identical edges created on both sides.
    std::map<std::tuple<EdgeKind, std::uint64_t, std::uint64_t>, EdgeId> ours_created;
    RadixMap<EdgeRecord>::diff(
        base_.edges, ours_.edges, [&](std::uint64_t, const EdgeRecord* b, const EdgeRecord* o) {
          if (b == nullptr && o != nullptr) {
            const Edge& e = o->edge;
            ours_created.emplace(std::make_tuple(e.kind, e.from.value(), e.to.value()), e.id);
          }
        });
    std::vector<EdgeChange> changes;
    RadixMap<EdgeRecord>::diff(base_.edges, theirs_.edges,
                               [&](std::uint64_t id, const EdgeRecord* b, const EdgeRecord* t) {
                                 changes.push_back(EdgeChange{id, b, t});
                               });
    const Tables& merged = fork_.tables();
    for (const EdgeChange& change : changes) {
      MMSB_ASSERT(change.base == nullptr || change.theirs == nullptr);  // edges are immutable
      if (change.theirs == nullptr) {
        if (merged.edges.find(change.id) != nullptr) {
          MMSB_RETURN_IF_ERROR(fork_.remove_edge(EdgeId(change.id)));
        }
        continue;
      }
      const Edge& theirs = change.theirs->edge;
      Edge edge{EdgeId(remap_edge(change.id)), theirs.kind, PageId(remap_page(theirs.from.value())),
                PageId(remap_page(theirs.to.value()))};
      auto same = ours_created.find(std::make_tuple(edge.kind, edge.from.value(), edge.to.value()));
      if (same != ours_created.end()) {
        result_.edge_remap.push_back(IdRemap{change.id, same->second.value()});
        continue;
      }
      bool ends_exist =
          merged.find_page(edge.from) != nullptr && merged.find_page(edge.to) != nullptr;
      if (!ends_exist) {
        std::string what = "edge " + std::to_string(change.id) + " (" +
                           std::to_string(theirs.from.value()) + " -> " +
                           std::to_string(theirs.to.value()) +
                           ") added in theirs to a page deleted in ours";
        if (options_.policy == MergePolicy::kFail || options_.policy == MergePolicy::kCustom) {
          clashes_.push_back(std::move(what));
        } else {
          ++result_.clashes_resolved;  // the page is gone, so its edge is dropped
        }
        continue;
      }
      if (edge.id.value() != change.id)
        result_.edge_remap.push_back(IdRemap{change.id, edge.id.value()});
      fork_.install_edge(edge);
    }
    return Status::ok();
  }

  // A derivation is taken from theirs where ours left it as it was at the fork point; both
  // sides setting different functions on one page is a clash.
  void merge_derivations() {
    const Tables& merged = fork_.tables();
    RadixMap<DerivationRecord>::diff(
        base_.derivations, theirs_.derivations,
        [&](std::uint64_t id, const DerivationRecord* base, const DerivationRecord* theirs) {
          const PageId child(remap_page(id));
          if (merged.find_page(child) == nullptr) return;  // deleted in ours: nothing to derive
          const DerivationRecord* ours = ours_.derivations.find(child.value());
          auto function = [](const DerivationRecord* record) {
            return record == nullptr ? std::string() : record->function;
          };
          bool take_theirs = function(ours) == function(base);
          if (!take_theirs && function(ours) != function(theirs)) {
            switch (options_.policy) {
              case MergePolicy::kPreferOurs:
                ++result_.clashes_resolved;
                break;
              case MergePolicy::kPreferTheirs:
                ++result_.clashes_resolved;
                take_theirs = true;
                break;
              case MergePolicy::kFail:
              case MergePolicy::kCustom:
                clashes_.push_back("page " + std::to_string(child.value()) +
                                   " derivation changed on both sides");
                break;
            }
          }
          if (take_theirs) fork_.set_derivation(child, function(theirs));
        });
  }

  const Tables& base_;
  const Tables& ours_;
  const Tables& theirs_;
  const State& ours_state_;
  const MergeOptions& options_;
  ForkCore fork_;
  MergeResult result_;
  std::vector<std::string> clashes_;
};

}  // namespace
}  // namespace state

Result<MergeResult> merge(const State& base, const State& ours, const State& theirs,
                          const MergeOptions& options) {
  using state::StateAccessors;
  const state::Tables& b = StateAccessors::data(base).tables;
  const state::Tables& o = StateAccessors::data(ours).tables;
  const state::Tables& t = StateAccessors::data(theirs).tables;
  for (const auto& [side, tables] : {std::pair{"ours", &o}, std::pair{"theirs", &t}}) {
    if (tables->next_page_id < b.next_page_id || tables->next_edge_id < b.next_edge_id) {
      return invalid_argument(std::string("merge: base is not a fork point of ") + side +
                              ": its id counters are ahead");
    }
  }
  if (options.policy == MergePolicy::kCustom && !options.resolve) {
    return invalid_argument("merge: policy kCustom needs MergeOptions::resolve");
  }
  // Fast paths: one side unchanged since the fork point. Either way the result is the
  // other side's content one tick after ours, in O(1) (its map hashes are cached).
  const bool theirs_unchanged = t.same_as(b);
  if (theirs_unchanged || o.same_as(b)) {
    auto data = make_ref<state::StateData>();
    data->tables = theirs_unchanged ? o : t;
    data->tick = TickId(ours.tick().value() + 1);
    data->options = StateAccessors::data(ours).options;
    data->root = state::compute_root(data->tables, data->tick);
    MergeResult result;
    result.state = StateAccessors::adopt(std::move(data));
    result.path = theirs_unchanged ? MergePath::kTheirsUnchanged : MergePath::kOursUnchanged;
    return result;
  }
  return state::ThreeWayMerge(base, ours, theirs, options).run();
}

}  // namespace mmsb

#include "engine/apply.hpp"

#include <algorithm>
#include <set>

namespace mmsb::engine {
namespace {

using log::Op;
using log::OpKind;

std::string op_name(std::size_t index) { return "operation " + std::to_string(index) + ": "; }

// What a transaction will have done by a given op, without touching the fork.
class Overlay {
 public:
  explicit Overlay(const state::ForkCore& fork) : fork_(fork) {}

  struct PageInfo {
    bool exists = false;
    std::uint64_t size_bytes = 0;
  };

  // Resolves a (possibly provisional) page id as of now in the transaction.
  PageInfo page(std::uint64_t id) const {
    if (log::is_provisional(id)) {
      std::uint64_t index = id & ~log::kProvisionalBit;
      if (index >= created_sizes_.size()) return {};
      return {deleted_.count(id) == 0, created_sizes_[index]};
    }
    const state::PageRecord* record = fork_.tables().find_page(PageId(id));
    if (record == nullptr || deleted_.count(id) != 0) return {};
    return {true, record->size_bytes};
  }

  bool edge_exists(std::uint64_t id) const {
    if (removed_edges_.count(id) != 0) return false;
    std::uint64_t from, to;
    if (log::is_provisional(id)) {
      std::uint64_t index = id & ~log::kProvisionalBit;
      if (index >= created_edges_.size()) return false;
      std::tie(from, to) = created_edges_[index];
    } else {
      const state::EdgeRecord* record = fork_.tables().edges.find(id);
      if (record == nullptr) return false;
      from = record->edge.from.value();
      to = record->edge.to.value();
    }
    return deleted_.count(from) == 0 && deleted_.count(to) == 0;  // deleting a page drops its edges
  }

  void create_page(std::uint64_t size_bytes) { created_sizes_.push_back(size_bytes); }
  void delete_page(std::uint64_t id) { deleted_.insert(id); }
  void add_edge(std::uint64_t from, std::uint64_t to) { created_edges_.emplace_back(from, to); }
  void remove_edge(std::uint64_t id) { removed_edges_.insert(id); }

 private:
  const state::ForkCore& fork_;
  std::vector<std::uint64_t> created_sizes_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> created_edges_;
  std::set<std::uint64_t> deleted_;  // ordered containers only: nothing here may depend on hashing
  std::set<std::uint64_t> removed_edges_;
};

std::string page_text(std::uint64_t id) {
  if (log::is_provisional(id)) {
    return "new page #" + std::to_string(id & ~log::kProvisionalBit);
  }
  return "page " + std::to_string(id);
}

Status validate(const state::ForkCore& fork, const std::vector<Op>& ops) {
  Overlay overlay(fork);
  const std::uint64_t page_size_max = fork.options().page_size_max_bytes;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    switch (op.kind) {
      case OpKind::kRead: {
        if (log::is_provisional(op.page)) {
          return invalid_argument(op_name(i) + "read of a page this transaction creates");
        }
        const state::PageRecord* record = fork.tables().find_page(PageId(op.page));
        if (record == nullptr) {
          return conflict(op_name(i) + "page " + std::to_string(op.page) +
                          " was deleted after it was read");
        }
        if (record->epoch.value() != op.epoch || fork.written_this_tick(PageId(op.page))) {
          return conflict(op_name(i) + "page " + std::to_string(op.page) +
                          " changed after it was read at epoch " + std::to_string(op.epoch));
        }
        break;
      }
      case OpKind::kCreatePage:
        if (op.size_bytes == 0 || op.size_bytes > page_size_max) {
          return invalid_argument(op_name(i) + "new page: size " + std::to_string(op.size_bytes) +
                                  " bytes is outside [1, " + std::to_string(page_size_max) + "]");
        }
        if (!op.bytes.empty() && op.bytes.size() != op.size_bytes) {
          return invalid_argument(op_name(i) + "new page: initial content of " +
                                  std::to_string(op.bytes.size()) + " bytes for a page of " +
                                  std::to_string(op.size_bytes) + " bytes");
        }
        overlay.create_page(op.size_bytes);
        break;
      case OpKind::kWrite: {
        Overlay::PageInfo page = overlay.page(op.page);
        if (!page.exists) return not_found(op_name(i) + page_text(op.page) + " does not exist");
        if (op.offset > page.size_bytes || op.bytes.size() > page.size_bytes - op.offset) {
          return invalid_argument(op_name(i) + page_text(op.page) + ": write [" +
                                  std::to_string(op.offset) + "," +
                                  std::to_string(op.offset + op.bytes.size()) +
                                  ") exceeds page size " + std::to_string(page.size_bytes));
        }
        break;
      }
      case OpKind::kDeletePage:
        if (!overlay.page(op.page).exists) {
          return not_found(op_name(i) + page_text(op.page) + " does not exist");
        }
        overlay.delete_page(op.page);
        break;
      case OpKind::kAddEdge:
        for (std::uint64_t end : {op.from, op.to}) {
          if (!overlay.page(end).exists) {
            return not_found(op_name(i) + "new edge: " + page_text(end) + " does not exist");
          }
        }
        overlay.add_edge(op.from, op.to);
        break;
      case OpKind::kRemoveEdge:
        if (!overlay.edge_exists(op.edge)) {
          return not_found(op_name(i) + "edge " + std::to_string(op.edge) + " does not exist");
        }
        overlay.remove_edge(op.edge);
        break;
    }
  }
  return Status::ok();
}

}  // namespace

Status apply_transaction(state::ForkCore& fork, std::vector<Op>& ops, CommitInfo* info,
                         bool* fork_damaged) {
  *fork_damaged = false;
  MMSB_RETURN_IF_ERROR(validate(fork, ops));
  std::vector<PageId> created_pages;
  std::vector<EdgeId> created_edges;
  auto resolve_page = [&](std::uint64_t id) {
    return log::is_provisional(id) ? created_pages[id & ~log::kProvisionalBit] : PageId(id);
  };
  auto resolve_edge = [&](std::uint64_t id) {
    return log::is_provisional(id) ? created_edges[id & ~log::kProvisionalBit] : EdgeId(id);
  };
  for (Op& op : ops) {
    Status status;
    switch (op.kind) {
      case OpKind::kRead:
        break;
      case OpKind::kCreatePage: {
        auto created =
            fork.create_page({.type = op.type, .size_bytes = op.size_bytes, .initial = op.bytes});
        if (!created.is_ok()) {
          status = created.status();
          break;
        }
        created_pages.push_back(*created);
        op.assigned = created->value();
        break;
      }
      case OpKind::kWrite: {
        PageId page = resolve_page(op.page);
        op.epoch = fork.tables().find_page(page)->epoch.value();
        status = fork.write(page, op.offset, op.bytes);
        break;
      }
      case OpKind::kDeletePage:
        status = fork.delete_page(resolve_page(op.page));
        break;
      case OpKind::kAddEdge: {
        auto added = fork.add_edge(op.edge_kind, resolve_page(op.from), resolve_page(op.to));
        if (!added.is_ok()) {
          status = added.status();
          break;
        }
        created_edges.push_back(*added);
        op.assigned = added->value();
        break;
      }
      case OpKind::kRemoveEdge:
        status = fork.remove_edge(resolve_edge(op.edge));
        break;
    }
    if (!status.is_ok()) {
      // Validation passed, so only the allocator can have refused.
      *fork_damaged = true;
      return status;
    }
  }
  if (info != nullptr) {
    info->created_pages = std::move(created_pages);
    info->created_edges = std::move(created_edges);
  }
  return Status::ok();
}

Status apply_merge_effect(state::ForkCore& fork, const log::MergeEffect& effect) {
  for (EdgeId edge : effect.edges_removed) {
    if (fork.tables().edges.find(edge.value()) == nullptr) {
      return corruption("merge effect removes missing edge " + std::to_string(edge.value()));
    }
    MMSB_RETURN_IF_ERROR(fork.remove_edge(edge));
  }
  for (PageId page : effect.pages_deleted) MMSB_RETURN_IF_ERROR(fork.delete_page(page));
  for (const log::PageImage& image : effect.pages_set) {
    auto record = state::PageRecord::make(image.id, image.type, image.bytes.size(), image.epoch,
                                          image.bytes, fork.options().allocator, 0);
    if (!record)
      return resource_exhausted("merge effect: allocator refused page " +
                                std::to_string(image.id.value()));
    fork.install_page(std::move(record));
  }
  for (const Edge& edge : effect.edges_added) {
    if (fork.tables().find_page(edge.from) == nullptr ||
        fork.tables().find_page(edge.to) == nullptr ||
        fork.tables().edges.find(edge.id.value()) != nullptr) {
      return corruption("merge effect adds an invalid edge " + std::to_string(edge.id.value()));
    }
    fork.install_edge(edge);
  }
  if (effect.next_page_id < fork.tables().next_page_id ||
      effect.next_edge_id < fork.tables().next_edge_id) {
    return corruption("merge effect moves the id counters back");
  }
  fork.set_counters(effect.next_page_id, effect.next_edge_id);
  return Status::ok();
}

log::MergeEffect merge_effect(const State& before, const State& after) {
  const state::Tables& a = state::StateAccessors::data(before).tables;
  const state::Tables& b = state::StateAccessors::data(after).tables;
  log::MergeEffect effect;
  state::RadixMap<state::PageRecord>::diff(
      a.pages, b.pages,
      [&](std::uint64_t id, const state::PageRecord*, const state::PageRecord* now) {
        if (now == nullptr) {
          effect.pages_deleted.push_back(PageId(id));
        } else {
          effect.pages_set.push_back(
              log::PageImage{now->id, now->type, now->epoch,
                             std::vector<std::byte>(now->bytes().begin(), now->bytes().end())});
        }
      });
  state::RadixMap<state::EdgeRecord>::diff(
      a.edges, b.edges,
      [&](std::uint64_t id, const state::EdgeRecord* was, const state::EdgeRecord* now) {
        if (now == nullptr) {
          effect.edges_removed.push_back(EdgeId(id));
        } else if (was == nullptr) {
          effect.edges_added.push_back(now->edge);
        }
      });
  effect.next_page_id = b.next_page_id;
  effect.next_edge_id = b.next_edge_id;
  return effect;
}

}  // namespace mmsb::engine

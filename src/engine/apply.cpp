#include "engine/apply.hpp"

#include <algorithm>
#include <map>
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

  // True if the page is derived as of now in the transaction.
  bool derived(std::uint64_t id) const {
    auto set = derivations_.find(id);
    if (set != derivations_.end()) return set->second;
    return !log::is_provisional(id) && fork_.tables().find_derivation(PageId(id)) != nullptr;
  }
  void set_derived(std::uint64_t id, bool derived) { derivations_[id] = derived; }

  void create_page(std::uint64_t size_bytes) { created_sizes_.push_back(size_bytes); }
  void delete_page(std::uint64_t id) { deleted_.insert(id); }
  bool deleted(std::uint64_t id) const { return deleted_.count(id) != 0; }
  void add_edge(std::uint64_t from, std::uint64_t to) { created_edges_.emplace_back(from, to); }
  void remove_edge(std::uint64_t id) { removed_edges_.insert(id); }

 private:
  const state::ForkCore& fork_;
  std::vector<std::uint64_t> created_sizes_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> created_edges_;
  std::set<std::uint64_t> deleted_;  // ordered containers only: nothing here may depend on hashing
  std::set<std::uint64_t> removed_edges_;
  std::map<std::uint64_t, bool> derivations_;
};

std::string page_text(std::uint64_t id) {
  if (log::is_provisional(id)) {
    return "new page #" + std::to_string(id & ~log::kProvisionalBit);
  }
  return "page " + std::to_string(id);
}

Status validate_derive(const Overlay& overlay, const log::DeriveOp& op, std::size_t i) {
  if (!overlay.page(op.page).exists) {
    return not_found(op_name(i) + "derive: " + page_text(op.page) + " does not exist");
  }
  if (op.function.size() > kFunctionNameMaxBytes) {
    return invalid_argument(op_name(i) + "derive " + page_text(op.page) + ": function name of " +
                            std::to_string(op.function.size()) + " bytes is above the limit " +
                            std::to_string(kFunctionNameMaxBytes));
  }
  if (op.function.empty() && !op.parents.empty()) {
    return invalid_argument(op_name(i) + "derive " + page_text(op.page) +
                            ": parents without a function");
  }
  if (op.parents.size() > kDerivationParentsMax) {
    return invalid_argument(op_name(i) + "derive " + page_text(op.page) + ": " +
                            std::to_string(op.parents.size()) + " parents, above the limit " +
                            std::to_string(kDerivationParentsMax));
  }
  for (std::uint64_t parent : op.parents) {
    if (!overlay.page(parent).exists) {
      return not_found(op_name(i) + "derive " + page_text(op.page) + ": parent " +
                       page_text(parent) + " does not exist");
    }
  }
  return Status::ok();
}

// Applies the transaction's dependency-edge changes to `graph` with the ids the fork will
// assign, so a cycle is found before anything is applied. On a cycle the graph is rolled
// back and InvalidArgument names it.
Status check_cycles(const state::ForkCore& fork, const std::vector<Op>& ops,
                    graph::DependencyGraph& graph) {
  const std::size_t mark = graph.mark();
  const std::uint64_t first_page = fork.tables().next_page_id;
  std::uint64_t next_edge = fork.tables().next_edge_id;
  std::vector<Edge> created;  // by provisional edge index
  auto page_of = [&](std::uint64_t id) {
    return PageId(log::is_provisional(id) ? first_page + (id & ~log::kProvisionalBit) : id);
  };
  auto remove_links = [&](PageId page, bool incoming_data_only) {
    const std::uint32_t node = graph.node_of(page);
    if (node == graph::DependencyGraph::kNoNode) return;
    std::vector<Edge> doomed;
    for (const auto& link : graph.parents(node)) {
      if (!incoming_data_only || link.kind == kEdgeKindData)
        doomed.push_back(Edge{link.edge, link.kind, link.page, page});
    }
    if (!incoming_data_only) {
      for (const auto& link : graph.children(node))
        doomed.push_back(Edge{link.edge, link.kind, page, link.page});
    }
    for (const Edge& edge : doomed) graph.remove_edge(edge);
  };
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Op& any = ops[i];
    Status added;
    switch (log::kind_of(any)) {
      case OpKind::kAddEdge: {
        const auto& op = std::get<log::AddEdgeOp>(any);
        Edge edge{EdgeId(next_edge++), op.edge_kind, page_of(op.from), page_of(op.to)};
        created.push_back(edge);
        added = graph.add_edge(edge);
        break;
      }
      case OpKind::kRemoveEdge: {
        const auto& op = std::get<log::RemoveEdgeOp>(any);
        graph.remove_edge(log::is_provisional(op.edge) ? created[op.edge & ~log::kProvisionalBit]
                                                       : fork.tables().edges.find(op.edge)->edge);
        break;
      }
      case OpKind::kDeletePage: {
        const auto& op = std::get<log::DeletePageOp>(any);
        remove_links(page_of(op.page), false);
        break;
      }
      case OpKind::kDerive: {
        const auto& op = std::get<log::DeriveOp>(any);
        remove_links(page_of(op.page), true);
        for (std::size_t k = 0; k < op.parents.size() && added.is_ok(); ++k) {
          added = graph.add_edge(
              Edge{EdgeId(next_edge++), kEdgeKindData, page_of(op.parents[k]), page_of(op.page)});
        }
        break;
      }
      default:
        break;
    }
    if (!added.is_ok()) {
      graph.undo_to(mark);
      return invalid_argument(op_name(i) + added.message());
    }
  }
  return Status::ok();
}

Status validate(const state::ForkCore& fork, const std::vector<Op>& ops);

// Everything that can refuse a transaction, checked before anything is applied.
Status validate_all(const state::ForkCore& fork, const std::vector<Op>& ops,
                    graph::DependencyGraph* graph) {
  MMSB_RETURN_IF_ERROR(validate(fork, ops));
  if (graph != nullptr) MMSB_RETURN_IF_ERROR(check_cycles(fork, ops, *graph));
  return Status::ok();
}

// Checks one op against the fork and the transaction so far (`overlay`) and records its
// effect there; `i` is its index, for messages.
struct Validator {
  const state::ForkCore& fork;
  Overlay& overlay;
  std::size_t i;
  std::uint64_t page_size_max;

  Status operator()(const log::ReadOp& op) {
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
    return Status::ok();
  }
  Status operator()(const log::CreatePageOp& op) {
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
    return Status::ok();
  }
  Status operator()(const log::WriteOp& op) {
    Overlay::PageInfo page = overlay.page(op.page);
    if (!page.exists) return not_found(op_name(i) + page_text(op.page) + " does not exist");
    if (op.offset > page.size_bytes || op.bytes.size() > page.size_bytes - op.offset) {
      return invalid_argument(op_name(i) + page_text(op.page) + ": write [" +
                              std::to_string(op.offset) + "," +
                              std::to_string(op.offset + op.bytes.size()) + ") exceeds page size " +
                              std::to_string(page.size_bytes));
    }
    if (overlay.derived(op.page)) {
      return invalid_argument(op_name(i) + page_text(op.page) +
                              " is derived: only propagation writes it");
    }
    return Status::ok();
  }
  Status operator()(const log::DeletePageOp& op) {
    if (!overlay.page(op.page).exists) {
      return not_found(op_name(i) + page_text(op.page) + " does not exist");
    }
    overlay.delete_page(op.page);
    return Status::ok();
  }
  Status operator()(const log::AddEdgeOp& op) {
    for (std::uint64_t end : {op.from, op.to}) {
      if (!overlay.page(end).exists) {
        return not_found(op_name(i) + "new edge: " + page_text(end) + " does not exist");
      }
    }
    overlay.add_edge(op.from, op.to);
    return Status::ok();
  }
  Status operator()(const log::RemoveEdgeOp& op) {
    if (!overlay.edge_exists(op.edge)) {
      return not_found(op_name(i) + "edge " + std::to_string(op.edge) + " does not exist");
    }
    overlay.remove_edge(op.edge);
    return Status::ok();
  }
  Status operator()(const log::DeriveOp& op) {
    MMSB_RETURN_IF_ERROR(validate_derive(overlay, op, i));
    overlay.set_derived(op.page, !op.function.empty());
    return Status::ok();
  }
  Status operator()(const log::ApplyRuleOp& op) {
    // A scope this transaction deleted is no error: its candidate is skipped
    // (docs/SEMANTICS.md "Rules and scheduling").
    if (!overlay.page(op.page).exists && !overlay.deleted(op.page)) {
      return not_found(op_name(i) + "rule scope: " + page_text(op.page) + " does not exist");
    }
    return Status::ok();
  }
};

Status validate(const state::ForkCore& fork, const std::vector<Op>& ops) {
  Overlay overlay(fork);
  Validator check{fork, overlay, 0, fork.options().page_size_max_bytes};
  for (check.i = 0; check.i < ops.size(); ++check.i) {
    MMSB_RETURN_IF_ERROR(std::visit(check, ops[check.i]));
  }
  return Status::ok();
}

// Applies one validated op to the fork, `applied` getting its result. Ids the transaction
// created are resolved from `created_pages` / `created_edges` (by provisional index). Only
// the allocator can refuse.
struct Applier {
  state::ForkCore& fork;
  log::OpResult* applied = nullptr;
  std::vector<PageId> created_pages;
  std::vector<EdgeId> created_edges;

  PageId page(std::uint64_t id) const {
    return log::is_provisional(id) ? created_pages[id & ~log::kProvisionalBit] : PageId(id);
  }
  EdgeId edge(std::uint64_t id) const {
    return log::is_provisional(id) ? created_edges[id & ~log::kProvisionalBit] : EdgeId(id);
  }

  Status operator()(const log::ReadOp&) { return Status::ok(); }  // checked by validation
  Status operator()(const log::CreatePageOp& op) {
    MMSB_ASSIGN_OR_RETURN(
        PageId created,
        fork.create_page({.type = op.type, .size_bytes = op.size_bytes, .initial = op.bytes}));
    created_pages.push_back(created);
    applied->assigned = created.value();
    return Status::ok();
  }
  Status operator()(const log::WriteOp& op) {
    Epoch epoch;
    Status written = fork.write(page(op.page), op.offset, op.bytes, &epoch);
    applied->epoch = epoch.value();
    return written;
  }
  Status operator()(const log::DeletePageOp& op) { return fork.delete_page(page(op.page)); }
  Status operator()(const log::AddEdgeOp& op) {
    MMSB_ASSIGN_OR_RETURN(EdgeId added, fork.add_edge(op.edge_kind, page(op.from), page(op.to)));
    created_edges.push_back(added);
    applied->assigned = added.value();
    return Status::ok();
  }
  Status operator()(const log::RemoveEdgeOp& op) { return fork.remove_edge(edge(op.edge)); }
  // Replaces the child's Data parents and sets its function; the result is the first new
  // edge id.
  Status operator()(const log::DeriveOp& op) {
    const PageId child = page(op.page);
    for (const Edge& old : fork.tables().edges_of(child)) {
      if (old.kind == kEdgeKindData && old.to == child)
        MMSB_RETURN_IF_ERROR(fork.remove_edge(old.id));
    }
    applied->assigned = op.parents.empty() ? 0 : fork.tables().next_edge_id;
    for (std::uint64_t parent : op.parents) {
      MMSB_RETURN_IF_ERROR(fork.add_edge(kEdgeKindData, page(parent), child).status());
    }
    fork.set_derivation(child, op.function);
    return Status::ok();
  }
  Status operator()(const log::ApplyRuleOp& op) {
    applied->assigned = page(op.page).value();  // the rules step takes the scope from here
    return Status::ok();
  }
};

}  // namespace

Status apply_transaction(state::ForkCore& fork, const std::vector<Op>& ops,
                         std::vector<log::OpResult>& results, CommitInfo* info, bool* fork_damaged,
                         graph::DependencyGraph* graph) {
  *fork_damaged = false;
  MMSB_RETURN_IF_ERROR(validate_all(fork, ops, graph));
  const std::size_t first = results.size();
  results.resize(first + ops.size());
  Applier apply{fork, nullptr, {}, {}};
  for (std::size_t i = 0; i < ops.size(); ++i) {
    apply.applied = &results[first + i];
    Status status = std::visit(apply, ops[i]);
    if (!status.is_ok()) {
      // Validation passed, so only the allocator can have refused.
      *fork_damaged = true;
      return status;
    }
  }
  if (info != nullptr) {
    info->created_pages = std::move(apply.created_pages);
    info->created_edges = std::move(apply.created_edges);
  }
  return Status::ok();
}

}  // namespace mmsb::engine

namespace mmsb {

Result<CommitInfo> commit_to_fork(Fork& fork, const std::vector<log::Op>& ops) {
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (std::holds_alternative<log::DeriveOp>(ops[i]) ||
        std::holds_alternative<log::ApplyRuleOp>(ops[i])) {
      return invalid_argument("operation " + std::to_string(i) + ": " +
                              (std::holds_alternative<log::DeriveOp>(ops[i]) ? "derive" : "apply") +
                              " is not available on a fork (a fork has no propagation or rules "
                              "step)");
    }
  }
  if (fork.has_uncommitted_changes()) {
    return failed_precondition("the fork has uncommitted changes: Fork::commit them first");
  }
  std::vector<log::OpResult> results;
  CommitInfo info;
  bool damaged = false;
  MMSB_RETURN_IF_ERROR(
      engine::apply_transaction(ForkAccess::core(fork), ops, results, &info, &damaged));
  const State head = fork.commit();
  info.tick = head.tick();
  info.root = head.root();
  return info;
}

}  // namespace mmsb

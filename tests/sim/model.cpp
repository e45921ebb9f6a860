#include "sim/model.hpp"

#include <functional>
#include <set>
#include <sstream>

#include "sim/functions.hpp"
#include "sim/rules.hpp"
#include "support/reference_root.hpp"

namespace mmsb::sim {
namespace {

bool reaches(const Model& model, std::uint64_t from, std::uint64_t to) {
  // Depth-first over dependency edges (Data and Control): does `from` reach `to`?
  std::set<std::uint64_t> seen;
  std::vector<std::uint64_t> stack{from};
  while (!stack.empty()) {
    const std::uint64_t page = stack.back();
    stack.pop_back();
    if (page == to) return true;
    if (!seen.insert(page).second) continue;
    for (const auto& [id, edge] : model.edges) {
      if (is_dependency_kind(edge.kind) && edge.from.value() == page)
        stack.push_back(edge.to.value());
    }
  }
  return false;
}

// Recomputes every derived page, parents first. Naive on purpose: the engine visits only
// what the tick affected; for pure functions both give the same bytes.
Status propagate(Model& model) {
  std::set<std::uint64_t> done;
  std::function<Status(std::uint64_t)> visit = [&](std::uint64_t child) -> Status {
    if (!done.insert(child).second) return Status::ok();
    const std::vector<std::uint64_t> parents = model.parents_of(child);
    for (std::uint64_t parent : parents) {
      if (model.is_derived(parent)) MMSB_RETURN_IF_ERROR(visit(parent));
    }
    std::vector<std::span<const std::byte>> inputs;
    for (std::uint64_t parent : parents) inputs.emplace_back(model.pages.at(parent).bytes);
    ModelPage& page = model.pages.at(child);
    std::vector<std::byte> out(page.bytes.size());
    Status computed = compute_function(model.derivations.at(child), inputs, out);
    if (!computed.is_ok()) {
      return Status(computed.code(),
                    "derived page " + std::to_string(child) + ": " + computed.message());
    }
    page.bytes = std::move(out);
    return Status::ok();
  };
  for (const auto& [child, function] : model.derivations) MMSB_RETURN_IF_ERROR(visit(child));
  return Status::ok();
}

// Ends a tick that started at `start`: epochs of changed pages go up by one.
void seal(Model& model, const Model& start) {
  for (auto& [id, page] : model.pages) {
    auto was = start.pages.find(id);
    if (was != start.pages.end() && was->second.bytes != page.bytes)
      page.epoch = was->second.epoch + 1;
  }
  model.tick = start.tick + 1;
}

void remove_page(Model& model, std::uint64_t page) {
  model.pages.erase(page);
  model.derivations.erase(page);
  std::erase_if(model.edges, [&](const auto& entry) {
    return entry.second.from.value() == page || entry.second.to.value() == page;
  });
}

class TxnApplier {
 public:
  explicit TxnApplier(Model& model) : model_(model), first_created_(model.next_page) {}

  Status apply(const SimOp& op) {
    switch (op.kind) {
      case SimOp::Kind::kCreate: {
        const std::uint64_t id = model_.next_page++;
        model_.pages[id] = ModelPage{op.type, 0, std::vector<std::byte>(op.size)};
        created_pages.push_back(id);
        return Status::ok();
      }
      case SimOp::Kind::kWrite:
      case SimOp::Kind::kPut: {
        MMSB_ASSIGN_OR_RETURN(std::uint64_t id, resolve(op.page));
        ModelPage& page = model_.pages.at(id);
        if (model_.is_derived(id))
          return Status(StatusCode::kInvalidArgument, "write of derived page");
        const std::uint64_t offset = op.kind == SimOp::Kind::kWrite ? op.offset : 0;
        if (op.kind == SimOp::Kind::kPut && op.bytes.size() != page.bytes.size()) {
          return Status(StatusCode::kInvalidArgument, "put of the wrong size");
        }
        if (offset > page.bytes.size() || op.bytes.size() > page.bytes.size() - offset) {
          return Status(StatusCode::kInvalidArgument, "write out of range");
        }
        std::copy(op.bytes.begin(), op.bytes.end(),
                  page.bytes.begin() + static_cast<std::ptrdiff_t>(offset));
        return Status::ok();
      }
      case SimOp::Kind::kDelete: {
        MMSB_ASSIGN_OR_RETURN(std::uint64_t id, resolve(op.page));
        remove_page(model_, id);
        deleted_here_.insert(id);
        return Status::ok();
      }
      case SimOp::Kind::kAddEdge: {
        MMSB_ASSIGN_OR_RETURN(std::uint64_t from, resolve(op.page));
        MMSB_ASSIGN_OR_RETURN(std::uint64_t to, resolve(op.to));
        const std::uint64_t id = model_.next_edge++;
        model_.edges[id] = Edge{EdgeId(id), op.edge_kind, PageId(from), PageId(to)};
        created_edges.push_back(id);
        return Status::ok();
      }
      case SimOp::Kind::kRemoveEdge:
        if (model_.edges.erase(op.edge) == 0) return Status(StatusCode::kNotFound, "no such edge");
        return Status::ok();
      case SimOp::Kind::kDerive:
        return derive(op);
      case SimOp::Kind::kApply: {
        // A scope this transaction deleted is no error: its candidate is skipped.
        const std::uint64_t named =
            op.page.created ? created_pages.at(op.page.value) : op.page.value;
        if (deleted_here_.count(named) != 0) {
          applied.push_back(named);
          return Status::ok();
        }
        MMSB_ASSIGN_OR_RETURN(std::uint64_t scope, resolve(op.page));
        applied.push_back(scope);
        return Status::ok();
      }
    }
    return Status::ok();
  }

  std::vector<std::uint64_t> created_pages;
  std::vector<std::uint64_t> created_edges;
  std::vector<std::uint64_t> applied;  // sim.pull scopes, in call order

 private:
  std::set<std::uint64_t> deleted_here_;  // pages this transaction deleted
  Result<std::uint64_t> resolve(const PageRef& ref) const {
    const std::uint64_t id = ref.created ? created_pages.at(ref.value) : ref.value;
    // Pages this transaction creates are named by their provisional ids only.
    if (!model_.pages.count(id) || (!ref.created && id >= first_created_)) {
      return Status(StatusCode::kNotFound, "page " + std::to_string(id));
    }
    return id;
  }

  Status derive(const SimOp& op) {
    MMSB_ASSIGN_OR_RETURN(std::uint64_t child, resolve(op.page));
    std::vector<std::uint64_t> parents;
    for (const PageRef& ref : op.parents) {
      MMSB_ASSIGN_OR_RETURN(std::uint64_t parent, resolve(ref));
      parents.push_back(parent);
    }
    Model rewired = model_;
    std::erase_if(rewired.edges, [&](const auto& entry) {
      return entry.second.kind == kEdgeKindData && entry.second.to.value() == child;
    });
    for (std::uint64_t parent : parents) {
      if (reaches(rewired, child, parent)) return Status(StatusCode::kInvalidArgument, "cycle");
      const std::uint64_t id = rewired.next_edge++;
      rewired.edges[id] = Edge{EdgeId(id), kEdgeKindData, PageId(parent), PageId(child)};
    }
    rewired.derivations[child] = op.function;
    model_ = std::move(rewired);
    return Status::ok();
  }

  Model& model_;
  std::uint64_t first_created_;
};

}  // namespace

std::vector<std::uint64_t> Model::parents_of(std::uint64_t child) const {
  std::vector<std::uint64_t> parents;
  for (const auto& [id, edge] : edges) {
    if (edge.kind == kEdgeKindData && edge.to.value() == child)
      parents.push_back(edge.from.value());
  }
  return parents;
}

Hash128 Model::root() const {
  test::RootParts parts;
  parts.tick = tick;
  parts.next_page_id = next_page;
  parts.next_edge_id = next_edge;
  parts.page_count = pages.size();
  parts.edge_count = edges.size();
  parts.derivation_count = derivations.size();
  for (const auto& [id, page] : pages) {
    test::reference_page_terms(id, page.type, Location::kHost, page.bytes, page.epoch,
                               parts.page_terms);
  }
  for (const auto& [id, edge] : edges) parts.edge_terms.push_back(test::reference_edge_term(edge));
  for (const auto& [child, function] : derivations) {
    parts.derivation_terms.push_back(test::reference_derivation_term(PageId(child), function));
  }
  parts.retries = retries;
  return test::reference_root(parts);
}

Outcome model_transaction(const Model& before, const std::vector<SimOp>& ops,
                          const std::vector<SimRead>& reads) {
  Outcome outcome;
  outcome.after = before;
  for (const SimRead& read : reads) {
    auto page = before.pages.find(read.page);
    if (page == before.pages.end() || page->second.epoch != read.epoch) {
      outcome.status = Status(StatusCode::kConflict, "read page changed");
      break;
    }
  }
  std::vector<std::uint64_t> applied;
  if (outcome.status.is_ok()) {
    TxnApplier applier(outcome.after);
    for (const SimOp& op : ops) {
      outcome.status = applier.apply(op);
      if (!outcome.status.is_ok()) break;
    }
    if (outcome.status.is_ok()) {
      outcome.created_pages = applier.created_pages;
      outcome.created_edges = applier.created_edges;
      applied = applier.applied;
    }
  }
  if (!outcome.status.is_ok()) outcome.after = before;  // still logged in its tick, unapplied
  Outcome finished = finish_tick(before, std::move(outcome.after), applied);
  if (!finished.status.is_ok()) return finished;  // the derivation's Status, even after a conflict
  finished.status = outcome.status;
  finished.created_pages = std::move(outcome.created_pages);
  finished.created_edges = std::move(outcome.created_edges);
  return finished;
}

Outcome finish_tick(const Model& before, Model inputs, const std::vector<std::uint64_t>& applied) {
  Outcome outcome;
  outcome.after = std::move(inputs);
  model_rules_step(outcome.after, before.tick + 1, applied);
  Status propagated = propagate(outcome.after);
  if (!propagated.is_ok()) {
    // The tick is not built: nothing is logged, and its inputs are refused with the
    // derivation's Status (the standing rules' writes alone may fail it).
    outcome.status = propagated;
    outcome.logged = false;
    outcome.after = before;
    return outcome;
  }
  seal(outcome.after, before);
  return outcome;
}

Outcome model_merge(const Model& base, const Model& ours, const ForkChanges& theirs) {
  Outcome outcome;
  outcome.after = ours;
  Model& after = outcome.after;
  for (const auto& [id, bytes] : theirs.written) {
    ModelPage& page = after.pages.at(id);
    if (page.bytes != bytes) page.epoch = base.pages.at(id).epoch + 1;  // theirs' epoch
    page.bytes = bytes;
  }
  for (std::uint64_t id : theirs.deleted) remove_page(after, id);
  for (const auto& [type, bytes] : theirs.created) {
    const std::uint64_t id = after.next_page++;
    after.pages[id] = ModelPage{type, 0, bytes};
    outcome.created_pages.push_back(id);
  }
  const Model taken = after;  // epochs as merged, before propagation
  Status propagated = propagate(after);
  if (!propagated.is_ok()) {
    outcome.status = propagated;
    outcome.logged = false;
    outcome.after = ours;
    return outcome;
  }
  // Derived pages that propagation changed get their epoch bumped against the merged start.
  Model start = taken;
  start.tick = ours.tick;
  seal(after, start);
  return outcome;
}

std::string first_difference(const Model& model, const State& state) {
  std::ostringstream out;
  auto differ = [&](const char* what, auto expected, auto actual) {
    out << what << ": model " << expected << ", engine " << actual;
    return out.str();
  };
  if (state.tick().value() != model.tick) return differ("tick", model.tick, state.tick().value());
  if (state.next_page_id().value() != model.next_page) {
    return differ("next page id", model.next_page, state.next_page_id().value());
  }
  if (state.next_edge_id().value() != model.next_edge) {
    return differ("next edge id", model.next_edge, state.next_edge_id().value());
  }
  if (state.page_count() != model.pages.size()) {
    return differ("page count", model.pages.size(), state.page_count());
  }
  if (state.edge_count() != model.edges.size()) {
    return differ("edge count", model.edges.size(), state.edge_count());
  }
  for (const auto& [id, page] : model.pages) {
    auto view = state.page(PageId(id));
    if (!view.is_ok()) return "page " + std::to_string(id) + ": in the model, not in the engine";
    const std::string name = "page " + std::to_string(id);
    if (view->type != page.type) return differ((name + " type").c_str(), page.type, view->type);
    if (view->epoch.value() != page.epoch) {
      return differ((name + " epoch").c_str(), page.epoch, view->epoch.value());
    }
    if (view->bytes.size() != page.bytes.size()) {
      return differ((name + " size").c_str(), page.bytes.size(), view->bytes.size());
    }
    for (std::size_t i = 0; i < page.bytes.size(); ++i) {
      if (view->bytes[i] != page.bytes[i]) {
        return differ((name + " byte " + std::to_string(i)).c_str(),
                      std::to_integer<int>(page.bytes[i]), std::to_integer<int>(view->bytes[i]));
      }
    }
  }
  for (const auto& [id, edge] : model.edges) {
    auto found = state.edge(EdgeId(id));
    if (!found.is_ok() || !(*found == edge)) return "edge " + std::to_string(id) + " differs";
  }
  if (state.derivation_count() != model.derivations.size()) {
    return differ("derivations", model.derivations.size(), state.derivation_count());
  }
  for (const auto& [child, function] : model.derivations) {
    auto derivation = state.derivation(PageId(child));
    if (!derivation || derivation->function != function || [&] {
          std::vector<std::uint64_t> parents;
          for (PageId parent : derivation->parents) parents.push_back(parent.value());
          return parents != model.parents_of(child);
        }()) {
      return "derivation of page " + std::to_string(child) + " differs";
    }
  }
  const auto retries = state.pending_retries();
  if (!std::equal(retries.begin(), retries.end(), model.retries.begin(), model.retries.end())) {
    return "pending retries differ: model " + std::to_string(model.retries.size()) + ", engine " +
           std::to_string(retries.size());
  }
  const Hash128 expected = model.root();
  if (state.root() != expected) {
    return differ("root", expected.to_hex(), state.root().to_hex());
  }
  if (test::reference_root(state) != expected)
    return "the reference root of the engine's State differs";
  return "";
}

}  // namespace mmsb::sim

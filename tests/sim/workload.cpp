#include "sim/workload.hpp"

#include "sim/functions.hpp"

namespace mmsb::sim {
namespace {

std::vector<std::uint64_t> page_ids(const Model& model) {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, page] : model.pages) ids.push_back(id);
  return ids;
}

SimOp write_op(Random& random, std::uint64_t page, std::uint64_t size) {
  SimOp op;
  op.page = {false, page};
  if (random.chance(15)) {
    op.kind = SimOp::Kind::kPut;
    op.bytes = random.bytes(size);
  } else {
    op.offset = random.below(size);
    op.bytes = random.bytes(random.between(1, std::min<std::uint64_t>(24, size - op.offset)));
  }
  if (random.chance(6) && (op.kind == SimOp::Kind::kPut || op.offset == 0)) {
    op.bytes[0] = kPickyPoison;  // makes a sim.picky child fail
  }
  return op;
}

// An operation that must fail: out of range, a missing page, a derived page.
SimOp invalid_op(Random& random, const Model& model) {
  SimOp op;
  const std::vector<std::uint64_t> ids = page_ids(model);
  switch (random.below(3)) {
    case 0:
      if (!ids.empty()) {
        const std::uint64_t id = random.pick(ids);
        const std::uint64_t size = model.pages.at(id).bytes.size();
        op.page = {false, id};
        op.offset = size - random.below(std::min<std::uint64_t>(size, 4));
        op.bytes = random.bytes(8);
        return op;
      }
      [[fallthrough]];
    case 1:
      op.page = {false, model.next_page + random.below(4)};
      op.bytes = random.bytes(1);
      return op;
    default:  // the first derived page, or page 0, which never exists
      op.page = {false, model.derivations.empty() ? 0 : model.derivations.begin()->first};
      op.bytes = random.bytes(1);
      return op;
  }
}

// Pages rules may write: scopes of the standing rule, and of pending retries. They must stay
// underived, and a fork leaves them alone (the transactions before its merge run rules).
bool rules_leave_alone(const Model& model, std::uint64_t page) {
  if (model.pages.at(page).type == kScopeType) return false;
  for (const PendingRetry& retry : model.retries) {
    if (retry.scope.value() == page) return false;
  }
  return true;
}

SimOp derive_op(Random& random, const Model& model, const std::vector<std::uint64_t>& ids) {
  SimOp op;
  op.kind = SimOp::Kind::kDerive;
  std::vector<std::uint64_t> children;
  for (std::uint64_t id : ids) {
    if (rules_leave_alone(model, id)) children.push_back(id);
  }
  if (children.empty()) return invalid_op(random, model);
  const std::uint64_t child = random.pick(children);
  op.page = {false, child};
  const std::uint64_t size = model.pages.at(child).bytes.size();
  const std::size_t parents = static_cast<std::size_t>(random.between(1, 3));
  for (std::size_t i = 0; i < parents; ++i) op.parents.push_back({false, random.pick(ids)});
  switch (random.below(4)) {
    case 0: {
      op.function = std::string(kDerivePassthrough);
      op.parents.resize(1);
      for (std::uint64_t id : ids) {  // prefer a parent of the same size (else it fails)
        if (id != child && model.pages.at(id).bytes.size() == size && random.chance(70)) {
          op.parents[0] = {false, id};
          break;
        }
      }
      break;
    }
    case 1:
      op.function = std::string(kDeriveConcat);
      break;
    case 2:
      op.function = std::string(kPicky);
      break;
    default:
      op.function = std::string(kMix);
  }
  return op;
}

}  // namespace

StepKind draw_step(Random& random) {
  const std::uint64_t roll = random.below(100);
  if (roll < 40) return StepKind::kTransaction;
  if (roll < 47) return StepKind::kStaleRead;
  if (roll < 54) return StepKind::kMerge;
  if (roll < 64) return StepKind::kRule;
  if (roll < 76) return StepKind::kIngest;
  if (roll < 79) return StepKind::kRuleset;
  if (roll < 85) return StepKind::kClock;
  if (roll < 90) return StepKind::kCheckpoint;
  if (roll < 95) return StepKind::kReopen;
  return StepKind::kCrash;
}

std::vector<std::uint64_t> writable_pages(const Model& model,
                                          const std::set<std::uint64_t>& avoid) {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, page] : model.pages) {
    if (!model.is_derived(id) && !avoid.count(id)) ids.push_back(id);
  }
  return ids;
}

std::vector<SimOp> draw_transaction(Random& random, const Model& model,
                                    const std::set<std::uint64_t>& avoid) {
  std::vector<SimOp> ops;
  const std::vector<std::uint64_t> writable = writable_pages(model, avoid);
  std::vector<std::uint64_t> all;
  for (std::uint64_t id : page_ids(model)) {
    if (!avoid.count(id)) all.push_back(id);
  }
  std::size_t created = 0;
  const std::size_t count = static_cast<std::size_t>(random.between(1, 4));
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t roll = random.below(100);
    if (roll < 3) {
      ops.push_back(invalid_op(random, model));
    } else if ((roll < 22 || writable.empty()) && model.pages.size() + created < kPagesMax) {
      SimOp op;
      op.kind = SimOp::Kind::kCreate;
      op.size = random.between(1, kPageBytesMax);
      op.type = random.chance(25) ? kScopeType : 0;
      ops.push_back(op);
      if (random.chance(50)) {
        SimOp fill = write_op(random, 0, op.size);
        fill.page = {true, created};
        ops.push_back(fill);
      }
      ++created;
    } else if (roll < 70 && !writable.empty()) {
      const std::uint64_t page = random.pick(writable);
      ops.push_back(write_op(random, page, model.pages.at(page).bytes.size()));
    } else if (roll < 76 && !all.empty()) {
      SimOp op;
      op.kind = SimOp::Kind::kDelete;
      op.page = {false, random.pick(all)};
      ops.push_back(op);
      break;  // later operations might name it
    } else if (roll < 86 && !all.empty()) {
      SimOp op;
      op.kind = SimOp::Kind::kAddEdge;
      op.edge_kind = kEdgeKindUserFirst + static_cast<EdgeKind>(random.below(3));
      op.page = {false, random.pick(all)};
      op.to = {false, random.pick(all)};
      ops.push_back(op);
    } else if (roll < 90 && !model.edges.empty()) {
      std::vector<std::uint64_t> user_edges;
      for (const auto& [id, edge] : model.edges) {
        if (edge.kind >= kEdgeKindUserFirst && !avoid.count(edge.from.value()) &&
            !avoid.count(edge.to.value())) {
          user_edges.push_back(id);
        }
      }
      if (user_edges.empty()) continue;
      SimOp op;
      op.kind = SimOp::Kind::kRemoveEdge;
      op.edge = random.pick(user_edges);
      ops.push_back(op);
    } else if (!all.empty()) {
      ops.push_back(derive_op(random, model, all));
      break;  // the child may not be written after it
    }
  }
  return ops;
}

std::vector<SimOp> draw_rule_transaction(Random& random, const Model& model) {
  std::vector<SimOp> ops;
  const std::vector<std::uint64_t> writable = writable_pages(model);
  if (writable.empty()) return ops;
  const std::size_t writes = static_cast<std::size_t>(random.below(3));
  for (std::size_t i = 0; i < writes; ++i) {
    const std::uint64_t page = random.pick(writable);
    ops.push_back(write_op(random, page, model.pages.at(page).bytes.size()));
  }
  const std::size_t applies = static_cast<std::size_t>(random.between(1, 3));
  for (std::size_t i = 0; i < applies; ++i) {
    SimOp op;
    op.kind = SimOp::Kind::kApply;
    op.page = {false, random.pick(writable)};
    ops.push_back(op);
  }
  return ops;
}

ForkChanges draw_fork_changes(Random& random, const Model& model) {
  ForkChanges changes;
  std::vector<std::uint64_t> writable;
  for (std::uint64_t page : writable_pages(model)) {
    if (rules_leave_alone(model, page)) writable.push_back(page);
  }
  const std::size_t writes = writable.empty() ? 0 : static_cast<std::size_t>(random.between(0, 3));
  for (std::size_t i = 0; i < writes; ++i) {
    const std::uint64_t page = random.pick(writable);
    std::vector<std::byte> bytes =
        changes.written.count(page) ? changes.written.at(page) : model.pages.at(page).bytes;
    const std::uint64_t offset = random.below(bytes.size());
    const std::vector<std::byte> run = random.bytes(random.between(1, bytes.size() - offset));
    std::copy(run.begin(), run.end(), bytes.begin() + static_cast<std::ptrdiff_t>(offset));
    changes.written[page] = std::move(bytes);
  }
  if (model.pages.size() < kPagesMax && random.chance(40)) {
    const std::uint64_t size = random.between(1, kPageBytesMax);
    changes.created.emplace_back(random.chance(25) ? kScopeType : 0, random.bytes(size));
  }
  if (random.chance(25)) {
    for (std::uint64_t page : writable) {
      bool linked = false;
      for (const auto& [id, edge] : model.edges) {
        linked |= edge.from.value() == page || edge.to.value() == page;
      }
      if (!linked && !changes.written.count(page) && random.chance(30)) {
        changes.deleted.push_back(page);
        break;
      }
    }
  }
  return changes;
}

std::set<std::uint64_t> touched_by(const ForkChanges& changes) {
  std::set<std::uint64_t> pages(changes.deleted.begin(), changes.deleted.end());
  for (const auto& [page, bytes] : changes.written) pages.insert(page);
  return pages;
}

}  // namespace mmsb::sim

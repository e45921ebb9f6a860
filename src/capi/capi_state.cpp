// The C ABI: transactions, snapshots, forks and merge.
#include <string>

#include "capi/capi_internal.hpp"

using namespace mmsb;
using capi::bytes_of;
using capi::guard;
using capi::require;

namespace {

Status open_txn(const mmsb_txn* txn) {
  MMSB_RETURN_IF_ERROR(require(txn, "txn"));
  if (txn->committed) return failed_precondition("the transaction was committed already");
  return Status::ok();
}

PageSpec page_spec(uint32_t type, uint64_t size, const void* initial) {
  PageSpec spec;
  spec.type = type;
  spec.size_bytes = size;
  if (initial != nullptr) spec.initial = bytes_of(initial, static_cast<std::size_t>(size));
  return spec;
}

void keep_commit_info(const CommitInfo& info, mmsb_txn* txn, mmsb_commit_info* out) {
  for (PageId page : info.created_pages) txn->created_pages.push_back(page.value());
  for (EdgeId edge : info.created_edges) txn->created_edges.push_back(edge.value());
  for (const RuleReceipt& receipt : info.receipts) {
    txn->receipts.push_back(mmsb_receipt{receipt.family, receipt.scope.value(),
                                         static_cast<uint32_t>(receipt.outcome), receipt.attempt,
                                         receipt.retry_at.value()});
  }
  if (out == nullptr) return;
  out->tick = info.tick.value();
  out->root = capi::to_c(info.root);
  out->created_pages = txn->created_pages.data();
  out->created_pages_count = txn->created_pages.size();
  out->created_edges = txn->created_edges.data();
  out->created_edges_count = txn->created_edges.size();
  out->receipts = txn->receipts.data();
  out->receipts_count = txn->receipts.size();
}

}  // namespace

extern "C" {

mmsb_status mmsb_txn_begin(mmsb_engine* engine, mmsb_txn** out) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    MMSB_RETURN_IF_ERROR(require(out, "out"));
    auto txn = std::make_unique<mmsb_txn>();
    txn->txn.emplace(engine->engine->begin());
    *out = txn.release();
    return Status::ok();
  });
}

void mmsb_txn_free(mmsb_txn* txn) { delete txn; }

// The recording calls only record: their errors (a bad range, a missing page) come from
// commit, which names the operation. Only what the recorder cannot take is refused here.
mmsb_status mmsb_txn_create_page(mmsb_txn* txn, uint32_t type, uint64_t size, const void* initial,
                                 uint64_t* page) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(open_txn(txn));
    MMSB_RETURN_IF_ERROR(require(page, "page"));
    *page = txn->txn->create_page(page_spec(type, size, initial)).value();
    return Status::ok();
  });
}

mmsb_status mmsb_txn_write(mmsb_txn* txn, uint64_t page, uint64_t offset, const void* bytes,
                           size_t length) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(open_txn(txn));
    if (length != 0) MMSB_RETURN_IF_ERROR(require(bytes, "bytes"));
    txn->txn->write(PageId(page), offset, bytes_of(bytes, length));
    return Status::ok();
  });
}

mmsb_status mmsb_txn_put(mmsb_txn* txn, uint64_t page, const void* bytes, size_t length) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(open_txn(txn));
    if (length != 0) MMSB_RETURN_IF_ERROR(require(bytes, "bytes"));
    txn->txn->put(PageId(page), bytes_of(bytes, length));
    return Status::ok();
  });
}

mmsb_status mmsb_txn_delete_page(mmsb_txn* txn, uint64_t page) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(open_txn(txn));
    txn->txn->delete_page(PageId(page));
    return Status::ok();
  });
}

mmsb_status mmsb_txn_add_edge(mmsb_txn* txn, uint32_t kind, uint64_t from, uint64_t to,
                              uint64_t* edge) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(open_txn(txn));
    MMSB_RETURN_IF_ERROR(require(edge, "edge"));
    *edge = txn->txn->add_edge(kind, PageId(from), PageId(to)).value();
    return Status::ok();
  });
}

mmsb_status mmsb_txn_remove_edge(mmsb_txn* txn, uint64_t edge) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(open_txn(txn));
    txn->txn->remove_edge(EdgeId(edge));
    return Status::ok();
  });
}

mmsb_status mmsb_txn_derive(mmsb_txn* txn, uint64_t child, const uint64_t* parents,
                            size_t parents_count, const char* function) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(open_txn(txn));
    if (parents_count != 0) MMSB_RETURN_IF_ERROR(require(parents, "parents"));
    std::vector<PageId> ids;
    for (size_t i = 0; i < parents_count; ++i) ids.emplace_back(parents[i]);
    txn->txn->derive(PageId(child), ids, function == nullptr ? "" : function);
    return Status::ok();
  });
}

mmsb_status mmsb_txn_apply(mmsb_txn* txn, const char* rule, uint64_t scope) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(open_txn(txn));
    MMSB_RETURN_IF_ERROR(require(rule, "rule"));
    txn->txn->apply(rule, PageId(scope));
    return Status::ok();
  });
}

mmsb_status mmsb_txn_read(mmsb_txn* txn, uint64_t page, const void** bytes, size_t* length) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(open_txn(txn));
    MMSB_RETURN_IF_ERROR(require(bytes, "bytes"));
    MMSB_RETURN_IF_ERROR(require(length, "length"));
    MMSB_ASSIGN_OR_RETURN(auto read, txn->txn->read(PageId(page)));
    *bytes = read.data();
    *length = read.size();
    return Status::ok();
  });
}

mmsb_status mmsb_txn_commit(mmsb_txn* txn, mmsb_commit_info* info) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(open_txn(txn));
    txn->committed = true;
    MMSB_ASSIGN_OR_RETURN(CommitInfo done, txn->txn->commit());
    keep_commit_info(done, txn, info);
    return Status::ok();
  });
}

mmsb_status mmsb_engine_snapshot(const mmsb_engine* engine, mmsb_snapshot** out) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    MMSB_RETURN_IF_ERROR(require(out, "out"));
    *out = new mmsb_snapshot{engine->engine->snapshot()};
    return Status::ok();
  });
}

void mmsb_snapshot_free(mmsb_snapshot* snapshot) { delete snapshot; }

uint64_t mmsb_snapshot_tick(const mmsb_snapshot* snapshot) {
  return snapshot == nullptr ? 0 : snapshot->state.tick().value();
}

mmsb_hash mmsb_snapshot_root(const mmsb_snapshot* snapshot) {
  return capi::to_c(snapshot == nullptr ? Hash128{} : snapshot->state.root());
}

uint64_t mmsb_snapshot_page_count(const mmsb_snapshot* snapshot) {
  return snapshot == nullptr ? 0 : snapshot->state.page_count();
}

mmsb_status mmsb_snapshot_page(const mmsb_snapshot* snapshot, uint64_t page, mmsb_page* out) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(snapshot, "snapshot"));
    MMSB_RETURN_IF_ERROR(require(out, "out"));
    MMSB_ASSIGN_OR_RETURN(PageView view, snapshot->state.page(PageId(page)));
    capi::fill_page(view, out);
    return Status::ok();
  });
}

mmsb_status mmsb_snapshot_for_each_page(const mmsb_snapshot* snapshot,
                                        int (*visit)(void* user, const mmsb_page* page),
                                        void* user) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(snapshot, "snapshot"));
    MMSB_RETURN_IF_ERROR(require(reinterpret_cast<const void*>(visit), "visit"));
    int stopped = 0;
    std::uint64_t stopped_at = 0;
    snapshot->state.for_each_page([&](const PageView& view) {
      if (stopped != 0) return;
      mmsb_page page;
      capi::fill_page(view, &page);
      stopped = visit(user, &page);
      stopped_at = view.id.value();
    });
    if (stopped != 0) {
      return failed_precondition("the visitor stopped the walk at page " +
                                 std::to_string(stopped_at) + " (returned " +
                                 std::to_string(stopped) + ")");
    }
    return Status::ok();
  });
}

mmsb_status mmsb_engine_fork(const mmsb_engine* engine, mmsb_fork** out) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    MMSB_RETURN_IF_ERROR(require(out, "out"));
    *out = new mmsb_fork{engine->engine->fork()};
    return Status::ok();
  });
}

void mmsb_fork_free(mmsb_fork* fork) { delete fork; }

mmsb_status mmsb_fork_create_page(mmsb_fork* fork, uint32_t type, uint64_t size,
                                  const void* initial, uint64_t* page) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(fork, "fork"));
    MMSB_RETURN_IF_ERROR(require(page, "page"));
    MMSB_ASSIGN_OR_RETURN(PageId id, fork->fork.create_page(page_spec(type, size, initial)));
    *page = id.value();
    return Status::ok();
  });
}

mmsb_status mmsb_fork_write(mmsb_fork* fork, uint64_t page, uint64_t offset, const void* bytes,
                            size_t length) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(fork, "fork"));
    if (length != 0) MMSB_RETURN_IF_ERROR(require(bytes, "bytes"));
    return fork->fork.write(PageId(page), offset, bytes_of(bytes, length));
  });
}

mmsb_status mmsb_fork_put(mmsb_fork* fork, uint64_t page, const void* bytes, size_t length) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(fork, "fork"));
    if (length != 0) MMSB_RETURN_IF_ERROR(require(bytes, "bytes"));
    return fork->fork.put(PageId(page), bytes_of(bytes, length));
  });
}

mmsb_status mmsb_fork_delete_page(mmsb_fork* fork, uint64_t page) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(fork, "fork"));
    return fork->fork.delete_page(PageId(page));
  });
}

mmsb_status mmsb_fork_page(const mmsb_fork* fork, uint64_t page, mmsb_page* out) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(fork, "fork"));
    MMSB_RETURN_IF_ERROR(require(out, "out"));
    MMSB_ASSIGN_OR_RETURN(PageView view, fork->fork.page(PageId(page)));
    capi::fill_page(view, out);
    return Status::ok();
  });
}

mmsb_status mmsb_fork_commit(mmsb_fork* fork, uint64_t* tick, mmsb_hash* root) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(fork, "fork"));
    State head = fork->fork.commit();
    if (tick != nullptr) *tick = head.tick().value();
    if (root != nullptr) *root = capi::to_c(head.root());
    return Status::ok();
  });
}

mmsb_status mmsb_engine_merge(mmsb_engine* engine, const mmsb_fork* fork, mmsb_merge_policy policy,
                              mmsb_merge_info* info) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    MMSB_RETURN_IF_ERROR(require(fork, "fork"));
    if (policy < MMSB_MERGE_FAIL || policy > MMSB_MERGE_PREFER_THEIRS) {
      return invalid_argument("merge policy " + std::to_string(static_cast<int>(policy)) +
                              " is not an mmsb_merge_policy");
    }
    MergeOptions options;
    options.policy = static_cast<MergePolicy>(policy);
    MMSB_ASSIGN_OR_RETURN(MergeResult merged, engine->engine->merge(fork->fork, options));
    if (info != nullptr) {
      info->tick = merged.state.tick().value();
      info->root = capi::to_c(merged.state.root());
      info->path = static_cast<uint32_t>(merged.path);
      info->pages_taken_from_theirs = merged.pages_taken_from_theirs;
      info->pages_merged = merged.pages_merged;
      info->clashes_resolved = merged.clashes_resolved;
    }
    return Status::ok();
  });
}

}  // extern "C"

// Snapshots, page information, commit and merge results, replay and verification.
#include <optional>
#include <string>

#include "py_common.hpp"

namespace mmsb::py {

namespace {

pyb::list edges_list(const std::vector<Edge>& edges) {
  pyb::list out;
  for (const Edge& edge : edges) {
    out.append(pyb::make_tuple(edge.id.value(), edge.kind, edge.from.value(), edge.to.value()));
  }
  return out;
}

pyb::dict remap_dict(const std::vector<IdRemap>& remap) {
  pyb::dict out;
  for (const IdRemap& entry : remap) out[pyb::int_(entry.from)] = entry.to;
  return out;
}

std::string_view merge_path_name(MergePath path) {
  switch (path) {
    case MergePath::kTheirsUnchanged:
      return "theirs_unchanged";
    case MergePath::kOursUnchanged:
      return "ours_unchanged";
    case MergePath::kThreeWay:
      break;
  }
  return "three_way";
}

void bind_page_info(pyb::module_& m) {
  pyb::class_<PageView>(m, "PageInfo", "A page's id, type, size and epoch in one version.")
      .def_property_readonly("id", [](const PageView& p) { return p.id.value(); })
      .def_property_readonly("type", [](const PageView& p) { return p.type; })
      .def_property_readonly("size", [](const PageView& p) { return p.size_bytes; })
      .def_property_readonly("epoch", [](const PageView& p) { return p.epoch.value(); })
      .def_property_readonly(
          "address",
          [](const PageView& p) { return reinterpret_cast<std::uintptr_t>(p.bytes.data()); },
          "Where the page's bytes are in this process (what read() views, without a copy).")
      .def("__repr__", [](const PageView& p) {
        return "PageInfo(id=" + std::to_string(p.id.value()) + ", type=" + std::to_string(p.type) +
               ", size=" + std::to_string(p.size_bytes) +
               ", epoch=" + std::to_string(p.epoch.value()) + ")";
      });
}

void bind_snapshot(pyb::module_& m) {
  pyb::class_<State>(m, "Snapshot",
                     "One immutable version of the state. Taking one is O(1); reads are "
                     "zero-copy memoryviews that keep this version alive.")
      .def_property_readonly("tick", [](const State& s) { return s.tick().value(); })
      .def_property_readonly(
          "root", [](const State& s) { return hash_bytes(s.root()); },
          "The 16-byte state root (docs/FORMAT.md \"State root\").")
      .def_property_readonly("edge_count", &State::edge_count)
      .def("__len__", &State::page_count)
      .def("__contains__",
           [](const State& s, std::uint64_t page) { return s.contains(PageId(page)); })
      .def(
          "read",
          [](const State& s, std::uint64_t page) {
            return page_view(s, unwrap(s.read(PageId(page))));
          },
          pyb::arg("page"),
          "The page's bytes as a read-only memoryview, without a copy (numpy.frombuffer works "
          "on it). It keeps this version alive: it stays valid after the Snapshot is dropped.")
      .def(
          "page", [](const State& s, std::uint64_t page) { return unwrap(s.page(PageId(page))); },
          pyb::arg("page"), "The page's PageInfo; NotFoundError if it does not exist.")
      .def(
          "edges",
          [](const State& s, std::uint64_t page) { return edges_list(s.edges_of(PageId(page))); },
          pyb::arg("page"), "Edges with the page at either end: (id, kind, from, to), by id.")
      .def(
          "derivation",
          [](const State& s, std::uint64_t child) -> pyb::object {
            std::optional<Derivation> d = s.derivation(PageId(child));
            if (!d) return pyb::none();
            pyb::list parents;
            for (PageId parent : d->parents) parents.append(parent.value());
            return pyb::make_tuple(d->function, parents);
          },
          pyb::arg("child"), "(function, parents) if the page is derived, else None.")
      .def(
          "pages",
          [](const State& s) {
            std::vector<PageView> pages;
            pages.reserve(s.page_count());
            s.for_each_page([&](const PageView& page) { pages.push_back(page); });
            return pages;
          },
          "Every page's PageInfo, in id order.")
      .def(
          "__iter__",
          [](const State& s) {
            pyb::list ids;
            s.for_each_page([&](const PageView& page) { ids.append(page.id.value()); });
            return pyb::iter(ids);
          },
          "Iterates over page ids in id order.")
      .def(
          "close", [](const State&) {}, "Nothing to release (for parity with RemoteSnapshot).")
      .def("__enter__", [](pyb::object self) { return self; })
      .def("__exit__", [](const State&, const pyb::args&) { return false; })
      .def("__repr__", [](const State& s) {
        return "Snapshot(tick=" + std::to_string(s.tick().value()) +
               ", pages=" + std::to_string(s.page_count()) + ", root=" + s.root().to_hex() + ")";
      });
}

void bind_results(pyb::module_& m) {
  pyb::class_<RuleReceipt>(m, "Receipt", "What the scheduler did with one rule candidate.")
      .def_property_readonly("family", [](const RuleReceipt& r) { return r.family; })
      .def_property_readonly("scope", [](const RuleReceipt& r) { return r.scope.value(); })
      .def_property_readonly(
          "outcome",
          [](const RuleReceipt& r) { return std::string(receipt_outcome_name(r.outcome)); })
      .def_property_readonly("attempt", [](const RuleReceipt& r) { return r.attempt; })
      .def_property_readonly("blocker_family",
                             [](const RuleReceipt& r) { return r.blocker_family; })
      .def_property_readonly("blocker_scope",
                             [](const RuleReceipt& r) { return r.blocker_scope.value(); })
      .def_property_readonly("retry_at", [](const RuleReceipt& r) { return r.retry_at.value(); })
      .def("__repr__", [](const RuleReceipt& r) {
        return "Receipt(scope=" + std::to_string(r.scope.value()) +
               ", outcome=" + std::string(receipt_outcome_name(r.outcome)) + ")";
      });

  pyb::class_<CommitInfo>(m, "CommitInfo", "What a committed transaction became.")
      .def_property_readonly("tick", [](const CommitInfo& c) { return c.tick.value(); })
      .def_property_readonly("root", [](const CommitInfo& c) { return hash_bytes(c.root); })
      .def_property_readonly("created_pages",
                             [](const CommitInfo& c) {
                               std::vector<std::uint64_t> ids;
                               for (PageId id : c.created_pages) ids.push_back(id.value());
                               return ids;
                             })
      .def_property_readonly("created_edges",
                             [](const CommitInfo& c) {
                               std::vector<std::uint64_t> ids;
                               for (EdgeId id : c.created_edges) ids.push_back(id.value());
                               return ids;
                             })
      .def_readonly("receipts", &CommitInfo::receipts)
      .def("__repr__", [](const CommitInfo& c) {
        return "CommitInfo(tick=" + std::to_string(c.tick.value()) + ", root=" + c.root.to_hex() +
               ", created_pages=" + std::to_string(c.created_pages.size()) + ")";
      });

  pyb::class_<MergeResult>(m, "MergeResult", "What a merge did.")
      .def_readonly("snapshot", &MergeResult::state)
      .def_property_readonly("tick", [](const MergeResult& r) { return r.state.tick().value(); })
      .def_property_readonly("root",
                             [](const MergeResult& r) { return hash_bytes(r.state.root()); })
      .def_property_readonly(
          "path", [](const MergeResult& r) { return std::string(merge_path_name(r.path)); })
      .def_readonly("pages_taken_from_theirs", &MergeResult::pages_taken_from_theirs)
      .def_readonly("pages_merged", &MergeResult::pages_merged)
      .def_readonly("clashes_resolved", &MergeResult::clashes_resolved)
      .def_property_readonly(
          "page_remap", [](const MergeResult& r) { return remap_dict(r.page_remap); },
          "{id in the fork: id in the result} for the fork's new pages that moved.")
      .def_property_readonly("edge_remap",
                             [](const MergeResult& r) { return remap_dict(r.edge_remap); });
}

pyb::dict verify_dict(const VerifyReport& report) {
  pyb::dict out;
  out["ok"] = report.ok();
  out["tick"] = report.tick.value();
  out["root"] = hash_bytes(report.root);
  out["failure"] = report.failure.is_ok() ? std::string() : report.failure.to_string();
  out["ticks_reexecuted"] = report.recovery.ticks_applied;
  pyb::list checkpoints;
  for (const CheckpointCheck& check : report.checkpoints) {
    pyb::dict entry;
    entry["tick"] = check.tick.value();
    entry["path"] = check.path;
    entry["outcome"] = std::string(checkpoint_outcome_name(check.outcome));
    entry["detail"] = check.detail;
    checkpoints.append(entry);
  }
  out["checkpoints"] = checkpoints;
  return out;
}

void bind_replay(pyb::module_& m) {
  m.def(
      "replay",
      [](const std::string& dir, std::optional<std::uint64_t> to, bool verify) {
        ReplayOptions options;
        if (to) options.to = TickId(*to);
        options.reexecute = verify;
        return unwrap(without_gil([&] { return replay(dir, options); }));
      },
      pyb::arg("dir"), pyb::arg("to") = pyb::none(), pyb::arg("verify") = false,
      "The Snapshot of data directory `dir` after tick `to` (default, or past the log's end: the "
      "last; its tick says which), without opening "
      "an engine; verify=True re-executes every tick (the determinism check) rather than "
      "applying the logged results. The GIL is released meanwhile.");
  m.def(
      "verify",
      [](const std::string& dir) {
        return verify_dict(unwrap(without_gil([&] { return verify(dir); })));
      },
      pyb::arg("dir"),
      "Re-executes what opening `dir` would recover and checks every checkpoint; a dict with "
      "ok, tick, root, failure and checkpoints.");
}

}  // namespace

void bind_state(pyb::module_& m) {
  bind_page_info(m);
  bind_snapshot(m);
  bind_results(m);
  bind_replay(m);
}

}  // namespace mmsb::py

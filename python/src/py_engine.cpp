// mmsb.Engine, mmsb.Transaction and mmsb.Fork.
#include "py_engine.hpp"

#include "net/wire.hpp"

namespace mmsb::py {

namespace {

// Engines not yet closed, so the interpreter's exit can close them (atexit in __init__.py)
// before the objects holding their callbacks go away. Touched with the GIL held only.
std::vector<std::weak_ptr<PyEngine>>& open_engines() {
  static auto* engines = new std::vector<std::weak_ptr<PyEngine>>();
  return *engines;
}

class PyTransaction : public HeldTransaction<Transaction, EngineRef> {
 public:
  PyTransaction(Transaction txn, EngineRef engine) : HeldTransaction(std::move(engine), std::move(txn)) {}

  pyb::memoryview read(std::uint64_t page) {
    Transaction& t = txn();
    return page_view(t.snapshot(), unwrap(t.read(PageId(page))));
  }
};

void bind_transaction(pyb::module_& m) {
  pyb::class_<PyTransaction> txn(
      m, "Transaction",
      "A batch of changes applied atomically in one tick, or not at all. As a context "
      "manager it commits when the block ends and is abandoned if the block raises. Errors in "
      "an operation are reported by commit(), naming the operation.");
  bind_txn_ops<PyTransaction>(txn);
  txn.def("read", &PyTransaction::read, pyb::arg("page"),
          "The page's bytes in the snapshot the transaction started on (a read-only "
          "memoryview, zero-copy); commit() fails with ConflictError if the page changes first.")
      .def_property_readonly("snapshot", [](PyTransaction& t) { return t.txn().snapshot(); });
  bind_txn_lifecycle<PyTransaction>(txn);
}

void bind_fork(pyb::module_& m) {
  pyb::class_<Fork>(m, "Fork",
                    "A private writable branch of a snapshot (O(1) to make). commit() seals "
                    "its writes into a new version; Engine.merge brings it back. One thread "
                    "at a time.")
      .def(
          "create_page",
          [](Fork& f, std::uint64_t size, std::uint32_t type, const pyb::object& initial) {
            SpecArgs args(size, type, initial);
            return unwrap(f.create_page(args.spec)).value();
          },
          pyb::arg("size"), pyb::arg("type") = 0, pyb::arg("initial") = pyb::none())
      .def(
          "write",
          [](Fork& f, std::uint64_t page, std::uint64_t offset, const pyb::object& data) {
            BufferBytes bytes(data, "data");
            check(f.write(PageId(page), offset, bytes.bytes));
          },
          pyb::arg("page"), pyb::arg("offset"), pyb::arg("data"))
      .def(
          "put",
          [](Fork& f, std::uint64_t page, const pyb::object& data) {
            BufferBytes bytes(data, "data");
            check(f.put(PageId(page), bytes.bytes));
          },
          pyb::arg("page"), pyb::arg("data"))
      .def(
          "delete_page", [](Fork& f, std::uint64_t page) { check(f.delete_page(PageId(page))); },
          pyb::arg("page"))
      .def(
          "add_edge",
          [](Fork& f, std::uint64_t from, std::uint64_t to, std::uint32_t kind) {
            return unwrap(f.add_edge(kind, PageId(from), PageId(to))).value();
          },
          pyb::arg("from_page"), pyb::arg("to_page"), pyb::arg("kind") = kDefaultEdgeKind)
      .def(
          "remove_edge", [](Fork& f, std::uint64_t edge) { check(f.remove_edge(EdgeId(edge))); },
          pyb::arg("edge"))
      .def(
          "read",
          [](const Fork& f, std::uint64_t page) {
            std::span<const std::byte> bytes = unwrap(f.read(PageId(page)));
            return owned_view(std::vector<std::byte>(bytes.begin(), bytes.end()));
          },
          pyb::arg("page"), "A copy of the page's bytes as this fork sees them.")
      .def(
          "page", [](const Fork& f, std::uint64_t page) { return unwrap(f.page(PageId(page))); },
          pyb::arg("page"))
      .def("__contains__",
           [](const Fork& f, std::uint64_t page) { return f.contains(PageId(page)); })
      .def("__len__", &Fork::page_count)
      .def("commit", &Fork::commit, "Seals the writes so far into a new Snapshot (tick + 1).")
      .def_property_readonly("head", &Fork::head, "The last commit()'s Snapshot (base before).")
      .def_property_readonly("base", &Fork::base, "The Snapshot the fork started from.")
      .def_property_readonly("has_uncommitted_changes", &Fork::has_uncommitted_changes);
}

EngineOptions engine_options(const std::string& dir, const pyb::kwargs& kwargs) {
  EngineOptions options;
  options.dir = dir;
  for (const auto& [key_handle, value] : kwargs) {
    const std::string key = key_handle.cast<std::string>();
    if (key == "durability") {
      options.durability = durability(value.cast<std::string>());
    } else if (key == "workers") {
      options.propagation_workers = value.cast<std::size_t>();
      options.rule_workers = options.propagation_workers;
    } else if (key == "propagation_workers") {
      options.propagation_workers = value.cast<std::size_t>();
    } else if (key == "rule_workers") {
      options.rule_workers = value.cast<std::size_t>();
    } else if (key == "page_size_max") {
      options.state.page_size_max_bytes = value.cast<std::uint64_t>();
    } else if (key == "tick_transactions_max") {
      options.tick_transactions_max = value.cast<std::size_t>();
    } else if (key == "event_queue_batches") {
      options.event_queue_batches = value.cast<std::size_t>();
    } else if (key == "checkpoints_kept") {
      options.checkpoints_kept = value.cast<std::size_t>();
    } else {
      raise(invalid_argument("Engine.open: unknown option '" + key + "'"));
    }
  }
  return options;
}

pyb::dict stats_dict(const std::vector<net::StatsEntry>& entries) {
  pyb::dict out;
  for (const net::StatsEntry& entry : entries) out[pyb::str(entry.name)] = stat_value(entry.value);
  return out;
}

void bind_engine_core(EngineClass& engine) {
  engine
      .def_static(
          "open",
          [](const std::string& dir, const pyb::kwargs& kwargs) {
            EngineOptions options = engine_options(dir, kwargs);
            auto opened = unwrap(without_gil([&] { return Engine::open(options); }));
            auto ref = std::make_shared<PyEngine>(std::move(opened));
            std::erase_if(open_engines(), [](const auto& weak) { return weak.expired(); });
            open_engines().push_back(ref);
            return ref;
          },
          pyb::arg("dir"),
          "Opens or creates data directory `dir` and recovers it. Options: durability "
          "('fsync' default, 'flush', 'none'), workers (propagation and rule threads), "
          "propagation_workers, rule_workers, page_size_max, tick_transactions_max, "
          "event_queue_batches, checkpoints_kept.")
      .def("close", &PyEngine::close,
           "Finishes pending commits and closes the log (the GIL released). Later calls raise "
           "UnavailableError.")
      .def_property_readonly("closed", &PyEngine::closed)
      .def("__enter__", [](EngineRef self) { return self; })
      .def("__exit__",
           [](PyEngine& e, const pyb::args&) {
             e.close();
             return false;
           })
      .def(
          "begin", [](EngineRef self) { return PyTransaction(self->get()->begin(), self); },
          "A new Transaction (a context manager).")
      .def(
          "snapshot", [](PyEngine& e) { return e.get()->snapshot(); },
          "The current version, O(1); never waits for a commit.")
      .def(
          "fork", [](PyEngine& e) { return e.get()->fork(); },
          "A Fork of the current version, O(1).")
      .def(
          "merge",
          [](PyEngine& e, Fork& fork, const std::string& policy) {
            auto engine = e.get();
            MergeOptions options;
            options.policy = merge_policy(policy);
            if (fork.has_uncommitted_changes()) (void)fork.commit();
            return unwrap(without_gil([&] { return engine->merge(fork, options); }));
          },
          pyb::arg("fork"), pyb::arg("policy") = "fail",
          "Merges `fork` (its pending writes committed first) as one logged tick. Policies: "
          "'fail' (ConflictError naming the clashing pages and byte ranges), 'ours', 'theirs'.")
      .def(
          "checkpoint",
          [](PyEngine& e) {
            auto engine = e.get();
            return unwrap(without_gil([&] { return engine->checkpoint(); })).value();
          },
          "Writes a checkpoint of the current version; returns its tick once durable.")
      .def(
          "derive",
          [](PyEngine& e, std::uint64_t child, const std::vector<std::uint64_t>& parents,
             const std::string& function) {
            auto engine = e.get();
            std::vector<PageId> ids(parents.begin(), parents.end());
            return unwrap(
                without_gil([&] { return engine->derive(PageId(child), ids, function); }));
          },
          pyb::arg("child"), pyb::arg("parents"), pyb::arg("function"),
          "One transaction that derives `child` and commits.")
      .def(
          "apply",
          [](PyEngine& e, const std::string& rule, std::uint64_t scope) {
            auto engine = e.get();
            return unwrap(without_gil([&] { return engine->apply(rule, PageId(scope)); }));
          },
          pyb::arg("rule"), pyb::arg("scope"), "One transaction that applies `rule` and commits.")
      .def(
          "rule_status",
          [](PyEngine& e, const std::string& rule) { check(e.get()->rule_status(rule)); },
          pyb::arg("rule"),
          "Returns if the rule is registered and running; raises NotFoundError or the error "
          "that suspended it.")
      .def(
          "stats", [](PyEngine& e) { return stats_dict(net::stats_entries(e.get()->stats())); },
          "Counters and gauges by name (the names of the server's STATS and /metrics).")
      .def_property_readonly("dir", [](PyEngine& e) { return e.get()->options().dir; });
}

}  // namespace

PyEngine::PyEngine(std::unique_ptr<Engine> engine) : engine_(shared_released(std::move(engine))) {}

PyEngine::~PyEngine() {
  try {
    close();
  } catch (const pyb::error_already_set&) {
    PyErr_Clear();  // a destructor has no one to tell; close() reports it when called
  }
}

std::shared_ptr<Engine> PyEngine::get() const {
  if (engine_ == nullptr) raise(Status(StatusCode::kUnavailable, "the engine is closed"));
  return engine_;
}

void PyEngine::close() {
  if (engine_ == nullptr) return;
  std::shared_ptr<Engine> engine = std::move(engine_);
  engine_ = nullptr;
  Status closed = without_gil([&] {
    Status status = engine->close();
    engine.reset();  // the last reference, unless another thread is in a call
    return status;
  });
  check(closed);
}

void bind_engine(pyb::module_& m) {
  bind_transaction(m);
  bind_fork(m);
  EngineClass engine(m, "Engine",
                     "An embedded mmsb engine on a data directory. Use Engine.open(dir, ...) "
                     "as a context manager. Every method may be called from any thread.");
  bind_engine_core(engine);
  bind_callbacks(m, engine);
  bind_ingest(m, engine);
  m.def("_close_all", [] {
    for (const std::weak_ptr<PyEngine>& weak : open_engines()) {
      if (EngineRef engine = weak.lock()) {
        try {
          engine->close();
        } catch (const pyb::error_already_set&) {
          PyErr_Clear();
        }
      }
    }
    open_engines().clear();
  });
}

}  // namespace mmsb::py

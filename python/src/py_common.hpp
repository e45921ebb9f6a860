// The Python module's shared pieces: Status to exception, Python exception to Status,
// callables held safely across threads, and zero-copy page buffers.
//
// GIL rules (docs/SEMANTICS.md "Python"): every call that may wait for the engine (commit,
// checkpoint, merge, flush, close, replay, unsubscribe) releases the GIL; every callback
// the engine makes into Python (derivation functions, rules, subscribers) takes it.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "mmsb/mmsb.hpp"

namespace mmsb::py {

namespace pyb = pybind11;

// Sets the mmsb exception for `status` (mmsb.Error subclass by code, `.code` its name) and
// throws it to pybind11. `status` must not be OK.
[[noreturn]] void raise(const Status& status);

inline void check(const Status& status) {
  if (!status.is_ok()) raise(status);
}

template <typename T>
T unwrap(Result<T> result) {
  if (!result.is_ok()) raise(result.status());
  return std::move(result).value();
}

// Runs `call` with the GIL released and returns what it returns (the GIL taken again).
template <typename Call>
auto without_gil(Call&& call) {
  pyb::gil_scoped_release release;
  return call();
}

// The Python exception being handled (the GIL held) as text with its traceback, cleared.
std::string take_python_error(pyb::error_already_set& error);
// The Status a failing Python callback gives the engine: the code of an mmsb.Error it
// raised (Internal for any other exception), `what` and the traceback in the message.
Status python_failure(const std::string& what, pyb::error_already_set& error);

// A Python object held by engine threads: copies share it, and the last one drops it with
// the GIL taken (never after the interpreter has finalized).
class Held {
 public:
  explicit Held(pyb::object object);
  const pyb::object& get() const { return *object_; }

 private:
  std::shared_ptr<pyb::object> object_;
};

// `owned` shared, destroyed with the GIL released: an Engine's or Client's threads may be
// waiting for the GIL in a callback when the last reference goes.
template <typename T>
std::shared_ptr<T> shared_released(std::unique_ptr<T> owned) {
  return std::shared_ptr<T>(owned.release(), [](T* object) {
    if (Py_IsInitialized() != 0 && PyGILState_Check() != 0) {
      pyb::gil_scoped_release release;
      delete object;
    } else {
      delete object;
    }
  });
}

// A subscriber callback(tick, events, dropped) for Engine.subscribe and Client.subscribe.
EventCallback python_subscriber(Held callback);

// The bytes of one page, kept alive by the State they belong to: the exporter behind the
// read-only memoryviews that reads return.
struct PageBuffer {
  State state;
  std::span<const std::byte> bytes;
};
pyb::memoryview page_view(State state, std::span<const std::byte> bytes);

// Owned bytes exported the same way (reads from a server, or from a fork, which cannot
// promise its views beyond the next write).
struct OwnedBuffer {
  std::vector<std::byte> bytes;
};
pyb::memoryview owned_view(std::vector<std::byte> bytes);

pyb::bytes hash_bytes(const Hash128& hash);
// A stats value: an int when it is a whole number (counters), else a float.
pyb::object stat_value(double value);
// The bytes of a C-contiguous buffer (bytes, bytearray, memoryview, numpy array), held
// while this lives; InvalidArgumentError naming `what` for anything else.
struct BufferBytes {
  BufferBytes(const pyb::handle& object, const char* what);
  pyb::buffer_info info;
  std::span<const std::byte> bytes;
};

// The value `name` stands for among `choices`; InvalidArgumentError naming `what` and the
// choices otherwise.
template <typename Value, std::size_t N>
Value parse_choice(const std::string& name, const char* what,
                   const std::pair<const char*, Value> (&choices)[N]) {
  std::string expected;
  for (const auto& [text, value] : choices) {
    if (name == text) return value;
    expected += (expected.empty() ? "'" : ", '") + std::string(text) + "'";
  }
  raise(invalid_argument(std::string(what) + " '" + name + "': expected one of " + expected));
}

MergePolicy merge_policy(const std::string& name);
Durability durability(const std::string& name);
EventFilter event_filter(const std::optional<std::vector<std::uint64_t>>& pages,
                         const std::optional<std::vector<std::string>>& types);
pyb::list events_list(const EventBatch& batch);
pyb::dict counters_dict(const ProducerCounters& counters);

void bind_common(pyb::module_& m);
void bind_state(pyb::module_& m);
void bind_engine(pyb::module_& m);
void bind_client(pyb::module_& m);

}  // namespace mmsb::py

namespace mmsb::py {

// A PageSpec from create_page's arguments; `initial` (None or a bytes-like object of `size`
// bytes) stays held while the spec is used.
struct SpecArgs {
  SpecArgs(std::uint64_t size, std::uint32_t type, const pyb::object& initial);
  PageSpec spec;
  std::optional<BufferBytes> held;
};

inline constexpr EdgeKind kDefaultEdgeKind = kEdgeKindUserFirst;

// A Transaction or RemoteTransaction held by its Python object: open until commit() or
// abandon(), then the CommitInfo (info()) of a commit. `Owner` (the engine or the client)
// is kept alive, and outlives the transaction. The base of both Python transactions.
template <typename Txn, typename Owner>
class HeldTransaction {
 public:
  HeldTransaction(Owner owner, Txn txn) : owner_(std::move(owner)), txn_(std::move(txn)) {}

  Txn& txn() {
    if (!txn_) raise(failed_precondition("the transaction was already committed or abandoned"));
    return *txn_;
  }
  CommitInfo commit() {
    Txn taken = std::move(txn());
    txn_.reset();
    info_ = unwrap(without_gil([&] { return taken.commit(); }));
    return *info_;
  }
  void abandon() { txn_.reset(); }
  bool open() const { return txn_.has_value(); }
  const std::optional<CommitInfo>& info() const { return info_; }

 protected:
  Owner owner_;  // declared first: destroyed after the transaction
  std::optional<Txn> txn_;

 private:
  std::optional<CommitInfo> info_;
};

// The operations Transaction and RemoteTransaction share, bound the same way on both.
template <typename Wrapper, typename Class>
void bind_txn_ops(Class& cls) {
  cls.def(
         "create_page",
         [](Wrapper& w, std::uint64_t size, std::uint32_t type, const pyb::object& initial) {
           SpecArgs args(size, type, initial);
           return w.txn().create_page(args.spec).value();
         },
         pyb::arg("size"), pyb::arg("type") = 0, pyb::arg("initial") = pyb::none(),
         "Creates a page of `size` bytes (zero-filled, or `initial`); returns its provisional "
         "id (the real one is in CommitInfo.created_pages).")
      .def(
          "write",
          [](Wrapper& w, std::uint64_t page, std::uint64_t offset, const pyb::object& data) {
            BufferBytes bytes(data, "data");
            w.txn().write(PageId(page), offset, bytes.bytes);
          },
          pyb::arg("page"), pyb::arg("offset"), pyb::arg("data"),
          "Writes `data` at `offset` of the page.")
      .def(
          "put",
          [](Wrapper& w, std::uint64_t page, const pyb::object& data) {
            BufferBytes bytes(data, "data");
            w.txn().put(PageId(page), bytes.bytes);
          },
          pyb::arg("page"), pyb::arg("data"), "Replaces the page's content (exactly its size).")
      .def(
          "delete_page", [](Wrapper& w, std::uint64_t page) { w.txn().delete_page(PageId(page)); },
          pyb::arg("page"), "Deletes the page and its edges.")
      .def(
          "add_edge",
          [](Wrapper& w, std::uint64_t from, std::uint64_t to, std::uint32_t kind) {
            return w.txn().add_edge(kind, PageId(from), PageId(to)).value();
          },
          pyb::arg("from_page"), pyb::arg("to_page"), pyb::arg("kind") = kDefaultEdgeKind,
          "Adds an edge; returns its provisional id. Kinds 1 (Data) and 2 (Control) are "
          "dependencies; user kinds start at 1024.")
      .def(
          "remove_edge", [](Wrapper& w, std::uint64_t edge) { w.txn().remove_edge(EdgeId(edge)); },
          pyb::arg("edge"))
      .def(
          "derive",
          [](Wrapper& w, std::uint64_t child, const std::vector<std::uint64_t>& parents,
             const std::string& function) {
            std::vector<PageId> ids(parents.begin(), parents.end());
            w.txn().derive(PageId(child), ids, function);
          },
          pyb::arg("child"), pyb::arg("parents"), pyb::arg("function"),
          "Makes `child` derived: propagation keeps it equal to `function` of `parents`.")
      .def(
          "apply",
          [](Wrapper& w, const std::string& rule, std::uint64_t scope) {
            w.txn().apply(rule, PageId(scope));
          },
          pyb::arg("rule"), pyb::arg("scope"), "Runs `rule` at `scope` in this tick.");
}

// commit/abandon/open and the context manager of Transaction and RemoteTransaction: a block
// that ends commits, one that raises abandons.
template <typename Wrapper, typename Class>
void bind_txn_lifecycle(Class& cls) {
  cls.def("commit", &Wrapper::commit,
          "Submits the transaction and waits until its tick is durable (the GIL released); "
          "returns its CommitInfo.")
      .def("abandon", &Wrapper::abandon, "Drops the transaction without committing it.")
      .def_property_readonly("open", &Wrapper::open, "False once committed or abandoned.")
      .def_property_readonly("info", &Wrapper::info,
                             "The CommitInfo once committed (after a with-block too), else None.")
      .def("__enter__", [](pyb::object self) { return self; })
      .def("__exit__",
           [](Wrapper& t, const pyb::object& type, const pyb::object&, const pyb::object&) {
             if (!t.open()) return false;
             if (type.is_none()) {
               t.commit();
             } else {
               t.abandon();
             }
             return false;
           });
}

}  // namespace mmsb::py

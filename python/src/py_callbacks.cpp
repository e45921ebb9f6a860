// Python code the engine calls: derivation functions, rules and subscribers. Each call takes
// the GIL; a Python exception becomes the Status that fails the tick (with its traceback),
// as a failing C++ function or rule would.
#include <stdexcept>
#include <string>

#include "py_engine.hpp"

namespace mmsb::py {

namespace {

// What a rule callback may read: valid during the call only (FailedPreconditionError after).
struct ViewHandle {
  const RuleView* view = nullptr;
  const RuleView& get() const {
    if (view == nullptr)
      raise(failed_precondition("a rule view is only valid during its callback"));
    return *view;
  }
};

struct SinkHandle {
  DeltaSink* sink = nullptr;
  DeltaSink& get() const {
    if (sink == nullptr)
      raise(failed_precondition("a delta sink is only valid during its callback"));
    return *sink;
  }
};

pyb::bytes bytes_of(std::span<const std::byte> bytes) {
  return pyb::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Calls `callable` with a fresh handle on `view` (and on `sink`), invalidated afterwards.
pyb::object call_with_view(const Held& callable, const RuleView& view, PageId scope,
                           DeltaSink* sink = nullptr) {
  pyb::object view_object = pyb::cast(ViewHandle{&view});
  struct Invalidate {
    pyb::object& object;
    ~Invalidate() { object.cast<ViewHandle&>().view = nullptr; }
  } invalidate{view_object};
  if (sink == nullptr) return callable.get()(view_object, scope.value());
  pyb::object sink_object = pyb::cast(SinkHandle{sink});
  struct InvalidateSink {
    pyb::object& object;
    ~InvalidateSink() { object.cast<SinkHandle&>().sink = nullptr; }
  } invalidate_sink{sink_object};
  return callable.get()(view_object, scope.value(), sink_object);
}

DeriveFunction python_function(const std::string& name, Held function) {
  return [name, function](const DeriveInput& input, std::vector<std::byte>& out) -> Status {
    pyb::gil_scoped_acquire gil;
    try {
      pyb::list parents;
      for (std::span<const std::byte> parent : input.parents) parents.append(bytes_of(parent));
      pyb::object result = function.get()(parents, bytes_of(input.current));
      BufferBytes bytes(result, ("the result of derivation function '" + name + "'").c_str());
      out.assign(bytes.bytes.begin(), bytes.bytes.end());
      return Status::ok();
    } catch (pyb::error_already_set& error) {
      return python_failure("derivation function '" + name + "'", error);
    }
  };
}

Status footprint_from(const pyb::object& result, Footprint& out) {
  auto [reads, writes] =
      result.cast<std::pair<std::vector<std::uint64_t>, std::vector<std::uint64_t>>>();
  for (std::uint64_t page : reads) out.read(PageId(page));
  for (std::uint64_t page : writes) out.write(PageId(page));
  return Status::ok();
}

Rule python_rule(const std::string& name, Held footprint, Held executor,
                 const std::optional<Held>& matcher) {
  Rule rule;
  rule.name = name;
  rule.footprint = [name, footprint](const RuleView& view, PageId scope, Footprint& out) -> Status {
    pyb::gil_scoped_acquire gil;
    try {
      return footprint_from(call_with_view(footprint, view, scope), out);
    } catch (pyb::error_already_set& error) {
      return python_failure("footprint of rule '" + name + "'", error);
    } catch (const pyb::cast_error&) {
      return invalid_argument("footprint of rule '" + name +
                              "': expected a (reads, writes) pair of page id lists");
    }
  };
  rule.executor = [name, executor](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    pyb::gil_scoped_acquire gil;
    try {
      call_with_view(executor, view, scope, &out);
      return Status::ok();
    } catch (pyb::error_already_set& error) {
      return python_failure("executor of rule '" + name + "'", error);
    }
  };
  if (matcher) {
    rule.matcher = [name, held = *matcher](const RuleView& view, PageId scope) {
      pyb::gil_scoped_acquire gil;
      try {
        return pyb::bool_(call_with_view(held, view, scope)).cast<bool>();
      } catch (pyb::error_already_set& error) {
        throw std::runtime_error(python_failure("matcher of rule '" + name + "'", error).message());
      }
    };
  }
  return rule;
}

}  // namespace

EventCallback python_subscriber(Held callback) {
  return [callback](const EventBatch& batch) {
    pyb::gil_scoped_acquire gil;
    try {
      callback.get()(batch.tick.value(), events_list(batch), batch.batches_dropped_before);
    } catch (pyb::error_already_set& error) {
      error.restore();
      PyErr_WriteUnraisable(callback.get().ptr());  // shows the traceback (sys.unraisablehook)
      throw std::runtime_error("a Python subscriber raised");
    }
  };
}

namespace {

void bind_rule_handles(pyb::module_& m) {
  pyb::class_<ViewHandle>(m, "RuleView",
                          "What a rule callback may read (valid during the call only).")
      .def(
          "read",
          [](const ViewHandle& v, std::uint64_t page) {
            return bytes_of(unwrap(v.get().read(PageId(page))));
          },
          pyb::arg("page"), "A copy of the page's bytes in the tick's rule snapshot.")
      .def(
          "page",
          [](const ViewHandle& v, std::uint64_t page) {
            return unwrap(v.get().page(PageId(page)));
          },
          pyb::arg("page"))
      .def(
          "edges",
          [](const ViewHandle& v, std::uint64_t page) {
            pyb::list out;
            for (const Edge& e : unwrap(v.get().edges_of(PageId(page)))) {
              out.append(pyb::make_tuple(e.id.value(), e.kind, e.from.value(), e.to.value()));
            }
            return out;
          },
          pyb::arg("page"), "(id, kind, from, to) of the page's edges, by id.");
  pyb::class_<SinkHandle>(m, "DeltaSink", "Where a rule executor writes (valid during the call).")
      .def(
          "write",
          [](const SinkHandle& s, std::uint64_t page, std::uint64_t offset,
             const pyb::object& data) {
            BufferBytes bytes(data, "data");
            check(s.get().write(PageId(page), offset, bytes.bytes));
          },
          pyb::arg("page"), pyb::arg("offset"), pyb::arg("data"));
}

}  // namespace

void bind_callbacks(pyb::module_& m, EngineClass& engine) {
  bind_rule_handles(m);
  engine
      .def(
          "register_function",
          [](PyEngine& e, const std::string& name, pyb::function function) {
            check(
                e.get()->register_function(name, python_function(name, Held(std::move(function)))));
          },
          pyb::arg("name"), pyb::arg("function"),
          "Registers derivation function `name`: function(parents: list[bytes], current: bytes) "
          "-> bytes of the child's size. It runs on engine threads with the GIL taken (slower "
          "than a C++ function); an exception fails the tick with its traceback. Register after "
          "every open.")
      .def(
          "register_rule",
          [](PyEngine& e, const std::string& name, pyb::function footprint, pyb::function executor,
             const std::optional<pyb::function>& matcher,
             std::optional<std::uint32_t> standing_type, std::uint32_t retries,
             bool depends_only_on_footprint) {
            std::optional<Held> held_matcher;
            if (matcher) held_matcher.emplace(*matcher);
            Rule rule = python_rule(name, Held(std::move(footprint)), Held(std::move(executor)),
                                    held_matcher);
            rule.standing_type = standing_type;
            if (retries > 0) rule.policy = ConflictPolicy::retry(retries + 1);
            rule.depends_only_on_footprint = depends_only_on_footprint;
            check(e.get()->register_rule(std::move(rule)));
          },
          pyb::arg("name"), pyb::arg("footprint"), pyb::arg("executor"),
          pyb::arg("matcher") = pyb::none(), pyb::arg("standing_type") = pyb::none(),
          pyb::arg("retries") = 0, pyb::arg("depends_only_on_footprint") = false,
          "Registers rule `name`: footprint(view, scope) -> (reads, writes) page id lists; "
          "executor(view, scope, sink) writes through sink.write(page, offset, data); "
          "matcher(view, scope) -> bool (optional). standing_type: a candidate at every page "
          "of that type each tick. retries: attempts after a conflict (0: abort). "
          "depends_only_on_footprint: the promise that matcher and footprint read only the "
          "scope page and the footprint's pages, so an unchanged candidate is not matched "
          "again (docs/SEMANTICS.md \"Re-matching\").")
      .def(
          "subscribe",
          [](PyEngine& e, pyb::function callback,
             const std::optional<std::vector<std::uint64_t>>& pages,
             const std::optional<std::vector<std::string>>& types) {
            return unwrap(e.get()->subscribe(event_filter(pages, types),
                                             python_subscriber(Held(std::move(callback)))));
          },
          pyb::arg("callback"), pyb::arg("pages") = pyb::none(), pyb::arg("types") = pyb::none(),
          "callback(tick, events, dropped) gets each durable tick's events ((type, page, epoch) "
          "tuples) on a thread of its own; pages/types filter them (types: 'invalidated', "
          "'applied', 'changed', 'stale'). Returns the subscription id.")
      .def(
          "unsubscribe",
          [](PyEngine& e, std::uint64_t subscription) {
            auto engine = e.get();
            check(without_gil([&] { return engine->unsubscribe(subscription); }));
          },
          pyb::arg("subscription"),
          "Stops the subscription, waiting for a callback in progress (the GIL released).");
}

}  // namespace mmsb::py

// Errors, held callables, page buffers and the small conversions every binding shares.
#include "py_common.hpp"

#include <array>
#include <cctype>

namespace mmsb::py {

namespace {

// The exception class of each StatusCode (index 0, OK, holds mmsb.Error itself). Owned
// references that live as long as the process: the module is never unloaded.
std::array<PyObject*, kStatusCodeLast + 1> g_errors = {};

struct ErrorClass {
  StatusCode code;
  const char* name;
  const char* doc;
};

constexpr ErrorClass kErrorClasses[] = {
    {StatusCode::kInvalidArgument, "InvalidArgumentError", "Malformed or out-of-range input."},
    {StatusCode::kNotFound, "NotFoundError", "A named page, edge, file or handle does not exist."},
    {StatusCode::kAlreadyExists, "AlreadyExistsError", "A named thing exists and must not."},
    {StatusCode::kConflict, "ConflictError",
     "An optimistic check or a merge found concurrent changes."},
    {StatusCode::kCorruption, "CorruptionError", "Stored bytes fail a checksum or a check."},
    {StatusCode::kIOError, "IoError", "The operating system refused a read, write or sync."},
    {StatusCode::kResourceExhausted, "ResourceExhaustedError", "A documented limit was reached."},
    {StatusCode::kPermissionDenied, "PermissionDeniedError", "Governance or a token refused."},
    {StatusCode::kUnavailable, "UnavailableError", "The engine or connection is closed."},
    {StatusCode::kFailedPrecondition, "FailedPreconditionError",
     "The call is valid but not in the current state."},
    {StatusCode::kInternal, "InternalError", "A bug in mmsb (or an exception from a callback)."},
};

}  // namespace

void raise(const Status& status) {
  const auto index = static_cast<std::size_t>(status.code());
  PyObject* cls =
      index < g_errors.size() && g_errors[index] != nullptr ? g_errors[index] : g_errors[0];
  pyb::object error = pyb::reinterpret_borrow<pyb::object>(cls)(status.message());
  error.attr("code") = std::string(status_code_name(status.code()));
  PyErr_SetObject(cls, error.ptr());
  throw pyb::error_already_set();
}

std::string take_python_error(pyb::error_already_set& error) {
  std::string text;
  try {
    pyb::module_ traceback = pyb::module_::import("traceback");
    // An exception raised from C++ (a binding refusing a result) has no traceback.
    pyb::object trace =
        error.trace() ? pyb::reinterpret_borrow<pyb::object>(error.trace()) : pyb::none();
    pyb::list lines = traceback.attr("format_exception")(error.type(), error.value(), trace);
    for (const pyb::handle line : lines) text += line.cast<std::string>();
  } catch (const std::exception&) {
    text = error.what();
  }
  error.restore();
  PyErr_Clear();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

Status python_failure(const std::string& what, pyb::error_already_set& error) {
  StatusCode code = StatusCode::kInternal;
  for (std::uint8_t c = 1; c <= kStatusCodeLast; ++c) {  // an mmsb.Error keeps its code
    if (g_errors[c] != nullptr && error.matches(g_errors[c])) code = static_cast<StatusCode>(c);
  }
  return Status(code, what + " raised:\n" + take_python_error(error));
}

Held::Held(pyb::object object)
    : object_(new pyb::object(std::move(object)), [](pyb::object* held) {
        if (Py_IsInitialized() == 0) {
          (void)held->release();  // the interpreter is gone: nothing left to decref into
          delete held;
          return;
        }
        pyb::gil_scoped_acquire gil;
        delete held;
      }) {}

pyb::memoryview page_view(State state, std::span<const std::byte> bytes) {
  pyb::object buffer = pyb::cast(PageBuffer{std::move(state), bytes});
  return pyb::memoryview(buffer);
}

pyb::memoryview owned_view(std::vector<std::byte> bytes) {
  pyb::object buffer = pyb::cast(OwnedBuffer{std::move(bytes)});
  return pyb::memoryview(buffer);
}

pyb::bytes hash_bytes(const Hash128& hash) {
  const std::array<std::uint8_t, 16> raw = hash.to_bytes();
  return pyb::bytes(reinterpret_cast<const char*>(raw.data()), raw.size());
}

pyb::object stat_value(double value) {
  if (value >= 0 && value < 0x1p63 &&
      value == static_cast<double>(static_cast<std::uint64_t>(value))) {
    return pyb::int_(static_cast<std::uint64_t>(value));
  }
  return pyb::float_(value);
}

BufferBytes::BufferBytes(const pyb::handle& object, const char* what) {
  if (PyObject_CheckBuffer(object.ptr()) == 0) {
    raise(invalid_argument(std::string(what) + ": expected a bytes-like object, got " +
                           pyb::str(pyb::type::of(object)).cast<std::string>()));
  }
  auto* view = new Py_buffer();
  if (PyObject_GetBuffer(object.ptr(), view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
    delete view;
    PyErr_Clear();
    raise(invalid_argument(std::string(what) + ": the buffer is not C-contiguous"));
  }
  bytes = {static_cast<const std::byte*>(view->buf), static_cast<std::size_t>(view->len)};
  info = pyb::buffer_info(view);  // releases the request when it goes
}

SpecArgs::SpecArgs(std::uint64_t size, std::uint32_t type, const pyb::object& initial) {
  spec.type = type;
  spec.size_bytes = size;
  if (!initial.is_none()) {
    held.emplace(initial, "initial");
    spec.initial = held->bytes;
  }
}

namespace {

// The Python name of an event type: the engine's name in lower case ("applied", ...).
std::string event_name(EventType type) {
  std::string name(event_type_name(type));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

MergePolicy merge_policy(const std::string& name) {
  static constexpr std::pair<const char*, MergePolicy> kChoices[] = {
      {"fail", MergePolicy::kFail},
      {"ours", MergePolicy::kPreferOurs},
      {"theirs", MergePolicy::kPreferTheirs}};
  return parse_choice(name, "policy", kChoices);
}

Durability durability(const std::string& name) {
  static constexpr std::pair<const char*, Durability> kChoices[] = {
      {"none", Durability::kNone}, {"flush", Durability::kFlush}, {"fsync", Durability::kFsync}};
  return parse_choice(name, "durability", kChoices);
}

EventFilter event_filter(const std::optional<std::vector<std::uint64_t>>& pages,
                         const std::optional<std::vector<std::string>>& types) {
  EventFilter filter;
  if (pages) {
    for (std::uint64_t page : *pages) filter.pages.push_back(PageId(page));
  }
  if (types) {
    filter.types = 0;
    for (const std::string& name : *types) {
      bool known = false;
      for (std::uint8_t t = 0; t < 4; ++t) {
        if (event_name(static_cast<EventType>(t)) == name) {
          filter.types |= 1u << t;
          known = true;
        }
      }
      if (!known) {
        raise(invalid_argument("event type '" + name +
                               "': expected 'invalidated', 'applied', 'changed' or 'stale'"));
      }
    }
  }
  return filter;
}

pyb::list events_list(const EventBatch& batch) {
  pyb::list events;
  for (const Event& event : batch.events) {
    events.append(pyb::make_tuple(event_name(event.type), event.page.value(), event.epoch.value()));
  }
  return events;
}

pyb::dict counters_dict(const ProducerCounters& c) {
  pyb::dict out;
  out["submitted"] = c.submitted;
  out["admitted"] = c.admitted;
  out["denied"] = c.denied;
  out["throttled"] = c.throttled;
  out["refused"] = c.refused;
  out["dropped"] = c.dropped;
  out["completed_sequence"] = c.completed_sequence;
  return out;
}

void bind_common(pyb::module_& m) {
  PyObject* base = PyErr_NewExceptionWithDoc(
      "mmsb.Error", "An mmsb call failed; `code` names the StatusCode (\"Conflict\", ...).",
      PyExc_Exception, nullptr);
  g_errors[0] = base;
  m.add_object("Error", pyb::handle(base));
  for (const ErrorClass& error : kErrorClasses) {
    const std::string qualified = std::string("mmsb.") + error.name;
    pyb::dict attributes;  // `code` on the class too, so one raised from Python has it
    attributes["code"] = std::string(status_code_name(error.code));
    PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), error.doc, base, attributes.ptr());
    g_errors[static_cast<std::size_t>(error.code)] = cls;
    m.add_object(error.name, pyb::handle(cls));
  }

  pyb::class_<PageBuffer>(m, "_PageBuffer", pyb::buffer_protocol())
      .def_buffer([](PageBuffer& page) {
        return pyb::buffer_info(const_cast<std::byte*>(page.bytes.data()), 1, "B", 1,
                                {static_cast<pyb::ssize_t>(page.bytes.size())}, {1}, true);
      });
  pyb::class_<OwnedBuffer>(m, "_OwnedBuffer", pyb::buffer_protocol())
      .def_buffer([](OwnedBuffer& owned) {
        return pyb::buffer_info(owned.bytes.data(), 1, "B", 1,
                                {static_cast<pyb::ssize_t>(owned.bytes.size())}, {1}, true);
      });
}

}  // namespace mmsb::py

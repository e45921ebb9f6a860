// Ingest from Python: mmsb.TopicRule, Engine.set_ruleset, Engine.producer and mmsb.Producer.
#include <algorithm>
#include <chrono>

#include "py_engine.hpp"

namespace mmsb::py {

namespace {

// How long one wait of flush() lasts before it looks for Ctrl-C.
constexpr std::chrono::milliseconds kFlushSlice{20};

TopicAction topic_action(const std::string& name) {
  static constexpr std::pair<const char*, TopicAction> kChoices[] = {
      {"overwrite", TopicAction::kOverwrite},
      {"write_at_offset", TopicAction::kWriteAtOffset},
      {"append", TopicAction::kAppend}};
  return parse_choice(name, "action", kChoices);
}

Backpressure backpressure(const std::string& name) {
  static constexpr std::pair<const char*, Backpressure> kChoices[] = {
      {"block", Backpressure::kBlock},
      {"fail_fast", Backpressure::kFailFast},
      {"drop_oldest", Backpressure::kDropOldest}};
  return parse_choice(name, "backpressure", kChoices);
}

// One producer handle. Producer is not thread-safe and its calls run with the GIL released,
// so a second Python thread using the same handle meanwhile gets FailedPreconditionError.
class PyProducer {
 public:
  PyProducer(Producer producer, EngineRef engine)
      : producer_(std::move(producer)), engine_(std::move(engine)) {}

  // Runs a call of the handle with the GIL released.
  template <typename Call>
  auto run(Call&& call) {
    if (busy_)
      raise(
          failed_precondition("producer " + std::to_string(id()) + " is in use by another thread"));
    busy_ = true;
    auto result = without_gil(call);
    busy_ = false;
    return unwrap(std::move(result));
  }

  std::uint64_t submit(std::uint32_t topic, const pyb::handle& payload) {
    if (PyBytes_Check(payload.ptr()) != 0) {  // the common case, without a buffer request
      std::span<const std::byte> bytes(
          reinterpret_cast<const std::byte*>(PyBytes_AS_STRING(payload.ptr())),
          static_cast<std::size_t>(PyBytes_GET_SIZE(payload.ptr())));
      return run([&] { return producer_.submit(topic, bytes); });
    }
    BufferBytes bytes(payload, "payload");
    return run([&] { return producer_.submit(topic, bytes.bytes); });
  }

  std::size_t submit_many(std::uint32_t topic, const pyb::handle& records,
                          std::optional<std::size_t> record_bytes) {
    BufferBytes bytes(records, "records");
    std::size_t each = 0;
    if (record_bytes) {
      each = *record_bytes;
    } else if (bytes.info.ndim == 2) {
      each = static_cast<std::size_t>(bytes.info.shape[1] * bytes.info.itemsize);
    } else {
      raise(invalid_argument("records: a 1-D buffer needs record_bytes (a 2-D array gives it)"));
    }
    return run([&] { return producer_.submit_records(topic, bytes.bytes, each); });
  }

  void flush() {
    for (;;) {
      if (run([&] { return producer_.flush_for(kFlushSlice); })) return;
      if (PyErr_CheckSignals() != 0) throw pyb::error_already_set();  // KeyboardInterrupt
    }
  }

  ProducerCounters counters() const { return producer_.counters(); }
  std::uint32_t id() const { return producer_.id(); }
  std::uint64_t completed_sequence() const { return producer_.completed_sequence(); }

 private:
  Producer producer_;
  EngineRef engine_;
  bool busy_ = false;  // read and written with the GIL held
};

void bind_topic_rule(pyb::module_& m) {
  pyb::class_<TopicRule>(m, "TopicRule", "The governance rule of one topic (Engine.set_ruleset).")
      .def(
          pyb::init([](std::uint32_t topic, std::uint64_t page, const std::string& action,
                       std::uint32_t record_bytes, bool allow, std::vector<std::uint32_t> producers,
                       std::optional<std::uint32_t> max_payload_bytes,
                       std::uint64_t rate_per_second, std::uint64_t burst) {
            TopicRule rule;
            rule.topic = topic;
            rule.allow = allow;
            rule.producers = std::move(producers);
            rule.mapping.action = topic_action(action);
            rule.mapping.page = PageId(page);
            rule.mapping.record_bytes = record_bytes;
            // Unset: what one packet carries, or what one record of an append ring holds.
            const bool ring =
                rule.mapping.action == TopicAction::kAppend && record_bytes > kRecordHeaderBytes;
            rule.max_payload_bytes = max_payload_bytes.value_or(
                ring
                    ? std::min<std::uint32_t>(record_bytes - kRecordHeaderBytes, kPacketInlineBytes)
                    : std::uint32_t{kPacketInlineBytes});
            rule.rate_per_second = rate_per_second;
            rule.burst = burst;
            return rule;
          }),
          pyb::arg("topic"), pyb::arg("page") = 0, pyb::arg("action") = "overwrite",
          pyb::arg("record_bytes") = 0, pyb::arg("allow") = true,
          pyb::arg("producers") = std::vector<std::uint32_t>{},
          pyb::arg("max_payload_bytes") = pyb::none(), pyb::arg("rate_per_second") = 0,
          pyb::arg("burst") = 0,
          "Packets of `topic` go to `page`: action 'overwrite', 'write_at_offset' (the first 4 "
          "payload bytes are a little-endian offset) or 'append' (a ring of `record_bytes` "
          "slots). max_payload_bytes: the largest payload admitted (default 40, or "
          "record_bytes - 4 for 'append'). allow=False denies the topic; producers limits who may "
          "publish; "
          "rate_per_second and burst make a token bucket (0, 0: no limit).")
      .def_readonly("topic", &TopicRule::topic)
      .def_property_readonly("page", [](const TopicRule& r) { return r.mapping.page.value(); })
      .def_readonly("allow", &TopicRule::allow);
}

void bind_producer(pyb::module_& m) {
  pyb::class_<PyProducer>(m, "Producer",
                          "A producer's own ring into the engine: one thread at a time.")
      .def("submit", &PyProducer::submit, pyb::arg("topic"), pyb::arg("payload"),
           "Submits one packet (payload at most 40 bytes); returns its sequence.")
      .def("submit_many", &PyProducer::submit_many, pyb::arg("topic"), pyb::arg("records"),
           pyb::arg("record_bytes") = pyb::none(),
           "Submits one packet per record: a 2-D C-contiguous array (one row a record) or a "
           "buffer of record_bytes-sized records. Returns how many entered the ring.")
      .def("flush", &PyProducer::flush,
           "Waits until every submitted packet has its outcome (the GIL released; Ctrl-C "
           "interrupts the wait, not the packets).")
      .def_property_readonly("counters",
                             [](const PyProducer& p) { return counters_dict(p.counters()); })
      .def_property_readonly("id", &PyProducer::id)
      .def_property_readonly("completed_sequence", &PyProducer::completed_sequence)
      .def("__enter__", [](pyb::object self) { return self; })
      .def("__exit__", [](PyProducer& p, const pyb::args&) {
        p.flush();
        return false;
      });
}

}  // namespace

void bind_ingest(pyb::module_& m, EngineClass& engine) {
  bind_topic_rule(m);
  bind_producer(m);
  engine
      .def(
          "producer",
          [](EngineRef self, std::uint32_t id, const std::string& mode, std::size_t ring_packets) {
            ProducerOptions options;
            options.id = id;
            options.backpressure = backpressure(mode);
            options.ring_packets = ring_packets;
            return PyProducer(unwrap(self->get()->producer(options)), self);
          },
          pyb::arg("id") = 0, pyb::arg("backpressure") = "block", pyb::arg("ring_packets") = 8192,
          "A Producer (id 0: the lowest unused). backpressure: 'block', 'fail_fast' or "
          "'drop_oldest'.")
      .def(
          "set_ruleset",
          [](PyEngine& e, const std::vector<TopicRule>& topics) {
            Ruleset ruleset;
            ruleset.topics = topics;
            return hash_bytes(unwrap(e.get()->set_ruleset(ruleset)));
          },
          pyb::arg("topics"),
          "Puts a governance ruleset (a list of TopicRule) in force, stored durably; returns "
          "its hash. Packets of topics it does not name are denied.");
}

}  // namespace mmsb::py

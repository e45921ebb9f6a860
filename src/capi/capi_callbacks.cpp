// The C ABI: derivation functions, rules and subscriptions with C callbacks, and ingest.
#include <algorithm>
#include <string>

#include "capi/capi_internal.hpp"

using namespace mmsb;
using capi::bytes_of;
using capi::guard;
using capi::require;

namespace {

constexpr std::size_t kMessageCapacity = 512;

// A non-zero return of a C callback as the Status that fails the tick.
Status callback_failed(const char* what, int code, const char* message) {
  std::string text = std::string(what) + " returned " + std::to_string(code);
  if (message != nullptr && message[0] != '\0') text += ": " + std::string(message);
  return failed_precondition(text);
}

DeriveFunction c_function(mmsb_derive_fn function, void* user) {
  return [function, user](const DeriveInput& input, std::vector<std::byte>& out) -> Status {
    std::vector<const void*> parents;
    std::vector<size_t> lengths;
    for (std::span<const std::byte> parent : input.parents) {
      parents.push_back(parent.data());
      lengths.push_back(parent.size());
    }
    out.resize(input.current.size());
    char message[kMessageCapacity] = {};
    int code = function(user, input.child.value(), parents.data(), lengths.data(), parents.size(),
                        out.data(), out.size(), message, sizeof(message) - 1);
    if (code != 0) return callback_failed("the C function", code, message);
    return Status::ok();
  };
}

// The view, sink and footprint handles of the C rule callbacks are the C++ objects.
const mmsb_rule_view* c_view(const RuleView& view) {
  return reinterpret_cast<const mmsb_rule_view*>(&view);
}

Rule c_rule(const mmsb_rule& in) {
  Rule rule;
  rule.name = in.name;
  auto footprint = in.footprint;
  auto executor = in.executor;
  void* user = in.user;
  rule.footprint = [footprint, user](const RuleView& view, PageId scope, Footprint& out) {
    int code =
        footprint(user, c_view(view), scope.value(), reinterpret_cast<mmsb_footprint*>(&out));
    if (code != 0) return callback_failed("the C footprint", code, nullptr);
    return Status::ok();
  };
  rule.executor = [executor, user](const RuleView& view, PageId scope, DeltaSink& out) {
    int code =
        executor(user, c_view(view), scope.value(), reinterpret_cast<mmsb_delta_sink*>(&out));
    if (code != 0) return callback_failed("the C executor", code, nullptr);
    return Status::ok();
  };
  if (in.standing != 0) rule.standing_type = in.standing_type;
  return rule;
}

Status ruleset_of(const mmsb_topic_rule* topics, size_t count, Ruleset& out) {
  if (count != 0) MMSB_RETURN_IF_ERROR(require(topics, "topics"));
  for (size_t i = 0; i < count; ++i) {
    const mmsb_topic_rule& in = topics[i];
    if (in.action < MMSB_TOPIC_OVERWRITE || in.action > MMSB_TOPIC_APPEND) {
      return invalid_argument("topic " + std::to_string(in.topic) + ": action " +
                              std::to_string(in.action) + " is not an mmsb_topic_action");
    }
    TopicRule rule;
    rule.topic = in.topic;
    rule.allow = in.allow != 0;
    rule.max_payload_bytes = in.max_payload_bytes;
    rule.rate_per_second = in.rate_per_second;
    rule.burst = in.burst;
    rule.mapping.action = static_cast<TopicAction>(in.action);
    rule.mapping.page = PageId(in.page);
    rule.mapping.record_bytes = in.record_bytes;
    out.topics.push_back(std::move(rule));
  }
  return Status::ok();
}

}  // namespace

extern "C" {

mmsb_status mmsb_engine_register_function(mmsb_engine* engine, const char* name,
                                          mmsb_derive_fn function, void* user) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    MMSB_RETURN_IF_ERROR(require(name, "name"));
    MMSB_RETURN_IF_ERROR(require(reinterpret_cast<const void*>(function), "function"));
    return engine->engine->register_function(name, c_function(function, user));
  });
}

mmsb_status mmsb_rule_view_page(const mmsb_rule_view* view, uint64_t page, mmsb_page* out) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(view, "view"));
    MMSB_RETURN_IF_ERROR(require(out, "out"));
    MMSB_ASSIGN_OR_RETURN(PageView read,
                          reinterpret_cast<const RuleView*>(view)->page(PageId(page)));
    capi::fill_page(read, out);
    return Status::ok();
  });
}

mmsb_status mmsb_footprint_read(mmsb_footprint* footprint, uint64_t page) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(footprint, "footprint"));
    reinterpret_cast<Footprint*>(footprint)->read(PageId(page));
    return Status::ok();
  });
}

mmsb_status mmsb_footprint_write(mmsb_footprint* footprint, uint64_t page) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(footprint, "footprint"));
    reinterpret_cast<Footprint*>(footprint)->write(PageId(page));
    return Status::ok();
  });
}

mmsb_status mmsb_delta_sink_write(mmsb_delta_sink* sink, uint64_t page, uint64_t offset,
                                  const void* bytes, size_t length) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(sink, "sink"));
    if (length != 0) MMSB_RETURN_IF_ERROR(require(bytes, "bytes"));
    return reinterpret_cast<DeltaSink*>(sink)->write(PageId(page), offset, bytes_of(bytes, length));
  });
}

mmsb_status mmsb_engine_register_rule(mmsb_engine* engine, const mmsb_rule* rule) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    MMSB_RETURN_IF_ERROR(require(rule, "rule"));
    MMSB_RETURN_IF_ERROR(require(rule->name, "rule->name"));
    MMSB_RETURN_IF_ERROR(
        require(reinterpret_cast<const void*>(rule->footprint), "rule->footprint"));
    MMSB_RETURN_IF_ERROR(require(reinterpret_cast<const void*>(rule->executor), "rule->executor"));
    return engine->engine->register_rule(c_rule(*rule));
  });
}

mmsb_status mmsb_engine_subscribe(mmsb_engine* engine, const uint64_t* pages, size_t pages_count,
                                  uint32_t types, mmsb_event_fn callback, void* user,
                                  uint64_t* subscription) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    MMSB_RETURN_IF_ERROR(require(reinterpret_cast<const void*>(callback), "callback"));
    MMSB_RETURN_IF_ERROR(require(subscription, "subscription"));
    if (pages_count != 0) MMSB_RETURN_IF_ERROR(require(pages, "pages"));
    EventFilter filter;
    for (size_t i = 0; i < pages_count; ++i) filter.pages.emplace_back(pages[i]);
    if (types != 0) filter.types = types;
    auto deliver = [callback, user,
                    events = std::vector<mmsb_event>()](const EventBatch& batch) mutable {
      events.clear();
      for (const Event& event : batch.events) {
        events.push_back(
            mmsb_event{static_cast<uint32_t>(event.type), event.page.value(), event.epoch.value()});
      }
      callback(user, batch.tick.value(), events.data(), events.size(),
               batch.batches_dropped_before);
    };
    MMSB_ASSIGN_OR_RETURN(std::uint64_t id, engine->engine->subscribe(filter, std::move(deliver)));
    *subscription = id;
    return Status::ok();
  });
}

mmsb_status mmsb_engine_unsubscribe(mmsb_engine* engine, uint64_t subscription) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    return engine->engine->unsubscribe(subscription);
  });
}

mmsb_status mmsb_engine_set_ruleset(mmsb_engine* engine, const mmsb_topic_rule* topics,
                                    size_t topics_count) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    Ruleset ruleset;
    MMSB_RETURN_IF_ERROR(ruleset_of(topics, topics_count, ruleset));
    return engine->engine->set_ruleset(ruleset).status();
  });
}

mmsb_status mmsb_engine_producer(mmsb_engine* engine, mmsb_backpressure backpressure,
                                 size_t ring_packets, mmsb_producer** out) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    MMSB_RETURN_IF_ERROR(require(out, "out"));
    if (backpressure < MMSB_BACKPRESSURE_BLOCK || backpressure > MMSB_BACKPRESSURE_DROP_OLDEST) {
      return invalid_argument("backpressure " + std::to_string(static_cast<int>(backpressure)) +
                              " is not an mmsb_backpressure");
    }
    ProducerOptions options;
    options.backpressure = static_cast<Backpressure>(backpressure);
    if (ring_packets != 0) options.ring_packets = ring_packets;
    MMSB_ASSIGN_OR_RETURN(Producer producer, engine->engine->producer(options));
    *out = new mmsb_producer{std::move(producer)};
    return Status::ok();
  });
}

void mmsb_producer_free(mmsb_producer* producer) { delete producer; }

mmsb_status mmsb_producer_submit(mmsb_producer* producer, uint32_t topic, const void* payload,
                                 size_t length, uint64_t* sequence) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(producer, "producer"));
    if (length != 0) MMSB_RETURN_IF_ERROR(require(payload, "payload"));
    MMSB_ASSIGN_OR_RETURN(std::uint64_t seq,
                          producer->producer.submit(topic, bytes_of(payload, length)));
    if (sequence != nullptr) *sequence = seq;
    return Status::ok();
  });
}

mmsb_status mmsb_producer_submit_many(mmsb_producer* producer, uint32_t topic, const void* records,
                                      size_t record_bytes, size_t count, size_t* accepted) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(producer, "producer"));
    if (count != 0) MMSB_RETURN_IF_ERROR(require(records, "records"));
    if (record_bytes == 0 || record_bytes > kPacketInlineBytes) {
      return invalid_argument("record_bytes " + std::to_string(record_bytes) + " is not 1 to " +
                              std::to_string(kPacketInlineBytes));
    }
    MMSB_ASSIGN_OR_RETURN(std::size_t entered,
                          producer->producer.submit_records(
                              topic, bytes_of(records, record_bytes * count), record_bytes));
    if (accepted != nullptr) *accepted = entered;
    return Status::ok();
  });
}

mmsb_status mmsb_producer_flush(mmsb_producer* producer) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(producer, "producer"));
    return producer->producer.flush();
  });
}

mmsb_status mmsb_producer_counters_get(const mmsb_producer* producer, mmsb_producer_counters* out) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(producer, "producer"));
    MMSB_RETURN_IF_ERROR(require(out, "out"));
    ProducerCounters c = producer->producer.counters();
    *out = mmsb_producer_counters{
        c.submitted, c.admitted, c.denied, c.throttled, c.refused, c.dropped, c.completed_sequence};
    return Status::ok();
  });
}

}  // extern "C"

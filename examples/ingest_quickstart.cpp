// Ingest: a producer pushes packets; the governance ruleset admits a sensor topic into a
// ring-buffer page, denies another and throttles a third; every packet gets an outcome.
#include <cstdio>
#include <filesystem>
#include <string>

#include "mmsb/mmsb.hpp"

int main() {
  const std::string dir =
      (std::filesystem::temp_directory_path() / "mmsb-ingest-quickstart").string();
  std::filesystem::remove_all(dir);
  mmsb::EngineOptions options;
  options.dir = dir;
  auto engine = mmsb::Engine::open(options).value();

  // A ring-buffer page of 16 records of 8-byte readings (each record: 4-byte length + 8).
  mmsb::Transaction setup = engine->begin();
  setup.create_page({.type = 1, .size_bytes = mmsb::kAppendHeaderBytes + 16 * 12});
  const mmsb::PageId readings = setup.commit().value().created_pages[0];

  mmsb::Ruleset rules;
  rules.topics.push_back({.topic = 1,  // sensor readings: appended
                          .max_payload_bytes = 8,
                          .mapping = {mmsb::TopicAction::kAppend, readings, 12}});
  rules.topics.push_back({.topic = 2, .allow = false});  // admin: denied
  rules.topics.push_back({.topic = 3,                    // chatty: 10 per second, burst 5
                          .max_payload_bytes = 8,
                          .rate_per_second = 10,
                          .burst = 5,
                          .mapping = {mmsb::TopicAction::kAppend, readings, 12}});
  auto set = engine->set_ruleset(rules);  // InvalidArgument names the topic if it is wrong
  if (!set.is_ok()) return std::fprintf(stderr, "%s\n", set.status().to_string().c_str()), 1;

  mmsb::Producer producer = engine->producer().value();  // one per thread; no locks
  for (int i = 0; i < 30; ++i) {
    const std::string reading = "r" + std::to_string(1000000 + i);  // 8 bytes
    const std::uint32_t topic = 1 + static_cast<std::uint32_t>(i % 3);
    if (!producer.submit(topic, mmsb::as_bytes(reading)).is_ok()) return 1;
  }
  if (!producer.flush().is_ok()) return 1;  // every packet has its outcome, admitted durable

  const mmsb::ProducerCounters counters = producer.counters();
  std::printf("admitted %llu, denied %llu, throttled %llu\n",
              static_cast<unsigned long long>(counters.admitted),
              static_cast<unsigned long long>(counters.denied),
              static_cast<unsigned long long>(counters.throttled));
  const auto page = engine->snapshot().read(readings).value();
  std::printf("records appended: %u\n", static_cast<unsigned>(page[0]));
  const bool ok = counters.denied == 10 && counters.admitted >= 15 &&
                  counters.admitted + counters.throttled == 20;
  std::filesystem::remove_all(dir);
  return ok ? 0 : 1;
}

#include "tools/mmsb/ingest.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "mmsb/mmsb.hpp"
#include "tools/mmsb/cli_util.hpp"

namespace mmsb::cli {
namespace {


void row(const char* what, const std::string& value) { fmt::print("  {:<30} {}\n", what, value); }

// Creates an append page of `slots` records for payloads of `payload_bytes`.
Result<PageId> create_append_page(Engine& engine, std::uint32_t payload_bytes, std::uint64_t slots) {
  Transaction txn = engine.begin();
  txn.create_page({.type = 1, .size_bytes = kAppendHeaderBytes + slots * (payload_bytes + kRecordHeaderBytes)});
  MMSB_ASSIGN_OR_RETURN(CommitInfo info, txn.commit());
  return info.created_pages[0];
}

TopicRule append_topic(std::uint32_t topic, PageId page, std::uint32_t payload_bytes) {
  return TopicRule{.topic = topic,
                   .max_payload_bytes = payload_bytes,
                   .mapping = {TopicAction::kAppend, page, payload_bytes + kRecordHeaderBytes}};
}

std::string count_text(std::uint64_t value) {
  if (value >= 10'000'000) return fmt::format("{:.1f}M", static_cast<double>(value) / 1e6);
  return std::to_string(value);
}

// The topics' counts, and each one's admissions a second over the run's `seconds` (the
// engine's own rate needs a window of 10 ms, longer than the demo's whole run).
void print_topics(const EngineStats& stats, double seconds) {
  fmt::print("  {:<8} {:>12} {:>10} {:>10} {:>10} {:>14}\n", "topic", "admitted", "denied",
             "throttled", "refused", "admitted/s");
  for (const EngineStats::IngestTopic& topic : stats.ingest.topics) {
    fmt::print("  {:<8} {:>12} {:>10} {:>10} {:>10} {:>14.0f}\n", topic.topic, topic.admitted,
               topic.denied, topic.throttled, topic.refused,
               static_cast<double>(topic.admitted) / std::max(seconds, 1e-9));
  }
}

std::string latency_text(const EngineStats& stats) {
  return fmt::format("p50 {:.1f} us, p99 {:.1f} us, p999 {:.1f} us",
                     static_cast<double>(stats.ingest.latency_ns_p50) / 1e3,
                     static_cast<double>(stats.ingest.latency_ns_p99) / 1e3,
                     static_cast<double>(stats.ingest.latency_ns_p999) / 1e3);
}

}  // namespace

int run_ingest_bench(const IngestBenchOptions& options) {
  Result<Durability> durability = parse_durability(options.durability);
  if (!durability.is_ok()) return fail(durability.status());
  if (options.payload_bytes > kPacketReferenceMaxBytes) {
    return fail(invalid_argument("--payload " + std::to_string(options.payload_bytes) +
                                 " is above the packet limit " +
                                 std::to_string(kPacketReferenceMaxBytes)));
  }
  const std::string dir =
      !options.dir.empty()
          ? options.dir
          : (std::filesystem::temp_directory_path() /
             ("mmsb-bench-ingest-" + std::to_string(::getpid())))
                .string();
  const bool temporary = options.dir.empty();
  EngineOptions engine_options;
  engine_options.dir = dir;
  engine_options.durability = *durability;
  auto opened = Engine::open(engine_options);
  if (!opened.is_ok()) return fail(opened.status());
  Engine& engine = **opened;
  const std::uint64_t slots =
      std::max<std::uint64_t>(1, (64u << 10) / (options.payload_bytes + kRecordHeaderBytes));
  auto page = create_append_page(engine, options.payload_bytes, slots);
  if (!page.is_ok()) return fail(page.status());
  Ruleset rules;
  for (int p = 0; p < options.producers; ++p) {
    rules.topics.push_back(append_topic(static_cast<std::uint32_t>(p + 1), *page, options.payload_bytes));
  }
  if (auto set = engine.set_ruleset(rules); !set.is_ok()) return fail(set.status());

  fmt::print("mmsb bench ingest: {} producer{}, {:.1f} s, {}-byte payloads ({}), durability {}, "
             "in {}\n",
             options.producers, options.producers == 1 ? "" : "s", options.seconds,
             options.payload_bytes,
             options.payload_bytes <= kPacketInlineBytes ? "inline" : "by reference",
             options.durability, dir);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> submitted{0};
  std::vector<std::thread> threads;
  std::vector<Status> failures(static_cast<std::size_t>(options.producers));
  const Clock::time_point start = Clock::now();
  for (int p = 0; p < options.producers; ++p) {
    threads.emplace_back([&, p] {
      // At most 64 MiB of payload queued per producer (8192 packets of up to 8 KiB).
      const std::size_t ring = std::clamp<std::size_t>(
          (64u << 20) / std::max<std::uint32_t>(options.payload_bytes, 1), 2, 8192);
      auto producer = engine.producer({.ring_packets = ring});
      if (!producer.is_ok()) {
        failures[static_cast<std::size_t>(p)] = producer.status();
        return;
      }
      // Referenced payloads stay unchanged for the whole run, as the contract asks.
      const std::vector<std::byte> payload(options.payload_bytes, std::byte{0x5a});
      std::vector<Packet> batch(64);
      for (Packet& packet : batch) {
        const auto topic = static_cast<std::uint32_t>(p + 1);
        if (!packet.set_inline(topic, payload)) packet.set_reference(topic, payload);
      }
      while (!stop.load(std::memory_order_relaxed)) {
        auto pushed = producer->submit_batch(batch);
        if (!pushed.is_ok()) {
          failures[static_cast<std::size_t>(p)] = pushed.status();
          return;
        }
        submitted.fetch_add(*pushed, std::memory_order_relaxed);
      }
      failures[static_cast<std::size_t>(p)] = producer->flush();
    });
  }
  std::uint64_t last_admitted = 0;
  double last_time = 0;
  while (seconds_since(start) < options.seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const EngineStats stats = engine.stats();
    const double now = seconds_since(start);
    const double rate = static_cast<double>(stats.ingest.admitted - last_admitted) / (now - last_time);
    fmt::print("\r  {:5.1f} s  {:>12} admitted  {:>8.2f} M/s  {:>8.1f} MB/s  queue {:>8}  "
               "p99 {:>8.1f} us",
               now, count_text(stats.ingest.admitted), rate / 1e6,
               rate * options.payload_bytes / 1e6, stats.ingest.queue_depth,
               static_cast<double>(stats.ingest.latency_ns_p99) / 1e3);
    std::fflush(stdout);
    last_admitted = stats.ingest.admitted;
    last_time = now;
  }
  stop = true;
  for (std::thread& thread : threads) thread.join();
  const double seconds = seconds_since(start);
  fmt::print("\n\n");
  for (const Status& status : failures) {
    if (!status.is_ok()) return fail(status);
  }
  const EngineStats stats = engine.stats();
  const double packets = static_cast<double>(stats.ingest.packets);
  row("packets judged", fmt::format("{} of {} submitted", stats.ingest.packets, submitted.load()));
  row("msgs/s", fmt::format("{:.0f}", packets / seconds));
  row("MB/s (payload)",
      fmt::format("{:.1f}", static_cast<double>(stats.ingest.admitted) * options.payload_bytes /
                                seconds / 1e6));
  row("latency (submit to durable)", latency_text(stats));
  row("outcomes", fmt::format("{} admitted, {} denied, {} throttled, {} refused",
                              stats.ingest.admitted, stats.ingest.denied, stats.ingest.throttled,
                              stats.ingest.refused));
  row("ticks / fsyncs", fmt::format("{} / {}", stats.ingest.ticks, stats.fsyncs));
  row("largest drain", fmt::format("{} packets", stats.ingest.queue_depth_max));
  row("backpressure transitions", std::to_string(stats.ingest.backpressure_transitions));
  Status closed = engine.close();
  opened->reset();
  if (temporary) std::filesystem::remove_all(dir);
  return closed.is_ok() ? 0 : fail(closed);
}

int run_ingest_demo(const std::string& dir) {
  enum : std::uint32_t { kSensors = 1, kAdmin = 2, kChatty = 3 };
  constexpr int kProducers = 2;
  constexpr int kPacketsEach = 50'000;
  fmt::print("\nmmsb demo: ingest, {} producers x {} packets into {} (topic {} sensors: "
             "admitted; topic {} admin: denied; topic {} chatty: 1000/s, burst 100)\n\n",
             kProducers, kPacketsEach, dir, kSensors, kAdmin, kChatty);
  std::filesystem::remove_all(dir);
  EngineOptions options;
  options.dir = dir;
  options.durability = Durability::kFlush;
  auto opened = Engine::open(options);
  if (!opened.is_ok()) return fail(opened.status());
  Engine& engine = **opened;
  auto sensors = create_append_page(engine, 16, 1024);
  auto chatty = create_append_page(engine, 16, 64);
  if (!sensors.is_ok()) return fail(sensors.status());
  if (!chatty.is_ok()) return fail(chatty.status());
  Ruleset rules;
  rules.topics.push_back(append_topic(kSensors, *sensors, 16));
  rules.topics.push_back(TopicRule{.topic = kAdmin, .allow = false});
  TopicRule limited = append_topic(kChatty, *chatty, 16);
  limited.rate_per_second = 1000;
  limited.burst = 100;
  rules.topics.push_back(limited);
  auto hash = engine.set_ruleset(rules);
  if (!hash.is_ok()) return fail(hash.status());
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  std::vector<Status> failures(kProducers);
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      auto producer = engine.producer();
      if (!producer.is_ok()) {
        failures[static_cast<std::size_t>(p)] = producer.status();
        return;
      }
      char reading[16];
      for (int i = 0; i < kPacketsEach; ++i) {
        // Mostly sensor readings; every 10th to the admin topic, every 5th to chatty.
        const std::uint32_t topic = i % 10 == 0 ? kAdmin : i % 5 == 0 ? kChatty : kSensors;
        std::snprintf(reading, sizeof reading, "p%d r%09d", p, i);
        auto sent = producer->submit(topic, std::as_bytes(std::span(reading, 16)));
        if (!sent.is_ok()) {
          failures[static_cast<std::size_t>(p)] = sent.status();
          return;
        }
      }
      failures[static_cast<std::size_t>(p)] = producer->flush();
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double seconds = seconds_since(start);
  for (const Status& status : failures) {
    if (!status.is_ok()) return fail(status);
  }
  const EngineStats stats = engine.stats();
  print_topics(stats, seconds);
  fmt::print("\n");
  row("ruleset", hash->to_hex());
  row("packets / seconds", fmt::format("{} in {:.2f} s ({:.2f} M/s)", stats.ingest.packets, seconds,
                                       static_cast<double>(stats.ingest.packets) / seconds / 1e6));
  row("latency (submit to outcome)", latency_text(stats));
  row("ticks", std::to_string(stats.ingest.ticks));
  const Hash128 root = engine.snapshot().root();
  if (Status closed = engine.close(); !closed.is_ok()) return fail(closed);
  ReplaySummary summary;
  auto replayed = replay(dir, {}, &summary);
  if (!replayed.is_ok()) return fail(replayed.status());
  row("replay judged again",
      fmt::format("{} packets, every outcome equal to the log", summary.packets_checked));
  const bool match = replayed->root() == root;
  const bool counted = stats.ingest.admitted + stats.ingest.denied + stats.ingest.throttled ==
                       static_cast<std::uint64_t>(kProducers) * kPacketsEach;
  row("root after replay", match ? "matches" : "DIFFERS");
  row("every packet has an outcome", counted ? "yes" : "NO");
  return match && counted && stats.ingest.throttled > 0 ? 0 : 1;
}

}  // namespace mmsb::cli

// Benchmarks of governance and of ingest through the engine (issue: ingest data plane):
//   BM_packet_copy                 physical baseline: copying 64-byte packets in batches
//   BM_governance_check            the governor judging one packet, 100 topics, half of them
//                                  with token buckets, topics cycling (ns per packet)
//   BM_ruleset_swap/publish        a swap as the data path sees it: set_ruleset's atomic
//                                  exchange plus the sequencer adopting the ruleset (100
//                                  topics, buckets carried over)
//   BM_ruleset_swap/set_ruleset    Engine::set_ruleset whole: compile, check against the
//                                  State, store durably, publish
//   BM_ingest_end_to_end/<producers>/<fsync>/<swap every ms>
//                                  packets from producer threads through governance into
//                                  state, logged, until every outcome is known; heap
//                                  allocations of the submitting threads per packet
#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>
#include <vector>

#include "alloc_count.hpp"
#include "bench_dir.hpp"
#include "ingest/ruleset.hpp"
#include "mmsb/mmsb.hpp"

namespace {

using namespace mmsb;

constexpr std::uint32_t kTopics = 100;
constexpr std::size_t kBatch = 4096;

Ruleset hundred_topics(PageId page, std::uint32_t max_payload, std::uint64_t rate = kTopicRateMax) {
  Ruleset rules;
  for (std::uint32_t topic = 1; topic <= kTopics; ++topic) {
    TopicRule rule{.topic = topic,
                   .max_payload_bytes = max_payload,
                   .mapping = {TopicAction::kAppend, page, max_payload + kRecordHeaderBytes}};
    if (topic % 2 == 0) {  // token buckets that rarely run dry
      rule.rate_per_second = rate;
      rule.burst = kTopicBurstMax;
    }
    rules.topics.push_back(rule);
  }
  return rules;
}

std::vector<Packet> packets_over_topics(std::size_t count) {
  std::vector<Packet> packets(count);
  const char payload[] = "sixteen byte pay";
  for (std::size_t i = 0; i < count; ++i) {
    packets[i].set_inline(static_cast<std::uint32_t>(1 + (i * 37) % kTopics),
                          std::as_bytes(std::span(payload, 16)));
    packets[i].producer = 1;
    packets[i].sequence = i + 1;
  }
  return packets;
}

void BM_packet_copy(benchmark::State& state) {
  const std::vector<Packet> packets = packets_over_topics(kBatch);
  std::vector<Packet> out(kBatch);
  for (auto _ : state) {
    std::memcpy(out.data(), packets.data(), kBatch * sizeof(Packet));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_packet_copy);

// A State with one append page big enough for the topics' records.
State state_with_page(PageId* page) {
  State state = State::empty(StateOptions{}).value();
  state::ForkCore fork(state);
  *page = fork.create_page({.type = 1, .size_bytes = 8 + 20 * 1024}).value();
  return fork.commit();
}

void BM_governance_check(benchmark::State& state) {
  PageId page;
  const State world = state_with_page(&page);
  const state::Tables& tables = state::StateAccessors::data(world).tables;
  ingest::Governor governor;
  governor.set_ruleset(ingest::CompiledRuleset::compile(hundred_topics(page, 16)).value());
  const std::vector<Packet> packets = packets_over_topics(kBatch);
  std::uint64_t time_ns = 1, admitted = 0;
  const std::uint64_t allocations_before = bench::allocations_on_this_thread();
  for (auto _ : state) {
    governor.begin_tick(time_ns += 1000);
    for (const Packet& packet : packets) {
      admitted +=
          governor.judge(packet, packet.payload(), tables).outcome == PacketOutcome::kAdmitted;
    }
  }
  benchmark::DoNotOptimize(admitted);
  const auto judged = static_cast<double>(state.iterations() * kBatch);
  state.SetItemsProcessed(static_cast<std::int64_t>(judged));
  state.counters["ns_per_packet"] =
      benchmark::Counter(judged, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["allocs_per_packet"] =
      static_cast<double>(bench::allocations_on_this_thread() - allocations_before) / judged;
  state.counters["admitted_share"] = static_cast<double>(admitted) / judged;
}
BENCHMARK(BM_governance_check);

void BM_ruleset_swap_publish(benchmark::State& state) {
  PageId page;
  state_with_page(&page);
  auto a = ingest::CompiledRuleset::compile(hundred_topics(page, 16)).value();
  auto b = ingest::CompiledRuleset::compile(hundred_topics(page, 12)).value();
  std::atomic<std::shared_ptr<const ingest::CompiledRuleset>*> pending{nullptr};
  ingest::Governor governor;
  bool flip = false;
  for (auto _ : state) {
    // The caller's side (after compile and store), then the sequencer's.
    delete pending.exchange(new std::shared_ptr<const ingest::CompiledRuleset>(flip ? a : b));
    std::unique_ptr<std::shared_ptr<const ingest::CompiledRuleset>> taken(
        pending.exchange(nullptr));
    governor.set_ruleset(std::move(*taken));
    flip = !flip;
  }
}
BENCHMARK(BM_ruleset_swap_publish)->Name("BM_ruleset_swap/publish");

struct IngestEngine {
  std::unique_ptr<Engine> engine;
  Ruleset rules;
  Ruleset other;  // admits the same packets (another bucket rate): for swaps
};

IngestEngine open_ingest_engine(const std::string& name, Durability durability) {
  EngineOptions options;
  options.dir = mmsb::bench::bench_dir(name);
  options.durability = durability;
  IngestEngine out;
  out.engine = Engine::open(options).value();
  Transaction txn = out.engine->begin();
  txn.create_page({.type = 1, .size_bytes = 8 + 20 * 1024});
  const PageId page = txn.commit().value().created_pages[0];
  out.rules = hundred_topics(page, 16);
  out.other = hundred_topics(page, 16, kTopicRateMax - 1);
  MMSB_ASSERT(out.engine->set_ruleset(out.rules).is_ok());
  return out;
}

void BM_ruleset_swap_set(benchmark::State& state) {
  IngestEngine ingest = open_ingest_engine("swap", Durability::kNone);
  bool flip = false;
  for (auto _ : state) {
    MMSB_ASSERT(ingest.engine->set_ruleset(flip ? ingest.rules : ingest.other).is_ok());
    flip = !flip;
  }
}
BENCHMARK(BM_ruleset_swap_set)->Name("BM_ruleset_swap/set_ruleset")->Unit(benchmark::kMicrosecond);

void BM_ingest_end_to_end(benchmark::State& state) {
  const auto producers = static_cast<std::size_t>(state.range(0));
  const bool fsync = state.range(1) != 0;
  const bool swapping = state.range(2) != 0;
  constexpr std::uint64_t kPacketsPerProducer = 1 << 18;
  constexpr std::size_t kSubmitBatch = 64;
  IngestEngine ingest = open_ingest_engine("e2e", fsync ? Durability::kFsync : Durability::kNone);
  std::uint64_t admitted = 0, swaps = 0;
  std::atomic<std::uint64_t> submit_allocations{0};
  for (auto _ : state) {
    std::atomic<bool> done{false};
    std::thread swapper;
    if (swapping) {
      swapper = std::thread([&] {
        bool flip = false;
        while (!done.load()) {
          MMSB_ASSERT(ingest.engine->set_ruleset(flip ? ingest.rules : ingest.other).is_ok());
          flip = !flip;
          ++swaps;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      });
    }
    std::vector<std::thread> threads;
    std::atomic<std::uint64_t> admitted_now{0};
    for (std::size_t p = 0; p < producers; ++p) {
      threads.emplace_back([&] {
        Producer producer = ingest.engine->producer({.ring_packets = 1 << 14}).value();
        std::vector<Packet> batch = packets_over_topics(kSubmitBatch);
        const std::uint64_t before = bench::allocations_on_this_thread();
        for (std::uint64_t sent = 0; sent < kPacketsPerProducer; sent += kSubmitBatch) {
          MMSB_ASSERT(producer.submit_batch(batch).is_ok());
        }
        submit_allocations += bench::allocations_on_this_thread() - before;
        MMSB_ASSERT(producer.flush().is_ok());
        admitted_now += producer.counters().admitted;
      });
    }
    for (std::thread& thread : threads) thread.join();
    done = true;
    if (swapper.joinable()) swapper.join();
    admitted += admitted_now;
  }
  const EngineStats stats = ingest.engine->stats();
  const auto packets = static_cast<double>(state.iterations() * producers * kPacketsPerProducer);
  state.SetItemsProcessed(static_cast<std::int64_t>(packets));
  state.counters["admitted_share"] = static_cast<double>(admitted) / packets;
  state.counters["ticks"] = static_cast<double>(stats.ingest.ticks);
  // Heap allocations on the producers' threads while submitting (the sequencer's per-tick
  // buffers are not per packet).
  state.counters["submit_allocs_per_packet"] = static_cast<double>(submit_allocations) / packets;
  state.counters["swaps"] = static_cast<double>(swaps);
  state.counters["p50_us"] = static_cast<double>(stats.ingest.latency_ns_p50) / 1000.0;
  state.counters["p99_us"] = static_cast<double>(stats.ingest.latency_ns_p99) / 1000.0;
  state.counters["p999_us"] = static_cast<double>(stats.ingest.latency_ns_p999) / 1000.0;
}
BENCHMARK(BM_ingest_end_to_end)
    ->ArgNames({"producers", "fsync", "swap"})
    ->Args({1, 0, 0})
    ->Args({2, 0, 0})
    ->Args({4, 0, 0})
    ->Args({1, 1, 0})
    ->Args({2, 1, 0})
    ->Args({1, 0, 1})
    ->Args({2, 0, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

// Benchmarks of the ingest rings (issue: ingest data plane). 64-byte packets from producer
// threads to the benchmark thread (the consumer, as the sequencer will be), in batches:
//   BM_ring_1p1c/<batch>        mmsb SpscRing
//   BM_moodycamel_1p1c/<batch>  moodycamel::ConcurrentQueue (producer and consumer tokens,
//                               bulk enqueue into a preallocated queue that may grow, bulk
//                               dequeue: its fastest use; bounded try_enqueue can starve
//                               when several explicit producers hold the preallocated blocks)
//   BM_ring_np1c/<producers>    one SpscRing per producer, drained round-robin
//   BM_moodycamel_np1c/<producers>  one shared ConcurrentQueue
// Each iteration moves kPacketsPerIteration packets; counters: packets per second and heap
// allocations per packet (both threads). Read them side by side from one run.
#include <benchmark/benchmark.h>

#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <thread>
#include <vector>

#include "alloc_count.hpp"
#include "ingest/spsc_ring.hpp"
#include "mmsb/packet.hpp"

namespace {

using mmsb::Packet;

constexpr std::uint64_t kPacketsPerIteration = 1 << 20;
constexpr std::size_t kRingCapacity = 1 << 14;
constexpr std::size_t kDrainBatch = 256;  // the consumer's batch

Packet sample_packet(std::uint32_t producer) {
  Packet packet;
  const char payload[] = "sixteen byte pay";
  packet.set_inline(3, std::as_bytes(std::span(payload, 16)));
  packet.producer = producer;
  return packet;
}

void report(benchmark::State& state, std::uint64_t allocations) {
  const auto packets = static_cast<double>(state.iterations() * kPacketsPerIteration);
  state.SetItemsProcessed(static_cast<std::int64_t>(packets));
  state.SetBytesProcessed(static_cast<std::int64_t>(packets * sizeof(Packet)));
  state.counters["allocs_per_packet"] = static_cast<double>(allocations) / packets;
}

// Producer loop shared by the benchmarks: `push(span)` returns how many it took.
template <typename Push>
std::uint64_t produce(std::uint64_t packets, std::size_t batch_size, std::uint32_t producer,
                      Push&& push) {
  const std::uint64_t before = mmsb::bench::allocations_on_this_thread();
  std::vector<Packet> batch(batch_size, sample_packet(producer));
  std::uint64_t sent = 0;
  while (sent < packets) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(batch_size, packets - sent));
    for (std::size_t i = 0; i < want; ++i) batch[i].sequence = sent + i + 1;
    std::span<const Packet> left(batch.data(), want);
    while (!left.empty()) {
      const std::size_t taken = push(left);
      // Full: give the core away, as the producer handle's back-off does (matters when
      // producers outnumber cores).
      if (taken == 0) std::this_thread::yield();
      left = left.subspan(taken);
    }
    sent += want;
  }
  return mmsb::bench::allocations_on_this_thread() - before;
}

void BM_ring_1p1c(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  mmsb::ingest::SpscRing<Packet> ring(kRingCapacity);
  std::uint64_t allocations = 0, checksum = 0;
  for (auto _ : state) {
    std::atomic<std::uint64_t> producer_allocations{0};
    std::thread producer([&] {
      producer_allocations = produce(kPacketsPerIteration, batch, 1, [&](std::span<const Packet> p) {
        return ring.push(p);
      });
    });
    const std::uint64_t before = mmsb::bench::allocations_on_this_thread();
    std::uint64_t received = 0;
    while (received < kPacketsPerIteration) {
      received += ring.consume(kDrainBatch, [&](const Packet& p) { checksum += p.sequence; });
    }
    producer.join();
    allocations += producer_allocations + mmsb::bench::allocations_on_this_thread() - before;
  }
  benchmark::DoNotOptimize(checksum);
  report(state, allocations);
}
BENCHMARK(BM_ring_1p1c)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();

void BM_moodycamel_1p1c(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  moodycamel::ConcurrentQueue<Packet> queue(kRingCapacity);
  std::vector<Packet> out(kDrainBatch);
  std::uint64_t allocations = 0, checksum = 0;
  for (auto _ : state) {
    std::atomic<std::uint64_t> producer_allocations{0};
    std::thread producer([&] {
      moodycamel::ProducerToken token(queue);
      producer_allocations = produce(kPacketsPerIteration, batch, 1, [&](std::span<const Packet> p) {
        return queue.enqueue_bulk(token, p.data(), p.size()) ? p.size() : 0;
      });
    });
    const std::uint64_t before = mmsb::bench::allocations_on_this_thread();
    moodycamel::ConsumerToken token(queue);
    std::uint64_t received = 0;
    while (received < kPacketsPerIteration) {
      const std::size_t got = queue.try_dequeue_bulk(token, out.data(), out.size());
      for (std::size_t i = 0; i < got; ++i) checksum += out[i].sequence;
      received += got;
    }
    producer.join();
    allocations += producer_allocations + mmsb::bench::allocations_on_this_thread() - before;
  }
  benchmark::DoNotOptimize(checksum);
  report(state, allocations);
}
BENCHMARK(BM_moodycamel_1p1c)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->UseRealTime();

constexpr std::size_t kProducerBatch = 64;

void BM_ring_np1c(benchmark::State& state) {
  const auto producers = static_cast<std::size_t>(state.range(0));
  std::vector<std::unique_ptr<mmsb::ingest::SpscRing<Packet>>> rings;
  for (std::size_t i = 0; i < producers; ++i) {
    rings.push_back(std::make_unique<mmsb::ingest::SpscRing<Packet>>(kRingCapacity));
  }
  const std::uint64_t each = kPacketsPerIteration / producers;
  std::uint64_t allocations = 0, checksum = 0;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    std::atomic<std::uint64_t> producer_allocations{0};
    for (std::size_t i = 0; i < producers; ++i) {
      threads.emplace_back([&, i] {
        producer_allocations += produce(each, kProducerBatch, static_cast<std::uint32_t>(i),
                                        [&](std::span<const Packet> p) { return rings[i]->push(p); });
      });
    }
    const std::uint64_t before = mmsb::bench::allocations_on_this_thread();
    std::uint64_t received = 0;
    while (received < each * producers) {
      std::uint64_t round = 0;
      for (auto& ring : rings) {  // round-robin, a bounded batch from each
        round += ring->consume(kDrainBatch, [&](const Packet& p) { checksum += p.sequence; });
      }
      if (round == 0) std::this_thread::yield();  // all empty: let a producer run
      received += round;
    }
    for (std::thread& thread : threads) thread.join();
    allocations += producer_allocations + mmsb::bench::allocations_on_this_thread() - before;
  }
  benchmark::DoNotOptimize(checksum);
  report(state, allocations);
}
BENCHMARK(BM_ring_np1c)->Arg(2)->Arg(4)->UseRealTime();

void BM_moodycamel_np1c(benchmark::State& state) {
  const auto producers = static_cast<std::size_t>(state.range(0));
  moodycamel::ConcurrentQueue<Packet> queue(kRingCapacity * producers, producers, 0);
  const std::uint64_t each = kPacketsPerIteration / producers;
  std::vector<Packet> out(kDrainBatch);
  std::uint64_t allocations = 0, checksum = 0;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    std::atomic<std::uint64_t> producer_allocations{0};
    for (std::size_t i = 0; i < producers; ++i) {
      threads.emplace_back([&, i] {
        moodycamel::ProducerToken token(queue);
        producer_allocations += produce(each, kProducerBatch, static_cast<std::uint32_t>(i),
                                        [&](std::span<const Packet> p) {
                                          return queue.enqueue_bulk(token, p.data(), p.size())
                                                     ? p.size()
                                                     : 0;
                                        });
      });
    }
    const std::uint64_t before = mmsb::bench::allocations_on_this_thread();
    moodycamel::ConsumerToken token(queue);
    std::uint64_t received = 0;
    while (received < each * producers) {
      const std::size_t got = queue.try_dequeue_bulk(token, out.data(), out.size());
      for (std::size_t i = 0; i < got; ++i) checksum += out[i].sequence;
      if (got == 0) std::this_thread::yield();  // as the ring consumer does
      received += got;
    }
    for (std::thread& thread : threads) thread.join();
    allocations += producer_allocations + mmsb::bench::allocations_on_this_thread() - before;
  }
  benchmark::DoNotOptimize(checksum);
  report(state, allocations);
}
BENCHMARK(BM_moodycamel_np1c)->Arg(2)->Arg(4)->UseRealTime();

}  // namespace

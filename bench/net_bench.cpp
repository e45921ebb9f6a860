// Benchmarks of the server (issue: mmsb serve): client and server in this binary, over
// loopback. Peers in the same run: the embedded engine doing the same commits
// (BM_embedded_commit_pipelined), RocksDB's synced WAL (engine_bench.cpp) and a bare TCP
// ping-pong. The server uses io_uring where it can; MMSB_BENCH_IO=epoll selects epoll.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "alloc_count.hpp"
#include "core/endian.hpp"
#include "mmsb/client.hpp"
#include "mmsb/mmsb.hpp"
#include "mmsb/server.hpp"
#include "net/address.hpp"
#include "net/wire.hpp"

namespace {

using mmsb::PageId;

constexpr std::size_t kWriteBytes = 16;
constexpr std::uint64_t kPages = 1024;

// An engine with kPages pages of 1 KiB and a server over it on a loopback port.
struct NetFixture {
  explicit NetFixture(mmsb::Durability durability, const char* name) {
    dir =
        (std::filesystem::temp_directory_path() / (std::string("mmsb-bench-net-") + name)).string();
    std::filesystem::remove_all(dir);
    mmsb::EngineOptions options;
    options.dir = dir;
    options.durability = durability;
    engine = mmsb::Engine::open(options).value();
    mmsb::Transaction setup = engine->begin();
    for (std::uint64_t i = 0; i < kPages; ++i) setup.create_page({.type = 1, .size_bytes = 1024});
    (void)setup.commit().value();
    mmsb::ServerOptions server_options;
    server_options.listen = "127.0.0.1:0";
    server_options.data_dir = dir;
    if (const char* io = std::getenv("MMSB_BENCH_IO");
        io != nullptr && std::string(io) == "epoll") {
      server_options.io = mmsb::IoBackend::kEpoll;
    }
    server = mmsb::Server::start(*engine, server_options).value();
    address = "127.0.0.1:" + std::to_string(server->port());
  }
  ~NetFixture() {
    server->stop();
    (void)engine->close();
    std::filesystem::remove_all(dir);
  }
  std::unique_ptr<mmsb::Client> connect() const {
    return mmsb::Client::connect({address, "", 60000}).value();
  }

  std::string dir;
  std::unique_ptr<mmsb::Engine> engine;
  std::unique_ptr<mmsb::Server> server;
  std::string address;
};

std::vector<mmsb::log::Op> write_op(std::uint64_t page, std::uint64_t n) {
  return {mmsb::log::WriteOp{
      page, kWriteBytes * (n % 64),
      std::vector<std::byte>(kWriteBytes, std::byte{static_cast<unsigned char>(n)})}};
}

double percentile_us(std::vector<double>& ns, double q) {
  if (ns.empty()) return 0;
  const auto at = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1));
  std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(at), ns.end());
  return ns[at] / 1e3;
}

// The physical baseline: a 64-byte ping-pong between two threads over a loopback TCP
// connection (blocking sockets, TCP_NODELAY), what any round trip here costs at least.
void BM_tcp_loopback_pingpong(benchmark::State& state) {
  auto address = mmsb::net::parse_address("127.0.0.1:0").value();
  const int listener = mmsb::net::listen_on(address, 1).value();
  const auto bound = mmsb::net::bound_address(listener);
  std::thread echo([&] {
    pollfd waiting{listener, POLLIN, 0};
    ::poll(&waiting, 1, 10'000);
    const int fd = ::accept(listener, nullptr, nullptr);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buffer[64];
    while (::recv(fd, buffer, sizeof buffer, MSG_WAITALL) == 64)
      ::send(fd, buffer, 64, MSG_NOSIGNAL);
    ::close(fd);
  });
  const int fd = mmsb::net::connect_to(bound).value();
  char buffer[64] = {};
  std::vector<double> latencies;
  latencies.reserve(1 << 20);
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    ::send(fd, buffer, 64, MSG_NOSIGNAL);
    if (::recv(fd, buffer, 64, MSG_WAITALL) != 64) state.SkipWithError("echo");
    latencies.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::steady_clock::now() - start)
                                                .count()));
  }
  ::close(fd);
  echo.join();
  ::close(listener);
  state.counters["p50_us"] = percentile_us(latencies, 0.50);
  state.counters["p99_us"] = percentile_us(latencies, 0.99);
}
BENCHMARK(BM_tcp_loopback_pingpong)->UseRealTime()->Unit(benchmark::kMicrosecond);

// One connection, one small commit at a time (durability none): the round trip.
void BM_net_roundtrip(benchmark::State& state) {
  NetFixture fixture(mmsb::Durability::kNone, "roundtrip");
  auto client = fixture.connect();
  std::vector<double> latencies;
  latencies.reserve(1 << 20);
  std::uint64_t n = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    if (!client->commit(write_op(1 + n % kPages, n)).is_ok()) state.SkipWithError("commit");
    latencies.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::steady_clock::now() - start)
                                                .count()));
    ++n;
  }
  state.counters["p50_us"] = percentile_us(latencies, 0.50);
  state.counters["p99_us"] = percentile_us(latencies, 0.99);
  state.counters["p999_us"] = percentile_us(latencies, 0.999);
}
BENCHMARK(BM_net_roundtrip)->UseRealTime()->Unit(benchmark::kMicrosecond);

constexpr std::size_t kCommitsPerIteration = 4096;

// Runs kCommitsPerIteration commits split over `lanes` threads, each keeping `depth` in
// flight through `submit(lane, n, done)`.
template <typename Submit>
void pipelined(std::size_t lanes, std::size_t depth, const Submit& submit) {
  std::vector<std::thread> threads;
  for (std::size_t lane = 0; lane < lanes; ++lane) {
    threads.emplace_back([&, lane] {
      std::mutex mutex;
      std::condition_variable room;
      std::size_t in_flight = 0;
      bool failed = false;
      for (std::size_t n = 0; n < kCommitsPerIteration / lanes; ++n) {
        {
          std::unique_lock<std::mutex> lock(mutex);
          room.wait(lock, [&] { return in_flight < depth; });
          ++in_flight;
        }
        submit(lane, n, [&](mmsb::Result<mmsb::CommitInfo> info) {
          std::lock_guard<std::mutex> lock(mutex);
          failed |= !info.is_ok();
          --in_flight;
          room.notify_one();
        });
      }
      std::unique_lock<std::mutex> lock(mutex);
      room.wait(lock, [&] { return in_flight == 0; });
      if (failed) std::abort();
    });
  }
  for (std::thread& thread : threads) thread.join();
}

mmsb::Durability durability_of(std::int64_t arg) {
  return arg == 0 ? mmsb::Durability::kNone : mmsb::Durability::kFsync;
}

void report(benchmark::State& state) {
  state.counters["commits_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kCommitsPerIteration), benchmark::Counter::kIsRate);
}

// Commits of one 16-byte write over `connections` connections, `depth` in flight on each;
// third argument: 0 durability none, 1 fsync.
void BM_net_commit_pipelined(benchmark::State& state) {
  const auto connections = static_cast<std::size_t>(state.range(0));
  const auto depth = static_cast<std::size_t>(state.range(1));
  NetFixture fixture(durability_of(state.range(2)), "pipelined");
  std::vector<std::unique_ptr<mmsb::Client>> clients;
  for (std::size_t i = 0; i < connections; ++i) clients.push_back(fixture.connect());
  for (auto _ : state) {
    pipelined(connections, depth, [&](std::size_t lane, std::size_t n, mmsb::CommitCallback done) {
      clients[lane]->commit_async(write_op(1 + (lane * 97 + n) % kPages, n), std::move(done));
    });
  }
  report(state);
}
BENCHMARK(BM_net_commit_pipelined)
    ->Args({1, 1, 0})
    ->Args({1, 64, 0})
    ->Args({4, 64, 0})
    ->Args({16, 16, 0})
    ->Args({1, 64, 1})
    ->Args({16, 16, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The peer: the same commits made in this process with Transaction::commit_async.
void BM_embedded_commit_pipelined(benchmark::State& state) {
  const auto lanes = static_cast<std::size_t>(state.range(0));
  const auto depth = static_cast<std::size_t>(state.range(1));
  NetFixture fixture(durability_of(state.range(2)), "embedded");
  mmsb::Engine& engine = *fixture.engine;
  for (auto _ : state) {
    pipelined(lanes, depth, [&](std::size_t lane, std::size_t n, mmsb::CommitCallback done) {
      mmsb::Transaction txn = engine.begin();
      for (mmsb::log::Op& op : write_op(1 + (lane * 97 + n) % kPages, n))
        (void)txn.add(std::move(op));
      txn.commit_async(std::move(done));
    });
  }
  report(state);
}
BENCHMARK(BM_embedded_commit_pipelined)
    ->Args({1, 64, 0})
    ->Args({4, 64, 0})
    ->Args({16, 16, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The C++ peer of bench/python's small-transaction figure: one thread commits one 16-byte
// write at a time (durability none), each waited for before the next.
void BM_embedded_commit_sync(benchmark::State& state) {
  NetFixture fixture(mmsb::Durability::kNone, "sync");
  std::array<std::byte, kWriteBytes> bytes{};
  std::uint64_t n = 0;
  for (auto _ : state) {
    ++n;
    bytes[0] = std::byte{static_cast<unsigned char>(n)};
    mmsb::Transaction txn = fixture.engine->begin();
    txn.write(PageId(1 + n % 64), kWriteBytes * (n % 64), bytes);
    MMSB_ASSERT(txn.commit().is_ok());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_embedded_commit_sync)->UseRealTime()->Unit(benchmark::kMicrosecond);

// 64-byte packets (40-byte payloads) over `connections` connections, batches of 1024 with
// eight in flight on each; counted once every packet of an iteration has its verdict.
void BM_net_ingest(benchmark::State& state) {
  const auto connections = static_cast<std::size_t>(state.range(0));
  NetFixture fixture(mmsb::Durability::kNone, "ingest");
  mmsb::Transaction page = fixture.engine->begin();
  page.create_page({.type = 2, .size_bytes = mmsb::kAppendHeaderBytes + 1024 * 44});
  const PageId append = page.commit().value().created_pages[0];
  mmsb::Ruleset rules;
  for (std::size_t i = 0; i < connections; ++i) {
    rules.topics.push_back(mmsb::TopicRule{.topic = static_cast<std::uint32_t>(i + 1),
                                           .mapping = {mmsb::TopicAction::kAppend, append, 44}});
  }
  (void)fixture.engine->set_ruleset(rules).value();
  std::vector<std::unique_ptr<mmsb::Client>> clients;
  for (std::size_t i = 0; i < connections; ++i) clients.push_back(fixture.connect());
  constexpr std::size_t kBatch = 1024, kBatches = 32;
  std::atomic<std::uint64_t> admitted{0};
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (std::size_t lane = 0; lane < connections; ++lane) {
      threads.emplace_back([&, lane] {
        std::vector<mmsb::Packet> packets(kBatch);
        const std::vector<std::byte> payload(mmsb::kPacketInlineBytes, std::byte{7});
        for (mmsb::Packet& packet : packets)
          packet.set_inline(static_cast<std::uint32_t>(lane + 1), payload);
        std::mutex mutex;
        std::condition_variable room;
        std::size_t in_flight = 0;
        for (std::size_t b = 0; b < kBatches; ++b) {
          {
            std::unique_lock<std::mutex> lock(mutex);
            room.wait(lock, [&] { return in_flight < 8; });
            ++in_flight;
          }
          clients[lane]->ingest_async(packets, [&](mmsb::Result<mmsb::RemoteIngest> answer) {
            std::lock_guard<std::mutex> lock(mutex);
            if (answer.is_ok()) {
              for (const mmsb::PacketVerdict& v : answer->verdicts) {
                if (v.outcome == mmsb::PacketOutcome::kAdmitted)
                  admitted.fetch_add(1, std::memory_order_relaxed);
              }
            }
            --in_flight;
            room.notify_one();
          });
        }
        std::unique_lock<std::mutex> lock(mutex);
        room.wait(lock, [&] { return in_flight == 0; });
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  state.counters["packets_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * connections * kBatch * kBatches),
                         benchmark::Counter::kIsRate);
  state.counters["admitted_share"] =
      static_cast<double>(admitted.load()) /
      static_cast<double>(state.iterations() * connections * kBatch * kBatches);
}
BENCHMARK(BM_net_ingest)->Arg(1)->Arg(4)->UseRealTime()->Unit(benchmark::kMillisecond);

// Allocations per request in the whole process (server, engine) while a raw client that
// never allocates sends one kind of request and waits for each answer: 0 READ of one 1 KiB
// page, 1 INGEST of 64 packets, 2 COMMIT of one 16-byte write (durability none).
void BM_net_allocations(benchmark::State& state) {
  const auto kind = state.range(0);
  NetFixture fixture(mmsb::Durability::kNone, "allocations");
  if (kind == 1) {
    mmsb::Ruleset rules;
    rules.topics.push_back(
        mmsb::TopicRule{.topic = 1, .mapping = {mmsb::TopicAction::kOverwrite, PageId(1)}});
    (void)fixture.engine->set_ruleset(rules).value();
  }
  const int fd = mmsb::net::connect_to(mmsb::net::parse_address(fixture.address).value()).value();
  std::vector<std::byte> request;
  mmsb::net::encode_hello(request, 1, mmsb::net::Hello{});
  std::vector<std::byte> answer(1 << 20);
  // Sends `request`, reads one whole answer frame into `answer` (no allocation).
  auto round_trip = [&] {
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size()))
      std::abort();
    std::size_t have = 0;
    while (have < mmsb::net::kFrameHeaderBytes ||
           have < mmsb::net::kFrameHeaderBytes + mmsb::get_le<std::uint32_t>(answer.data())) {
      const ssize_t n = ::recv(fd, answer.data() + have, answer.size() - have, 0);
      if (n <= 0) std::abort();
      have += static_cast<std::size_t>(n);
    }
    if (answer[4] == static_cast<std::byte>(0xFF)) std::abort();  // an ERROR frame
  };
  round_trip();
  request.clear();
  if (kind == 0) {
    mmsb::net::encode_read(request, 2, mmsb::net::Read{0, 0, {PageId(1)}});
  } else if (kind == 1) {
    std::vector<mmsb::Packet> packets(64);
    for (mmsb::Packet& packet : packets)
      packet.set_inline(1, std::vector<std::byte>(40, std::byte{1}));
    mmsb::net::encode_ingest(request, 2, packets);
  } else {
    (void)mmsb::net::encode_commit(request, 2, 0, write_op(1, 0));
  }
  for (int warm = 0; warm < 1000; ++warm) round_trip();  // buffers grow to their size
  const std::uint64_t before = mmsb::bench::allocations_in_process();
  std::uint64_t requests = 0;
  for (auto _ : state) {
    round_trip();
    ++requests;
  }
  state.counters["allocs_per_request"] =
      static_cast<double>(mmsb::bench::allocations_in_process() - before) /
      static_cast<double>(requests);
  ::close(fd);
}
BENCHMARK(BM_net_allocations)->Arg(0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

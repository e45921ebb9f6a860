// `mmsb bench net`: pipelined commits over N connections with P in flight on each, then
// packets in batches, against a server given by address or started in this process.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "mmsb/client.hpp"
#include "mmsb/mmsb.hpp"
#include "mmsb/server.hpp"
#include "tools/mmsb/cli_util.hpp"
#include "tools/mmsb/net.hpp"

namespace mmsb::cli {
namespace {

// What one connection's thread measured.
struct Lane {
  std::vector<std::uint64_t> latencies_ns;
  std::atomic<std::uint64_t> done{0};
  Status failure;
};

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

// Keeps `depth` commits of one 16-byte write each in flight on `client` until `stop`.
void commit_lane(Client& client, PageId page, std::size_t depth, std::uint32_t bytes,
                 const std::atomic<bool>& stop, Lane& lane) {
  std::mutex mutex;
  std::condition_variable room;
  std::size_t in_flight = 0;
  std::vector<std::byte> payload(bytes, std::byte{0x42});
  std::vector<log::Op> ops(1, log::WriteOp{page.value(), 0, payload});
  lane.latencies_ns.reserve(1 << 20);
  while (!stop.load(std::memory_order_relaxed)) {
    {
      std::unique_lock<std::mutex> lock(mutex);
      room.wait(lock, [&] { return in_flight < depth || !lane.failure.is_ok(); });
      if (!lane.failure.is_ok()) return;
      ++in_flight;
    }
    const std::uint64_t sent = now_ns();
    client.commit_async(ops, [&, sent](Result<CommitInfo> info) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!info.is_ok()) {
        if (lane.failure.is_ok()) lane.failure = info.status();
      } else if (lane.latencies_ns.size() < lane.latencies_ns.capacity()) {
        lane.latencies_ns.push_back(now_ns() - sent);
      }
      lane.done.fetch_add(1, std::memory_order_relaxed);
      --in_flight;
      room.notify_one();
    });
  }
  std::unique_lock<std::mutex> lock(mutex);
  room.wait(lock, [&] { return in_flight == 0; });
}

// Sends batches of `batch` 40-byte packets, two in flight, until `stop`.
void ingest_lane(Client& client, std::uint32_t topic, std::size_t batch,
                 const std::atomic<bool>& stop, Lane& lane) {
  std::vector<Packet> packets(batch);
  const std::vector<std::byte> payload(kPacketInlineBytes, std::byte{0x17});
  for (Packet& packet : packets) packet.set_inline(topic, payload);
  std::mutex mutex;
  std::condition_variable room;
  std::size_t in_flight = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    {
      std::unique_lock<std::mutex> lock(mutex);
      room.wait(lock, [&] { return in_flight < 2 || !lane.failure.is_ok(); });
      if (!lane.failure.is_ok()) return;
      ++in_flight;
    }
    client.ingest_async(packets, [&](Result<RemoteIngest> answer) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!answer.is_ok()) {
        if (lane.failure.is_ok()) lane.failure = answer.status();
      } else {
        lane.done.fetch_add(
            static_cast<std::uint64_t>(std::count_if(
                answer->verdicts.begin(), answer->verdicts.end(),
                [](const PacketVerdict& v) { return v.outcome == PacketOutcome::kAdmitted; })),
            std::memory_order_relaxed);
      }
      --in_flight;
      room.notify_one();
    });
  }
  std::unique_lock<std::mutex> lock(mutex);
  room.wait(lock, [&] { return in_flight == 0; });
}

// Runs `lane_fn` on one thread per connection for `seconds`, printing a progress line.
template <typename LaneFn>
Status run_phase(const char* what, std::vector<std::unique_ptr<Client>>& clients, double seconds,
                 std::vector<Lane>& lanes, const LaneFn& lane_fn, double* per_second) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (std::size_t i = 0; i < clients.size(); ++i) {
    threads.emplace_back([&, i] { lane_fn(*clients[i], i, stop, lanes[i]); });
  }
  std::uint64_t last = 0;
  double last_time = 0;
  while (seconds_since(start) < seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::uint64_t total = 0;
    for (const Lane& lane : lanes) total += lane.done.load(std::memory_order_relaxed);
    const double t = seconds_since(start);
    fmt::print(stderr, "\r  {:<10} {:5.1f} s  {:>12} done  {:>12.0f}/s now", what, t, total,
               static_cast<double>(total - last) / (t - last_time));
    last = total;
    last_time = t;
  }
  stop.store(true);
  for (std::thread& thread : threads) thread.join();
  fmt::print(stderr, "\n");
  std::uint64_t total = 0;
  for (const Lane& lane : lanes) {
    if (!lane.failure.is_ok()) return lane.failure;
    total += lane.done.load();
  }
  *per_second = static_cast<double>(total) / seconds_since(start);
  return Status::ok();
}

double percentile_us(std::vector<std::uint64_t>& all, double q) {
  if (all.empty()) return 0;
  const auto at = static_cast<std::size_t>(q * static_cast<double>(all.size() - 1));
  std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(at), all.end());
  return static_cast<double>(all[at]) / 1e3;
}

}  // namespace

namespace {

// The server the benchmark talks to: started here on a fresh directory (removed at the end)
// unless an address was given.
struct Target {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Server> server;
  std::string address;
  std::string dir;
  ~Target() {
    if (server) server->stop();
    if (!engine) return;
    (void)engine->close();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

Status start_target(const NetBenchOptions& options, const std::string& token, Target& target) {
  target.address = options.address;
  if (!target.address.empty()) return Status::ok();
  target.dir = (std::filesystem::temp_directory_path() /
                ("mmsb-bench-net-" + std::to_string(::getpid())))
                   .string();
  MMSB_ASSIGN_OR_RETURN(Durability durability, parse_durability(options.durability));
  EngineOptions engine_options;
  engine_options.dir = target.dir;
  engine_options.durability = durability;
  MMSB_ASSIGN_OR_RETURN(target.engine, Engine::open(engine_options));
  ServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.io = options.io == "epoll"   ? IoBackend::kEpoll
                      : options.io == "uring" ? IoBackend::kUring
                                              : IoBackend::kAuto;
  server_options.data_dir = target.dir;
  server_options.token = token;
  MMSB_ASSIGN_OR_RETURN(target.server, Server::start(*target.engine, server_options));
  target.address = "127.0.0.1:" + std::to_string(target.server->port());
  return Status::ok();
}

// Pipelined commits, one page per connection; prints the rate and round-trip percentiles.
Status commit_phase(const NetBenchOptions& options, std::vector<std::unique_ptr<Client>>& clients) {
  RemoteTransaction setup = clients.front()->begin();
  for (std::size_t i = 0; i < clients.size(); ++i) setup.create_page({.size_bytes = 1024});
  MMSB_ASSIGN_OR_RETURN(CommitInfo created, setup.commit());
  std::vector<Lane> lanes(clients.size());
  double per_second = 0;
  MMSB_RETURN_IF_ERROR(run_phase(
      "commits", clients, options.seconds, lanes,
      [&](Client& client, std::size_t i, const std::atomic<bool>& stop, Lane& lane) {
        commit_lane(client, created.created_pages[i], options.depth, options.write_bytes, stop,
                    lane);
      },
      &per_second));
  std::vector<std::uint64_t> all;
  for (Lane& lane : lanes) all.insert(all.end(), lane.latencies_ns.begin(), lane.latencies_ns.end());
  fmt::print("  commits/s {:>12.0f}   round trip p50 {:.1f} us  p99 {:.1f} us  p999 {:.1f} us\n",
             per_second, percentile_us(all, 0.5), percentile_us(all, 0.99),
             percentile_us(all, 0.999));
  return Status::ok();
}

// Packets in batches, a topic per connection appended to one page (the ruleset is set on
// the in-process engine).
Status ingest_phase(const NetBenchOptions& options, Engine& engine,
                    std::vector<std::unique_ptr<Client>>& clients) {
  constexpr std::uint32_t kSlot = kPacketInlineBytes + kRecordHeaderBytes;
  RemoteTransaction page = clients.front()->begin();
  page.create_page({.type = 1, .size_bytes = kAppendHeaderBytes + 1024 * kSlot});
  MMSB_ASSIGN_OR_RETURN(CommitInfo append, page.commit());
  Ruleset rules;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    rules.topics.push_back(TopicRule{.topic = static_cast<std::uint32_t>(i + 1),
                                     .mapping = {TopicAction::kAppend, append.created_pages[0], kSlot}});
  }
  MMSB_RETURN_IF_ERROR(engine.set_ruleset(rules).status());
  std::vector<Lane> lanes(clients.size());
  double per_second = 0;
  MMSB_RETURN_IF_ERROR(run_phase(
      "packets", clients, options.seconds, lanes,
      [&](Client& client, std::size_t i, const std::atomic<bool>& stop, Lane& lane) {
        ingest_lane(client, static_cast<std::uint32_t>(i + 1), options.batch, stop, lane);
      },
      &per_second));
  fmt::print("  packets/s {:>12.0f}   ({}-byte payloads, {} a batch, admitted and durable)\n",
             per_second, kPacketInlineBytes, options.batch);
  return Status::ok();
}

}  // namespace

int run_net_bench(const NetBenchOptions& options) {
  Result<std::string> token = read_token_file(options.token_file);
  if (!token.is_ok()) return fail(token.status());
  Target target;
  if (Status started = start_target(options, *token, target); !started.is_ok()) return fail(started);
  std::vector<std::unique_ptr<Client>> clients;
  for (std::size_t i = 0; i < options.connections; ++i) {
    auto client = Client::connect({target.address, *token});
    if (!client.is_ok()) return fail(client.status());
    clients.push_back(std::move(*client));
  }
  const std::string where =
      target.server ? std::string(io_backend_name(target.server->backend())) + ", durability " +
                          options.durability
                    : "remote";
  fmt::print("mmsb bench net: {} ({}), {} connection{}, {} in flight each, {}-byte writes, "
             "{:.1f} s a phase\n",
             target.address, where, options.connections, options.connections == 1 ? "" : "s",
             options.depth, options.write_bytes, options.seconds);
  std::fflush(stdout);
  if (Status ran = commit_phase(options, clients); !ran.is_ok()) return fail(ran);
  // Packets need a ruleset, which only an in-process engine can be given here.
  if (target.engine) {
    if (Status ran = ingest_phase(options, *target.engine, clients); !ran.is_ok()) return fail(ran);
  }
  clients.clear();
  return 0;
}

}  // namespace mmsb::cli

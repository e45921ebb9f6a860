#include <fmt/core.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "mmsb/client.hpp"
#include "mmsb/mmsb.hpp"
#include "mmsb/server.hpp"
#include "tools/mmsb/cli_util.hpp"
#include "tools/mmsb/net.hpp"

namespace mmsb::cli {
namespace {

Result<IoBackend> parse_io(const std::string& text) {
  if (text == "auto") return IoBackend::kAuto;
  if (text == "uring" || text == "io_uring") return IoBackend::kUring;
  if (text == "epoll") return IoBackend::kEpoll;
  return invalid_argument("--io '" + text + "': expected auto, uring or epoll");
}

Result<std::vector<std::byte>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot read " + path);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

// Blocks SIGINT and SIGTERM in this thread and the threads it starts, so sigwait sees them.
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

std::string hex_prefix(const Hash128& root) { return root.to_hex().substr(0, 16); }

}  // namespace

Result<std::string> read_token_file(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  if (!in) return io_error("--token-file " + path + ": cannot be read");
  std::string token;
  std::getline(in, token);
  if (token.empty()) return invalid_argument("--token-file " + path + ": the first line is empty");
  return token;
}

int run_serve(const ServeOptions& options) {
  Result<Durability> durability = parse_durability(options.durability);
  if (!durability.is_ok()) return fail(durability.status());
  Result<IoBackend> io = parse_io(options.io);
  if (!io.is_ok()) return fail(io.status());
  Result<std::string> token = read_token_file(options.token_file);
  if (!token.is_ok()) return fail(token.status());
  const sigset_t signals = block_stop_signals();

  EngineOptions engine_options;
  engine_options.dir = options.dir;
  engine_options.durability = *durability;
  engine_options.rule_workers = options.workers;
  engine_options.propagation_workers = options.workers;
  OpenReport report;
  auto opened = Engine::open(engine_options, &report);
  if (!opened.is_ok()) return fail(opened.status());
  Engine& engine = **opened;

  ServerOptions server_options;
  server_options.listen = options.listen;
  server_options.io = *io;
  server_options.io_threads = options.io_threads;
  server_options.token = *token;
  server_options.limits.connections_max = options.max_connections;
  server_options.metrics_listen = options.metrics;
  server_options.data_dir = options.dir;
  auto server = Server::start(engine, server_options);
  if (!server.is_ok()) {
    (void)engine.close();
    return fail(server.status());
  }
  fmt::print("mmsb serve: {} at tick {} (root {}), durability {}\n", options.dir,
             report.tick.value(), hex_prefix(report.root), options.durability);
  fmt::print(
      "mmsb serve: listening on {} ({}, {} I/O thread{}{})",
      options.listen.substr(0, options.listen.rfind(':')) + ":" + std::to_string((*server)->port()),
      io_backend_name((*server)->backend()), options.io_threads, options.io_threads == 1 ? "" : "s",
      token->empty() ? ", no token" : ", token required");
  if ((*server)->metrics_port() != 0) {
    fmt::print("; metrics on http://{}:{}/metrics",
               options.metrics.substr(0, options.metrics.rfind(':')), (*server)->metrics_port());
  }
  fmt::print("\n");
  std::fflush(stdout);

  int signal = 0;
  sigwait(&signals, &signal);
  fmt::print("mmsb serve: {}: closing\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->stop();
  const State last = engine.snapshot();
  Status closed = engine.close();
  if (!closed.is_ok()) return fail(closed);
  fmt::print("mmsb serve: closed at tick {} (root {})\n", last.tick().value(),
             hex_prefix(last.root()));
  return 0;
}

namespace {

int client_subscribe(Client& client, const ClientCommand& command) {
  EventFilter filter;
  for (std::uint64_t page : command.pages) filter.pages.push_back(PageId(page));
  std::atomic<std::uint64_t> batches{0};
  std::mutex print_mutex;
  auto subscription = client.subscribe(filter, [&](const EventBatch& batch) {
    std::lock_guard<std::mutex> lock(print_mutex);
    for (const Event& event : batch.events) {
      fmt::print("tick {} {} page {} epoch {}\n", batch.tick.value(), event_type_name(event.type),
                 event.page.value(), event.epoch.value());
    }
    if (batch.batches_dropped_before != 0) {
      fmt::print("({} batches dropped before tick {})\n", batch.batches_dropped_before,
                 batch.tick.value());
    }
    std::fflush(stdout);
    batches.fetch_add(1);
  });
  if (!subscription.is_ok()) return fail(subscription.status());
  const sigset_t signals = block_stop_signals();
  const Clock::time_point start = Clock::now();
  for (;;) {
    if (command.count != 0 && batches.load() >= command.count) break;
    if (command.seconds > 0 && seconds_since(start) >= command.seconds) break;
    timespec wait{0, 50'000'000};
    if (sigtimedwait(&signals, nullptr, &wait) > 0) break;
  }
  return 0;
}

}  // namespace

int run_client(const ClientCommand& command) {
  Result<std::string> token = read_token_file(command.token_file);
  if (!token.is_ok()) return fail(token.status());
  auto connected = Client::connect({command.address, *token});
  if (!connected.is_ok()) return fail(connected.status());
  Client& client = **connected;
  if (command.action == "get") {
    auto page = client.get(PageId(command.page));
    if (!page.is_ok()) return fail(page.status());
    std::fwrite(page->bytes.data(), 1, page->bytes.size(), stdout);
    fmt::print(stderr, "page {}: type {}, epoch {}, {} bytes\n", command.page, page->type,
               page->epoch.value(), page->bytes.size());
    return 0;
  }
  if (command.action == "put" || command.action == "create") {
    std::vector<std::byte> bytes;
    if (!command.file.empty()) {
      auto read = read_file(command.file);
      if (!read.is_ok()) return fail(read.status());
      bytes = std::move(*read);
    }
    RemoteTransaction txn = client.begin();
    if (command.action == "create") {
      const std::uint64_t size = command.size != 0 ? command.size : bytes.size();
      if (bytes.size() > size) {
        return fail(invalid_argument(command.file + " has " + std::to_string(bytes.size()) +
                                     " bytes, more than --size " + std::to_string(size)));
      }
      if (!bytes.empty()) bytes.resize(size);  // the rest of the page is zero
      txn.create_page({.type = 0, .size_bytes = size, .initial = bytes});
    } else {
      txn.put(PageId(command.page), bytes);
    }
    auto info = txn.commit();
    if (!info.is_ok()) return fail(info.status());
    if (command.action == "create") fmt::print("{}\n", info->created_pages[0].value());
    fmt::print(stderr, "committed at tick {} (root {})\n", info->tick.value(),
               hex_prefix(info->root));
    return 0;
  }
  if (command.action == "stats") {
    auto stats = client.stats();
    if (!stats.is_ok()) return fail(stats.status());
    for (const RemoteStat& stat : *stats) fmt::print("{:<28} {}\n", stat.name, stat.value);
    return 0;
  }
  if (command.action == "checkpoint") {
    auto tick = client.checkpoint();
    if (!tick.is_ok()) return fail(tick.status());
    fmt::print("checkpoint at tick {}\n", tick->value());
    return 0;
  }
  if (command.action == "replay") {
    auto replayed = client.replay(TickId(command.to), command.reexecute);
    if (!replayed.is_ok()) return fail(replayed.status());
    fmt::print("replayed to tick {}: root {}, {} ticks applied{}\n", replayed->tick.value(),
               replayed->root.to_hex(), replayed->ticks_applied,
               command.reexecute ? " (re-executed)" : "");
    return 0;
  }
  if (command.action == "subscribe") return client_subscribe(client, command);
  return fail(invalid_argument("unknown client action '" + command.action + "'"));
}

}  // namespace mmsb::cli

#include <CLI/CLI.hpp>

namespace mmsb::cli {

namespace {

void add_serve(CLI::App& app, int& exit_code) {
  static ServeOptions serve_options;
  CLI::App* serve =
      app.add_subcommand("serve", "Serve a data directory over the network until SIGINT/SIGTERM");
  serve->add_option("dir", serve_options.dir, "Data directory (created if missing)")->required();
  serve->add_option("--listen", serve_options.listen, "HOST:PORT to listen on");
  serve->add_option("--durability", serve_options.durability, "none, flush or fsync")
      ->check(CLI::IsMember({"none", "flush", "fsync"}));
  serve->add_option("--workers", serve_options.workers, "Rule and propagation workers")
      ->check(CLI::Range(1, 256));
  serve
      ->add_option("--token-file", serve_options.token_file,
                   "File whose first line is the token clients must send")
      ->check(CLI::ExistingFile);
  serve->add_option("--max-connections", serve_options.max_connections, "Most open connections")
      ->check(CLI::Range(1u, 1u << 20));
  serve->add_option("--metrics", serve_options.metrics,
                    "HOST:PORT for GET /metrics (off if not given)");
  serve->add_option("--io-threads", serve_options.io_threads, "I/O threads")
      ->check(CLI::Range(1, 64));
  serve->add_option("--io", serve_options.io, "I/O backend: auto, uring or epoll")
      ->check(CLI::IsMember({"auto", "uring", "epoll"}));
  serve->callback([&exit_code] { exit_code = run_serve(serve_options); });
}

void add_client(CLI::App& app, int& exit_code) {
  static ClientCommand client_command;
  CLI::App* client = app.add_subcommand("client", "Talk to an mmsb server");
  client->add_option("address", client_command.address, "HOST:PORT of the server")->required();
  client
      ->add_option("--token-file", client_command.token_file, "File whose first line is the token")
      ->check(CLI::ExistingFile);
  client->require_subcommand(1);
  auto action = [&exit_code](CLI::App* sub, const char* name) {
    sub->callback([&exit_code, name] {
      client_command.action = name;
      exit_code = run_client(client_command);
    });
  };
  CLI::App* get = client->add_subcommand("get", "Write a page's bytes to stdout");
  get->add_option("page", client_command.page, "Page id")->required();
  action(get, "get");
  CLI::App* put = client->add_subcommand("put", "Write a file's bytes at the start of a page");
  put->add_option("page", client_command.page, "Page id")->required();
  put->add_option("file", client_command.file, "File")->required()->check(CLI::ExistingFile);
  action(put, "put");
  CLI::App* create = client->add_subcommand("create", "Create a page; prints its id");
  create->add_option("--size", client_command.size, "Bytes (default: the file's size)");
  create->add_option("file", client_command.file, "Initial bytes")->check(CLI::ExistingFile);
  action(create, "create");
  action(client->add_subcommand("stats", "Print the engine's statistics"), "stats");
  action(client->add_subcommand("checkpoint", "Write a checkpoint on the server"), "checkpoint");
  CLI::App* replay =
      client->add_subcommand("replay", "Replay the server's log to a tick, on the server");
  replay->add_option("--to", client_command.to, "Tick (default: the current one)");
  replay->add_flag("--verify", client_command.reexecute, "Re-execute every tick and compare");
  action(replay, "replay");
  CLI::App* subscribe = client->add_subcommand("subscribe", "Print events as ticks commit");
  subscribe->add_option("--pages", client_command.pages, "Pages to watch (default: all)");
  subscribe->add_option("--count", client_command.count, "Stop after this many ticks");
  subscribe->add_option("--seconds", client_command.seconds, "Stop after this long");
  action(subscribe, "subscribe");
}

void add_bench_net(CLI::App& bench, int& exit_code) {
  static NetBenchOptions net_options;
  CLI::App* net = bench.add_subcommand(
      "net", "Commits and packets over loopback (a server in this process unless --address)");
  net->add_option("--address", net_options.address, "HOST:PORT of a running server");
  net->add_option("--token-file", net_options.token_file, "File whose first line is the token")
      ->check(CLI::ExistingFile);
  net->add_option("--connections", net_options.connections, "Connections")
      ->check(CLI::Range(1, 1024));
  net->add_option("--depth", net_options.depth, "Commits in flight per connection")
      ->check(CLI::Range(1, 4096));
  net->add_option("--seconds", net_options.seconds, "Seconds a phase")
      ->check(CLI::Range(0.1, 3600.0));
  net->add_option("--durability", net_options.durability,
                  "none, flush or fsync (in-process server)")
      ->check(CLI::IsMember({"none", "flush", "fsync"}));
  net->add_option("--io", net_options.io, "auto, uring or epoll (in-process server)")
      ->check(CLI::IsMember({"auto", "uring", "epoll"}));
  net->add_option("--write-bytes", net_options.write_bytes, "Bytes a commit writes")
      ->check(CLI::Range(1u, 1024u));
  net->add_option("--batch", net_options.batch, "Packets an INGEST carries")
      ->check(CLI::Range(1, 65536));
  net->callback([&exit_code] { exit_code = run_net_bench(net_options); });
}

}  // namespace

void add_net_commands(CLI::App& app, CLI::App& bench, int& exit_code) {
  add_serve(app, exit_code);
  add_client(app, exit_code);
  add_bench_net(bench, exit_code);
}

}  // namespace mmsb::cli

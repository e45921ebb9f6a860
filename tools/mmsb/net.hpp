// The network parts of the mmsb CLI: `mmsb serve`, `mmsb client` and `mmsb bench net`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmsb/status.hpp"

namespace CLI {
class App;
}

namespace mmsb::cli {

struct ServeOptions {
  std::string dir;
  std::string listen = "127.0.0.1:7420";
  std::string durability = "fsync";
  std::size_t workers = 1;  // rule and propagation workers
  std::string token_file;
  std::uint32_t max_connections = 4096;
  std::string metrics;  // HOST:PORT, empty: off
  std::size_t io_threads = 1;
  std::string io = "auto";  // auto, uring or epoll
};

// Serves until SIGINT or SIGTERM, then closes cleanly; returns the exit code.
int run_serve(const ServeOptions& options);

struct ClientCommand {
  std::string address = "127.0.0.1:7420";
  std::string token_file;
  std::string action;  // get, put, create, stats, subscribe, checkpoint, replay
  std::uint64_t page = 0;
  std::string file;                  // put, create: the bytes
  std::uint64_t size = 0;            // create
  std::vector<std::uint64_t> pages;  // subscribe: empty means every page
  std::uint64_t count = 0;  // subscribe: stop after this many batches (0: until interrupted)
  double seconds = 0;       // subscribe: stop after this long (0: no limit)
  std::uint64_t to = 0;     // replay
  bool reexecute = false;   // replay
};

int run_client(const ClientCommand& command);

struct NetBenchOptions {
  std::string address;  // empty: an in-process server on a fresh directory
  std::string token_file;
  std::size_t connections = 4;
  std::size_t depth = 16;  // commits in flight per connection
  double seconds = 3;
  std::string durability = "none";  // for the in-process server
  std::string io = "auto";
  std::uint32_t write_bytes = 16;
  std::size_t batch = 1024;  // packets per INGEST
};

// Commits/s with round-trip percentiles, then packets/s; a live progress line.
int run_net_bench(const NetBenchOptions& options);

// Adds `serve`, `client` and `bench net` (under `bench`); their callbacks set `exit_code`.
void add_net_commands(CLI::App& app, CLI::App& bench, int& exit_code);

// The token in `path` (its first line, without the newline); empty path: no token.
Result<std::string> read_token_file(const std::string& path);

}  // namespace mmsb::cli

// The child of the network kill test (net_kill_test.cpp): serves DIR with fsync on a free
// loopback port, prints "port <N>" and serves until the parent kills it.
#include <unistd.h>

#include <cstdio>

#include "mmsb/mmsb.hpp"
#include "mmsb/server.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DIR uring|epoll\n", argv[0]);
    return 2;
  }
  mmsb::EngineOptions options;
  options.dir = argv[1];
  options.segment_size_max_bytes = 256 * 1024;  // segment rolls under load
  auto engine = mmsb::Engine::open(options);
  if (!engine.is_ok()) {
    std::fprintf(stderr, "open: %s\n", engine.status().to_string().c_str());
    return 1;
  }
  mmsb::ServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.io =
      std::string(argv[2]) == "epoll" ? mmsb::IoBackend::kEpoll : mmsb::IoBackend::kAuto;
  server_options.data_dir = argv[1];
  auto server = mmsb::Server::start(**engine, server_options);
  if (!server.is_ok()) {
    std::fprintf(stderr, "serve: %s\n", server.status().to_string().c_str());
    return 1;
  }
  std::printf("port %u\n", static_cast<unsigned>((*server)->port()));
  std::fflush(stdout);
  for (;;) ::pause();
}

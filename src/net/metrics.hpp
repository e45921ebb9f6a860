// GET /metrics in the Prometheus text exposition format (version 0.0.4): the engine's
// statistics and the server's counters. A small HTTP/1.0 responder on a thread of its own:
// one request per connection, a bounded request size and a read timeout.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "mmsb/engine.hpp"
#include "mmsb/server.hpp"

namespace mmsb::net {

// The exposition text.
std::string metrics_text(const EngineStats& stats, const Server::Counters& counters);

class MetricsEndpoint {
 public:
  // Listens on `fd` (bound and listening) and answers with `render()`.
  MetricsEndpoint(int fd, std::function<std::string()> render);
  ~MetricsEndpoint();

 private:
  void serve();
  void answer(int client);

  int fd_;
  std::function<std::string()> render_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace mmsb::net

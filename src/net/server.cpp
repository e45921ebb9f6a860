#include "mmsb/server.hpp"

#include <unistd.h>

#include <thread>
#include <vector>

#include "net/address.hpp"
#include "net/loop.hpp"
#include "net/metrics.hpp"
#include "net/session.hpp"
#include "net/slow_lane.hpp"

namespace mmsb {

std::string_view io_backend_name(IoBackend backend) {
  switch (backend) {
    case IoBackend::kAuto:
      return "auto";
    case IoBackend::kUring:
      return "io_uring";
    case IoBackend::kEpoll:
      return "epoll";
  }
  return "unknown";
}

struct Server::Impl {
  Impl(Engine& engine, const ServerOptions& options) : engine(engine), options(options) {}
  ~Impl() { stop(); }

  Status start();
  void stop();

  Engine& engine;
  const ServerOptions options;
  IoBackend backend = IoBackend::kEpoll;
  int listen_fd = -1;
  std::uint16_t port = 0;
  std::uint16_t metrics_port = 0;
  net::LoopCounters counters;
  std::unique_ptr<net::SlowLane> slow = std::make_unique<net::SlowLane>();
  std::vector<std::unique_ptr<net::Dispatcher>> dispatchers;
  std::vector<std::unique_ptr<net::IoLoop>> loops;
  std::vector<std::thread> threads;
  std::unique_ptr<net::MetricsEndpoint> metrics;
  bool stopped = false;
};

namespace {

Server::Counters snapshot(const net::LoopCounters& n) {
  Server::Counters c;
  c.connections = n.connections.load();
  c.connections_total = n.connections_total.load();
  c.connections_refused = n.connections_refused.load();
  c.frames_in = n.frames_in.load();
  c.frames_out = n.frames_out.load();
  c.bytes_in = n.bytes_in.load();
  c.bytes_out = n.bytes_out.load();
  c.errors = n.errors.load();
  c.protocol_errors = n.protocol_errors.load();
  c.auth_failures = n.auth_failures.load();
  c.idle_closed = n.idle_closed.load();
  c.events_dropped = n.events_dropped.load();
  return c;
}

Status check_options(const ServerOptions& options, const net::Address& address) {
  if (!address.loopback() && options.token.empty()) {
    return invalid_argument("listening on " + address.text() +
                            ", which is not a loopback address, needs a token (--token-file)");
  }
  if (options.io_threads < 1 || options.io_threads > 64) {
    return invalid_argument("io_threads " + std::to_string(options.io_threads) +
                            " is outside [1, 64]");
  }
  const ServerLimits& limits = options.limits;
  if (limits.frame_bytes_max < 1024 || limits.requests_in_flight_max == 0 ||
      limits.connections_max == 0 || limits.idle_timeout_ms == 0 || limits.hello_timeout_ms == 0) {
    return invalid_argument(
        "server limits: frame_bytes_max must be at least 1024 and requests_in_flight_max, "
        "connections_max and the timeouts above 0");
  }
  if (options.token.size() > net::kTokenBytesMax) {
    return invalid_argument("token longer than " + std::to_string(net::kTokenBytesMax) + " bytes");
  }
  return Status::ok();
}

}  // namespace

Status Server::Impl::start() {
  MMSB_ASSIGN_OR_RETURN(net::Address address, net::parse_address(options.listen));
  MMSB_RETURN_IF_ERROR(check_options(options, address));
  MMSB_ASSIGN_OR_RETURN(listen_fd, net::listen_on(address));
  port = net::bound_address(listen_fd).port();
  for (std::size_t i = 0; i < options.io_threads; ++i) {
    auto dispatcher = std::make_unique<net::Dispatcher>(engine, options, counters, *slow);
    Result<std::unique_ptr<net::IoLoop>> loop = Status(StatusCode::kUnavailable, "epoll chosen");
    if (options.io != IoBackend::kEpoll) {
      loop = net::make_uring_loop(*dispatcher, listen_fd, counters, options.limits.connections_max);
      if (!loop.is_ok() && options.io == IoBackend::kUring) return loop.status();
    }
    if (!loop.is_ok()) {
      loop = net::make_epoll_loop(*dispatcher, listen_fd, counters, options.limits.connections_max);
      MMSB_RETURN_IF_ERROR(loop.status());
    }
    backend = (*loop)->backend() == "io_uring" ? IoBackend::kUring : IoBackend::kEpoll;
    dispatcher->set_loop(**loop);
    loops.push_back(std::move(*loop));
    dispatchers.push_back(std::move(dispatcher));
  }
  if (!options.metrics_listen.empty()) {
    MMSB_ASSIGN_OR_RETURN(net::Address metrics_address, net::parse_address(options.metrics_listen));
    MMSB_ASSIGN_OR_RETURN(int fd, net::listen_on(metrics_address, 64));
    metrics_port = net::bound_address(fd).port();
    metrics = std::make_unique<net::MetricsEndpoint>(
        fd, [this] { return net::metrics_text(engine.stats(), snapshot(counters)); });
  }
  for (auto& loop : loops) threads.emplace_back([&loop] { loop->run(); });
  return Status::ok();
}

void Server::Impl::stop() {
  if (stopped) return;
  stopped = true;
  metrics.reset();
  for (auto& loop : loops) loop->stop();
  for (auto& thread : threads) thread.join();
  // Connections close here (their sessions release pins, forks and subscriptions); jobs
  // of the slow lane finish first, as they may still answer into a mailbox.
  slow->stop();
  loops.clear();
  dispatchers.clear();
  if (listen_fd >= 0) ::close(listen_fd);
  listen_fd = -1;
}

Result<std::unique_ptr<Server>> Server::start(Engine& engine, const ServerOptions& options) {
  auto impl = std::make_unique<Impl>(engine, options);
  MMSB_RETURN_IF_ERROR(impl->start());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { stop(); }
void Server::stop() { impl_->stop(); }
std::uint16_t Server::port() const { return impl_->port; }
std::uint16_t Server::metrics_port() const { return impl_->metrics_port; }
IoBackend Server::backend() const { return impl_->backend; }

Server::Counters Server::counters() const { return snapshot(impl_->counters); }

std::string Server::metrics() const { return net::metrics_text(impl_->engine.stats(), counters()); }

}  // namespace mmsb

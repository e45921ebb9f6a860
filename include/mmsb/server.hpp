// Server: one Engine reachable over TCP through the mmsb wire protocol (docs/FORMAT.md "Wire
// protocol"; what each request does: docs/SEMANTICS.md "Server"). `mmsb serve DIR` is this
// class around an engine it opens.
//
// I/O threads each run an event loop (io_uring, or epoll where io_uring is unavailable or
// --io epoll asks for it) over the connections they accepted; commits are handed to the
// engine without waiting and answered when durable; merges, checkpoints and replays run on
// a worker thread of the server so they never stall a loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mmsb/engine.hpp"
#include "mmsb/status.hpp"

namespace mmsb {

enum class IoBackend : std::uint8_t {
  kAuto,   // io_uring if the kernel allows it (containers often forbid it), else epoll
  kUring,  // io_uring or fail
  kEpoll,
};
std::string_view io_backend_name(IoBackend backend);

// Per-connection and server limits. A client that passes one gets an ERROR frame naming it
// (for example "limit frame_bytes_max: ...") and is disconnected; other clients go on.
struct ServerLimits {
  std::uint32_t frame_bytes_max = 64u << 20;          // a frame's body
  std::uint32_t requests_in_flight_max = 4096;        // unanswered requests of one connection
  std::uint32_t pins_max = 64;                        // pinned snapshots of one connection
  std::uint32_t forks_max = 16;                       // forks held by one connection
  std::uint32_t subscriptions_max = 16;               // of one connection
  std::uint64_t subscription_queue_bytes = 8u << 20;  // undelivered event frames of one
                                                      // connection; past it batches drop
  // Answers a connection has not read yet; a request that finds more closes it (a READ
  // answer, like any frame, is at most frame_bytes_max).
  std::uint64_t output_bytes_max = 256u << 20;
  std::uint32_t connections_max = 4096;
  std::uint32_t idle_timeout_ms = 300'000;  // no frame for this long: disconnected
  std::uint32_t hello_timeout_ms = 10'000;  // from accept to HELLO
};

struct ServerOptions {
  std::string listen = "127.0.0.1:7420";  // HOST:PORT; port 0 picks a free one
  IoBackend io = IoBackend::kAuto;
  std::size_t io_threads = 1;
  // Empty: no token (only allowed on a loopback address). Otherwise HELLO must carry it.
  std::string token;
  ServerLimits limits;
  // HOST:PORT for GET /metrics (Prometheus text format); empty: off.
  std::string metrics_listen;
  std::string data_dir;  // for REPLAY requests: the engine's directory
};

class Server {
 public:
  // Listens and starts the I/O threads. InvalidArgument for a bad address or options (a
  // non-loopback address without a token is refused); IOError if it cannot listen;
  // Unavailable for IoBackend::kUring where io_uring cannot be used.
  static Result<std::unique_ptr<Server>> start(Engine& engine, const ServerOptions& options);
  ~Server();  // stop()

  // Stops accepting, closes every connection and joins the threads. Commits already handed
  // to the engine still complete there (close the engine after the server to wait for them).
  void stop();

  std::uint16_t port() const;          // the one listened on
  std::uint16_t metrics_port() const;  // 0: metrics off
  IoBackend backend() const;           // the one in use (never kAuto)
  // The Prometheus text exposition of the engine's and the server's counters.
  std::string metrics() const;

  struct Counters {
    std::uint64_t connections = 0;          // open now
    std::uint64_t connections_total = 0;    // accepted since start
    std::uint64_t connections_refused = 0;  // over connections_max
    std::uint64_t frames_in = 0;
    std::uint64_t frames_out = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t errors = 0;           // ERROR frames sent
    std::uint64_t protocol_errors = 0;  // of which closed the connection (bad frames, limits)
    std::uint64_t auth_failures = 0;    // wrong token or version
    std::uint64_t idle_closed = 0;
    std::uint64_t events_dropped = 0;  // event batches over subscription_queue_bytes
  };
  Counters counters() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmsb

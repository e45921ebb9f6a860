// An I/O event loop over the connections of one server thread, with two backends that do
// the same thing: io_uring (multishot accept and receive into a registered buffer ring, one
// send in flight per connection) and epoll (level-triggered, non-blocking sockets). The
// protocol lives in the Handler (net/session.hpp); a loop only moves bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "mmsb/server.hpp"
#include "mmsb/status.hpp"

namespace mmsb::net {

class Session;

// Server counters shared by the loops (relaxed atomics).
struct LoopCounters {
  std::atomic<std::uint64_t> connections{0}, connections_total{0}, connections_refused{0};
  std::atomic<std::uint64_t> frames_in{0}, frames_out{0}, bytes_in{0}, bytes_out{0};
  std::atomic<std::uint64_t> errors{0}, protocol_errors{0}, auth_failures{0}, idle_closed{0};
  std::atomic<std::uint64_t> events_dropped{0};
};

// One connection as a loop holds it.
struct Conn {
  Conn();
  ~Conn();               // in loop.cpp, where Session is complete
  std::uint64_t id = 0;  // slot | generation << 32: stale ids never find a new connection
  int fd = -1;
  std::vector<std::byte> out;      // to send; the session appends frames here
  std::vector<std::byte> sending;  // io_uring: the bytes of the send in flight
  std::size_t sent = 0;            // bytes of `out` (epoll) or `sending` (io_uring) sent
  bool send_in_flight = false;
  bool closing = false;  // close once `out` is sent (or at once if the peer is gone)
  bool peer_gone = false;
  bool dead = false;      // retired: removed at the end of the loop's current step
  // Bytes the session gave and the socket has not taken yet.
  std::size_t backlog() const { return out.size() + sending.size() - sent; }
  int ops_in_flight = 0;  // io_uring: submitted operations naming this connection
  std::unique_ptr<Session> session;
};

class IoLoop {
 public:
  // What a loop calls; everything on the loop's thread.
  struct Handler {
    virtual ~Handler() = default;
    // A new connection; false refuses it (the loop closes the socket).
    virtual bool on_open(Conn& conn) = 0;
    virtual void on_data(Conn& conn, std::span<const std::byte> bytes) = 0;
    virtual void on_close(Conn& conn) = 0;    // the session is destroyed after
    virtual void on_drained(Conn& conn) = 0;  // everything it had to send is sent
    virtual void on_wake() = 0;               // wake() was called
    virtual void on_tick() = 0;               // about every 100 ms
  };

  virtual ~IoLoop();
  virtual std::string_view backend() const = 0;
  // Accepts from `listen_fd` (shared with the other loops) and serves until stop().
  virtual void run() = 0;
  void stop();  // any thread
  void wake();  // any thread: the backend watches wake_fd_
  // Sends what conn.out holds (now or when the socket takes it).
  virtual void flush(Conn& conn) = 0;
  // Sends what conn.out holds, then closes.
  void close_after_flush(Conn& conn) {
    conn.closing = true;
    flush(conn);
  }
  Conn* find(std::uint64_t id);
  // Every open connection, for timeouts (a copy of the ids, as the visit may close some,
  // in a buffer kept from call to call: valid until the next call).
  const std::vector<std::uint64_t>& connection_ids();

 protected:
  IoLoop(Handler& handler, LoopCounters& counters, std::uint32_t connections_max);
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  // The connection table: a slot per connection, reused with a new generation.
  Conn* add(int fd);
  // Marks a connection dead; reap() removes it after the current step, so no handler ever
  // finds the connection it works on destroyed under it.
  void retire(Conn& conn);
  void reap();
  // Removes now: on_close, the socket closed. io_uring waits for its operations first.
  void remove(Conn& conn);
  bool admit(int fd);  // accepts fd as a connection or refuses it (counted)
  // The backend starts watching a new connection; false if it cannot.
  virtual bool attach(Conn& conn) = 0;
  // The backend is done with a retired connection (io_uring: no operation names it).
  virtual bool released(Conn& conn) {
    (void)conn;
    return true;
  }

  Handler& handler_;
  LoopCounters& counters_;
  const std::uint32_t connections_max_;
  std::vector<std::unique_ptr<Conn>> slots_;
  std::vector<std::uint32_t> free_;
  std::vector<std::uint32_t> generation_;
  std::vector<std::uint64_t> dead_;
  std::vector<std::uint64_t> ids_;
  const int wake_fd_;  // an eventfd: wake() writes it, the backend reads it
  std::atomic<bool> stopping_{false};
};

// The loops of one server share `listen_fd` and `counters`. Unavailable if the kernel
// refuses io_uring.
Result<std::unique_ptr<IoLoop>> make_uring_loop(IoLoop::Handler& handler, int listen_fd,
                                                LoopCounters& counters,
                                                std::uint32_t connections_max);
Result<std::unique_ptr<IoLoop>> make_epoll_loop(IoLoop::Handler& handler, int listen_fd,
                                                LoopCounters& counters,
                                                std::uint32_t connections_max);

}  // namespace mmsb::net

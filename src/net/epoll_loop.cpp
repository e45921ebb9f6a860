// The epoll backend: level-triggered readiness on non-blocking sockets; a partial send
// waits for EPOLLOUT. The listening socket is shared by every loop (EPOLLEXCLUSIVE wakes
// one of them per connection).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/loop.hpp"

namespace mmsb::net {
namespace {

constexpr std::uint64_t kListenTag = ~std::uint64_t{0};
constexpr std::uint64_t kWakeTag = ~std::uint64_t{0} - 1;
constexpr std::uint64_t kTimerTag = ~std::uint64_t{0} - 2;
constexpr std::size_t kReadChunk = 256 * 1024;

class EpollLoop final : public IoLoop {
 public:
  EpollLoop(Handler& handler, int listen_fd, LoopCounters& counters, std::uint32_t max)
      : IoLoop(handler, counters, max), listen_fd_(listen_fd), scratch_(kReadChunk) {}
  ~EpollLoop() override {
    const std::vector<std::uint64_t> ids = connection_ids();
    for (const std::uint64_t id : ids) remove(*find(id));
    dead_.clear();
    if (epoll_ >= 0) ::close(epoll_);
    if (timer_ >= 0) ::close(timer_);
  }

  Status init() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    timer_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epoll_ < 0 || wake_fd_ < 0 || timer_ < 0) {
      return io_error(std::string("epoll loop: ") + std::strerror(errno));
    }
    itimerspec every{{0, 100'000'000}, {0, 100'000'000}};
    ::timerfd_settime(timer_, 0, &every, nullptr);
    if (!watch(listen_fd_, EPOLLIN | EPOLLEXCLUSIVE, kListenTag) ||
        !watch(wake_fd_, EPOLLIN, kWakeTag) || !watch(timer_, EPOLLIN, kTimerTag)) {
      return io_error(std::string("epoll loop: epoll_ctl: ") + std::strerror(errno));
    }
    return Status::ok();
  }

  std::string_view backend() const override { return "epoll"; }

  void run() override {
    epoll_event events[256];
    while (!stopping()) {
      const int n = ::epoll_wait(epoll_, events, 256, 1000);
      for (int i = 0; i < n; ++i) dispatch(events[i]);
      reap();
    }
  }

  void flush(Conn& conn) override {
    if (conn.dead) return;
    if (conn.peer_gone) {
      retire(conn);
      return;
    }
    while (conn.sent < conn.out.size()) {
      const ssize_t n = ::send(conn.fd, conn.out.data() + conn.sent, conn.out.size() - conn.sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!conn.send_in_flight) {
          conn.send_in_flight = true;  // here: waiting for EPOLLOUT
          rewatch(conn);
        }
        return;
      }
      if (n <= 0) {
        retire(conn);
        return;
      }
      counters_.bytes_out.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
      conn.sent += static_cast<std::size_t>(n);
    }
    conn.out.clear();
    conn.sent = 0;
    if (conn.send_in_flight) {
      conn.send_in_flight = false;
      rewatch(conn);
      handler_.on_drained(conn);
    }
    if (conn.closing) retire(conn);
  }

 private:
  bool watch(int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = tag;
    return ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) == 0;
  }
  bool attach(Conn& conn) override { return watch(conn.fd, EPOLLIN | EPOLLRDHUP, conn.id); }
  void rewatch(Conn& conn) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | (conn.send_in_flight ? EPOLLOUT : 0u);
    event.data.u64 = conn.id;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, conn.fd, &event);
  }

  void dispatch(const epoll_event& event) {
    const std::uint64_t tag = event.data.u64;
    if (tag == kListenTag) return accept_all();
    if (tag == kWakeTag) {
      std::uint64_t count = 0;
      (void)!::read(wake_fd_, &count, sizeof count);
      handler_.on_wake();
      return;
    }
    if (tag == kTimerTag) {
      std::uint64_t count = 0;
      (void)!::read(timer_, &count, sizeof count);
      handler_.on_tick();
      return;
    }
    Conn* conn = find(tag);
    if (conn == nullptr || conn->dead) return;
    if ((event.events & EPOLLOUT) != 0) flush(*conn);
    if (!conn->dead && (event.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
      receive(*conn);
    }
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: another loop took it, or none left
      admit(fd);
    }
  }

  void receive(Conn& conn) {
    const ssize_t n = ::recv(conn.fd, scratch_.data(), scratch_.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
      conn.peer_gone = true;
      retire(conn);
      return;
    }
    counters_.bytes_in.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    handler_.on_data(conn,
                     std::span<const std::byte>(scratch_.data(), static_cast<std::size_t>(n)));
  }

  int listen_fd_;
  int epoll_ = -1, timer_ = -1;
  std::vector<std::byte> scratch_;
};

}  // namespace

Result<std::unique_ptr<IoLoop>> make_epoll_loop(IoLoop::Handler& handler, int listen_fd,
                                                LoopCounters& counters,
                                                std::uint32_t connections_max) {
  auto loop = std::make_unique<EpollLoop>(handler, listen_fd, counters, connections_max);
  MMSB_RETURN_IF_ERROR(loop->init());
  return std::unique_ptr<IoLoop>(std::move(loop));
}

}  // namespace mmsb::net

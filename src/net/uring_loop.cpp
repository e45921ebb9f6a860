// The io_uring backend (liburing 2.3): a multishot accept on the shared listening socket, a
// multishot receive per connection into a buffer ring registered with the kernel
// (io_uring_register_buf_ring; buffers go back to it once the session has parsed them), one
// send in flight per connection (the session appends to `out` meanwhile; the two buffers
// swap), an eventfd read for wake() and a timeout for the tick.
#include <liburing.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "net/loop.hpp"

namespace mmsb::net {
namespace {

enum class Op : std::uint64_t { kAccept = 1, kRecv, kSend, kWake, kTimer };
constexpr std::uint64_t kIdMask = (std::uint64_t{1} << 56) - 1;
constexpr unsigned kBufferGroup = 1;
constexpr unsigned kBuffers = 512;           // a power of two
constexpr std::size_t kBufferBytes = 16384;  // 8 MiB of receive buffers per loop

std::uint64_t tag(Op op, std::uint64_t id = 0) {
  return (static_cast<std::uint64_t>(op) << 56) | (id & kIdMask);
}

class UringLoop final : public IoLoop {
 public:
  UringLoop(Handler& handler, int listen_fd, LoopCounters& counters, std::uint32_t max)
      : IoLoop(handler, counters, max), listen_fd_(listen_fd) {}
  ~UringLoop() override {
    const std::vector<std::uint64_t> ids = connection_ids();
    for (const std::uint64_t id : ids) remove(*find(id));
    dead_.clear();
    if (ring_ready_) io_uring_queue_exit(&ring_);
    if (buf_ring_ != nullptr) ::munmap(buf_ring_, kBuffers * sizeof(io_uring_buf));
  }

  Status init() {
    // Multishot receive and registered buffer rings need Linux 6.0; older kernels accept
    // the ring but fail those operations later, so they are refused here (epoll instead).
    utsname system{};
    unsigned major = 0, minor = 0;
    if (::uname(&system) != 0 || std::sscanf(system.release, "%u.%u", &major, &minor) != 2 ||
        major < 6) {
      return Status(
          StatusCode::kUnavailable,
          std::string("io_uring: multishot receive needs Linux 6.0, this is ") + system.release);
    }
    io_uring_params params{};
    int rc = io_uring_queue_init_params(4096, &ring_, &params);
    if (rc < 0)
      return Status(StatusCode::kUnavailable, std::string("io_uring: ") + std::strerror(-rc));
    ring_ready_ = true;
    void* mem = ::mmap(nullptr, kBuffers * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return io_error("io_uring: mmap of the buffer ring failed");
    buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(buf_ring_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(buf_ring_);
    reg.ring_entries = kBuffers;
    reg.bgid = kBufferGroup;
    rc = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (rc < 0) {
      return Status(StatusCode::kUnavailable,
                    std::string("io_uring: register_buf_ring: ") + std::strerror(-rc));
    }
    buffers_.resize(std::size_t{kBuffers} * kBufferBytes);
    for (unsigned i = 0; i < kBuffers; ++i) provide(i, static_cast<int>(i));
    io_uring_buf_ring_advance(buf_ring_, kBuffers);
    if (wake_fd_ < 0) return io_error(std::string("eventfd: ") + std::strerror(errno));
    arm_accept();
    arm_wake();
    arm_timer();
    rc = io_uring_submit(&ring_);
    if (rc < 0)
      return Status(StatusCode::kUnavailable,
                    std::string("io_uring_submit: ") + std::strerror(-rc));
    return Status::ok();
  }

  std::string_view backend() const override { return "io_uring"; }

  void run() override {
    while (!stopping()) {
      const int rc = io_uring_submit_and_wait(&ring_, 1);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) break;
      io_uring_cqe* cqe = nullptr;
      unsigned head = 0, seen = 0;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        complete(*cqe);
        ++seen;
      }
      io_uring_cq_advance(&ring_, seen);
      reap();
    }
  }

  void flush(Conn& conn) override {
    if (conn.dead || conn.send_in_flight) return;  // the completion sends the rest
    if (conn.out.empty()) {
      if (conn.closing) retire(conn);
      return;
    }
    conn.sending.swap(conn.out);
    conn.out.clear();
    conn.sent = 0;
    submit_send(conn);
  }

 private:
  io_uring_sqe* sqe() {
    io_uring_sqe* entry = io_uring_get_sqe(&ring_);
    while (entry == nullptr) {  // the submission queue is full: hand it to the kernel
      io_uring_submit(&ring_);
      entry = io_uring_get_sqe(&ring_);
    }
    return entry;
  }

  // Puts buffer `bid` in the ring `offset` entries past its tail (visible once advanced).
  void provide(unsigned bid, int offset) {
    io_uring_buf_ring_add(buf_ring_, buffers_.data() + std::size_t{bid} * kBufferBytes,
                          kBufferBytes, static_cast<unsigned short>(bid),
                          io_uring_buf_ring_mask(kBuffers), offset);
  }
  void recycle(unsigned bid) {
    provide(bid, 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
  }

  void arm_accept() {
    io_uring_sqe* entry = sqe();
    io_uring_prep_multishot_accept(entry, listen_fd_, nullptr, nullptr,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(entry, tag(Op::kAccept));
  }
  void arm_wake() {
    io_uring_sqe* entry = sqe();
    io_uring_prep_read(entry, wake_fd_, &wake_count_, sizeof wake_count_, 0);
    io_uring_sqe_set_data64(entry, tag(Op::kWake));
  }
  void arm_timer() {
    io_uring_sqe* entry = sqe();
    io_uring_prep_timeout(entry, &tick_, 0, 0);
    io_uring_sqe_set_data64(entry, tag(Op::kTimer));
  }
  void arm_recv(Conn& conn) {
    io_uring_sqe* entry = sqe();
    io_uring_prep_recv_multishot(entry, conn.fd, nullptr, 0, 0);
    entry->flags |= IOSQE_BUFFER_SELECT;
    entry->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(entry, tag(Op::kRecv, conn.id));
    ++conn.ops_in_flight;
  }
  void submit_send(Conn& conn) {
    io_uring_sqe* entry = sqe();
    io_uring_prep_send(entry, conn.fd, conn.sending.data() + conn.sent,
                       conn.sending.size() - conn.sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(entry, tag(Op::kSend, conn.id));
    conn.send_in_flight = true;
    ++conn.ops_in_flight;
  }

  bool attach(Conn& conn) override {
    arm_recv(conn);
    return true;
  }
  bool released(Conn& conn) override {
    if (conn.ops_in_flight == 0) return true;
    ::shutdown(conn.fd, SHUT_RDWR);  // ends the receive (and a send) in flight
    return false;
  }

  void complete(const io_uring_cqe& cqe) {
    const auto op = static_cast<Op>(cqe.user_data >> 56);
    switch (op) {
      case Op::kAccept:
        if (cqe.res >= 0) admit(cqe.res);
        if ((cqe.flags & IORING_CQE_F_MORE) == 0 && !stopping()) arm_accept();
        return;
      case Op::kWake:
        arm_wake();
        handler_.on_wake();
        return;
      case Op::kTimer:
        arm_timer();
        handler_.on_tick();
        return;
      case Op::kRecv:
        return received(cqe);
      case Op::kSend:
        return sent(cqe);
    }
  }

  Conn* conn_of(const io_uring_cqe& cqe) {
    // The id's generation is 24 bits (IoLoop::add), so it fits beside the op.
    return find(cqe.user_data & kIdMask);
  }

  void received(const io_uring_cqe& cqe) {
    Conn* conn = conn_of(cqe);
    const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
    const bool has_buffer = (cqe.flags & IORING_CQE_F_BUFFER) != 0;
    const unsigned bid = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
    if (conn == nullptr) {
      if (has_buffer) recycle(bid);
      return;
    }
    if (!more) --conn->ops_in_flight;
    if (cqe.res > 0 && has_buffer) {
      if (!conn->dead) {
        counters_.bytes_in.fetch_add(static_cast<std::uint64_t>(cqe.res),
                                     std::memory_order_relaxed);
        handler_.on_data(
            *conn, std::span<const std::byte>(buffers_.data() + std::size_t{bid} * kBufferBytes,
                                              static_cast<std::size_t>(cqe.res)));
      }
      recycle(bid);  // the session copied what it did not finish parsing
    } else if (has_buffer) {
      recycle(bid);
    }
    if (more) return;
    if (cqe.res == -ENOBUFS && !conn->dead) {
      arm_recv(*conn);  // every buffer was in use: receive again
      return;
    }
    if (cqe.res > 0 && !conn->dead) {
      arm_recv(*conn);  // the kernel ended the multishot: re-arm
      return;
    }
    conn->peer_gone = true;
    retire(*conn);
  }

  void sent(const io_uring_cqe& cqe) {
    Conn* conn = conn_of(cqe);
    if (conn == nullptr) return;
    --conn->ops_in_flight;
    conn->send_in_flight = false;
    if (cqe.res <= 0 || conn->dead) {
      conn->peer_gone = true;
      retire(*conn);
      return;
    }
    counters_.bytes_out.fetch_add(static_cast<std::uint64_t>(cqe.res), std::memory_order_relaxed);
    conn->sent += static_cast<std::size_t>(cqe.res);
    if (conn->sent < conn->sending.size()) {
      submit_send(*conn);  // a short send: the rest
      return;
    }
    conn->sending.clear();
    conn->sent = 0;
    flush(*conn);  // what the session appended meanwhile, or the close it asked for
    if (!conn->send_in_flight && !conn->dead) handler_.on_drained(*conn);
  }

  int listen_fd_;
  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::vector<std::byte> buffers_;
  std::uint64_t wake_count_ = 0;
  __kernel_timespec tick_{0, 100'000'000};
};

}  // namespace

Result<std::unique_ptr<IoLoop>> make_uring_loop(IoLoop::Handler& handler, int listen_fd,
                                                LoopCounters& counters,
                                                std::uint32_t connections_max) {
  auto loop = std::make_unique<UringLoop>(handler, listen_fd, counters, connections_max);
  MMSB_RETURN_IF_ERROR(loop->init());
  return std::unique_ptr<IoLoop>(std::move(loop));
}

}  // namespace mmsb::net

#include "net/loop.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/session.hpp"
#include "net/wire.hpp"

namespace mmsb::net {

Conn::Conn() = default;
Conn::~Conn() = default;

IoLoop::IoLoop(Handler& handler, LoopCounters& counters, std::uint32_t connections_max)
    : handler_(handler),
      counters_(counters),
      connections_max_(connections_max),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

IoLoop::~IoLoop() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void IoLoop::stop() {
  stopping_.store(true, std::memory_order_release);
  wake();
}

void IoLoop::wake() {
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

Conn* IoLoop::find(std::uint64_t id) {
  const auto slot = static_cast<std::uint32_t>(id);
  if (slot >= slots_.size() || !slots_[slot] || slots_[slot]->id != id) return nullptr;
  return slots_[slot].get();
}

const std::vector<std::uint64_t>& IoLoop::connection_ids() {
  ids_.clear();
  for (const auto& conn : slots_) {
    if (conn) ids_.push_back(conn->id);
  }
  return ids_;
}

Conn* IoLoop::add(int fd) {
  std::uint32_t slot = 0;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
    generation_.push_back(0);
  }
  auto conn = std::make_unique<Conn>();
  conn->fd = fd;
  generation_[slot] = (generation_[slot] + 1) & 0xFFFFFF;  // 24 bits: io_uring user data
  conn->id = slot | (std::uint64_t{generation_[slot]} << 32);
  slots_[slot] = std::move(conn);
  return slots_[slot].get();
}

void IoLoop::retire(Conn& conn) {
  if (conn.dead) return;
  conn.dead = true;
  dead_.push_back(conn.id);
}

void IoLoop::reap() {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < dead_.size(); ++i) {
    Conn* conn = find(dead_[i]);
    if (conn == nullptr) continue;
    if (released(*conn)) {
      remove(*conn);
    } else {
      dead_[kept++] = dead_[i];  // io_uring: operations still name it
    }
  }
  dead_.resize(kept);
}

void IoLoop::remove(Conn& conn) {
  handler_.on_close(conn);
  ::close(conn.fd);
  counters_.connections.fetch_sub(1, std::memory_order_relaxed);
  const auto slot = static_cast<std::uint32_t>(conn.id);
  slots_[slot].reset();  // conn is gone
  free_.push_back(slot);
}

bool IoLoop::admit(int fd) {
  // One count for all loops: a connection over the limit is told so and closed.
  if (counters_.connections.fetch_add(1, std::memory_order_relaxed) >= connections_max_) {
    counters_.connections.fetch_sub(1, std::memory_order_relaxed);
    counters_.connections_refused.fetch_add(1, std::memory_order_relaxed);
    std::vector<std::byte> frame;
    encode_error(frame, 0,
                 resource_exhausted("limit connections_max: the server has " +
                                    std::to_string(connections_max_) + " connections"),
                 true);
    (void)::send(fd, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::close(fd);
    return false;
  }
  counters_.connections_total.fetch_add(1, std::memory_order_relaxed);
  const int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Conn* conn = add(fd);
  if (!attach(*conn) || !handler_.on_open(*conn)) {
    remove(*conn);
    return false;
  }
  return true;
}

}  // namespace mmsb::net

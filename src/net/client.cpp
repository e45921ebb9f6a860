#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/endian.hpp"
#include "net/address.hpp"
#include "net/client_impl.hpp"

namespace mmsb {

namespace {
// The largest answer the client takes (a server's frames are at most its frame_bytes_max;
// this bounds what a broken or hostile server can make the client allocate).
constexpr std::uint32_t kAnswerBytesMax = 1u << 30;
}  // namespace

void Client::Impl::read_frames() {
  std::vector<std::byte> buffer(1 << 20);
  std::size_t have = 0;
  for (;;) {
    if (buffer.size() - have < 65536) buffer.resize(buffer.size() * 2);
    const ssize_t n = ::recv(fd, buffer.data() + have, buffer.size() - have, 0);
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
    std::size_t at = 0;
    std::size_t answers = 0;
    while (have - at >= net::kFrameHeaderBytes) {
      Result<net::FrameHeader> header = net::decode_header(
          std::span<const std::byte>(buffer.data() + at, have - at).first<net::kFrameHeaderBytes>(),
          kAnswerBytesMax);
      if (!header.is_ok()) {
        fail_all(
            Status(StatusCode::kUnavailable, "from " + address + ": " + header.status().message()));
        return;
      }
      const std::size_t whole = net::kFrameHeaderBytes + header->length;
      if (have - at < whole) {
        if (buffer.size() < whole) buffer.resize(whole);
        break;
      }
      const std::span<const std::byte> body(buffer.data() + at + net::kFrameHeaderBytes,
                                            header->length);
      at += whole;
      if (header->type == FrameType::kEvent) {
        std::shared_ptr<EventCallback> callback;
        {
          std::lock_guard<std::mutex> lock(mutex);
          auto it = subscriptions.find(header->id);
          if (it != subscriptions.end()) callback = it->second;
        }
        EventBatch batch;
        if (callback && net::decode_event(body, batch).is_ok()) (*callback)(batch);
        continue;
      }
      AnswerHandler handler;
      {
        std::lock_guard<std::mutex> lock(mutex);
        handler = take_pending(header->id);
        if (!handler) {
          // id 0: an error the server sent before closing (a limit, a bad frame).
          if (header->type == FrameType::kError) {
            net::ErrorAnswer error;
            if (net::decode_error(body, error).is_ok()) broken = Status(error.code, error.message);
          }
          continue;
        }
      }
      handler(Answer{header->type, body, Status::ok()});
      ++answers;
    }
    answered(answers);
    if (at != 0) {
      std::memmove(buffer.data(), buffer.data() + at, have - at);
      have -= at;
    }
  }
  fail_all(
      Status(StatusCode::kUnavailable,
             "connection to " + address + " lost: the outcome of requests in flight is unknown"));
}

void Client::Impl::send_queued() {
  // No more unanswered than the server allows (its HELLO said how many): the rest waits
  // here for answers, so a client never passes requests_in_flight_max.
  const std::size_t allowed =
      hello.in_flight_max > unanswered ? hello.in_flight_max - unanswered : 0;
  std::size_t frames = 0;
  std::size_t bytes = 0;
  while (frames < std::min(queued, allowed)) {
    bytes += net::kFrameHeaderBytes + get_le<std::uint32_t>(write_buffer.data() + bytes);
    ++frames;
  }
  std::size_t sent = 0;
  while (sent < bytes) {
    const ssize_t n = ::send(fd, write_buffer.data() + sent, bytes - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::shutdown(fd, SHUT_RDWR);  // the reader fails everything in flight
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  unanswered += frames;
  queued -= frames;
  write_buffer.erase(write_buffer.begin(), write_buffer.begin() + static_cast<std::ptrdiff_t>(bytes));
}

void Client::Impl::answered(std::size_t answers) {
  std::lock_guard<std::mutex> lock(write_mutex);
  unanswered -= std::min(answers, unanswered);
  if (queued != 0) send_queued();
}

AnswerHandler Client::Impl::take_pending(std::uint64_t id) {
  if (id < pending_first || id - pending_first >= pending.size()) return nullptr;
  AnswerHandler handler = std::move(pending[id - pending_first]);
  pending[id - pending_first] = nullptr;
  while (!pending.empty() && !pending.front()) {
    pending.pop_front();
    ++pending_first;
  }
  return handler;
}

void Client::Impl::fail_all(const Status& status) {
  std::deque<AnswerHandler> failed;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (broken.is_ok()) {
      broken = status;
    } else if (broken.code() != StatusCode::kUnavailable) {
      broken = Status(broken.code(), broken.message() + " (connection closed by the server)");
    }
    failed.swap(pending);
    pending_first += failed.size();
  }
  const Status reason = broken;
  for (AnswerHandler& handler : failed) {
    if (handler) handler(Answer{FrameType::kError, {}, reason});
  }
}

void Client::Impl::close() {
  if (closed) return;
  closed = true;
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  if (reader.joinable()) reader.join();
  if (fd >= 0) ::close(fd);
  fd = -1;
}

Result<std::unique_ptr<Client>> Client::connect(const ClientOptions& options) {
  MMSB_ASSIGN_OR_RETURN(net::Address address, net::parse_address(options.address));
  auto impl = std::make_unique<Impl>();
  impl->address = address.text();
  impl->timeout_ms = options.timeout_ms;
  MMSB_ASSIGN_OR_RETURN(impl->fd, net::connect_to(address));
  impl->hello.in_flight_max = 1;  // the HELLO itself, until the server says its limits
  Impl* raw = impl.get();
  impl->reader = std::thread([raw] { raw->read_frames(); });
  Result<net::HelloOk> hello = impl->call<net::HelloOk>(
      FrameType::kHello,
      [&](std::vector<std::byte>& out, std::uint64_t id) {
        net::encode_hello(out, id, net::Hello{net::kProtocolVersion, options.token});
      },
      [](std::span<const std::byte> body) -> Result<net::HelloOk> {
        net::HelloOk ok;
        MMSB_RETURN_IF_ERROR(net::decode_hello_ok(body, ok));
        return ok;
      });
  MMSB_RETURN_IF_ERROR(hello.status());
  {
    std::lock_guard<std::mutex> lock(impl->write_mutex);  // send_queued reads it
    impl->hello = *hello;
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() { close(); }
void Client::close() { impl_->close(); }
std::uint32_t Client::frame_bytes_max() const { return impl_->hello.frame_bytes_max; }
std::uint32_t Client::requests_in_flight_max() const { return impl_->hello.in_flight_max; }

}  // namespace mmsb

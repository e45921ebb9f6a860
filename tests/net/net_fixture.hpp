// A server on a loopback port over an engine in a temporary directory, for each I/O
// backend, and a raw socket for sending bytes no client would.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "mmsb/client.hpp"
#include "mmsb/mmsb.hpp"
#include "mmsb/server.hpp"
#include "net/address.hpp"
#include "net/wire.hpp"
#include "support/temp_dir.hpp"

namespace mmsb::test {

class NetTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override { start(); }
  void TearDown() override { stop(); }

  void start(ServerOptions options = {}, Durability durability = Durability::kNone) {
    EngineOptions engine_options;
    engine_options.dir = dir_.path();
    engine_options.durability = durability;
    auto opened = Engine::open(engine_options);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    engine_ = std::move(*opened);
    options.listen = "127.0.0.1:0";
    options.io = GetParam();
    options.data_dir = dir_.path();
    auto server = Server::start(*engine_, options);
    if (!server.is_ok() && GetParam() == IoBackend::kUring &&
        server.status().code() == StatusCode::kUnavailable) {
      GTEST_SKIP() << "io_uring is not available here: " << server.status().to_string();
    }
    ASSERT_TRUE(server.is_ok()) << server.status().to_string();
    server_ = std::move(*server);
    ASSERT_EQ(server_->backend(), GetParam());
    address_ = "127.0.0.1:" + std::to_string(server_->port());
  }

  void stop() {
    if (server_) server_->stop();
    server_.reset();
    if (engine_) {
      EXPECT_TRUE(engine_->close().is_ok());
    }
    engine_.reset();
  }

  std::unique_ptr<Client> connect(const std::string& token = "") {
    auto client = Client::connect({address_, token, 10'000});
    EXPECT_TRUE(client.is_ok()) << client.status().to_string();
    return client.is_ok() ? std::move(*client) : nullptr;
  }

  // Commits one page through `client`; its id (0 if the commit failed, which it reports).
  PageId create_page(Client& client, const PageSpec& spec) {
    RemoteTransaction txn = client.begin();
    txn.create_page(spec);
    auto created = txn.commit();
    EXPECT_TRUE(created.is_ok()) << created.status().to_string();
    return created.is_ok() ? created->created_pages[0] : PageId(0);
  }

  TempDir dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
  std::string address_;
};

inline std::string backend_name(const ::testing::TestParamInfo<IoBackend>& info) {
  return info.param == IoBackend::kUring ? "io_uring" : "epoll";
}

// A plain socket: sends what it is given, reads frames back.
class RawConnection {
 public:
  // `receive_buffer`: SO_RCVBUF before connecting (0: the system's).
  explicit RawConnection(const std::string& address, int receive_buffer = 0) {
    auto parsed = net::parse_address(address);
    MMSB_ASSERT(parsed.is_ok());
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    MMSB_ASSERT(fd_ >= 0);
    if (receive_buffer != 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    MMSB_ASSERT(
        ::connect(fd_, reinterpret_cast<const sockaddr*>(&parsed->storage), parsed->length) == 0);
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  void send(std::span<const std::byte> bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server closed: what it said before is still readable
      sent += static_cast<std::size_t>(n);
    }
  }
  void hello(const std::string& token = "") {
    std::vector<std::byte> frame;
    net::encode_hello(frame, 1, net::Hello{net::kProtocolVersion, token});
    send(frame);
    net::FrameHeader header;
    std::vector<std::byte> body;
    MMSB_ASSERT(next(header, body) && header.type == net::answer_to(net::FrameType::kHello));
  }
  // The next frame, or false when the server closed (or `timeout_ms` passed).
  bool next(net::FrameHeader& header, std::vector<std::byte>& body, int timeout_ms = 10'000) {
    while (!frame_ready()) {
      pollfd waiting{fd_, POLLIN, 0};
      if (::poll(&waiting, 1, timeout_ms) <= 0) return false;
      std::byte chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer_.insert(buffer_.end(), chunk, chunk + n);
    }
    auto decoded = net::decode_header(
        std::span<const std::byte>(buffer_).first<net::kFrameHeaderBytes>(), 0xffffffffu);
    MMSB_ASSERT(decoded.is_ok());
    header = *decoded;
    body.assign(
        buffer_.begin() + net::kFrameHeaderBytes,
        buffer_.begin() + static_cast<std::ptrdiff_t>(net::kFrameHeaderBytes + header.length));
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(
                                                         net::kFrameHeaderBytes + header.length));
    return true;
  }
  // Everything until the peer closes (HTTP answers).
  std::string read_all(int timeout_ms = 10'000) {
    std::string text(reinterpret_cast<const char*>(buffer_.data()), buffer_.size());
    buffer_.clear();
    for (;;) {
      pollfd waiting{fd_, POLLIN, 0};
      if (::poll(&waiting, 1, timeout_ms) <= 0) return text;
      char chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return text;
      text.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // The ERROR frame that came before the server closed, and whether it did close.
  struct Ending {
    bool error = false;
    net::ErrorAnswer answer;
    bool closed = false;
  };
  Ending until_closed(int timeout_ms = 10'000) {
    Ending ending;
    net::FrameHeader header;
    std::vector<std::byte> body;
    while (next(header, body, timeout_ms)) {
      if (header.type == net::FrameType::kError && net::decode_error(body, ending.answer).is_ok()) {
        ending.error = true;
      }
    }
    pollfd waiting{fd_, POLLIN, 0};
    std::byte byte;
    ending.closed = ::poll(&waiting, 1, timeout_ms) == 1 && ::recv(fd_, &byte, 1, 0) == 0;
    return ending;
  }

 private:
  bool frame_ready() const {
    if (buffer_.size() < net::kFrameHeaderBytes) return false;
    const auto length = get_le<std::uint32_t>(buffer_.data());
    return buffer_.size() >= net::kFrameHeaderBytes + length;
  }
  int fd_ = -1;
  std::vector<std::byte> buffer_;
};

}  // namespace mmsb::test

// HOST:PORT addresses ("127.0.0.1:7420", "[::1]:7420", "localhost:0") and the sockets the
// server listens on and the client connects with.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "mmsb/status.hpp"

namespace mmsb::net {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  bool loopback() const;
  std::uint16_t port() const;
  std::string text() const;  // as HOST:PORT
};

// InvalidArgument naming the address if it is not HOST:PORT with a numeric IPv4 or IPv6
// host (or "localhost") and a port up to 65535.
Result<Address> parse_address(const std::string& text);
// A non-blocking listening socket (SO_REUSEADDR); IOError naming the address.
Result<int> listen_on(const Address& address, int backlog = 4096);
// A connected blocking socket with TCP_NODELAY; IOError naming the address.
Result<int> connect_to(const Address& address);
// The address a socket is bound to.
Address bound_address(int fd);

}  // namespace mmsb::net

#include "net/metrics.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "net/wire.hpp"

namespace mmsb::net {
namespace {

void metric(std::string& out, const std::string& name, const char* type, const char* help,
            double value, const std::string& labels = "") {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  char number[64];
  std::snprintf(number, sizeof number, "%.17g", value);
  out += name + labels + " " + number + "\n";
}

}  // namespace

std::string metrics_text(const EngineStats& stats, const Server::Counters& c) {
  std::string out;
  for (const StatsEntry& entry : stats_entries(stats)) {
    // Prometheus names: counters end in _total; nanosecond gauges are given in seconds.
    std::string name = "mmsb_" + entry.name;
    double value = entry.value;
    const std::size_t ns = name.find("_ns_");
    if (ns != std::string::npos) {
      name = name.substr(0, ns) + "_" + name.substr(ns + 4) + "_seconds";
      value /= 1e9;
    } else if (name.ends_with("_ns")) {
      name.replace(name.size() - 3, 3, "_seconds");
      value /= 1e9;
    }
    if (entry.counter) name += "_total";
    metric(out, name, entry.counter ? "counter" : "gauge", ("EngineStats " + entry.name).c_str(),
           value);
  }
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  metric(out, "mmsb_server_connections", "gauge", "Open connections", d(c.connections));
  metric(out, "mmsb_server_connections_accepted_total", "counter", "Connections accepted",
         d(c.connections_total));
  metric(out, "mmsb_server_connections_refused_total", "counter",
         "Connections refused over connections_max", d(c.connections_refused));
  metric(out, "mmsb_server_frames_received_total", "counter", "Frames received", d(c.frames_in));
  metric(out, "mmsb_server_frames_sent_total", "counter", "Frames sent", d(c.frames_out));
  metric(out, "mmsb_server_received_bytes_total", "counter", "Bytes received", d(c.bytes_in));
  metric(out, "mmsb_server_sent_bytes_total", "counter", "Bytes sent", d(c.bytes_out));
  out +=
      "# HELP mmsb_server_errors_total ERROR frames sent, by kind\n"
      "# TYPE mmsb_server_errors_total counter\n";
  const std::uint64_t request_errors = c.errors - std::min(c.errors, c.protocol_errors);
  out += "mmsb_server_errors_total{kind=\"request\"} " + std::to_string(request_errors) + "\n";
  out += "mmsb_server_errors_total{kind=\"protocol\"} " + std::to_string(c.protocol_errors) + "\n";
  metric(out, "mmsb_server_auth_failures_total", "counter", "Wrong token or protocol version",
         d(c.auth_failures));
  metric(out, "mmsb_server_idle_closed_total", "counter", "Connections closed for idleness",
         d(c.idle_closed));
  metric(out, "mmsb_server_events_dropped_total", "counter",
         "Event batches dropped for a slow subscriber", d(c.events_dropped));
  return out;
}

MetricsEndpoint::MetricsEndpoint(int fd, std::function<std::string()> render)
    : fd_(fd), render_(std::move(render)), thread_([this] { serve(); }) {}

MetricsEndpoint::~MetricsEndpoint() {
  stopping_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

void MetricsEndpoint::serve() {
  while (!stopping_.load(std::memory_order_acquire)) {
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, 100) <= 0) continue;
    const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    answer(client);
    ::close(client);
  }
}

void MetricsEndpoint::answer(int client) {
  timeval timeout{1, 0};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char request[4096];
  std::size_t have = 0;
  while (have < sizeof request - 1) {  // up to the end of the header block
    const ssize_t n = ::recv(client, request + have, sizeof request - 1 - have, 0);
    if (n <= 0) return;
    have += static_cast<std::size_t>(n);
    request[have] = '\0';
    if (std::strstr(request, "\r\n\r\n") != nullptr || std::strstr(request, "\n\n") != nullptr)
      break;
  }
  std::string body;
  std::string status = "200 OK";
  if (std::strncmp(request, "GET /metrics ", 13) == 0 ||
      std::strncmp(request, "GET /metrics\r", 13) == 0) {
    body = render_();
  } else {
    status = "404 Not Found";
    body = "mmsb serves GET /metrics only\n";
  }
  const std::string response = "HTTP/1.0 " + status +
                               "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                               "Content-Length: " +
                               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t n = ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace mmsb::net

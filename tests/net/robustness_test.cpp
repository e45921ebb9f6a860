// The server against bad input and at its limits: each offender gets an ERROR frame naming
// what it did (or the limit) and a close; other clients are served on; refused requests
// leave the data directory unchanged. Then many connections, and /metrics.
#include <malloc.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/endian.hpp"
#include "net/net_fixture.hpp"
#include "support/bytes.hpp"

namespace mmsb::test {
namespace {

using net::FrameType;

class RobustnessTest : public NetTest {
 protected:
  void SetUp() override {}  // each test starts the server with its own options

  // The bytes of every file in the data directory.
  std::map<std::string, std::vector<char>> directory() const {
    std::map<std::string, std::vector<char>> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      files[entry.path().string()] =
          std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    return files;
  }

  // A client that commits once: the server still serves.
  void expect_served() {
    auto client = connect();
    ASSERT_NE(client, nullptr);
    RemoteTransaction txn = client->begin();
    txn.create_page({.size_bytes = 8});
    EXPECT_TRUE(txn.commit().is_ok());
  }
};

// A frame header claiming `length` body bytes (none follow).
std::vector<std::byte> frame_of(std::uint32_t length, std::uint8_t type, std::uint64_t id) {
  std::vector<std::byte> frame(net::kFrameHeaderBytes);
  put_le<std::uint32_t>(frame.data(), length);
  put_le<std::uint8_t>(frame.data() + 4, type);
  put_le<std::uint64_t>(frame.data() + 8, id);
  return frame;
}

TEST_P(RobustnessTest, BadBytesGetAnErrorAndACloseAndChangeNothing) {
  start();
  expect_served();
  const auto before = directory();
  const TickId tick = engine_->snapshot().tick();
  struct Case {
    const char* what;
    std::vector<std::byte> bytes;
    bool hello_first;
    const char* says;
  };
  std::mt19937_64 random(7);
  std::vector<std::byte> noise(4096);
  for (std::byte& b : noise) b = static_cast<std::byte>(random());
  std::vector<std::byte> bad_commit = frame_of(12, 2, 5);  // a body too short for any op
  bad_commit.resize(bad_commit.size() + 12, std::byte{0xee});
  const std::vector<Case> cases = {
      {"random bytes before HELLO", noise, false, ""},
      {"a request before HELLO", frame_of(0, 12, 1), false, "first frame must be HELLO"},
      {"an oversized length", frame_of(0xfffffff0u, 2, 2), true, "frame_bytes_max"},
      {"an unknown request type", frame_of(0, 0x3f, 3), true, "unknown request type"},
      {"non-zero flags",
       [] {
         auto f = frame_of(0, 12, 4);
         f[5] = std::byte{1};
         return f;
       }(),
       true, "flags"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    RawConnection raw(address_);
    if (c.hello_first) raw.hello();
    raw.send(c.bytes);
    RawConnection::Ending ending = raw.until_closed();
    EXPECT_TRUE(ending.closed);
    if (*c.says != '\0') {
      ASSERT_TRUE(ending.error);
      EXPECT_TRUE(ending.answer.fatal);
      EXPECT_NE(ending.answer.message.find(c.says), std::string::npos) << ending.answer.message;
    }
  }
  {
    // A malformed COMMIT body is an error for that request only.
    RawConnection raw(address_);
    raw.hello();
    raw.send(bad_commit);
    net::FrameHeader header;
    std::vector<std::byte> body;
    ASSERT_TRUE(raw.next(header, body));
    EXPECT_EQ(header.type, FrameType::kError);
    EXPECT_EQ(header.id, 5u);
    net::ErrorAnswer error;
    ASSERT_TRUE(net::decode_error(body, error).is_ok());
    EXPECT_EQ(error.code, StatusCode::kInvalidArgument);
    EXPECT_FALSE(error.fatal);
    EXPECT_NE(error.message.find("COMMIT frame"), std::string::npos) << error.message;
  }
  {
    // Truncated: the server waits for the rest, and a vanished client costs nothing.
    RawConnection raw(address_);
    raw.hello();
    auto partial = frame_of(100, 2, 6);
    partial.resize(partial.size() + 10);
    raw.send(partial);
  }
  EXPECT_EQ(engine_->snapshot().tick(), tick);
  EXPECT_EQ(directory(), before);
  expect_served();
}

TEST_P(RobustnessTest, WrongTokenAndWrongVersionAreRefused) {
  ServerOptions options;
  options.token = "the-token";
  start(options);
  auto wrong = Client::connect({address_, "not-it", 5000});
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied) << wrong.status().to_string();
  auto none = Client::connect({address_, "", 5000});
  EXPECT_EQ(none.status().code(), StatusCode::kPermissionDenied);
  RawConnection raw(address_);
  std::vector<std::byte> frame;
  net::encode_hello(frame, 1, net::Hello{99, "the-token"});
  raw.send(frame);
  RawConnection::Ending ending = raw.until_closed();
  ASSERT_TRUE(ending.error);
  EXPECT_NE(ending.answer.message.find("protocol version 99"), std::string::npos);
  EXPECT_TRUE(ending.closed);
  EXPECT_EQ(server_->counters().auth_failures, 3u);
  EXPECT_TRUE(Client::connect({address_, "the-token", 5000}).is_ok());
}

TEST_P(RobustnessTest, ANonLoopbackAddressNeedsAToken) {
  EngineOptions engine_options;
  engine_options.dir = dir_.path();
  engine_options.durability = Durability::kNone;
  auto engine = Engine::open(engine_options);
  ASSERT_TRUE(engine.is_ok());
  ServerOptions options;
  options.listen = "0.0.0.0:0";
  options.io = GetParam();
  auto refused = Server::start(**engine, options);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("needs a token"), std::string::npos);
  options.listen = "127.0.0.1:99999";
  EXPECT_NE(Server::start(**engine, options).status().message().find("port"), std::string::npos);
}

TEST_P(RobustnessTest, EachLimitIsNamedAtItsEdge) {
  ServerOptions options;
  options.limits.frame_bytes_max = 4096;
  options.limits.pins_max = 2;
  options.limits.forks_max = 1;
  options.limits.connections_max = 3;
  start(options);
  {
    auto client = connect();
    auto first = client->pin();
    ASSERT_TRUE(first.is_ok()) << first.status().to_string();
    RemoteTransaction txn = client->begin();
    txn.create_page({.size_bytes = 8});
    ASSERT_TRUE(txn.commit().is_ok());
    ASSERT_TRUE(client->pin().is_ok());  // a second tick: two pins
    RemoteTransaction more = client->begin();
    more.create_page({.size_bytes = 8});
    ASSERT_TRUE(more.commit().is_ok());
    auto third = client->pin();
    EXPECT_EQ(third.status().code(), StatusCode::kResourceExhausted);
    EXPECT_NE(third.status().message().find("pins_max"), std::string::npos);
    // The connection is closed: later calls say so.
    EXPECT_EQ(client->stats().status().code(), StatusCode::kUnavailable);
  }
  {
    auto client = connect();
    ASSERT_TRUE(client->fork().is_ok());
    EXPECT_NE(client->fork().status().message().find("forks_max"), std::string::npos);
  }
  {
    // Exactly at the frame limit passes; one byte over is refused.
    auto client = connect();
    RemoteTransaction at_limit = client->begin();
    at_limit.create_page(
        {.size_bytes = 4096 - 8 - 4 - 29, .initial = filled(4096 - 8 - 4 - 29, 1)});
    EXPECT_TRUE(at_limit.commit().is_ok());
    RemoteTransaction over = client->begin();
    over.create_page({.size_bytes = 4096 - 8 - 4 - 28, .initial = filled(4096 - 8 - 4 - 28, 1)});
    auto refused = over.commit();
    EXPECT_NE(refused.status().message().find("frame_bytes_max"), std::string::npos)
        << refused.status().to_string();
  }
  {
    // An answer may not pass the limit either: a READ of too many bytes is refused, and the
    // connection goes on.
    auto client = connect();
    RemoteTransaction txn = client->begin();
    for (int i = 0; i < 3; ++i) txn.create_page({.size_bytes = 2000});
    auto pages = txn.commit();
    ASSERT_TRUE(pages.is_ok());
    auto too_big = client->read(pages->created_pages);
    EXPECT_EQ(too_big.status().code(), StatusCode::kResourceExhausted);
    EXPECT_NE(too_big.status().message().find("read fewer pages"), std::string::npos);
    EXPECT_TRUE(client->read(std::span<const PageId>(pages->created_pages).first(1)).is_ok());
  }
  {
    std::vector<std::unique_ptr<Client>> held;
    for (int i = 0; i < 3; ++i) held.push_back(connect());
    auto fourth = Client::connect({address_, "", 5000});
    EXPECT_EQ(fourth.status().code(), StatusCode::kResourceExhausted);
    EXPECT_NE(fourth.status().message().find("connections_max"), std::string::npos);
    EXPECT_EQ(server_->counters().connections_refused, 1u);
    held.pop_back();
  }
}

TEST_P(RobustnessTest, RequestsInFlightAreBounded) {
  ServerOptions options;
  options.limits.requests_in_flight_max = 4;
  start(options, Durability::kFsync);
  RawConnection raw(address_);
  raw.hello();
  // Many commits sent back to back: more than 4 unanswered at once (fsync keeps them
  // waiting), so the server stops the connection, naming the limit.
  std::vector<std::byte> burst;
  for (std::uint64_t id = 10; id < 2010; ++id) {
    ASSERT_TRUE(net::encode_commit(burst, id, 0, {log::CreatePageOp{0, 8, {}}}).is_ok());
  }
  raw.send(burst);
  RawConnection::Ending ending = raw.until_closed();
  ASSERT_TRUE(ending.error);
  EXPECT_NE(ending.answer.message.find("requests_in_flight_max"), std::string::npos);
  EXPECT_TRUE(ending.closed);
  expect_served();
  // mmsb::Client keeps to the limit the server's HELLO gave: 300 commits in flight from the
  // caller's side, at most 4 on the wire, every one answered.
  auto client = connect();
  EXPECT_EQ(client->requests_in_flight_max(), 4u);
  std::atomic<int> ok{0};
  std::atomic<int> answered{0};
  for (int i = 0; i < 300; ++i) {
    client->commit_async({log::CreatePageOp{0, 8, {}}}, [&](Result<CommitInfo> info) {
      if (info.is_ok()) ++ok;
      ++answered;
    });
  }
  for (int wait = 0; wait < 3000 && answered.load() < 300; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(ok.load(), 300);
}

TEST_P(RobustnessTest, IdleAndSilentConnectionsAreClosed) {
  ServerOptions options;
  options.limits.idle_timeout_ms = 200;
  options.limits.hello_timeout_ms = 200;
  start(options);
  RawConnection silent(address_);
  RawConnection idle(address_);
  idle.hello();
  RawConnection::Ending no_hello = silent.until_closed(3000);
  ASSERT_TRUE(no_hello.error);
  EXPECT_NE(no_hello.answer.message.find("hello_timeout_ms"), std::string::npos);
  RawConnection::Ending no_request = idle.until_closed(3000);
  ASSERT_TRUE(no_request.error);
  EXPECT_NE(no_request.answer.message.find("idle_timeout_ms"), std::string::npos);
  EXPECT_GE(server_->counters().idle_closed, 1u);
}

TEST_P(RobustnessTest, ASlowSubscriberLosesBatchesNotTheServer) {
  ServerOptions options;
  options.limits.subscription_queue_bytes = 4096;
  start(options);
  RawConnection slow(address_, 4096);  // a small receive window: the server's output backs up
  slow.hello();
  std::vector<std::byte> frame;
  net::encode_subscribe(frame, 2, net::Subscribe{0xF, {}});
  slow.send(frame);
  net::FrameHeader header;
  std::vector<std::byte> body;
  ASSERT_TRUE(slow.next(header, body));
  ASSERT_EQ(header.type, net::answer_to(FrameType::kSubscribe));
  // It never reads again while ticks with large event batches commit.
  auto client = connect();
  RemoteTransaction setup = client->begin();
  for (int i = 0; i < 256; ++i) setup.create_page({.size_bytes = 8});
  auto pages = setup.commit();
  ASSERT_TRUE(pages.is_ok());
  for (int round = 0; round < 2000 && server_->counters().events_dropped == 0; ++round) {
    RemoteTransaction txn = client->begin();
    for (PageId page : pages->created_pages)
      txn.write(page, 0, filled(8, static_cast<unsigned char>(round)));
    ASSERT_TRUE(txn.commit().is_ok());
  }
  EXPECT_GT(server_->counters().events_dropped, 0u);
  // It reads again, what was queued and then the batches of new ticks: the first batch
  // queued after those it lost says how many. (A new tick's batch is itself dropped while
  // the queue is still full, which a busy machine can make last; so ticks go on, a bounded
  // number, until a batch tells it.)
  std::uint64_t told = 0;
  for (int round = 0; round < 200 && told == 0; ++round) {
    RemoteTransaction next = client->begin();
    next.write(pages->created_pages[0], 0, filled(8, static_cast<unsigned char>(round)));
    ASSERT_TRUE(next.commit().is_ok());
    while (told == 0 && slow.next(header, body, 100)) {
      ASSERT_EQ(header.type, FrameType::kEvent);
      EventBatch batch;
      ASSERT_TRUE(net::decode_event(body, batch).is_ok());
      told = batch.batches_dropped_before;
    }
  }
  EXPECT_GT(told, 0u);
}

// At least 1000 connections at once, each said HELLO and is served; the memory an idle
// connection costs is printed (docs/ARCHITECTURE.md "net" records it).
TEST_P(RobustnessTest, AThousandConnectionsAtOnce) {
  constexpr int kConnections = 1000;
  rlimit files{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
  if (files.rlim_cur < 2 * kConnections + 100) {
    files.rlim_cur = std::min<rlim_t>(files.rlim_max, 2 * kConnections + 100);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &files), 0);
  }
  if (files.rlim_cur < 2 * kConnections + 100) GTEST_SKIP() << "the fd limit is too low";
  start();
  // Heap in use (the kernel's socket buffers are not in it).
  auto heap = [] { return static_cast<double>(::mallinfo2().uordblks); };
  const double before = heap();
  std::vector<std::unique_ptr<RawConnection>> connections;
  for (int i = 0; i < kConnections; ++i) {
    connections.push_back(std::make_unique<RawConnection>(address_));
    connections.back()->hello();
  }
  const double per_connection = (heap() - before) / kConnections;
  EXPECT_EQ(server_->counters().connections, static_cast<std::uint64_t>(kConnections));
  std::printf(
      "[ memory ] %d idle connections: %.0f bytes of heap each (server side, and the "
      "test's raw sockets)\n",
      kConnections, per_connection);
  EXPECT_LT(per_connection, 16384);  // the bound docs/ARCHITECTURE.md "net" states
  // Every one of them still answers.
  std::vector<std::byte> frame;
  for (int i = 0; i < kConnections; i += 97) {
    frame.clear();
    net::encode_empty(frame, FrameType::kStats, 5);
    connections[static_cast<std::size_t>(i)]->send(frame);
    net::FrameHeader header;
    std::vector<std::byte> body;
    ASSERT_TRUE(connections[static_cast<std::size_t>(i)]->next(header, body));
    EXPECT_EQ(header.type, net::answer_to(FrameType::kStats));
  }
  connections.clear();
  expect_served();
}

// GET /metrics is valid Prometheus text: promtool (Debian's prometheus package, which
// install-deps installs) checks it,
// and every sample line has a TYPE declared before it.
TEST_P(RobustnessTest, MetricsPassPromtool) {
  ServerOptions options;
  options.metrics_listen = "127.0.0.1:0";
  start(options);
  expect_served();
  ASSERT_NE(server_->metrics_port(), 0);
  RawConnection http("127.0.0.1:" + std::to_string(server_->metrics_port()));
  const std::string request = "GET /metrics HTTP/1.0\r\n\r\n";
  http.send(std::as_bytes(std::span<const char>(request.data(), request.size())));
  const std::string response = http.read_all();
  ASSERT_EQ(response.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  const std::string text = response.substr(response.find("\r\n\r\n") + 4);
  ASSERT_NE(text.find("mmsb_transactions_committed_total 1"), std::string::npos) << text;
  ASSERT_NE(text.find("mmsb_server_connections"), std::string::npos);
  std::set<std::string> typed;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_EQ(typed.count(name), 1u) << line;
    EXPECT_NE(line.find(' '), std::string::npos) << line;
  }
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/promtool"))
      << "promtool is missing: scripts/install-deps.sh installs Debian's prometheus package";
  const std::string path = dir_ / "metrics.txt";
  std::ofstream(path) << text;
  const std::string command = "/usr/bin/promtool check metrics < " + path + " 2>&1";
  FILE* promtool = ::popen(command.c_str(), "r");
  ASSERT_NE(promtool, nullptr);
  char buffer[4096];
  std::string said;
  while (std::fgets(buffer, sizeof buffer, promtool) != nullptr) said += buffer;
  EXPECT_EQ(::pclose(promtool), 0) << said;
}

INSTANTIATE_TEST_SUITE_P(Backends, RobustnessTest,
                         ::testing::Values(IoBackend::kUring, IoBackend::kEpoll), backend_name);

}  // namespace
}  // namespace mmsb::test

// Crash test of the server: several clients pipeline fsync commits to a child `serve`
// process, which is killed with SIGKILL at a seeded random moment; after recovery, every
// commit a client saw acknowledged is there. MMSB_KILL_ROUNDS sets the kills (default 4,
// at most 40; the CI run asks for more).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "core/endian.hpp"
#include "mmsb/client.hpp"
#include "mmsb/mmsb.hpp"
#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

constexpr int kClients = 3;
constexpr std::size_t kDepth = 16;

struct Child {
  pid_t pid = -1;
  std::uint16_t port = 0;
};

// Starts the serving child and reads the port it says it listens on.
Child spawn(const std::string& dir, const char* backend) {
  const test::ChildProcess process = test::spawn_child(MMSB_SERVE_CHILD, {dir, backend});
  std::string line;
  char c = 0;
  while (::read(process.output, &c, 1) == 1 && c != '\n') line += c;
  ::close(process.output);
  Child child{process.pid, 0};
  if (line.rfind("port ", 0) == 0)
    child.port = static_cast<std::uint16_t>(std::stoul(line.substr(5)));
  return child;
}

// Pipelines writes of increasing values into `page` until the connection fails; returns the
// highest value acknowledged.
std::uint64_t load(Client& client, PageId page, std::uint64_t first) {
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t in_flight = 0;
  bool failed = false;
  std::uint64_t acked = 0;
  for (std::uint64_t value = first; !failed; ++value) {
    {
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait(lock, [&] { return in_flight < kDepth || failed; });
      if (failed) break;
      ++in_flight;
    }
    std::vector<std::byte> bytes(8);
    put_le<std::uint64_t>(bytes.data(), value);
    client.commit_async({log::WriteOp{page.value(), 0, bytes}},
                        [&, value](Result<CommitInfo> info) {
                          std::lock_guard<std::mutex> lock(mutex);
                          if (info.is_ok()) {
                            acked = std::max(acked, value);
                          } else {
                            failed = true;
                          }
                          --in_flight;
                          changed.notify_all();
                        });
  }
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [&] { return in_flight == 0; });
  return acked;
}

void kill_rounds(const char* backend) {
  const char* rounds_text = std::getenv("MMSB_KILL_ROUNDS");
  const int rounds = std::min(rounds_text != nullptr ? std::atoi(rounds_text) : 4, 40);
  test::TempDir dir;
  std::mt19937 random(20261201);
  std::uniform_int_distribution<int> delay_ms(20, 200);
  std::uint64_t next[kClients] = {1, 1, 1};
  std::uint64_t acked_total = 0;
  for (int round = 0; round < rounds; ++round) {
    Child child = spawn(dir.path(), backend);
    ASSERT_NE(child.port, 0) << "round " << round << ": the child did not start";
    const std::string address = "127.0.0.1:" + std::to_string(child.port);
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < kClients; ++i) {
      auto client = Client::connect({address, "", 10'000});
      ASSERT_TRUE(client.is_ok()) << client.status().to_string();
      clients.push_back(std::move(*client));
    }
    if (round == 0) {
      RemoteTransaction setup = clients[0]->begin();
      for (int i = 0; i < kClients; ++i) setup.create_page({.size_bytes = 64});
      ASSERT_TRUE(setup.commit().is_ok());
    }
    std::uint64_t acked[kClients] = {};
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
      threads.emplace_back([&, i] { acked[i] = load(*clients[i], PageId(1 + i), next[i]); });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(random)));
    ::kill(child.pid, SIGKILL);
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    for (std::thread& thread : threads) thread.join();
    clients.clear();
    ASSERT_TRUE(WIFSIGNALED(status)) << "round " << round;

    EngineOptions options;
    options.dir = dir.path();
    auto engine = Engine::open(options);
    ASSERT_TRUE(engine.is_ok()) << "round " << round << ": " << engine.status().to_string();
    const State state = (*engine)->snapshot();
    for (int i = 0; i < kClients; ++i) {
      const std::uint64_t recovered = get_le<std::uint64_t>(state.read(PageId(1 + i))->data());
      ASSERT_GE(recovered, acked[i]) << "round " << round << " client " << i << " lost commits";
      acked_total += acked[i] >= next[i] ? acked[i] - next[i] + 1 : 0;
      next[i] = std::max(recovered, acked[i]) + 1;
    }
  }
  std::printf("server kills survived: %d; acknowledged remote commits: %llu, none lost\n", rounds,
              static_cast<unsigned long long>(acked_total));
  EXPECT_GT(acked_total, 0u);
}

TEST(KillTest, AcknowledgedRemoteCommitsSurviveSigkill) { kill_rounds("auto"); }
TEST(KillTest, AcknowledgedRemoteCommitsSurviveSigkillOnEpoll) { kill_rounds("epoll"); }

}  // namespace
}  // namespace mmsb

// The server and its C++ client in a few lines: an engine served on a free loopback port
// (what `mmsb serve` does), a client that commits, pins, reads, forks and merges over it.
#include <cstdio>
#include <filesystem>
#include <string_view>

#include "mmsb/client.hpp"
#include "mmsb/mmsb.hpp"
#include "mmsb/server.hpp"

int main() {
  const auto dir = std::filesystem::temp_directory_path() / "mmsb-example-client";
  std::filesystem::remove_all(dir);
  mmsb::EngineOptions options;
  options.dir = dir.string();
  auto engine = mmsb::Engine::open(options).value();
  mmsb::ServerOptions serve;
  serve.listen = "127.0.0.1:0";  // a free port; `mmsb serve` listens on 127.0.0.1:7420
  serve.data_dir = dir.string();
  auto server = mmsb::Server::start(*engine, serve).value();
  const std::string address = "127.0.0.1:" + std::to_string(server->port());

  mmsb::ClientOptions connect;
  connect.address = address;  // and .token, if the server wants one
  auto client = mmsb::Client::connect(connect).value();
  mmsb::RemoteTransaction txn = client->begin();  // like engine->begin()
  mmsb::PageId page = txn.create_page({.size_bytes = 64});
  txn.write(page, 0, mmsb::as_bytes(std::string_view("over the wire")));
  mmsb::CommitInfo info = txn.commit().value();  // acknowledged means durable
  auto [tick, root] = client->pin().value();     // a snapshot held on the server
  std::uint64_t fork = client->fork().value();   // a what-if branch on the server
  mmsb::RemoteTransaction what_if = client->begin(fork);
  what_if.write(info.created_pages[0], 0, mmsb::as_bytes(std::string_view("what if, wire")));
  (void)what_if.commit().value();
  mmsb::RemoteMerge merged = client->merge(fork, mmsb::MergePolicy::kPreferTheirs).value();
  auto pinned = client->get(info.created_pages[0], tick.value()).value();
  auto now = client->get(info.created_pages[0]).value();
  std::printf("%s: tick %llu pinned '%.13s'; after the merge at tick %llu: '%.13s'\n",
              address.c_str(), static_cast<unsigned long long>(tick.value()),
              reinterpret_cast<const char*>(pinned.bytes.data()),
              static_cast<unsigned long long>(merged.tick.value()),
              reinterpret_cast<const char*>(now.bytes.data()));
  const bool same_root = merged.root == engine->snapshot().root();
  client.reset();
  server->stop();
  (void)engine->close();
  std::filesystem::remove_all(dir);
  return same_root ? 0 : 1;
}

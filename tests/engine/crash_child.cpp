// The child of the kill test (kill_test.cpp): commits with fsync forever and prints
// "<tick> <root hex>" after each acknowledged commit, and after each commit submits one
// packet to an append topic and prints "p" once its admission is durable, until the parent
// kills it.
#include <cstdio>
#include <cstdlib>

#include "mmsb/mmsb.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  mmsb::EngineOptions options;
  options.dir = argv[1];
  options.segment_size_max_bytes = 64 * 1024;  // many segment rolls
  auto opened = mmsb::Engine::open(options);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().to_string().c_str());
    return 1;
  }
  auto engine = std::move(opened).value();
  constexpr std::uint64_t kPages = 16;  // then page 17: the packets' append page
  if (engine->snapshot().page_count() == 0) {
    mmsb::Transaction setup = engine->begin();
    for (std::uint64_t i = 0; i < kPages; ++i) setup.create_page({.size_bytes = 4096});
    setup.create_page({.size_bytes = mmsb::kAppendHeaderBytes + 64 * 12});
    if (!setup.commit().is_ok()) return 1;
  }
  if (!engine->ruleset()) {
    mmsb::Ruleset rules;
    rules.topics.push_back(
        {.topic = 1,
         .max_payload_bytes = 8,
         .mapping = {mmsb::TopicAction::kAppend, mmsb::PageId(kPages + 1), 12}});
    if (!engine->set_ruleset(rules).is_ok()) return 1;
  }
  mmsb::Producer producer = engine->producer().value();
  for (std::uint64_t i = engine->snapshot().tick().value();; ++i) {
    mmsb::Transaction txn = engine->begin();
    std::uint64_t stamp = i * 2654435761u;
    txn.write(mmsb::PageId(1 + i % kPages), 8 * (i % 512), std::as_bytes(std::span(&stamp, 1)));
    auto committed = txn.commit();
    if (!committed.is_ok()) {
      std::fprintf(stderr, "commit: %s\n", committed.status().to_string().c_str());
      return 1;
    }
    std::printf("%llu %s\n", static_cast<unsigned long long>(committed->tick.value()),
                engine->snapshot().root().to_hex().c_str());
    std::fflush(stdout);
    if (!producer.submit(1, std::as_bytes(std::span(&stamp, 1))).is_ok() ||
        !producer.flush().is_ok() || producer.counters().admitted == 0) {
      std::fprintf(stderr, "packet not admitted\n");
      return 1;
    }
    std::printf("p\n");
    std::fflush(stdout);
  }
}

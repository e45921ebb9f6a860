// Benchmarks of the engine and its log (issue: engine and durable log). Durable benchmarks
// run beside RocksDB's synced WAL in the same binary, on the same file system.
#include <benchmark/benchmark.h>
#include <rocksdb/db.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "alloc_count.hpp"
#include "bench_dir.hpp"
#include "bench_random.hpp"
#include "engine/apply.hpp"
#include "engine/replay.hpp"
#include "engine/tick.hpp"
#include "engine/tick_machinery.hpp"
#include "log/checkpoint.hpp"
#include "log/log_file.hpp"
#include "log/tick_record.hpp"
#include "mmsb/mmsb.hpp"

namespace {

using mmsb::PageId;
using mmsb::State;

constexpr std::uint64_t kPages = 10000;
constexpr std::uint64_t kPageBytes = 1024;
constexpr std::size_t kWriteBytes = 16;

using mmsb::bench::bench_dir;
using mmsb::bench::next_random;

// `pages` pages of `page_bytes` with content: a zero page is memory the kernel has not
// given yet, and its first write would fault it in during the timed part.
State pages_state(std::uint64_t pages, std::uint64_t page_bytes) {
  mmsb::Fork fork{State{}};
  std::vector<std::byte> content(page_bytes);
  for (std::uint64_t i = 0; i < pages; ++i) {
    std::memset(content.data(), static_cast<int>(1 + i % 255), content.size());
    (void)fork.create_page({.size_bytes = page_bytes, .initial = content}).value();
  }
  return fork.commit();
}

// One transaction writing 16 bytes at a random place of a random 1 KiB page among the
// first `pages`.
std::vector<mmsb::log::Op> small_write(std::uint64_t& seed, std::uint64_t pages = kPages,
                                       std::uint64_t page_bytes = kPageBytes) {
  mmsb::log::WriteOp op;
  const std::uint64_t r = next_random(seed);
  op.page = 1 + r % pages;
  op.offset = kWriteBytes * ((r >> 20) % (page_bytes / kWriteBytes));
  op.bytes.assign(kWriteBytes, std::byte{static_cast<unsigned char>(r)});
  return {op};
}

// The sequencer's work for one tick of N transactions, on one core: the tick step
// (engine::run_tick, kBuild: apply, rules and propagation steps, seal and the State it
// publishes), encoding the record and appending it to the log (durability none). Writes go
// to random pages among `hot_pages` (the second argument; 10000 = all of them, so nearly
// every write is the first to its page in the tick and pays a page copy; 16 = a few hot
// pages, copied once). Each tick's State is kept until the next one is made, as the engine
// keeps the one it publishes.
void commit_tick(benchmark::State& state, std::uint64_t page_bytes) {
  const auto per_tick = static_cast<std::size_t>(state.range(0));
  const auto hot_pages = static_cast<std::uint64_t>(state.range(1));
  const std::string dir = bench_dir("commit-tick");
  auto writer = mmsb::log::LogWriter::open(mmsb::Env::posix(), dir, 64ull << 20).value();
  State head = pages_state(kPages, page_bytes);
  auto machinery = mmsb::engine::TickMachinery::create(head, 1, 1).value();
  mmsb::graph::FunctionTable functions;
  mmsb::sched::RuleTable rules;
  const auto function_map = functions.snapshot();
  const auto rule_map = rules.snapshot();
  mmsb::engine::TickContext ctx = machinery->context(function_map.get(), rule_map.get());
  std::uint64_t seed = 42;
  std::vector<std::byte> payload;
  std::uint64_t allocations = 0;  // in the timed parts
  for (auto _ : state) {
    state.PauseTiming();
    mmsb::log::TickRecord record;
    record.tick = mmsb::TickId(head.tick().value() + 1);
    for (std::size_t i = 0; i < per_tick; ++i) {
      record.transactions.push_back(
          mmsb::log::LoggedTransaction{{small_write(seed, hot_pages, page_bytes)}, {}});
    }
    const std::uint64_t allocations_before = mmsb::bench::allocations_in_process();
    state.ResumeTiming();
    mmsb::engine::TickResult result =
        mmsb::engine::run_tick(head, record, ctx, mmsb::engine::TickMode::kBuild);
    if (!result.ok()) state.SkipWithError(result.status.to_string().c_str());
    head = std::move(result.state);
    record.root = head.root();
    payload.clear();
    if (!mmsb::log::encode_tick_record(record, payload).is_ok()) state.SkipWithError("encode");
    if (!writer->append(record.tick, payload).is_ok()) state.SkipWithError("append failed");
    state.PauseTiming();
    allocations += mmsb::bench::allocations_in_process() - allocations_before;
    record = {};  // the inputs' memory goes back outside the timed part
    state.ResumeTiming();
  }
  state.counters["allocs_per_delta"] =
      static_cast<double>(allocations) / static_cast<double>(state.iterations() * per_tick);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_tick));
  state.counters["deltas_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * per_tick), benchmark::Counter::kIsRate);
  std::filesystem::remove_all(dir);
}
void BM_commit_tick(benchmark::State& state) { commit_tick(state, kPageBytes); }
BENCHMARK(BM_commit_tick)
    ->Args({1, kPages})
    ->Args({64, kPages})
    ->Args({1024, kPages})
    ->Args({1024, 16})
    ->Unit(benchmark::kMicrosecond);

// The same writes to pages of 64 bytes, one root chunk: what BM_commit_tick/1024/10000 could
// reach if a page's first write in a tick copied only the chunk it writes (sub-page
// copy-on-write) and nothing else changed. Its bytes are 16x fewer, so it flatters: a bound.
void BM_commit_tick_chunk_pages(benchmark::State& state) { commit_tick(state, 64); }
BENCHMARK(BM_commit_tick_chunk_pages)->Args({1024, kPages})->Unit(benchmark::kMicrosecond);

constexpr int kCommitsPerIteration = 256;

// One benchmark iteration of the durable benchmarks: `writers` threads share
// kCommitsPerIteration commits; commit(r) makes one durable 16-byte write chosen by r.
template <typename Commit>
void run_writers(int writers, Commit&& commit) {
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::uint64_t seed = 77 + static_cast<std::uint64_t>(w);
      for (int i = 0; i < kCommitsPerIteration / writers; ++i) commit(next_random(seed));
    });
  }
  for (auto& thread : threads) thread.join();
}

void report_commit_rate(benchmark::State& state) {
  state.counters["commits_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kCommitsPerIteration), benchmark::Counter::kIsRate);
}

// `writers` threads commit 16-byte writes with fsync through the public API.
void BM_durable_commit(benchmark::State& state) {
  const int writers = static_cast<int>(state.range(0));
  const std::string dir = bench_dir("durable");
  mmsb::EngineOptions options;
  options.dir = dir;
  auto engine = mmsb::Engine::open(options).value();
  mmsb::Transaction setup = engine->begin();
  for (std::uint64_t i = 0; i < 1000; ++i) setup.create_page({.size_bytes = kPageBytes});
  (void)setup.commit().value();
  for (auto _ : state) {
    run_writers(writers, [&](std::uint64_t r) {
      mmsb::Transaction txn = engine->begin();
      std::byte value[kWriteBytes];
      std::memset(value, static_cast<int>(r & 0xff), sizeof(value));
      txn.write(PageId(1 + r % 1000), kWriteBytes * ((r >> 20) % 64), value);
      if (!txn.commit().is_ok()) std::abort();
    });
  }
  report_commit_rate(state);
  state.counters["fsyncs"] = static_cast<double>(engine->stats().fsyncs);
  (void)engine->close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_durable_commit)->Arg(1)->Arg(4)->Arg(16)->UseRealTime()->Unit(benchmark::kMillisecond);

// The peer: RocksDB with WriteOptions.sync = true, same value size, same thread counts.
void BM_rocksdb_wal_sync(benchmark::State& state) {
  const int writers = static_cast<int>(state.range(0));
  const std::string dir = bench_dir("rocksdb");
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir, &raw).ok()) {
    state.SkipWithError("rocksdb open failed");
    return;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  for (auto _ : state) {
    run_writers(writers, [&](std::uint64_t r) {
      char key[16];
      std::snprintf(key, sizeof(key), "%08llx", static_cast<unsigned long long>(r % 1000));
      char value[kWriteBytes];
      std::memset(value, static_cast<int>(r & 0xff), sizeof(value));
      if (!db->Put(sync, rocksdb::Slice(key, 8), rocksdb::Slice(value, sizeof(value))).ok()) {
        std::abort();
      }
    });
  }
  report_commit_rate(state);
  db.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_rocksdb_wal_sync)
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Replay (apply mode) of a log of kReplayTicks ticks x kReplayWritesPerTick transactions each
// writing `write bytes` (16: small deltas; 1024: whole-page puts), in bytes of log per second.
constexpr int kReplayTicks = 500;
constexpr int kReplayWritesPerTick = 64;
void BM_replay(benchmark::State& state) {
  const auto write_bytes = static_cast<std::size_t>(state.range(0));
  const std::string dir = bench_dir("replay");
  {
    mmsb::EngineOptions options;
    options.dir = dir;
    options.durability = mmsb::Durability::kNone;
    auto engine = mmsb::Engine::open(options).value();
    mmsb::Transaction setup = engine->begin();
    for (std::uint64_t i = 0; i < kPages; ++i) setup.create_page({.size_bytes = kPageBytes});
    (void)setup.commit().value();
    (void)engine->close();
  }
  // Append ticks of many transactions directly (the engine would need a thread for each).
  {
    mmsb::engine::ReplaySummary summary;
    State head = mmsb::engine::replay(*mmsb::Env::posix(), dir, {}, {}, &summary).value();
    auto writer =
        mmsb::log::LogWriter::open(mmsb::Env::posix(), mmsb::engine::log_dir_of(dir), 64ull << 20)
            .value();
    mmsb::Hash128 previous = summary.last_record_hash;
    std::uint64_t seed = 9;
    std::vector<std::byte> payload;
    for (int t = 0; t < kReplayTicks; ++t) {
      mmsb::state::ForkCore fork(head);
      mmsb::log::TickRecord record;
      record.tick = mmsb::TickId(head.tick().value() + 1);
      for (int i = 0; i < kReplayWritesPerTick; ++i) {
        auto ops = small_write(seed);
        if (write_bytes == kPageBytes) {
          auto& write = std::get<mmsb::log::WriteOp>(ops[0]);
          write.offset = 0;
          write.bytes.assign(kPageBytes, std::byte{static_cast<unsigned char>(next_random(seed))});
        }
        bool damaged = false;
        mmsb::log::LoggedTransaction& logged = record.transactions.emplace_back();
        logged.input.ops = std::move(ops);
        logged.result.first = record.op_results.size();
        logged.result.outcome = mmsb::engine::apply_transaction(
                                    fork, logged.input.ops, record.op_results, nullptr, &damaged)
                                    .code();
      }
      head = fork.commit_as(record.tick);
      record.root = head.root();
      record.previous = previous;
      payload.clear();
      (void)mmsb::log::encode_tick_record(record, payload);
      (void)writer->append(record.tick, payload);
      previous = mmsb::xxh3_128(payload);
    }
    (void)writer->close();
  }
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    mmsb::engine::ReplaySummary summary;
    auto replayed = mmsb::engine::replay(*mmsb::Env::posix(), dir, {}, {}, &summary);
    if (!replayed.is_ok()) state.SkipWithError(replayed.status().to_string().c_str());
    bytes = summary.bytes_read;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  // The log's writes (the creations of its first tick not counted).
  state.counters["writes_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kReplayTicks * kReplayWritesPerTick),
      benchmark::Counter::kIsRate);
  std::filesystem::remove_all(dir);
}
// Wall time: the replay reads and decodes on a thread of its own (ReplayOptions::read_ahead),
// whose work the benchmark thread's processor time would leave out of the rates.
BENCHMARK(BM_replay)
    ->Arg(kWriteBytes)
    ->Arg(kPageBytes)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Writing a checkpoint of `pages` 1 KiB pages (to the page cache, then fsync).
void BM_checkpoint(benchmark::State& state) {
  const auto pages = static_cast<std::uint64_t>(state.range(0));
  const std::string dir = bench_dir("checkpoint");
  State source = pages_state(pages, kPageBytes);
  for (auto _ : state) {
    if (!mmsb::log::write_checkpoint(*mmsb::Env::posix(), dir, source).is_ok()) {
      state.SkipWithError("checkpoint failed");
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * pages * kPageBytes));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_checkpoint)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

// Commit latency (one writer, durability none) with and without checkpoints running beside it.
void BM_commit_latency_during_checkpoint(benchmark::State& state) {
  const bool checkpointing = state.range(0) != 0;
  const std::string dir = bench_dir("latency");
  mmsb::EngineOptions options;
  options.dir = dir;
  options.durability = mmsb::Durability::kNone;
  auto engine = mmsb::Engine::open(options).value();
  mmsb::Transaction setup = engine->begin();
  for (std::uint64_t i = 0; i < 50000; ++i) setup.create_page({.size_bytes = kPageBytes});
  (void)setup.commit().value();
  std::atomic<bool> done{false};
  std::thread checkpointer([&] {
    while (checkpointing && !done.load()) (void)engine->checkpoint();
  });
  std::uint64_t seed = 5;
  for (auto _ : state) {
    mmsb::Transaction txn = engine->begin();
    std::uint64_t r = next_random(seed);
    std::byte value[kWriteBytes] = {};
    txn.write(PageId(1 + r % 50000), 0, value);
    if (!txn.commit().is_ok()) state.SkipWithError("commit failed");
  }
  done.store(true);
  checkpointer.join();
  mmsb::EngineStats stats = engine->stats();
  state.counters["p50_us"] = static_cast<double>(stats.commit_latency_ns_p50) / 1e3;
  state.counters["p99_us"] = static_cast<double>(stats.commit_latency_ns_p99) / 1e3;
  state.counters["checkpoints"] = static_cast<double>(stats.checkpoints);
  (void)engine->close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_commit_latency_during_checkpoint)
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

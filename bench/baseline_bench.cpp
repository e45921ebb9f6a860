// Physical baselines: every mmsb benchmark is read as a ratio to these, measured in the same
// binary and run, so the ratios hold on a noisy machine.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench_dir.hpp"
#include "bench_random.hpp"
#include "mmsb/allocator.hpp"

// Inlined, as state/root_terms.cpp uses it.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace {

// The target sits 2 KiB past a 4 KiB boundary from the source: where the heap put two
// vectors, a target whose address matched the source's in its low 12 bits made loads wait
// on unrelated stores, and the same binary took 5 or 11 ns for 1 KiB from run to run.
void BM_memcpy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t kPage = 4096;
  const std::size_t gap = (size + kPage - 1) / kPage * kPage + kPage / 2;
  std::vector<char> buffer(gap + size + kPage);
  char* source = buffer.data() + (kPage - reinterpret_cast<std::uintptr_t>(buffer.data()) % kPage);
  char* target = source + gap;
  std::memset(source, 'a', size);
  std::memset(target, 0, size);
  for (auto _ : state) {
    std::memcpy(target, source, size);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_memcpy)->Arg(1024)->Arg(1 << 20);

// Equal buffers, so memcmp reads every byte of both: the bandwidth a diff is compared to.
void BM_memcmp(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<char> a(size, 'a');
  std::vector<char> b(size, 'a');
  for (auto _ : state) {
    benchmark::DoNotOptimize(std::memcmp(a.data(), b.data(), size));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_memcmp)->Arg(1024)->Arg(1 << 20);

// What a parallel phase's results cost the serial phase that reads them: <lines> cache lines
// (64 bytes each) are written by one thread and then read, in a shuffled order as the rules
// step reads canonical slots in page order, by the thread that wrote them (cross:0) or by
// another (cross:1); independent reads (chase:0, as many in flight as the processor allows)
// or each line naming the next (chase:1, one at a time, as a pointer into a vector is
// followed). Only the reads are timed; per_line is the cost of one line read. The difference
// is what a line moving between processors costs: the bound on splitting a phase across
// workers when a serial phase consumes what it made. On one processor, 100,000 and 1,000,000
// lines (6.4 and 64 MB: past the 1 MiB L2, and past the 32 MiB L3) give what the same reads
// cost as a working set grows: what BM_tick_rules at 100,000 entities is read against.
void BM_line_handoff(benchmark::State& state) {
  const auto lines = static_cast<std::size_t>(state.range(0));
  const bool cross = state.range(1) != 0;
  const bool chase = state.range(2) != 0;
  struct alignas(64) Line {
    std::uint64_t words[8];
  };
  std::vector<Line> data(lines);
  std::vector<std::uint32_t> visit(lines);
  for (std::size_t i = 0; i < lines; ++i) visit[i] = static_cast<std::uint32_t>(i);
  std::shuffle(visit.begin(), visit.end(), std::mt19937_64(7));
  std::atomic<std::uint64_t> round{0};  // odd: the writer's turn is over
  std::atomic<bool> stop{false};
  std::uint64_t stamp = 0;
  // words[0]: the round's stamp; words[1]: the next line of the chase (a shuffled cycle).
  for (std::size_t k = 0; k < lines; ++k) data[visit[k]].words[1] = visit[(k + 1) % lines];
  auto write_all = [&](std::uint64_t value) {
    for (Line& line : data) line.words[0] = value;
  };
  std::thread writer;
  if (cross) {
    writer = std::thread([&] {
      for (std::uint64_t seen = 0;;) {
        std::uint64_t now;
        while ((now = round.load(std::memory_order_acquire)) == seen) {
          if (stop.load(std::memory_order_relaxed)) return;
        }
        write_all(now);
        round.store(now + 1, std::memory_order_release);
        seen = now + 1;
      }
    });
  }
  std::uint64_t sum = 0;
  for (auto _ : state) {
    if (cross) {
      stamp += 2;
      const std::uint64_t asked = stamp - 1;
      round.store(asked, std::memory_order_release);
      while (round.load(std::memory_order_acquire) != stamp) {
      }
    } else {
      write_all(++stamp);
    }
    const auto start = std::chrono::steady_clock::now();
    if (chase) {
      std::uint64_t at = visit[0];
      for (std::size_t k = 0; k < lines; ++k) {
        sum += data[at].words[0];
        at = data[at].words[1];
      }
    } else {
      for (std::uint32_t i : visit) sum += data[i].words[0];
    }
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  stop.store(true);
  if (writer.joinable()) writer.join();
  benchmark::DoNotOptimize(sum);
  state.counters["per_line"] =
      benchmark::Counter(static_cast<double>(state.iterations() * lines),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_line_handoff)
    ->ArgsProduct({{10000}, {0, 1}, {0, 1}})
    ->ArgsProduct({{100000, 1000000}, {0}, {0, 1}})
    ->ArgNames({"lines", "cross", "chase"})
    ->UseManualTime();

// The memory work of copy-on-write of whole pages, without anything else of a tick: <pages>
// pages of 1 KiB (from the default payload allocator); each iteration copies <copies> of them
// chosen at random (as BM_commit_tick chooses them) into new blocks, the copies replace them, and
// the blocks they replaced are freed one iteration later (the version before stays alive while the
// next is built, as the engine keeps the State it publishes). So a source is as cold as in
// BM_commit_tick/1024/10000, whose first write to a page in a tick pays this copy: per_copy bounds
// what that benchmark can reach while a page's bytes are copied whole.
void BM_page_copy_scattered(benchmark::State& state) {
  const auto pages = static_cast<std::size_t>(state.range(0));
  const auto copies = static_cast<std::size_t>(state.range(1));
  constexpr std::size_t kPageBytes = 1024;
  mmsb::PayloadAllocator& allocator = mmsb::default_payload_allocator();
  std::vector<std::byte*> current(pages);
  for (std::size_t i = 0; i < pages; ++i) {
    current[i] = allocator.allocate(kPageBytes);
    std::memset(current[i], static_cast<int>(i), kPageBytes);
  }
  std::vector<std::byte*> replaced, dying;
  std::uint64_t seed = 42;
  for (auto _ : state) {
    for (std::size_t k = 0; k < copies; ++k) {
      std::byte*& page = current[mmsb::bench::next_random(seed) % pages];
      std::byte* copy = allocator.allocate(kPageBytes);
      std::memcpy(copy, page, kPageBytes);
      replaced.push_back(std::exchange(page, copy));
    }
    for (std::byte* block : dying) allocator.deallocate(block, kPageBytes);
    dying.swap(replaced);
    replaced.clear();
  }
  for (std::byte* block : dying) allocator.deallocate(block, kPageBytes);
  for (std::byte* block : current) allocator.deallocate(block, kPageBytes);
  state.counters["per_copy"] = benchmark::Counter(
      static_cast<double>(copies),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_page_copy_scattered)->Args({10000, 1024})->ArgNames({"pages", "copies"});

// The floor of a page's content terms (docs/FORMAT.md "State root"): XXH3-128 (seed 2) of
// each 64-byte chunk with its page id and index before it (76 bytes), the inputs laid out
// in advance, for a page of `size` bytes. BM_page_content_terms is read against it.
void BM_xxh3_chunks(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t kInput = 76;
  std::vector<std::byte> inputs((size / 64) * kInput);
  std::uint64_t seed = 3;
  for (std::byte& byte : inputs) byte = static_cast<std::byte>(mmsb::bench::next_random(seed));
  for (auto _ : state) {
    for (std::size_t at = 0; at < inputs.size(); at += kInput) {
      benchmark::DoNotOptimize(XXH3_128bits_withSeed(inputs.data() + at, kInput, 2));
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_xxh3_chunks)->Arg(1024);

// The disk's synchronous write rate: write 4 KiB to a file and fdatasync it, in a loop, in
// the temporary directory the durable benchmarks use. One synchronous writer cannot commit
// faster than this; BM_durable_commit/1 is read as a fraction of it. `ahead` 0: each write
// appends, so each sync also makes the file's new size durable (BM_fdatasync); otherwise
// the file is given `ahead` zero bytes (written, then synced) whenever the writes reach the
// end of the last ones, and each write lands on them, as the engine's log writer does for
// a synced log (BM_fdatasync_preallocated; the zeroing is inside the timed loop).
void fdatasync_loop(benchmark::State& state, const char* name, std::uint64_t ahead) {
  const std::string dir = mmsb::bench::bench_dir(name);
  const std::string path = dir + "/file";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    state.SkipWithError("cannot open the file to write to");
    return;
  }
  const std::vector<char> block(4096, 'x');
  const std::vector<char> zeros(ahead);
  std::uint64_t written = 0;
  std::uint64_t zeroed = 0;
  auto write_at = [&](const std::vector<char>& bytes, std::uint64_t at) {
    return ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(at)) ==
           static_cast<ssize_t>(bytes.size());
  };
  for (auto _ : state) {
    if (ahead != 0 && written + block.size() > zeroed) {
      if (!write_at(zeros, zeroed) || ::fdatasync(fd) != 0) {
        state.SkipWithError("preallocation failed");
        break;
      }
      zeroed += zeros.size();
    }
    if (!write_at(block, written) || ::fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
    written += block.size();
  }
  ::close(fd);
  std::filesystem::remove_all(dir);
  state.counters["syncs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_fdatasync(benchmark::State& state) { fdatasync_loop(state, "fdatasync", 0); }
BENCHMARK(BM_fdatasync)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_fdatasync_preallocated(benchmark::State& state) {
  fdatasync_loop(state, "fdatasync-preallocated", 1 << 20);
}
BENCHMARK(BM_fdatasync_preallocated)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

// Benchmarks of the state module (issue: foundation). Names are stable so results compare
// across commits; read each next to BM_memcpy / BM_memcmp from the same run.
#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "mmsb/mmsb.hpp"
#include "state/root_terms.hpp"
#include "state/tables.hpp"

namespace {

using mmsb::Fork;
using mmsb::PageId;
using mmsb::State;

// States are built once per (pages, page size) and shared by every benchmark run.
const State& state_with(std::uint64_t pages, std::uint64_t page_size) {
  static std::map<std::pair<std::uint64_t, std::uint64_t>, State> cache;
  auto [at, inserted] = cache.try_emplace({pages, page_size});
  if (inserted) {
    Fork fork{State{}};
    std::vector<std::byte> initial(page_size);
    for (std::uint64_t i = 0; i < pages; ++i) {
      std::memcpy(initial.data(), &i, std::min<std::size_t>(sizeof(i), page_size));
      (void)fork.create_page({.type = 1, .size_bytes = page_size, .initial = initial}).value();
    }
    at->second = fork.commit();
  }
  return at->second;
}

std::vector<std::byte> random_bytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<std::byte> bytes(size);
  for (auto& byte : bytes) byte = static_cast<std::byte>(random());
  return bytes;
}

void BM_page_create(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0));
  // Bounded memory: start a new fork every batch (outside the timed region).
  const std::uint64_t batch = std::max<std::uint64_t>(16, (4ull << 20) / size);
  auto fork = std::make_unique<Fork>(State{});
  std::uint64_t in_batch = 0;
  const mmsb::AllocatorStats before = mmsb::default_payload_allocator().stats();
  for (auto _ : state) {
    benchmark::DoNotOptimize(fork->create_page({.type = 1, .size_bytes = size}).value());
    if (++in_batch == batch) {
      state.PauseTiming();
      fork = std::make_unique<Fork>(State{});
      in_batch = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
  // Allocations per page: payload blocks from the arena, and how many of those reached the
  // system (slabs, or blocks above the arena's largest class).
  const mmsb::AllocatorStats after = mmsb::default_payload_allocator().stats();
  const auto per_page = [&](std::uint64_t count) {
    return static_cast<double>(count) / static_cast<double>(state.iterations());
  };
  state.counters["payload_allocs"] = per_page(after.allocations - before.allocations);
  state.counters["system_allocs"] = per_page(after.system_allocations - before.system_allocations);
}
BENCHMARK(BM_page_create)->Arg(1024)->Arg(1 << 20);

// Memory per page: 1M untyped pages of `size` bytes in one State, counted block by block
// (state::memory_usage: records, trie nodes and size-class rounding; payload apart), so the
// figure does not depend on what earlier benchmarks left in the arena. One iteration.
void BM_page_metadata(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0));
  constexpr std::uint64_t kMillion = 1 << 20;
  mmsb::state::MemoryUsage usage;
  for (auto _ : state) {
    Fork fork{State{}};
    for (std::uint64_t i = 0; i < kMillion; ++i) (void)fork.create_page({.size_bytes = size});
    const State built = fork.commit();
    usage = mmsb::state::memory_usage(mmsb::state::StateAccessors::data(built).tables);
  }
  state.counters["pages"] = static_cast<double>(usage.pages);
  state.counters["metadata_bytes_per_page"] = usage.metadata_per_page();
  state.counters["total_over_payload"] =
      static_cast<double>(usage.metadata_bytes + usage.payload_bytes) /
      static_cast<double>(usage.payload_bytes);
}
BENCHMARK(BM_page_metadata)->Arg(64)->Arg(1024)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_delta_diff_apply(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto changed = static_cast<std::size_t>(state.range(1));
  std::vector<std::byte> old_bytes = random_bytes(size, 1);
  std::vector<std::byte> new_bytes = old_bytes;
  std::mt19937_64 random(2);
  for (std::size_t i = 0; i < changed; ++i) new_bytes[random() % size] ^= std::byte{0x5a};
  std::vector<std::byte> target = old_bytes;
  mmsb::Delta delta;
  for (auto _ : state) {
    if (!mmsb::diff_into(PageId(1), mmsb::Epoch(0), old_bytes, new_bytes, delta).is_ok()) break;
    if (!apply_delta(delta, target).is_ok()) break;
    benchmark::ClobberMemory();
  }
  state.counters["runs"] = static_cast<double>(delta.runs().size());
}
BENCHMARK(BM_delta_diff_apply)->Args({1024, 10});

void BM_delta_diff(benchmark::State& state, double changed_fraction) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> old_bytes = random_bytes(size, 3);
  std::vector<std::byte> new_bytes = old_bytes;
  if (changed_fraction >= 1.0) {
    for (auto& byte : new_bytes) byte = ~byte;
  } else {
    std::mt19937_64 random(4);
    const auto changes = static_cast<std::size_t>(static_cast<double>(size) * changed_fraction);
    for (std::size_t i = 0; i < changes; ++i) new_bytes[random() % size] ^= std::byte{0x5a};
  }
  mmsb::Delta delta;
  for (auto _ : state) {
    if (!mmsb::diff_into(PageId(1), mmsb::Epoch(0), old_bytes, new_bytes, delta).is_ok()) break;
    benchmark::DoNotOptimize(delta.bytes().data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
  state.counters["runs"] = static_cast<double>(delta.runs().size());
}
BENCHMARK_CAPTURE(BM_delta_diff, 1pct, 0.01)->Name("BM_delta_diff/1048576/1pct")->Arg(1 << 20);
// Changes close enough that about one pair of runs in three merges (the merge decision
// is data-dependent in every pair).
BENCHMARK_CAPTURE(BM_delta_diff, 10pct, 0.1)->Name("BM_delta_diff/1048576/10pct")->Arg(1 << 20);
BENCHMARK_CAPTURE(BM_delta_diff, 100pct, 1.0)->Name("BM_delta_diff/1048576/100pct")->Arg(1 << 20);

constexpr std::uint64_t kSmallPage = 64;

void BM_snapshot(benchmark::State& state) {
  const State& base = state_with(static_cast<std::uint64_t>(state.range(0)), kSmallPage);
  for (auto _ : state) {
    mmsb::Snapshot snapshot = base.snapshot();
    benchmark::DoNotOptimize(snapshot);
  }
}
BENCHMARK(BM_snapshot)->Arg(1)->Arg(1000)->Arg(1000000);

void BM_fork(benchmark::State& state) {
  const State& base = state_with(static_cast<std::uint64_t>(state.range(0)), kSmallPage);
  for (auto _ : state) {
    Fork fork = base.fork();
    benchmark::DoNotOptimize(fork);
  }
}
BENCHMARK(BM_fork)->Arg(1)->Arg(1000)->Arg(1000000);

// The first write to a page in a fork copies that page (and, once per 64 pages, a trie leaf).
void BM_fork_first_write(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0));
  constexpr std::uint64_t kPages = 65536;
  const State& base = state_with(kPages, size);
  auto fork = std::make_unique<Fork>(base);
  std::uint64_t next = 1;
  const std::uint64_t stamp = 42;
  for (auto _ : state) {
    if (!fork->write(PageId(next), 0, std::as_bytes(std::span(&stamp, 1))).is_ok()) break;
    if (++next > kPages) {
      state.PauseTiming();
      fork = std::make_unique<Fork>(base);
      next = 1;
      state.ResumeTiming();
    }
  }
}
BENCHMARK(BM_fork_first_write)->Arg(1024);

// Changes `count` pages starting at `first` (every `stride`-th page) and commits.
State change_pages(const State& from, std::uint64_t first, std::uint64_t stride,
                   std::uint64_t count, std::uint64_t stamp) {
  Fork fork(from);
  for (std::uint64_t i = 0; i < count; ++i) {
    (void)fork.write(PageId(first + i * stride), 8, std::as_bytes(std::span(&stamp, 1)));
  }
  return fork.commit();
}

void BM_merge_fast_path(benchmark::State& state) {
  const State& base = state_with(10000, 1024);
  State theirs = change_pages(base, 1, 10, 1000, 7);
  for (auto _ : state) {
    auto merged = mmsb::merge(base, base, theirs);
    benchmark::DoNotOptimize(merged.value().state);
  }
}
BENCHMARK(BM_merge_fast_path);

void BM_merge_disjoint(benchmark::State& state) {
  const auto changed = static_cast<std::uint64_t>(state.range(0));
  const State& base = state_with(10000, 1024);
  const std::uint64_t stride = 10000 / changed / 2;
  State ours = change_pages(base, 1, stride * 2, changed, 7);
  State theirs = change_pages(base, 1 + stride, stride * 2, changed, 8);
  for (auto _ : state) {
    auto merged = mmsb::merge(base, ours, theirs);
    benchmark::DoNotOptimize(merged.value().state);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * changed));
}
BENCHMARK(BM_merge_disjoint)->Arg(10)->Arg(1000);

// A commit of `changed` pages: copies them, bumps epochs and rehashes only what changed.
void BM_state_root_incremental(benchmark::State& state) {
  const auto pages = static_cast<std::uint64_t>(state.range(0));
  const auto changed = static_cast<std::uint64_t>(state.range(1));
  const State& base = state_with(pages, kSmallPage);
  const std::uint64_t stride = pages / changed;
  std::uint64_t stamp = 0;
  for (auto _ : state) {
    State next = change_pages(base, 1, stride, changed, ++stamp);
    benchmark::DoNotOptimize(next.root());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * changed));
}
BENCHMARK(BM_state_root_incremental)
    ->Args({1000, 1})
    ->Args({1000, 100})
    ->Args({1000000, 1})
    ->Args({1000000, 100});

// The content terms of a 1 KiB page of random bytes (16 chunk terms, what a whole-page
// write costs twice: before and after). Read next to BM_xxh3_chunks/1024, the same 16
// hashes over inputs laid out in advance.
void BM_page_content_terms(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::vector<std::byte> page = random_bytes(size, 5);
  std::uint64_t id = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(mmsb::state::page_content_terms(PageId(++id), page));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_page_content_terms)->Arg(32)->Arg(128)->Arg(256)->Arg(1024);

// What a 16-byte write costs the root (ForkCore::write): the touched chunk's term before,
// the bytes stored, its term after, on a 1 KiB page at a new offset each time. The term
// after reads the chunk just written.
void BM_small_write_terms(benchmark::State& state) {
  std::vector<std::byte> page = random_bytes(1024, 6);
  std::uint64_t value = 1;
  std::uint64_t at = 0;
  for (auto _ : state) {
    at = (at + 80) % 1024 & ~std::uint64_t{15};
    const mmsb::state::TermSum before =
        mmsb::state::page_content_terms(PageId(3), page, at, at + 16);
    std::memcpy(page.data() + at, &++value, sizeof(value));
    std::memcpy(page.data() + at + 8, &value, sizeof(value));
    const mmsb::state::TermSum after =
        mmsb::state::page_content_terms(PageId(3), page, at, at + 16);
    benchmark::DoNotOptimize(before);
    benchmark::DoNotOptimize(after);
  }
}
BENCHMARK(BM_small_write_terms);

}  // namespace

// Physical baselines: every mmsb benchmark is read as a ratio to these, measured in the same
// binary and run, so the ratios hold on a noisy machine.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

namespace {

void BM_memcpy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<char> source(size, 'a');
  std::vector<char> target(size);
  for (auto _ : state) {
    std::memcpy(target.data(), source.data(), size);
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

}  // namespace

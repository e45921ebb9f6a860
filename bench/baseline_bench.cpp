// Physical baselines: every mmsb benchmark is read as a ratio to these, measured in the same
// binary and run, so the ratios hold on a noisy machine.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_dir.hpp"

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

// The disk's synchronous write rate: append 4 KiB to a file and fdatasync it, in a loop, in
// the temporary directory the durable benchmarks use. One synchronous writer cannot commit
// faster than this; BM_durable_commit/1 is read as a fraction of it.
void BM_fdatasync(benchmark::State& state) {
  const std::string dir = mmsb::bench::bench_dir("fdatasync");
  const std::string path = dir + "/append";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    state.SkipWithError("cannot open the file to append to");
    return;
  }
  std::vector<char> block(4096, 'x');
  for (auto _ : state) {
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("append or fdatasync failed");
      break;
    }
  }
  ::close(fd);
  std::filesystem::remove_all(dir);
  state.counters["syncs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_fdatasync)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

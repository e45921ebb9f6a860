// mmsb_sim: runs the deterministic simulation (tests/sim/simulator.hpp).
//
//   mmsb_sim --seed S [--steps N] [--verbose]   one run; exit 1 on failure
//   mmsb_sim --seeds FILE                       every seed of a file (one per line, # comments)
//   mmsb_sim --soak SECONDS [--start S]         seeds S, S+1, ... for that long
//   mmsb_sim --seed S --minimize                the fewest steps that still fail
//   --keep DIR                                  on failure, copy the data directory to DIR
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sim/simulator.hpp"

namespace {

using mmsb::sim::SimOptions;
using mmsb::sim::SimReport;

struct Totals {
  std::uint64_t seeds = 0, failures = 0, ticks = 0, steps = 0, recoveries = 0;
  std::map<std::string, std::uint64_t> faults, outcomes;
  void add(const SimReport& report) {
    ++seeds;
    failures += !report.ok;
    ticks += report.ticks;
    steps += report.steps;
    recoveries += report.recoveries;
    for (const auto& [kind, count] : report.faults) faults[kind] += count;
    for (const auto& [kind, count] : report.outcomes) outcomes[kind] += count;
  }
  void print(double seconds) const {
    std::printf("%llu seeds, %llu steps, %llu ticks, %llu recoveries in %.1f s (%.1f seeds/s)\n",
                static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(steps),
                static_cast<unsigned long long>(ticks), static_cast<unsigned long long>(recoveries),
                seconds, seconds > 0 ? static_cast<double>(seeds) / seconds : 0.0);
    std::printf("faults injected:");
    for (const auto& [kind, count] : faults)
      std::printf(" %s %llu;", kind.c_str(), static_cast<unsigned long long>(count));
    std::printf("\nsteps by outcome:");
    for (const auto& [kind, count] : outcomes)
      std::printf(" %s %llu;", kind.c_str(), static_cast<unsigned long long>(count));
    std::printf("\n%llu passed, %llu failed\n", static_cast<unsigned long long>(seeds - failures),
                static_cast<unsigned long long>(failures));
  }
};

void print_failure(const SimOptions& options, const SimReport& report) {
  std::printf("FAILED seed %llu at step %zu, tick %llu: %s\n  replay: %s\n",
              static_cast<unsigned long long>(options.seed), report.failed_step,
              static_cast<unsigned long long>(report.failed_tick), report.failure.c_str(),
              mmsb::sim::replay_command(options.seed, options.steps).c_str());
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int usage() {
  std::fprintf(stderr,
               "usage: mmsb_sim --seed S [--steps N] [--verbose] [--minimize] [--keep DIR]\n"
               "       mmsb_sim --seeds FILE\n"
               "       mmsb_sim --soak SECONDS [--start S]\n");
  return 2;
}

bool parse_u64(const char* text, std::uint64_t& out) {
  char* end = nullptr;
  out = std::strtoull(text, &end, 10);
  return end != text && *end == '\0';
}

// One seed a line; '#' starts a comment.
bool read_seeds(const std::string& path, std::vector<std::uint64_t>& seeds) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "mmsb_sim: cannot read seeds file '%s'\n", path.c_str());
    return false;
  }
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line.substr(0, line.find('#')));
    std::string seed, extra;
    if (!(words >> seed)) continue;
    std::uint64_t value = 0;
    if (!parse_u64(seed.c_str(), value) || (words >> extra)) {
      std::fprintf(stderr, "mmsb_sim: %s: bad seed line '%s'\n", path.c_str(), line.c_str());
      return false;
    }
    seeds.push_back(value);
  }
  return true;
}

// Shortens a failing run: the smallest step count (a prefix of the same run) that fails.
int minimize(SimOptions options) {
  SimReport report = mmsb::sim::simulate(options);
  if (report.ok) {
    std::printf("seed %llu passes; nothing to minimize\n",
                static_cast<unsigned long long>(options.seed));
    return 0;
  }
  std::size_t low = 1, high = report.failed_step;
  while (low < high) {
    options.steps = (low + high) / 2;
    if (mmsb::sim::simulate(options).ok)
      low = options.steps + 1;
    else
      high = options.steps;
  }
  options.steps = high;
  print_failure(options, mmsb::sim::simulate(options));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  SimOptions options;
  std::string seeds_file;
  std::uint64_t soak_seconds = 0, start = 1;
  bool have_seed = false, do_minimize = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    std::uint64_t value = 0;
    if (arg == "--verbose") {
      options.verbose = true;
    } else if (arg == "--minimize") {
      do_minimize = true;
    } else if (arg == "--keep" && has_value) {
      options.keep_dir = argv[++i];
    } else if (arg == "--seeds" && has_value) {
      seeds_file = argv[++i];
    } else if (has_value && parse_u64(argv[i + 1], value) &&
               (arg == "--seed" || arg == "--steps" || arg == "--soak" || arg == "--start")) {
      ++i;
      if (arg == "--seed") options.seed = value, have_seed = true;
      if (arg == "--steps") options.steps = static_cast<std::size_t>(value);
      if (arg == "--soak") soak_seconds = value;
      if (arg == "--start") start = value;
    } else {
      std::fprintf(stderr, "mmsb_sim: bad argument '%s'\n", arg.c_str());
      return usage();
    }
  }
  if (have_seed + !seeds_file.empty() + (soak_seconds != 0) != 1) return usage();
  if (do_minimize) return minimize(options);
  std::vector<std::uint64_t> seeds;
  if (have_seed) seeds.push_back(options.seed);
  if (!seeds_file.empty() && !read_seeds(seeds_file, seeds)) return 2;
  const auto began = std::chrono::steady_clock::now();
  Totals totals;
  auto run_one = [&](std::uint64_t seed) {
    SimOptions one = options;
    one.seed = seed;
    const SimReport report = mmsb::sim::simulate(one);
    totals.add(report);
    if (!report.ok) print_failure(one, report);
  };
  if (soak_seconds != 0) {
    auto last_progress = began;
    for (std::uint64_t seed = start; seconds_since(began) < static_cast<double>(soak_seconds);
         ++seed) {
      run_one(seed);
      if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(30)) {
        last_progress = std::chrono::steady_clock::now();
        std::printf("soak: %llu seeds, %llu failed, %.0f s\n",
                    static_cast<unsigned long long>(totals.seeds),
                    static_cast<unsigned long long>(totals.failures), seconds_since(began));
        std::fflush(stdout);
      }
    }
  } else {
    for (std::uint64_t seed : seeds) run_one(seed);
  }
  totals.print(seconds_since(began));
  return totals.failures == 0 ? 0 : 1;
}

// Deterministic simulation of the whole engine (docs/ARCHITECTURE.md "Simulation testing"):
// one seed draws the engine's options, a workload and a fault schedule; one thread drives
// the engine through its public API, so every tick is the same in every run of that seed;
// after every acknowledged step and every recovery the engine's State must equal the
// model's, and at the end replay in both modes must give the model's root.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace mmsb::sim {

struct SimOptions {
  std::uint64_t seed = 1;
  std::size_t steps = 0;  // 0: drawn from the seed (60 to 240)
  bool verbose = false;   // print every step
  std::string keep_dir;   // non-empty: on failure, copy the data directory here
};

struct SimReport {
  bool ok = true;
  std::string failure;  // the first difference, named
  std::size_t failed_step = 0;
  std::uint64_t failed_tick = 0;
  std::size_t steps = 0;
  std::uint64_t ticks = 0;       // ticks the engine committed (as the model counts them)
  std::uint64_t recoveries = 0;  // crashes and faults recovered from
  std::map<std::string, std::uint64_t> faults;    // injected, by kind
  std::map<std::string, std::uint64_t> outcomes;  // steps by what they did
};

SimReport simulate(const SimOptions& options);

// The command that replays a run.
std::string replay_command(std::uint64_t seed, std::size_t steps);

}  // namespace mmsb::sim

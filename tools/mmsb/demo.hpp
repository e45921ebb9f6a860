#pragma once

#include <cstdint>
#include <string>

namespace mmsb::cli {

struct DemoOptions {
  std::uint64_t pages = 100'000;
  std::uint64_t page_size_bytes = 1024;
  double change_percent = 1.0;
  std::string dir = "./mmsb-data";
  int threads = 4;
  int commits_per_thread = 2500;
  std::uint64_t particles = 2000;
  int particle_ticks = 200;
};

// Runs `mmsb demo`; returns the process exit code.
int run_demo(const DemoOptions& options);

}  // namespace mmsb::cli

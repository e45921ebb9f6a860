#pragma once

#include <cstdint>

namespace mmsb::cli {

struct DemoOptions {
  std::uint64_t pages = 100'000;
  std::uint64_t page_size_bytes = 1024;
  double change_percent = 1.0;
};

// Runs `mmsb demo`; returns the process exit code.
int run_demo(const DemoOptions& options);

}  // namespace mmsb::cli

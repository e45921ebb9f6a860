// Small helpers shared by the CLI's commands.
#pragma once

#include <fmt/core.h>

#include <chrono>

#include "mmsb/status.hpp"

namespace mmsb::cli {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Prints the status to stderr; returns the exit code 1.
inline int fail(const Status& status) {
  fmt::print(stderr, "mmsb: {}\n", status.to_string());
  return 1;
}

}  // namespace mmsb::cli

// Small helpers shared by the CLI's commands.
#pragma once

#include <fmt/core.h>

#include <chrono>
#include <string>

#include "mmsb/engine.hpp"
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

// "none", "flush" or "fsync"; InvalidArgument naming the option otherwise.
inline Result<Durability> parse_durability(const std::string& text) {
  if (text == "none") return Durability::kNone;
  if (text == "flush") return Durability::kFlush;
  if (text == "fsync") return Durability::kFsync;
  return invalid_argument("--durability '" + text + "': expected none, flush or fsync");
}

}  // namespace mmsb::cli

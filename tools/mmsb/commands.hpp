// The data-directory commands of the mmsb CLI: replay, verify, log inspect, checkpoint.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mmsb::cli {

struct ReplayCommand {
  std::string dir;
  std::optional<std::uint64_t> to;
  bool verify = false;  // re-execute the logged inputs (the determinism oracle)
  bool full = false;    // ignore checkpoints: replay the whole log
};

int run_replay(const ReplayCommand& command);
// Full check of the log (checksums, chain, every root by re-execution) and every checkpoint.
int run_verify(const std::string& dir);
int run_log_inspect(const std::string& dir, std::optional<std::uint64_t> tick);
int run_checkpoint(const std::string& dir);

}  // namespace mmsb::cli

// A fresh, empty directory for one benchmark under the system's temporary directory
// (mmsb-bench-<name>); the benchmark removes it when done.
#pragma once

#include <filesystem>
#include <string>

namespace mmsb::bench {

inline std::string bench_dir(const std::string& name) {
  const auto path = std::filesystem::temp_directory_path() / ("mmsb-bench-" + name);
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path.string();
}

}  // namespace mmsb::bench

// A fresh directory under the system temp dir, removed with everything in it when done.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "mmsb/assert.hpp"

namespace mmsb::test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mmsb-test-XXXXXX").string();
    MMSB_ASSERT(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace mmsb::test

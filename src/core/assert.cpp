#include "mmsb/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace mmsb::detail {

void assert_failed(const char* expression, const char* file, int line, const char* message) {
  std::fprintf(stderr, "mmsb: assertion failed: %s at %s:%d%s%s\n", expression, file, line,
               message != nullptr ? ": " : "", message != nullptr ? message : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace mmsb::detail

// libFuzzer entry point for the ruleset decoder: `make fuzz`.
#include "fuzz/ruleset_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mmsb::fuzz::ruleset_target(data, size);
  return 0;
}

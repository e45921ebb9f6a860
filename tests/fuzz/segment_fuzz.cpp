// libFuzzer entry point for the segment decoder: `make fuzz`.
#include "fuzz/segment_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mmsb::fuzz::segment_target(data, size);
  return 0;
}

// libFuzzer entry point for the delta decoder: `make fuzz`.
#include "fuzz/delta_decode_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mmsb::fuzz::delta_decode_target(data, size);
  return 0;
}

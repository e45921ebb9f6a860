// libFuzzer entry point for the checkpoint decoder: `make fuzz`.
#include "fuzz/checkpoint_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mmsb::fuzz::checkpoint_target(data, size);
  return 0;
}

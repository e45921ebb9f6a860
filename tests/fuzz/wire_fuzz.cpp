// libFuzzer entry point for the wire protocol's frame decoders: `make fuzz`.
#include "fuzz/wire_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)mmsb::fuzz::wire_target(data, size);
  return 0;
}

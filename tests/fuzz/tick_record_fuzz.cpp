// libFuzzer entry point for the TickRecord decoder: `make fuzz`.
#include "fuzz/tick_record_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mmsb::fuzz::tick_record_target(data, size);
  return 0;
}

// The body of the TickRecord decoder fuzz target, shared by the libFuzzer binary
// (tick_record_fuzz.cpp, `make fuzz`) and a unit test that runs it on a fixed corpus.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "log/tick_record.hpp"
#include "mmsb/assert.hpp"

namespace mmsb::fuzz {

// Whatever the bytes: decoding never crashes, fails only with Corruption, and what it
// accepts re-encodes to exactly the same bytes (the encoding is canonical).
inline void tick_record_target(const std::uint8_t* data, std::size_t size) {
  auto input = std::span(reinterpret_cast<const std::byte*>(data), size);
  Result<log::TickRecord> decoded = log::decode_tick_record(input);
  if (!decoded.is_ok()) {
    MMSB_ASSERT(decoded.status().code() == StatusCode::kCorruption);
    return;
  }
  std::vector<std::byte> again;
  MMSB_ASSERT(log::encode_tick_record(*decoded, again).is_ok());
  MMSB_ASSERT(again == std::vector<std::byte>(input.begin(), input.end()));
}

}  // namespace mmsb::fuzz

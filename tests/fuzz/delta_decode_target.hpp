// The body of the delta decoder fuzz target, shared by the libFuzzer binary
// (delta_decode_fuzz.cpp, `make fuzz`) and a unit test that runs it on a fixed corpus.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mmsb/assert.hpp"
#include "mmsb/delta.hpp"
#include "mmsb/page.hpp"

namespace mmsb::fuzz {

// Whatever the bytes: decoding never crashes; what it accepts is valid, re-encodes to the
// same bytes, and applies to a page it fits.
inline void delta_decode_target(const std::uint8_t* data, std::size_t size) {
  auto input = std::span(reinterpret_cast<const std::byte*>(data), size);
  Result<Delta> decoded = decode_delta(input);
  if (!decoded.is_ok()) {
    MMSB_ASSERT(decoded.status().code() == StatusCode::kInvalidArgument);
    return;
  }
  const Delta& delta = *decoded;
  MMSB_ASSERT(encode_delta(delta) == std::vector<std::byte>(input.begin(), input.end()));
  std::uint64_t page_size = delta.encoding() == DeltaEncoding::kDense
                                ? delta.bytes().size()
                                : (delta.runs().empty() ? 1 : delta.runs().back().end());
  if (page_size > (1u << 20)) return;  // keep each run cheap
  std::vector<std::byte> page(page_size);
  MMSB_ASSERT(apply_delta(delta, page).is_ok());
  Result<Delta> twice = compose(delta, delta);
  MMSB_ASSERT(twice.is_ok());
  std::vector<std::byte> again(page_size);
  MMSB_ASSERT(apply_delta(*twice, again).is_ok());
  MMSB_ASSERT(again == page);
}

}  // namespace mmsb::fuzz

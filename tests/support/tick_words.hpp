// A page content whose consistency a reader can check on its own: every 8-byte word of every
// page holds the tick that last wrote the whole page. Used by the concurrency tests, where
// readers check versions while a writer goes on.
#pragma once

#include <cstdint>
#include <cstring>

#include "mmsb/mmsb.hpp"

namespace mmsb::test {

// True if `state` has `pages` pages, each of whose words equal the page's first, and none
// later than the state's tick.
inline bool words_hold_their_tick(const State& state, std::size_t pages) {
  bool ok = state.page_count() == pages;
  state.for_each_page([&](const PageView& page) {
    std::uint64_t first;
    std::memcpy(&first, page.bytes.data(), sizeof(first));
    for (std::uint64_t at = 0; at < page.size_bytes; at += sizeof(first)) {
      std::uint64_t word;
      std::memcpy(&word, page.bytes.data() + at, sizeof(word));
      ok = ok && word == first && word <= state.tick().value();
    }
  });
  return ok;
}

}  // namespace mmsb::test

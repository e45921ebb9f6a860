// RapidCheck generators for pages and edits.
#pragma once

#include <rapidcheck.h>

#include <cstddef>
#include <vector>

#include "mmsb/delta.hpp"

namespace mmsb::test {

inline rc::Gen<std::vector<std::byte>> gen_bytes(std::size_t size) {
  return rc::gen::map(
      rc::gen::container<std::vector<std::uint8_t>>(size, rc::gen::arbitrary<std::uint8_t>()),
      [](const std::vector<std::uint8_t>& raw) {
        std::vector<std::byte> out(raw.size());
        for (std::size_t i = 0; i < raw.size(); ++i) out[i] = std::byte{raw[i]};
        return out;
      });
}

// A copy of `page` with a few random edits: single bytes, short runs and long runs.
inline std::vector<std::byte> edit(std::vector<std::byte> page) {
  if (page.empty()) return page;
  const auto edits = *rc::gen::inRange<std::size_t>(0, 12);
  for (std::size_t e = 0; e < edits; ++e) {
    const auto at = *rc::gen::inRange<std::size_t>(0, page.size());
    const auto max_length = std::min<std::size_t>(page.size() - at, 200);
    const auto length = *rc::gen::inRange<std::size_t>(1, max_length + 1);
    const auto value = *rc::gen::arbitrary<std::uint8_t>();
    for (std::size_t i = at; i < at + length; ++i) page[i] = std::byte{value};
  }
  return page;
}

// A valid runs delta for a page of `size` bytes (sorted, disjoint, possibly touching).
inline Delta gen_runs_delta(PageId page, std::size_t size) {
  std::vector<DeltaRun> runs;
  std::size_t at = 0;
  const auto count = *rc::gen::inRange<std::size_t>(0, 8);
  for (std::size_t i = 0; i < count && at < size; ++i) {
    at += *rc::gen::inRange<std::size_t>(0, std::min<std::size_t>(size - at, 64));
    if (at >= size) break;
    const auto length =
        *rc::gen::inRange<std::size_t>(1, std::min<std::size_t>(size - at, 100) + 1);
    runs.push_back(DeltaRun{static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(length)});
    at += length;
  }
  std::size_t total = 0;
  for (const DeltaRun& run : runs) total += run.length;
  return Delta::from_runs(page, Epoch(*rc::gen::inRange<std::uint64_t>(0, 100)), std::move(runs),
                          *gen_bytes(total));
}

inline Delta gen_delta(PageId page, std::size_t size) {
  if (*rc::gen::inRange(0, 4) == 0) {
    return Delta::from_dense(page, Epoch(*rc::gen::inRange<std::uint64_t>(0, 100)),
                             *gen_bytes(size));
  }
  return gen_runs_delta(page, size);
}

}  // namespace mmsb::test

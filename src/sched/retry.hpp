// The retry schedule (docs/SEMANTICS.md "Rules and scheduling"): a candidate rejected at
// tick `tick` on attempt k waits 1 to 2^min(k, kRetryBackoffExponentMax) ticks, chosen by a
// seeded hash of (family, scope, tick), never a clock or an unseeded random number.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mmsb/rule.hpp"

namespace mmsb::sched {

inline constexpr std::uint64_t kRetrySeed = 0x6d6d73622d726574ull;  // "mmsb-ret"

// Ticks to wait, in [1, 2^min(attempt, kRetryBackoffExponentMax)].
std::uint64_t retry_backoff(RuleFamilyId family, PageId scope, TickId tick, std::uint32_t attempt);

// The queue after a rules step at `tick`: `current` without the entries due by then, plus
// `deferred`, sorted.
std::vector<PendingRetry> next_retries(std::span<const PendingRetry> current, TickId tick,
                                       std::span<const PendingRetry> deferred);

}  // namespace mmsb::sched

#include "sched/retry.hpp"

#include <algorithm>

#include "core/endian.hpp"
#include "mmsb/hash.hpp"

namespace mmsb::sched {

std::uint64_t retry_backoff(RuleFamilyId family, PageId scope, TickId tick,
                            std::uint32_t attempt) {
  std::byte input[24];
  put_le<std::uint64_t>(input, family);
  put_le<std::uint64_t>(input + 8, scope.value());
  put_le<std::uint64_t>(input + 16, tick.value());
  const std::uint32_t exponent = std::min(attempt, kRetryBackoffExponentMax);
  return 1 + (xxh3_64(input, kRetrySeed) & ((std::uint64_t{1} << exponent) - 1));
}

std::vector<PendingRetry> next_retries(std::span<const PendingRetry> current, TickId tick,
                                       std::span<const PendingRetry> deferred) {
  std::vector<PendingRetry> next;
  next.reserve(current.size() + deferred.size());
  for (const PendingRetry& retry : current) {
    if (retry.due > tick) next.push_back(retry);
  }
  next.insert(next.end(), deferred.begin(), deferred.end());
  std::sort(next.begin(), next.end());
  return next;
}

}  // namespace mmsb::sched

#include "sched/parallel_tuner.hpp"

#include <algorithm>

namespace mmsb::sched {

double ParallelTuner::median(std::array<double, kTrialSteps>& costs) {
  std::sort(costs.begin(), costs.end());
  return costs[kTrialSteps / 2];
}

void ParallelTuner::record(std::uint64_t ns, std::size_t candidates, std::size_t counted_min) {
  if (candidates < counted_min || candidates == 0) return;
  const double cost = static_cast<double>(ns) / static_cast<double>(candidates);
  switch (phase_) {
    case Phase::kTrialParallel:
      parallel_costs_[steps_++] = cost;
      if (steps_ == kTrialSteps) {
        phase_ = Phase::kTrialSerial;
        steps_ = 0;
      }
      return;
    case Phase::kTrialSerial:
      serial_costs_[steps_++] = cost;
      if (steps_ == kTrialSteps) {
        hold_parallel_ = median(parallel_costs_) <= kParallelGainMin * median(serial_costs_);
        ++(hold_parallel_ ? parallel_holds_ : serial_holds_);
        phase_ = Phase::kHold;
        steps_ = 0;
      }
      return;
    case Phase::kHold:
      if (++steps_ == kHoldSteps) {
        phase_ = Phase::kTrialParallel;
        steps_ = 0;
      }
      return;
  }
}

}  // namespace mmsb::sched

// ParallelTuner: whether the rules step hands its parallel phases (match, execute) to the
// worker pool, decided from what whole steps cost with and without it.
//
// The parallel phases save their own time, but what they write (footprints, the writes'
// buffers) is then read by the serial phases on the sequencer's thread (the gate, apply,
// the record's encoding), a cache line moved between processors for each. Where a
// candidate's work is small against that (the motion rule: ~260 ns a candidate, ~5 lines
// moved at ~100 ns each on a 2-core machine), the step with the pool is slower than
// without it; where it is large, the pool wins. Which one holds depends on the rules and
// the machine, so the tuner measures it: a trial of kTrialSteps steps with the pool, one of
// kTrialSteps without, then kHoldSteps steps the cheaper way (the pool only if it is at
// least kParallelGainMin cheaper), and trials again (the rules may have changed).
//
// The measured times decide only which threads run the step, never what it produces: the
// step's results are the same either way (docs/SEMANTICS.md "Rules and scheduling").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace mmsb::sched {

class ParallelTuner {
 public:
  static constexpr std::size_t kTrialSteps = 5;
  static constexpr std::size_t kHoldSteps = 200;
  // The pool is kept only if its steps' median cost a candidate is at most this fraction
  // of the serial ones' (below that, the difference is within a trial's noise).
  static constexpr double kParallelGainMin = 0.95;

  // Whether the next step uses the pool.
  bool parallel() const {
    return phase_ == Phase::kTrialParallel || (phase_ == Phase::kHold && hold_parallel_);
  }

  // A step that used the pool as parallel() said cost `ns` for `candidates` candidates
  // (from its start to its writes applied). Steps of fewer than `counted_min` candidates,
  // which run on one thread anyway, are not counted.
  void record(std::uint64_t ns, std::size_t candidates, std::size_t counted_min);

  // For tests: how many trials ended in a hold without the pool, and with it.
  std::uint64_t serial_holds() const { return serial_holds_; }
  std::uint64_t parallel_holds() const { return parallel_holds_; }

 private:
  enum class Phase : std::uint8_t { kTrialParallel, kTrialSerial, kHold };
  static double median(std::array<double, kTrialSteps>& costs);  // sorts them

  Phase phase_ = Phase::kTrialParallel;
  std::size_t steps_ = 0;  // in the current phase
  std::array<double, kTrialSteps> parallel_costs_{};
  std::array<double, kTrialSteps> serial_costs_{};
  bool hold_parallel_ = true;
  std::uint64_t serial_holds_ = 0;
  std::uint64_t parallel_holds_ = 0;
};

}  // namespace mmsb::sched

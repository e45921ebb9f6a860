#include "mmsb/clock.hpp"

#include <chrono>

namespace mmsb {
namespace {

class SystemClock final : public Clock {
 public:
  std::uint64_t now_ns() const override {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  }
};

}  // namespace

Clock* Clock::system() {
  static SystemClock* clock = new SystemClock();  // never destroyed: engines may outlive statics
  return clock;
}

}  // namespace mmsb

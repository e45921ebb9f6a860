// Counts heap allocations made by the calling thread (the benchmark binary replaces the
// global operator new; see alloc_count.cpp), so benchmarks can report allocations per item.
#pragma once

#include <cstdint>

namespace mmsb::bench {

std::uint64_t allocations_on_this_thread();

}  // namespace mmsb::bench

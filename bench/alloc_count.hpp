// Counts heap allocations made by the calling thread, or by all threads, (the benchmark binary
// replaces the global operator new; see alloc_count.cpp), so benchmarks can report allocations per
// item.
#pragma once

#include <cstdint>

namespace mmsb::bench {

std::uint64_t allocations_on_this_thread();
// Every thread's allocations so far (each thread counts on a cache line of its own, so the
// count does not slow multi-threaded benchmarks down).
std::uint64_t allocations_in_process();

}  // namespace mmsb::bench

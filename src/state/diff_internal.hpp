// The run finder behind diff(), shared with merge (which needs exact runs, gap 0).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mmsb/delta.hpp"

namespace mmsb::state {

// Sets `out` to the runs where old_bytes and new_bytes differ (equal sizes), merging runs
// whose unchanged gap is at most merge_gap_bytes. Uses AVX2 when the CPU has it. With
// `bytes`, the new bytes of every run, in run order, are appended to it in the same pass
// (diff's output, copied while the scan has them in the cache).
void changed_runs(std::span<const std::byte> old_bytes, std::span<const std::byte> new_bytes,
                  std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out,
                  std::vector<std::byte>* bytes = nullptr);

// The scan built for the baseline instruction set (SSE2 on x86-64), which changed_runs
// uses where the CPU has no AVX2: callable on any CPU, so tests run it everywhere.
void changed_runs_baseline(const std::byte* a, const std::byte* b, std::uint64_t size,
                           std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out,
                           std::vector<std::byte>* bytes);
// Whether this CPU runs the AVX2 build.
bool diff_uses_avx2();

#if defined(__x86_64__)
// diff_avx2.cpp; call only on a CPU with AVX2.
void changed_runs_avx2(const std::byte* a, const std::byte* b, std::uint64_t size,
                       std::uint32_t merge_gap_bytes, std::vector<DeltaRun>& out,
                       std::vector<std::byte>* bytes);
#endif

}  // namespace mmsb::state

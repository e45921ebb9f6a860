// The ingest parts of the mmsb CLI: `mmsb bench ingest` and the demo's ingest phase.
#pragma once

#include <cstdint>
#include <string>

namespace mmsb::cli {

struct IngestBenchOptions {
  int producers = 1;
  double seconds = 5;
  std::uint32_t payload_bytes = 16;
  std::string durability = "fsync";  // none, flush or fsync
  std::string dir;                   // empty: a fresh directory under the temp dir
};

// Runs `mmsb bench ingest`: a live progress line, then a table; returns the exit code.
int run_ingest_bench(const IngestBenchOptions& options);

// The demo's ingest phase in `dir`: one topic admitted, one denied, one throttled; the
// counts, then a replay that judges every packet again.
int run_ingest_demo(const std::string& dir);

}  // namespace mmsb::cli

// Hooks for tests: hold the sequencer so requests queue into one batch, see how ticks were
// built, and watch the tick step's stages. Nothing in the engine's own paths uses them.
#pragma once

#include <chrono>
#include <cstdint>

#include "engine/tick.hpp"
#include "mmsb/engine.hpp"

namespace mmsb::engine::testing {

// Holds the sequencer: returns once it waits between batches; it takes no batch (and drains
// no packets) until resume_sequencer(). close() still finishes what is queued.
void pause_sequencer(Engine& engine);
void resume_sequencer(Engine& engine);
// Waits until `count` requests are queued for the sequencer (at most `limit`); false if
// they were not by then.
bool wait_for_queued(Engine& engine, std::size_t count,
                     std::chrono::milliseconds limit = std::chrono::seconds(10));

struct BuildCounts {
  std::uint64_t batches = 0;
  std::uint64_t largest_batch = 0;  // requests in the largest batch taken
  std::uint64_t retried_alone = 0;  // ticks of several transactions rebuilt one by one
  std::uint64_t rebuilt = 0;        // ticks rebuilt after a rule was suspended
};
BuildCounts build_counts(Engine& engine);

// Tells `observer` each stage of each tick the sequencer runs (set while paused).
void observe_stages(Engine& engine, StageObserver observer);

}  // namespace mmsb::engine::testing

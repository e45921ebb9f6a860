#include "engine/test_hooks.hpp"

#include <thread>

#include "engine/engine_impl.hpp"

namespace mmsb::engine::testing {

void pause_sequencer(Engine& engine) {
  auto& impl = EngineInternals::of(engine);
  std::unique_lock<std::mutex> lock(impl.queue_mutex);
  impl.paused = true;
  impl.sequencer_idle.wait(lock, [&] { return impl.sequencer_waiting || impl.closed; });
}

void resume_sequencer(Engine& engine) {
  auto& impl = EngineInternals::of(engine);
  std::lock_guard<std::mutex> lock(impl.queue_mutex);
  impl.paused = false;
  impl.queue_changed.notify_all();
}

bool wait_for_queued(Engine& engine, std::size_t count, std::chrono::milliseconds limit) {
  auto& impl = EngineInternals::of(engine);
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(impl.queue_mutex);
      if (impl.queue.size() >= count) return true;
    }
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

BuildCounts build_counts(Engine& engine) {
  const auto& counters = EngineInternals::of(engine).build_counters;
  BuildCounts out;
  out.batches = counters.batches.load(std::memory_order_relaxed);
  out.largest_batch = counters.largest_batch.load(std::memory_order_relaxed);
  out.retried_alone = counters.retried_alone.load(std::memory_order_relaxed);
  out.rebuilt = counters.rebuilt.load(std::memory_order_relaxed);
  return out;
}

void observe_stages(Engine& engine, StageObserver observer) {
  pause_sequencer(engine);  // the sequencer reads it between batches only
  EngineInternals::of(engine).stage_observer = std::move(observer);
  resume_sequencer(engine);
}

}  // namespace mmsb::engine::testing

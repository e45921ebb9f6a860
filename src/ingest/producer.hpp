// Producer state shared by a Producer handle (its thread) and the sequencer, the doorbell
// that wakes a sleeping sequencer, and the registry of producers (docs/ARCHITECTURE.md
// "ingest").
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "ingest/spsc_ring.hpp"
#include "mmsb/engine.hpp"
#include "mmsb/ingest.hpp"

namespace mmsb::ingest {

// Wakes the sequencer when it sleeps. The sequencer sets `sleeping` and then looks at every
// ring once more (in its condition wait, under `mutex`); a producer publishes into its ring
// and then rings only if it sees `sleeping`. All four accesses are sequentially consistent
// (the rings publish and report their size that way), so in their single total order
// either the sequencer sees the packet or the producer sees it sleeping: no wake-up is lost,
// and a busy sequencer costs producers one load per batch.
struct Doorbell {
  std::mutex mutex;  // also the engine's queue mutex
  std::condition_variable cv;
  std::atomic<bool> sleeping{false};
  std::atomic<bool> closed{false};  // the engine takes no more packets (its rings are drained)

  void ring() {
    if (!sleeping.load(std::memory_order_seq_cst)) return;
    std::lock_guard<std::mutex> lock(mutex);
    cv.notify_all();
  }
};

// A submit time sampled for the latency histogram: one per batch, at most one per
// kLatencySampleEvery packets.
struct LatencySample {
  std::uint64_t sequence = 0;
  std::uint64_t submitted_ns = 0;  // steady clock
};
inline constexpr std::uint64_t kLatencySampleEvery = 64;

struct ProducerState {
  ProducerState(std::uint32_t id, const ProducerOptions& options,
                std::shared_ptr<Doorbell> doorbell);

  const std::uint32_t id;
  const Backpressure backpressure;
  SpscRing<Packet> ring;
  SpscRing<LatencySample> samples;
  std::shared_ptr<Doorbell> doorbell;
  // keep_verdicts: the sequencer pushes, the handle takes (one slot per packet ring slot).
  const bool keep_verdicts;
  SpscRing<PacketVerdict> verdicts;
  const std::function<void()> on_complete;

  // Producer thread only.
  std::uint64_t next_sequence = 1;
  std::uint64_t last_sampled = 0;
  std::uint64_t verdicts_taken = 0;
  bool full = false;  // the ring was full at the last submit

  // Written by the producer thread, read by anyone.
  std::atomic<std::uint64_t> submitted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> backpressure_transitions{0};
  // Sequencer thread only: a latency sample taken from `samples` whose packet is not yet
  // complete.
  LatencySample held;
  bool has_held = false;
  // Written by the sequencer, read by anyone.
  std::atomic<std::uint64_t> admitted{0};
  std::atomic<std::uint64_t> denied{0};
  std::atomic<std::uint64_t> throttled{0};
  std::atomic<std::uint64_t> completed{0};  // completed_sequence
  std::atomic<bool> handle_gone{false};     // the handle was destroyed

  // Refused (fail fast) and dropped packets by topic: the slow path, so a mutex.
  std::mutex refused_mutex;
  std::map<std::uint32_t, std::uint64_t> refused_by_topic;
  void count_refused(std::uint32_t topic);
};

// The producers of one engine. Handles are added by any thread; the sequencer and stats()
// read immutable snapshots of the list (by id).
class ProducerRegistry {
 public:
  using List = std::vector<std::shared_ptr<ProducerState>>;

  explicit ProducerRegistry(std::shared_ptr<Doorbell> doorbell) : doorbell_(std::move(doorbell)) {}

  Result<std::shared_ptr<ProducerState>> add(const ProducerOptions& options);
  // Drops producers whose handle is gone and whose ring is empty (sequencer); returns them.
  std::vector<std::shared_ptr<ProducerState>> remove_finished();
  std::shared_ptr<const List> snapshot() const;

 private:
  std::shared_ptr<Doorbell> doorbell_;
  mutable std::mutex mutex_;
  std::shared_ptr<const List> list_ = std::make_shared<List>();
};

// What a producer refused, dropped and how often it found its ring full: added to `into`
// (refused counts both) and, by topic, to `refused_by_topic`.
void add_backpressure_counters(ProducerState& producer, EngineStats::Ingest& into,
                               std::map<std::uint32_t, std::uint64_t>& refused_by_topic);

}  // namespace mmsb::ingest

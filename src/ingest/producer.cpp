#include "ingest/producer.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

namespace mmsb {
namespace ingest {
namespace {

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

bool closed(const ProducerState& state) {
  return state.doorbell->closed.load(std::memory_order_acquire);
}

Status closed_status(std::uint32_t id) {
  return Status(StatusCode::kUnavailable,
                "producer " + std::to_string(id) + ": the engine is closed");
}

// Waits a little longer each time: spin, yield, then sleep up to 100 us.
void back_off(unsigned& round) {
  if (round < 64) {
    ++round;
  } else if (round < 128) {
    ++round;
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

}  // namespace

ProducerState::ProducerState(std::uint32_t producer_id, const ProducerOptions& options,
                             std::shared_ptr<Doorbell> bell)
    : id(producer_id),
      backpressure(options.backpressure),
      ring(options.ring_packets, options.backpressure == Backpressure::kDropOldest),
      samples(options.ring_packets / kLatencySampleEvery + 2),
      doorbell(std::move(bell)),
      keep_verdicts(options.keep_verdicts),
      verdicts(options.keep_verdicts ? options.ring_packets : 2),
      on_complete(options.on_complete) {}

void ProducerState::count_refused(std::uint32_t topic) {
  std::lock_guard<std::mutex> lock(refused_mutex);
  ++refused_by_topic[topic];
}

Result<std::shared_ptr<ProducerState>> ProducerRegistry::add(const ProducerOptions& options) {
  if (options.ring_packets < 2 || options.ring_packets > kProducerRingMax) {
    return invalid_argument("producer options: ring_packets " +
                            std::to_string(options.ring_packets) + " is outside [2, " +
                            std::to_string(kProducerRingMax) + "]");
  }
  if (options.keep_verdicts && options.backpressure != Backpressure::kFailFast) {
    return invalid_argument("producer options: keep_verdicts needs Backpressure::kFailFast");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::uint32_t id = options.id;
  if (id == 0) {
    id = 1;  // the list is sorted by id: the first gap
    for (const auto& producer : *list_) {
      if (producer->id != id) break;
      ++id;
    }
  } else {
    for (const auto& producer : *list_) {
      if (producer->id == id) {
        return Status(StatusCode::kAlreadyExists,
                      "producer " + std::to_string(id) + " already has a handle");
      }
    }
  }
  auto state = std::make_shared<ProducerState>(id, options, doorbell_);
  auto list = std::make_shared<List>(*list_);
  auto at = list->begin();
  while (at != list->end() && (*at)->id < id) ++at;
  list->insert(at, state);
  list_ = std::move(list);
  return state;
}

std::vector<std::shared_ptr<ProducerState>> ProducerRegistry::remove_finished() {
  std::vector<std::shared_ptr<ProducerState>> removed;
  std::lock_guard<std::mutex> lock(mutex_);
  auto finished = [](const std::shared_ptr<ProducerState>& producer) {
    return producer->handle_gone.load(std::memory_order_acquire) && producer->ring.size_approx() == 0;
  };
  if (std::none_of(list_->begin(), list_->end(), finished)) return removed;
  auto list = std::make_shared<List>();
  for (const auto& producer : *list_) {
    if (finished(producer)) {
      removed.push_back(producer);
    } else {
      list->push_back(producer);
    }
  }
  list_ = std::move(list);
  return removed;
}

void add_backpressure_counters(ProducerState& producer, EngineStats::Ingest& into,
                               std::map<std::uint32_t, std::uint64_t>& refused_by_topic) {
  const std::uint64_t dropped = producer.dropped.load(std::memory_order_relaxed);
  into.refused += producer.refused.load(std::memory_order_relaxed) + dropped;
  into.dropped += dropped;
  into.backpressure_transitions += producer.backpressure_transitions.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(producer.refused_mutex);
  for (const auto& [topic, count] : producer.refused_by_topic) refused_by_topic[topic] += count;
}

std::shared_ptr<const ProducerRegistry::List> ProducerRegistry::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return list_;
}

}  // namespace ingest

Producer::Producer(std::shared_ptr<ingest::ProducerState> state) : state_(std::move(state)) {}
Producer::Producer(Producer&&) noexcept = default;
Producer& Producer::operator=(Producer&& other) noexcept {
  if (this != &other) {
    if (state_) {
      state_->handle_gone.store(true, std::memory_order_release);
      state_->doorbell->ring();
    }
    state_ = std::move(other.state_);
  }
  return *this;
}
Producer::~Producer() {
  if (!state_) return;
  state_->handle_gone.store(true, std::memory_order_release);
  state_->doorbell->ring();
}

std::uint32_t Producer::id() const { return state_->id; }

Result<std::uint64_t> Producer::submit(std::uint32_t topic, std::span<const std::byte> payload) {
  Packet packet;
  if (!packet.set_inline(topic, payload)) {
    return invalid_argument("producer " + std::to_string(state_->id) + ": payload of " +
                            std::to_string(payload.size()) + " bytes does not fit inline (" +
                            std::to_string(kPacketInlineBytes) + "); use submit_reference");
  }
  MMSB_RETURN_IF_ERROR(push(std::span<Packet>(&packet, 1)).status());
  return packet.sequence;
}

Result<std::uint64_t> Producer::submit_reference(std::uint32_t topic,
                                                 std::span<const std::byte> payload) {
  if (payload.size() > kPacketReferenceMaxBytes) {
    return invalid_argument("producer " + std::to_string(state_->id) + ": payload of " +
                            std::to_string(payload.size()) + " bytes is above the limit " +
                            std::to_string(kPacketReferenceMaxBytes));
  }
  Packet packet;
  packet.set_reference(topic, payload);
  MMSB_RETURN_IF_ERROR(push(std::span<Packet>(&packet, 1)).status());
  return packet.sequence;
}

Result<std::size_t> Producer::submit_batch(std::span<Packet> packets) {
  for (const Packet& packet : packets) {
    const bool by_reference = (packet.flags & kPacketByReference) != 0;
    if (packet.flags > kPacketByReference ||
        packet.length > (by_reference ? kPacketReferenceMaxBytes : kPacketInlineBytes)) {
      return invalid_argument("producer " + std::to_string(state_->id) + ": packet of topic " +
                              std::to_string(packet.topic) + " has flags " +
                              std::to_string(packet.flags) + " and length " +
                              std::to_string(packet.length));
    }
  }
  return push(packets);
}

Result<std::size_t> Producer::submit_records(std::uint32_t topic,
                                             std::span<const std::byte> records,
                                             std::size_t record_bytes) {
  if (record_bytes == 0 || record_bytes > kPacketInlineBytes ||
      records.size() % record_bytes != 0) {
    return invalid_argument("producer " + std::to_string(state_->id) + ": " +
                            std::to_string(records.size()) + " bytes of records of " +
                            std::to_string(record_bytes) + " bytes (1 to " +
                            std::to_string(kPacketInlineBytes) + ", a whole number of them)");
  }
  constexpr std::size_t kBatch = 256;
  Packet batch[kBatch];
  const std::size_t count = records.size() / record_bytes;
  std::size_t entered = 0;
  while (entered < count) {
    const std::size_t n = std::min(kBatch, count - entered);
    for (std::size_t i = 0; i < n; ++i) {
      batch[i].set_inline(topic, records.subspan((entered + i) * record_bytes, record_bytes));
    }
    Result<std::size_t> pushed = push(std::span<Packet>(batch, n));
    if (!pushed.is_ok()) {
      if (entered != 0 && pushed.status().code() == StatusCode::kResourceExhausted) break;
      return pushed.status();
    }
    entered += *pushed;
    if (*pushed < n) break;
  }
  return entered;
}

Result<std::size_t> Producer::push(std::span<Packet> packets) {
  ingest::ProducerState& state = *state_;
  if (packets.empty()) return std::size_t{0};
  if (ingest::closed(state)) return ingest::closed_status(state.id);
  for (Packet& packet : packets) {
    packet.producer = state.id;
    packet.reserved = 0;
  }
  std::size_t pushed = 0;
  auto stamp = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) packets[i].sequence = state.next_sequence + i - from;
  };
  auto became_full = [&] {
    if (!state.full) state.backpressure_transitions.fetch_add(1, std::memory_order_relaxed);
    state.full = true;
  };
  switch (state.backpressure) {
    case Backpressure::kDropOldest:
      stamp(0, packets.size());
      for (const Packet& packet : packets) {
        const bool dropped = state.ring.push_overwrite(packet, [&](const Packet& oldest) {
          state.count_refused(oldest.topic);
          state.dropped.fetch_add(1, std::memory_order_relaxed);
        });
        if (dropped) {
          became_full();
        } else {
          state.full = false;
        }
      }
      pushed = packets.size();
      break;
    case Backpressure::kFailFast: {
      stamp(0, packets.size());
      // keep_verdicts: no more packets in flight than verdict slots (taken ones free theirs).
      std::span<Packet> room = packets;
      if (state.keep_verdicts) {
        const std::uint64_t untaken = state.next_sequence - 1 - state.verdicts_taken;
        room = packets.first(std::min<std::uint64_t>(
            packets.size(), state.verdicts.capacity() -
                                std::min<std::uint64_t>(untaken, state.verdicts.capacity())));
      }
      pushed = state.ring.push(room);
      if (pushed < packets.size()) {
        became_full();
        for (std::size_t i = pushed; i < packets.size(); ++i) state.count_refused(packets[i].topic);
        state.refused.fetch_add(packets.size() - pushed, std::memory_order_relaxed);
      } else {
        state.full = false;
      }
      break;
    }
    case Backpressure::kBlock: {
      stamp(0, packets.size());
      unsigned round = 0;
      bool waited = false;
      while (pushed < packets.size()) {
        pushed += state.ring.push(packets.subspan(pushed));
        if (pushed == packets.size()) break;
        if (!waited) became_full();
        waited = true;
        state.doorbell->ring();
        if (ingest::closed(state)) {
          state.next_sequence += pushed;
          state.submitted.fetch_add(pushed, std::memory_order_relaxed);
          return ingest::closed_status(state.id);
        }
        ingest::back_off(round);
      }
      if (!waited) state.full = false;
      break;
    }
  }
  const std::uint64_t last = state.next_sequence + pushed - 1;
  if (pushed != 0 && (state.last_sampled == 0 ||
                      last / ingest::kLatencySampleEvery != state.last_sampled / ingest::kLatencySampleEvery)) {
    // The sample ring is sized so it cannot fill while the packet ring has room; if it does,
    // the sample is skipped (latency is a metric, never an outcome).
    state.samples.push(ingest::LatencySample{last, ingest::steady_ns()});
    state.last_sampled = last;
  }
  state.next_sequence += pushed;
  state.submitted.fetch_add(pushed, std::memory_order_relaxed);
  state.doorbell->ring();
  if (pushed == 0) {
    return Status(StatusCode::kResourceExhausted,
                  "producer " + std::to_string(state.id) + ": ring full (" +
                      std::to_string(state.ring.capacity()) + " packets); packet refused");
  }
  return pushed;
}

ProducerCounters Producer::counters() const {
  const ingest::ProducerState& state = *state_;
  ProducerCounters counters;
  counters.submitted = state.submitted.load(std::memory_order_relaxed);
  counters.refused = state.refused.load(std::memory_order_relaxed);
  counters.dropped = state.dropped.load(std::memory_order_relaxed);
  counters.completed_sequence = state.completed.load(std::memory_order_acquire);
  counters.admitted = state.admitted.load(std::memory_order_relaxed);
  counters.denied = state.denied.load(std::memory_order_relaxed);
  counters.throttled = state.throttled.load(std::memory_order_relaxed);
  return counters;
}

std::uint64_t Producer::completed_sequence() const {
  return state_->completed.load(std::memory_order_acquire);
}

Status Producer::flush() { return flush_for(std::chrono::nanoseconds::max()).status(); }

Result<bool> Producer::flush_for(std::chrono::nanoseconds wait) {
  ingest::ProducerState& state = *state_;
  const std::uint64_t last = state.next_sequence - 1;
  const auto start = std::chrono::steady_clock::now();
  unsigned round = 0;
  while (state.completed.load(std::memory_order_acquire) < last) {
    if (ingest::closed(state) && state.completed.load(std::memory_order_acquire) < last) {
      return ingest::closed_status(state.id);
    }
    if (wait != std::chrono::nanoseconds::max() &&
        std::chrono::steady_clock::now() - start >= wait) {
      return false;
    }
    state.doorbell->ring();
    ingest::back_off(round);
  }
  return true;
}

std::size_t Producer::take_verdicts(std::span<PacketVerdict> out) {
  const std::size_t taken = state_->verdicts.pop(out);
  state_->verdicts_taken += taken;
  return taken;
}

}  // namespace mmsb

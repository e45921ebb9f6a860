// RemoteProducer: Producer's calls over a Client, batching packets into INGEST requests.
#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "mmsb/client.hpp"
#include "net/wire.hpp"

namespace mmsb {

// What the answers' callbacks (on the client's reader thread) and the producer share.
struct RemoteProducer::State {
  std::mutex mutex;
  std::condition_variable answered;
  std::size_t batches_in_flight = 0;
  ProducerCounters counters;
  Status failure;
};

RemoteProducer::RemoteProducer(Client& client, std::size_t batch_packets)
    : client_(&client),
      batch_packets_(std::clamp<std::size_t>(batch_packets, 1, net::kIngestPacketsMax)),
      state_(std::make_shared<State>()) {
  queued_.reserve(batch_packets_);
}
RemoteProducer::RemoteProducer(RemoteProducer&&) noexcept = default;
RemoteProducer& RemoteProducer::operator=(RemoteProducer&&) noexcept = default;
RemoteProducer::~RemoteProducer() {
  if (state_) (void)flush();
}

Status RemoteProducer::submit(std::uint32_t topic, std::span<const std::byte> payload) {
  Packet packet;
  if (!packet.set_inline(topic, payload)) {
    return invalid_argument("remote producer: payload of " + std::to_string(payload.size()) +
                            " bytes is above the inline limit " +
                            std::to_string(kPacketInlineBytes));
  }
  queued_.push_back(packet);
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    ++state_->counters.submitted;
  }
  if (queued_.size() >= batch_packets_) send_queued();
  return Status::ok();
}

void RemoteProducer::send_queued() {
  if (queued_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    ++state_->batches_in_flight;
  }
  client_->ingest_async(queued_, [state = state_](Result<RemoteIngest> answer) {
    std::lock_guard<std::mutex> lock(state->mutex);
    --state->batches_in_flight;
    if (!answer.is_ok()) {
      if (state->failure.is_ok()) state->failure = answer.status();
    } else {
      for (const PacketVerdict& verdict : answer->verdicts) {
        switch (verdict.outcome) {
          case PacketOutcome::kAdmitted: ++state->counters.admitted; break;
          case PacketOutcome::kDenied: ++state->counters.denied; break;
          case PacketOutcome::kThrottled: ++state->counters.throttled; break;
          case PacketOutcome::kRefused: ++state->counters.refused; break;
        }
      }
      // The sequences of a batch's packets that entered the ring are consecutive.
      const auto entered = static_cast<std::uint64_t>(
          std::count_if(answer->verdicts.begin(), answer->verdicts.end(),
                        [](const PacketVerdict& v) { return v.outcome != PacketOutcome::kRefused; }));
      if (entered != 0) {
        state->counters.completed_sequence = answer->first_sequence + entered - 1;
      }
    }
    state->answered.notify_all();
  });
  queued_.clear();
}

Status RemoteProducer::flush() {
  send_queued();
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->answered.wait(lock, [&] { return state_->batches_in_flight == 0; });
  return state_->failure;
}

ProducerCounters RemoteProducer::counters() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->counters;
}

}  // namespace mmsb

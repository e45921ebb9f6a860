// The client's connection: the reader thread, requests in flight by id, the answers'
// decoding. Shared by net/client.cpp (the connection) and net/client_calls.cpp (the calls).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "mmsb/client.hpp"
#include "net/wire.hpp"

namespace mmsb::net::client {

using net::FrameType;

// One answer frame as the reader thread hands it to the request's handler; `failure` is set
// instead when the connection broke first.
struct Answer {
  FrameType type = FrameType::kError;
  std::span<const std::byte> body;
  Status failure;
};
using AnswerHandler = std::function<void(const Answer&)>;

// The Status an answer stands for if it is not the `expected` type.
inline Status answer_status(const Answer& answer, FrameType request) {
  if (!answer.failure.is_ok()) return answer.failure;
  if (answer.type == FrameType::kError) {
    net::ErrorAnswer error;
    Status decoded = net::decode_error(answer.body, error);
    if (!decoded.is_ok()) return decoded;
    return Status(error.code, error.message);
  }
  if (answer.type != net::answer_to(request)) {
    return Status(StatusCode::kInternal,
                  "server answered " + std::string(net::frame_type_name(request)) +
                      " with frame type " + std::to_string(static_cast<unsigned>(answer.type)));
  }
  return Status::ok();
}

}  // namespace mmsb::net::client

namespace mmsb {

using net::FrameType;
using net::client::Answer;
using net::client::answer_status;
using net::client::AnswerHandler;

struct Client::Impl {
  ~Impl() { close(); }

  // Sends one request framed by `encode` and hands its answer to `handler` (on the reader
  // thread, or here with the failure if the connection is broken).
  // `encode` returns void, or a Status: an encoding error answers the request at once.
  template <typename Encode>
  void request(const Encode& encode, AnswerHandler handler);
  // A synchronous request: `on_answer` turns the answer into the result.
  template <typename T, typename Encode, typename OnAnswer>
  Result<T> call(FrameType type, const Encode& encode, const OnAnswer& on_answer);
  void read_frames();
  void fail_all(const Status& status);
  void close();
  // Sends the queued requests (write_mutex held); on a socket error the reader fails them.
  void send_queued();
  // The reader got `answers` answers: sends what queued meanwhile.
  void answered(std::size_t answers);

  int fd = -1;
  std::string address;
  std::uint32_t timeout_ms = 0;
  net::HelloOk hello;
  std::uint64_t next_id = 1;  // under write_mutex
  // A request is sent by its caller when none is unanswered; while some are, requests queue
  // in write_buffer and leave together when the next answer arrives (the reader sends
  // them) or the queue passes kQueuedBytesMax: a lone request goes at once, pipelined ones
  // in batches, with one system call and one wake-up of the server for many.
  static constexpr std::size_t kQueuedBytesMax = 256 << 10;
  std::mutex write_mutex;
  std::vector<std::byte> write_buffer;  // queued requests
  std::size_t queued = 0;               // in write_buffer (whole frames)
  std::size_t unanswered = 0;           // sent, not yet answered
  std::mutex mutex;                     // pending, subscriptions, broken
  // Requests not yet answered, in id order from pending_first (ids are given in the order
  // requests are registered, under write_mutex): an answered one is emptied and the front
  // drops as it is answered, so a lookup is an index and no node is allocated.
  std::deque<AnswerHandler> pending;
  std::uint64_t pending_first = 1;
  // The handler waiting for `id` (empty if none), taken out of `pending` (mutex held).
  AnswerHandler take_pending(std::uint64_t id);
  std::map<std::uint64_t, std::shared_ptr<EventCallback>> subscriptions;
  Status broken;
  std::thread reader;
  bool closed = false;
};

template <typename Encode>
void Client::Impl::request(const Encode& encode, AnswerHandler handler) {
  std::lock_guard<std::mutex> write_lock(write_mutex);
  const std::uint64_t id = next_id;
  const std::size_t start = write_buffer.size();
  if constexpr (std::is_same_v<decltype(encode(write_buffer, id)), Status>) {
    Status encoded = encode(write_buffer, id);  // on failure the buffer is as it was
    if (!encoded.is_ok()) return handler(Answer{FrameType::kError, {}, encoded});
  } else {
    encode(write_buffer, id);
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!broken.is_ok()) {
      write_buffer.resize(start);
      const Status failure = broken;
      return handler(Answer{FrameType::kError, {}, failure});
    }
    pending.push_back(std::move(handler));  // at pending_first + its index == id
  }
  ++next_id;
  ++queued;
  if (unanswered == 0 || write_buffer.size() >= kQueuedBytesMax) send_queued();
}

template <typename T, typename Encode, typename OnAnswer>
Result<T> Client::Impl::call(FrameType type, const Encode& encode, const OnAnswer& on_answer) {
  // The answer is decoded on the reader thread (its body lives only there), so the
  // decoder is copied into the handler: a timed-out call leaves nothing dangling.
  auto promise = std::make_shared<std::promise<Result<T>>>();
  std::future<Result<T>> result = promise->get_future();
  request(encode, [promise, type, on_answer](const Answer& answer) {
    Status status = answer_status(answer, type);
    promise->set_value(status.is_ok() ? Result<T>(on_answer(answer.body)) : Result<T>(status));
  });
  if (result.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
    return Status(StatusCode::kUnavailable,
                  std::string(net::frame_type_name(type)) + " to " + address + ": no answer in " +
                      std::to_string(timeout_ms) + " ms (outcome unknown)");
  }
  return result.get();
}

}  // namespace mmsb

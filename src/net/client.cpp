#include "mmsb/client.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "net/address.hpp"
#include "net/wire.hpp"

namespace mmsb {

using net::FrameType;

namespace {

// One answer frame as the reader thread hands it to the request's handler; `failure` is set
// instead when the connection broke first.
struct Answer {
  FrameType type = FrameType::kError;
  std::span<const std::byte> body;
  Status failure;
};
using AnswerHandler = std::function<void(const Answer&)>;

// The Status an answer stands for if it is not the `expected` type.
Status answer_status(const Answer& answer, FrameType request) {
  if (!answer.failure.is_ok()) return answer.failure;
  if (answer.type == FrameType::kError) {
    net::ErrorAnswer error;
    Status decoded = net::decode_error(answer.body, error);
    if (!decoded.is_ok()) return decoded;
    return Status(error.code, error.message);
  }
  if (answer.type != net::answer_to(request)) {
    return Status(StatusCode::kInternal, "server answered " +
                                             std::string(net::frame_type_name(request)) +
                                             " with frame type " +
                                             std::to_string(static_cast<unsigned>(answer.type)));
  }
  return Status::ok();
}

template <typename T>
T& record(std::vector<log::Op>& ops) {
  return std::get<T>(ops.emplace_back(std::in_place_type<T>));
}

}  // namespace

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

  int fd = -1;
  std::string address;
  std::uint32_t timeout_ms = 0;
  net::HelloOk hello;
  std::atomic<std::uint64_t> next_id{1};
  std::mutex write_mutex;
  std::vector<std::byte> write_buffer;
  std::mutex mutex;  // pending, subscriptions, broken
  std::map<std::uint64_t, AnswerHandler> pending;
  std::map<std::uint64_t, std::shared_ptr<EventCallback>> subscriptions;
  Status broken;
  std::thread reader;
  bool closed = false;
};

template <typename Encode>
void Client::Impl::request(const Encode& encode, AnswerHandler handler) {
  const std::uint64_t id = next_id.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> write_lock(write_mutex);
  write_buffer.clear();
  if constexpr (std::is_same_v<decltype(encode(write_buffer, id)), Status>) {
    Status encoded = encode(write_buffer, id);
    if (!encoded.is_ok()) return handler(Answer{FrameType::kError, {}, encoded});
  } else {
    encode(write_buffer, id);
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!broken.is_ok()) {
      const Status failure = broken;
      return handler(Answer{FrameType::kError, {}, failure});
    }
    pending.emplace(id, std::move(handler));
  }
  std::size_t sent = 0;
  while (sent < write_buffer.size()) {
    const ssize_t n = ::send(fd, write_buffer.data() + sent, write_buffer.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::shutdown(fd, SHUT_RDWR);  // the reader fails everything in flight
      return;
    }
    sent += static_cast<std::size_t>(n);
  }
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

void Client::Impl::read_frames() {
  std::vector<std::byte> buffer(1 << 20);
  std::size_t have = 0;
  for (;;) {
    if (buffer.size() - have < 65536) buffer.resize(buffer.size() * 2);
    const ssize_t n = ::recv(fd, buffer.data() + have, buffer.size() - have, 0);
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
    std::size_t at = 0;
    while (have - at >= net::kFrameHeaderBytes) {
      Result<net::FrameHeader> header = net::decode_header(
          std::span<const std::byte>(buffer.data() + at, have - at).first<net::kFrameHeaderBytes>(),
          0xffffffffu);
      if (!header.is_ok()) {
        fail_all(Status(StatusCode::kUnavailable, "from " + address + ": " + header.status().message()));
        return;
      }
      const std::size_t whole = net::kFrameHeaderBytes + header->length;
      if (have - at < whole) {
        if (buffer.size() < whole) buffer.resize(whole);
        break;
      }
      const std::span<const std::byte> body(buffer.data() + at + net::kFrameHeaderBytes, header->length);
      at += whole;
      if (header->type == FrameType::kEvent) {
        std::shared_ptr<EventCallback> callback;
        {
          std::lock_guard<std::mutex> lock(mutex);
          auto it = subscriptions.find(header->id);
          if (it != subscriptions.end()) callback = it->second;
        }
        EventBatch batch;
        if (callback && net::decode_event(body, batch).is_ok()) (*callback)(batch);
        continue;
      }
      AnswerHandler handler;
      {
        std::lock_guard<std::mutex> lock(mutex);
        auto it = pending.find(header->id);
        if (it == pending.end()) {
          // id 0: an error the server sent before closing (a limit, a bad frame).
          if (header->type == FrameType::kError) {
            net::ErrorAnswer error;
            if (net::decode_error(body, error).is_ok()) broken = Status(error.code, error.message);
          }
          continue;
        }
        handler = std::move(it->second);
        pending.erase(it);
      }
      handler(Answer{header->type, body, Status::ok()});
    }
    if (at != 0) {
      std::memmove(buffer.data(), buffer.data() + at, have - at);
      have -= at;
    }
  }
  fail_all(Status(StatusCode::kUnavailable,
                  "connection to " + address + " lost: the outcome of requests in flight is unknown"));
}

void Client::Impl::fail_all(const Status& status) {
  std::map<std::uint64_t, AnswerHandler> failed;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (broken.is_ok()) {
      broken = status;
    } else if (broken.code() != StatusCode::kUnavailable) {
      broken = Status(broken.code(), broken.message() + " (connection closed by the server)");
    }
    failed.swap(pending);
  }
  const Status reason = broken;
  for (auto& [id, handler] : failed) handler(Answer{FrameType::kError, {}, reason});
}

void Client::Impl::close() {
  if (closed) return;
  closed = true;
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  if (reader.joinable()) reader.join();
  if (fd >= 0) ::close(fd);
  fd = -1;
}

Result<std::unique_ptr<Client>> Client::connect(const ClientOptions& options) {
  MMSB_ASSIGN_OR_RETURN(net::Address address, net::parse_address(options.address));
  auto impl = std::make_unique<Impl>();
  impl->address = address.text();
  impl->timeout_ms = options.timeout_ms;
  MMSB_ASSIGN_OR_RETURN(impl->fd, net::connect_to(address));
  Impl* raw = impl.get();
  impl->reader = std::thread([raw] { raw->read_frames(); });
  Result<net::HelloOk> hello = impl->call<net::HelloOk>(
      FrameType::kHello,
      [&](std::vector<std::byte>& out, std::uint64_t id) {
        net::encode_hello(out, id, net::Hello{net::kProtocolVersion, options.token});
      },
      [](std::span<const std::byte> body) -> Result<net::HelloOk> {
        net::HelloOk ok;
        MMSB_RETURN_IF_ERROR(net::decode_hello_ok(body, ok));
        return ok;
      });
  MMSB_RETURN_IF_ERROR(hello.status());
  impl->hello = *hello;
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() { close(); }
void Client::close() { impl_->close(); }
std::uint32_t Client::frame_bytes_max() const { return impl_->hello.frame_bytes_max; }
std::uint32_t Client::requests_in_flight_max() const { return impl_->hello.in_flight_max; }

void Client::commit_async(const std::vector<log::Op>& ops, CommitCallback done, std::uint64_t fork) {
  auto callback = std::make_shared<CommitCallback>(std::move(done));
  impl_->request(
      [&](std::vector<std::byte>& out, std::uint64_t id) {
        return net::encode_commit(out, id, net::Commit{fork, ops});
      },
      [callback](const Answer& answer) {
        Status status = answer_status(answer, FrameType::kCommit);
        if (!status.is_ok()) return (*callback)(status);
        CommitInfo info;
        status = net::decode_commit_ok(answer.body, info);
        if (!status.is_ok()) return (*callback)(status);
        (*callback)(std::move(info));
      });
}

Result<CommitInfo> Client::commit(const std::vector<log::Op>& ops, std::uint64_t fork) {
  auto promise = std::make_shared<std::promise<Result<CommitInfo>>>();
  std::future<Result<CommitInfo>> result = promise->get_future();
  commit_async(ops, [promise](Result<CommitInfo> info) { promise->set_value(std::move(info)); }, fork);
  return result.get();
}

Result<std::vector<Result<RemotePage>>> Client::read(std::span<const PageId> pages,
                                                      std::uint64_t tick, std::uint64_t fork) {
  net::Read request{tick, fork, std::vector<PageId>(pages.begin(), pages.end())};
  return impl_->call<std::vector<Result<RemotePage>>>(
      FrameType::kRead,
      [&](std::vector<std::byte>& out, std::uint64_t id) { net::encode_read(out, id, request); },
      [ids = request.pages](std::span<const std::byte> body) -> Result<std::vector<Result<RemotePage>>> {
        net::ReadOk ok;
        MMSB_RETURN_IF_ERROR(net::decode_read_ok(body, ok));
        if (ok.pages.size() != ids.size()) {
          return Status(StatusCode::kInternal, "READ answered with another page count");
        }
        std::vector<Result<RemotePage>> out;
        for (std::size_t i = 0; i < ok.pages.size(); ++i) {
          const net::PageAnswer& page = ok.pages[i];
          if (page.code != StatusCode::kOk) {
            out.emplace_back(Status(page.code, "page " + std::to_string(ids[i].value()) +
                                                   " does not exist"));
            continue;
          }
          out.emplace_back(RemotePage{ids[i], page.type, page.epoch,
                                      std::vector<std::byte>(page.bytes.begin(), page.bytes.end())});
        }
        return out;
      });
}

Result<RemotePage> Client::get(PageId page, std::uint64_t tick, std::uint64_t fork) {
  MMSB_ASSIGN_OR_RETURN(auto pages, read(std::span<const PageId>(&page, 1), tick, fork));
  return std::move(pages.front());
}

namespace {

Result<net::TickRoot> tick_root_of(std::span<const std::byte> body, FrameType type) {
  net::TickRoot answer;
  MMSB_RETURN_IF_ERROR(net::decode_tick_root(body, type, answer));
  return answer;
}

Result<bool> empty_answer(std::span<const std::byte> body, FrameType type) {
  MMSB_RETURN_IF_ERROR(net::decode_empty(body, net::answer_to(type)));
  return true;
}

}  // namespace

Result<std::pair<TickId, Hash128>> Client::pin() {
  MMSB_ASSIGN_OR_RETURN(net::TickRoot answer,
                        impl_->call<net::TickRoot>(
                            FrameType::kPin,
                            [](std::vector<std::byte>& out, std::uint64_t id) {
                              net::encode_empty(out, FrameType::kPin, id);
                            },
                            [](std::span<const std::byte> body) {
                              return tick_root_of(body, FrameType::kPin);
                            }));
  return std::make_pair(TickId(answer.tick), answer.root);
}

Status Client::unpin(TickId tick) {
  return impl_->call<bool>(
                  FrameType::kUnpin,
                  [&](std::vector<std::byte>& out, std::uint64_t id) {
                    net::encode_u64(out, FrameType::kUnpin, id, tick.value());
                  },
                  [](std::span<const std::byte> body) { return empty_answer(body, FrameType::kUnpin); })
      .status();
}

Result<std::uint64_t> Client::fork() {
  MMSB_ASSIGN_OR_RETURN(net::TickRoot answer,
                        impl_->call<net::TickRoot>(
                            FrameType::kFork,
                            [](std::vector<std::byte>& out, std::uint64_t id) {
                              net::encode_empty(out, FrameType::kFork, id);
                            },
                            [](std::span<const std::byte> body) {
                              return tick_root_of(body, FrameType::kFork);
                            }));
  return answer.count;
}

Status Client::drop_fork(std::uint64_t fork) {
  return impl_->call<bool>(
                  FrameType::kDropFork,
                  [&](std::vector<std::byte>& out, std::uint64_t id) {
                    net::encode_u64(out, FrameType::kDropFork, id, fork);
                  },
                  [](std::span<const std::byte> body) { return empty_answer(body, FrameType::kDropFork); })
      .status();
}

Result<RemoteMerge> Client::merge(std::uint64_t fork, MergePolicy policy) {
  return impl_->call<RemoteMerge>(
      FrameType::kMerge,
      [&](std::vector<std::byte>& out, std::uint64_t id) {
        net::encode_merge(out, id, net::Merge{fork, policy});
      },
      [](std::span<const std::byte> body) -> Result<RemoteMerge> {
        net::MergeOk ok;
        MMSB_RETURN_IF_ERROR(net::decode_merge_ok(body, ok));
        return RemoteMerge{TickId(ok.tick), ok.root, ok.path, ok.pages_taken_from_theirs,
                           ok.pages_merged, ok.clashes_resolved, std::move(ok.page_remap),
                           std::move(ok.edge_remap)};
      });
}

Result<std::uint64_t> Client::subscribe(const EventFilter& filter, EventCallback callback) {
  auto shared = std::make_shared<EventCallback>(std::move(callback));
  std::uint64_t request_id = 0;
  // Registered under the request's id before the request leaves, so no event is missed.
  Result<std::uint64_t> subscription = impl_->call<std::uint64_t>(
      FrameType::kSubscribe,
      [&](std::vector<std::byte>& out, std::uint64_t id) {
        request_id = id;
        {
          std::lock_guard<std::mutex> lock(impl_->mutex);
          impl_->subscriptions.emplace(id, shared);
        }
        net::encode_subscribe(out, id, net::Subscribe{filter.types, filter.pages});
      },
      [](std::span<const std::byte> body) -> Result<std::uint64_t> {
        std::uint64_t value = 0;
        MMSB_RETURN_IF_ERROR(net::decode_u64(body, net::answer_to(FrameType::kSubscribe), value));
        return value;
      });
  if (!subscription.is_ok()) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->subscriptions.erase(request_id);
  }
  return subscription;
}

Status Client::unsubscribe(std::uint64_t subscription) {
  Status status = impl_->call<bool>(
                           FrameType::kUnsubscribe,
                           [&](std::vector<std::byte>& out, std::uint64_t id) {
                             net::encode_u64(out, FrameType::kUnsubscribe, id, subscription);
                           },
                           [](std::span<const std::byte> body) {
                             return empty_answer(body, FrameType::kUnsubscribe);
                           })
                      .status();
  if (status.is_ok()) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->subscriptions.erase(subscription);
  }
  return status;
}

void Client::ingest_async(std::span<const Packet> packets,
                          std::function<void(Result<RemoteIngest>)> done) {
  auto callback = std::make_shared<std::function<void(Result<RemoteIngest>)>>(std::move(done));
  impl_->request(
      [&](std::vector<std::byte>& out, std::uint64_t id) { net::encode_ingest(out, id, packets); },
      [callback](const Answer& answer) {
        Status status = answer_status(answer, FrameType::kIngest);
        if (!status.is_ok()) return (*callback)(status);
        net::IngestOk ok;
        status = net::decode_ingest_ok(answer.body, ok);
        if (!status.is_ok()) return (*callback)(status);
        (*callback)(RemoteIngest{ok.first_sequence, std::move(ok.verdicts)});
      });
}

Result<RemoteIngest> Client::ingest(std::span<const Packet> packets) {
  auto promise = std::make_shared<std::promise<Result<RemoteIngest>>>();
  std::future<Result<RemoteIngest>> result = promise->get_future();
  ingest_async(packets, [promise](Result<RemoteIngest> answer) { promise->set_value(std::move(answer)); });
  return result.get();
}

Result<std::vector<RemoteStat>> Client::stats() {
  return impl_->call<std::vector<RemoteStat>>(
      FrameType::kStats,
      [](std::vector<std::byte>& out, std::uint64_t id) { net::encode_empty(out, FrameType::kStats, id); },
      [](std::span<const std::byte> body) -> Result<std::vector<RemoteStat>> {
        std::vector<net::StatsEntry> entries;
        MMSB_RETURN_IF_ERROR(net::decode_stats_ok(body, entries));
        std::vector<RemoteStat> out;
        for (net::StatsEntry& entry : entries) out.push_back({std::move(entry.name), entry.value, entry.counter});
        return out;
      });
}

Result<TickId> Client::checkpoint() {
  MMSB_ASSIGN_OR_RETURN(net::TickRoot answer,
                        impl_->call<net::TickRoot>(
                            FrameType::kCheckpoint,
                            [](std::vector<std::byte>& out, std::uint64_t id) {
                              net::encode_empty(out, FrameType::kCheckpoint, id);
                            },
                            [](std::span<const std::byte> body) {
                              return tick_root_of(body, FrameType::kCheckpoint);
                            }));
  return TickId(answer.tick);
}

Result<Client::ReplayAnswer> Client::replay(TickId to, bool reexecute) {
  MMSB_ASSIGN_OR_RETURN(net::TickRoot answer,
                        impl_->call<net::TickRoot>(
                            FrameType::kReplay,
                            [&](std::vector<std::byte>& out, std::uint64_t id) {
                              net::encode_replay(out, id, net::Replay{to.value(), reexecute});
                            },
                            [](std::span<const std::byte> body) {
                              return tick_root_of(body, FrameType::kReplay);
                            }));
  return ReplayAnswer{TickId(answer.tick), answer.root, answer.count};
}

// --- RemoteTransaction ---

PageId RemoteTransaction::create_page(const PageSpec& spec) {
  auto& op = record<log::CreatePageOp>(ops_);
  op.type = spec.type;
  op.size_bytes = spec.size_bytes;
  op.bytes.assign(spec.initial.begin(), spec.initial.end());
  return PageId(log::kProvisionalBit | pages_created_++);
}

void RemoteTransaction::write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes) {
  auto& op = record<log::WriteOp>(ops_);
  op.page = page.value();
  op.offset = offset;
  op.bytes.assign(bytes.begin(), bytes.end());
}

void RemoteTransaction::put(PageId page, std::span<const std::byte> bytes) { write(page, 0, bytes); }

void RemoteTransaction::delete_page(PageId page) { record<log::DeletePageOp>(ops_).page = page.value(); }

EdgeId RemoteTransaction::add_edge(EdgeKind kind, PageId from, PageId to) {
  auto& op = record<log::AddEdgeOp>(ops_);
  op.edge_kind = kind;
  op.from = from.value();
  op.to = to.value();
  return EdgeId(log::kProvisionalBit | edges_created_++);
}

void RemoteTransaction::remove_edge(EdgeId edge) { record<log::RemoveEdgeOp>(ops_).edge = edge.value(); }

void RemoteTransaction::derive(PageId child, std::span<const PageId> parents,
                               std::string_view function) {
  auto& op = record<log::DeriveOp>(ops_);
  op.page = child.value();
  op.function = std::string(function);
  for (PageId parent : parents) op.parents.push_back(parent.value());
}

void RemoteTransaction::apply(std::string_view rule, PageId scope) {
  auto& op = record<log::ApplyRuleOp>(ops_);
  op.family = rule_family_id(rule);
  op.page = scope.value();
}

Result<std::vector<std::byte>> RemoteTransaction::read(PageId page) {
  MMSB_ASSIGN_OR_RETURN(RemotePage remote, client_->get(page, 0, fork_));
  auto& op = record<log::ReadOp>(ops_);
  op.page = page.value();
  op.epoch = remote.epoch.value();
  return std::move(remote.bytes);
}

Result<CommitInfo> RemoteTransaction::commit() { return client_->commit(ops_, fork_); }

void RemoteTransaction::commit_async(CommitCallback done) {
  client_->commit_async(ops_, std::move(done), fork_);
}

}  // namespace mmsb

#include "net/session.hpp"

#include <sodium.h>

#include <algorithm>
#include <utility>

namespace mmsb::net {
namespace {

using Clock = std::chrono::steady_clock;

bool tokens_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

// --- Mailbox: engine threads ---

void Mailbox::post_locked() {
  if (posted || closed) return;
  posted = true;
  owner.post(conn);
}

void Mailbox::commit_done(std::uint64_t request, Result<CommitInfo> outcome) {
  std::lock_guard<std::mutex> lock(mutex);
  if (closed) return;
  commits.emplace_back(request, std::move(outcome));
  post_locked();
}

void Mailbox::slow_done(std::vector<std::byte>&& frame, std::uint64_t fork_id,
                        std::shared_ptr<Fork> fork) {
  std::lock_guard<std::mutex> lock(mutex);
  if (closed) return;
  if (fork) forks_back.emplace_back(fork_id, std::move(fork));
  if (frame.size() > 4 && frame[4] == static_cast<std::byte>(FrameType::kError)) ++slow_errors;
  frames.insert(frames.end(), frame.begin(), frame.end());
  ++slow_answers;
  post_locked();
}

void Mailbox::event(std::uint64_t subscribe_id, const EventBatch& batch, LoopCounters& counters) {
  std::lock_guard<std::mutex> lock(mutex);
  if (closed) return;
  const std::size_t start = frames.size();
  encode_event(frames, subscribe_id, batch, events_dropped + batch.batches_dropped_before);
  const std::uint64_t bytes = frames.size() - start;
  if (event_bytes + out_backlog.load(std::memory_order_relaxed) + bytes > queue_bytes_max) {
    frames.resize(start);
    ++events_dropped;  // the subscriber is slow: the next frame it gets says how many
    counters.events_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ++event_frames;
  events_dropped = 0;
  event_bytes += bytes;
  post_locked();
}

void Mailbox::ingest_ready() {
  std::lock_guard<std::mutex> lock(mutex);
  verdicts = true;
  post_locked();
}

// --- Session: the loop's thread ---

Session::Session(Dispatcher& dispatcher, Conn& conn)
    : dispatcher_(dispatcher),
      conn_(conn),
      mailbox_(
          new Mailbox(dispatcher, conn.id, dispatcher.options.limits.subscription_queue_bytes)),
      last_frame_(Clock::now()),
      opened_(last_frame_) {}

Session::~Session() {
  {
    std::lock_guard<std::mutex> lock(mailbox_->mutex);
    mailbox_->closed = true;
  }
  for (const auto& [id, subscription] : subscriptions_) {
    (void)dispatcher_.engine.unsubscribe(subscription);
  }
  producer_.reset();
  mailbox_->unref();
}

void Session::on_data(std::span<const std::byte> bytes) {
  if (closed_) return;
  std::span<const std::byte> data = bytes;
  if (!partial_.empty()) {
    partial_.insert(partial_.end(), bytes.begin(), bytes.end());
    data = partial_;
  }
  const std::uint32_t frame_max = dispatcher_.options.limits.frame_bytes_max;
  std::size_t at = 0;
  while (!closed_ && data.size() - at >= kFrameHeaderBytes) {
    Result<FrameHeader> header =
        decode_header(data.subspan(at).first<kFrameHeaderBytes>(), frame_max);
    if (!header.is_ok()) {
      error(get_le<std::uint64_t>(data.data() + at + 8), header.status(), true);
      break;
    }
    const std::size_t whole = kFrameHeaderBytes + header->length;
    // Not whole yet. No room is reserved for what the header claims: a header costs its
    // sender nothing, the bytes that arrive do.
    if (data.size() - at < whole) break;
    handle(*header, data.subspan(at + kFrameHeaderBytes, header->length));
    at += whole;
  }
  if (closed_) {
    partial_.clear();
  } else if (partial_.empty()) {
    partial_.assign(data.begin() + static_cast<std::ptrdiff_t>(at), data.end());
  } else {
    partial_.erase(partial_.begin(), partial_.begin() + static_cast<std::ptrdiff_t>(at));
  }
  flush();
}

void Session::handle(const FrameHeader& header, std::span<const std::byte> body) {
  dispatcher_.counters.frames_in.fetch_add(1, std::memory_order_relaxed);
  last_frame_ = Clock::now();
  if (!authenticated_) {
    if (header.type != FrameType::kHello) {
      return error(header.id,
                   invalid_argument("the first frame must be HELLO, not " +
                                    std::string(frame_type_name(header.type))),
                   true);
    }
    return hello(header, body);
  }
  const ServerLimits& limits = dispatcher_.options.limits;
  if (conn_.backlog() > limits.output_bytes_max) {
    return error(header.id,
                 limit_passed("output_bytes_max", limits.output_bytes_max,
                              "the client does not read its answers"),
                 true);
  }
  if (in_flight_ >= limits.requests_in_flight_max) {
    return error(header.id,
                 limit_passed("requests_in_flight_max", limits.requests_in_flight_max,
                              "too many unanswered requests on this connection"),
                 true);
  }
  handle_request(header, body);
}

void Session::handle_request(const FrameHeader& header, std::span<const std::byte> body) {
  switch (header.type) {
    case FrameType::kCommit:
      return commit(header, body);
    case FrameType::kRead:
      return read(header, body);
    case FrameType::kPin:
      return pin(header, body, false);
    case FrameType::kUnpin:
      return pin(header, body, true);
    case FrameType::kFork:
      return fork(header, body, false);
    case FrameType::kDropFork:
      return fork(header, body, true);
    case FrameType::kMerge:
      return merge(header, body);
    case FrameType::kSubscribe:
      return subscribe(header, body, false);
    case FrameType::kUnsubscribe:
      return subscribe(header, body, true);
    case FrameType::kIngest:
      return ingest(header, body);
    case FrameType::kStats:
    case FrameType::kCheckpoint:
    case FrameType::kReplay:
      return slow(header, body);
    case FrameType::kHello:
      return error(header.id, failed_precondition("HELLO was already sent on this connection"));
    default:
      return error(header.id,
                   invalid_argument("unknown request type " +
                                    std::to_string(static_cast<unsigned>(header.type))),
                   true);
  }
}

void Session::hello(const FrameHeader& header, std::span<const std::byte> body) {
  Hello hello;
  Status decoded = decode_hello(body, hello);
  if (!decoded.is_ok()) return error(header.id, decoded, true);
  if (hello.version != kProtocolVersion) {
    dispatcher_.counters.auth_failures.fetch_add(1, std::memory_order_relaxed);
    return error(header.id,
                 failed_precondition("protocol version " + std::to_string(hello.version) +
                                     " is not served (this server speaks " +
                                     std::to_string(kProtocolVersion) + ")"),
                 true);
  }
  const std::string& token = dispatcher_.options.token;
  if (!token.empty() && !tokens_equal(hello.token, token)) {
    dispatcher_.counters.auth_failures.fetch_add(1, std::memory_order_relaxed);
    return error(header.id, Status(StatusCode::kPermissionDenied, "wrong token"), true);
  }
  authenticated_ = true;
  const ServerLimits& limits = dispatcher_.options.limits;
  encode_hello_ok(conn_.out, header.id,
                  HelloOk{kProtocolVersion, dispatcher_.engine.snapshot().tick().value(),
                          limits.frame_bytes_max, limits.requests_in_flight_max, limits.pins_max});
  dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void Session::on_mail() {
  std::uint64_t slow_answers = 0, slow_errors = 0, event_frames = 0;
  bool verdicts = false;
  {
    std::lock_guard<std::mutex> lock(mailbox_->mutex);
    mailbox_->posted = false;
    commits_.swap(mailbox_->commits);
    frames_.swap(mailbox_->frames);
    slow_answers = std::exchange(mailbox_->slow_answers, 0);
    slow_errors = std::exchange(mailbox_->slow_errors, 0);
    event_frames = std::exchange(mailbox_->event_frames, 0);
    forks_back_.swap(mailbox_->forks_back);
    mailbox_->event_bytes = 0;
    verdicts = mailbox_->verdicts;
    mailbox_->verdicts = false;
  }
  if (closed_) return;
  for (auto& [id, fork] : forks_back_) forks_.emplace(id, std::move(*fork));
  forks_back_.clear();
  for (auto& [id, outcome] : commits_) {
    if (outcome.is_ok()) {
      encode_commit_ok(conn_.out, id, *outcome);
      dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
    } else {
      error(id, outcome.status());
    }
  }
  answered(commits_.size() + slow_answers);
  commits_.clear();
  dispatcher_.counters.frames_out.fetch_add(slow_answers + event_frames, std::memory_order_relaxed);
  dispatcher_.counters.errors.fetch_add(slow_errors, std::memory_order_relaxed);
  conn_.out.insert(conn_.out.end(), frames_.begin(), frames_.end());
  frames_.clear();
  if (verdicts) answer_verdicts();
  flush();
}

void Session::on_drained() { mailbox_->out_backlog.store(0, std::memory_order_relaxed); }

bool Session::check_timeout(Clock::time_point now) {
  if (closed_) return false;
  const ServerLimits& limits = dispatcher_.options.limits;
  if (!authenticated_ && now - opened_ > std::chrono::milliseconds(limits.hello_timeout_ms)) {
    error(0, limit_passed("hello_timeout_ms", limits.hello_timeout_ms, "no HELLO"), true);
  } else if (authenticated_ && in_flight_ == 0 && subscriptions_.empty() &&
             now - last_frame_ > std::chrono::milliseconds(limits.idle_timeout_ms)) {
    dispatcher_.counters.idle_closed.fetch_add(1, std::memory_order_relaxed);
    error(0, limit_passed("idle_timeout_ms", limits.idle_timeout_ms, "no request"), true);
  } else {
    return false;
  }
  flush();
  return true;
}

void Session::error(std::uint64_t id, const Status& status, bool fatal) {
  encode_error(conn_.out, id, status, fatal);
  dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
  dispatcher_.counters.errors.fetch_add(1, std::memory_order_relaxed);
  if (!fatal) return;
  dispatcher_.counters.protocol_errors.fetch_add(1, std::memory_order_relaxed);
  closed_ = true;
  conn_.closing = true;
}

void Session::answered(std::size_t n) { in_flight_ -= std::min<std::uint64_t>(n, in_flight_); }

void Session::flush() {
  if (!conn_.out.empty() || conn_.closing) dispatcher_.loop->flush(conn_);
  mailbox_->out_backlog.store(conn_.backlog(), std::memory_order_relaxed);
}

// --- Dispatcher ---

bool Dispatcher::on_open(Conn& conn) {
  conn.session = std::make_unique<Session>(*this, conn);
  return true;
}

void Dispatcher::on_data(Conn& conn, std::span<const std::byte> bytes) {
  conn.session->on_data(bytes);
}

void Dispatcher::on_close(Conn& conn) { conn.session.reset(); }

void Dispatcher::on_drained(Conn& conn) {
  if (conn.session) conn.session->on_drained();
}

void Dispatcher::post(std::uint64_t conn) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    wake = inbox_.empty();
    inbox_.push_back(conn);
  }
  if (wake) loop->wake();
}

void Dispatcher::on_wake() {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    taken_.swap(inbox_);
  }
  for (const std::uint64_t id : taken_) {
    Conn* conn = loop->find(id);
    if (conn != nullptr && !conn->dead && conn->session) conn->session->on_mail();
  }
  taken_.clear();
}

void Dispatcher::on_tick() {
  const auto now = Clock::now();
  for (const std::uint64_t id : loop->connection_ids()) {
    Conn* conn = loop->find(id);
    if (conn != nullptr && !conn->dead && conn->session) conn->session->check_timeout(now);
  }
}

}  // namespace mmsb::net

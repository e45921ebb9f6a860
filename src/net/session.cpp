#include "net/session.hpp"

#include <sodium.h>

#include <algorithm>

#include "mmsb/replay.hpp"
#include "net/slow_lane.hpp"

namespace mmsb::net {
namespace {

using Clock = std::chrono::steady_clock;

// A counted reference for callbacks that live as long as a subscription or a producer.
class MailboxRef {
 public:
  explicit MailboxRef(Mailbox* mailbox) : mailbox_(mailbox) { mailbox_->ref(); }
  MailboxRef(const MailboxRef& other) : mailbox_(other.mailbox_) { mailbox_->ref(); }
  MailboxRef& operator=(const MailboxRef&) = delete;
  ~MailboxRef() { mailbox_->unref(); }
  Mailbox* operator->() const { return mailbox_; }

 private:
  Mailbox* mailbox_;
};

Status limit(const char* name, std::uint64_t value, const std::string& what) {
  return resource_exhausted(std::string("limit ") + name + " (" + std::to_string(value) +
                            "): " + what);
}

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

void Mailbox::slow_done(std::vector<std::byte>&& frame) {
  std::lock_guard<std::mutex> lock(mutex);
  if (closed) return;
  frames.insert(frames.end(), frame.begin(), frame.end());
  ++slow_answers;
  post_locked();
}

void Mailbox::event(std::uint64_t subscribe_id, const EventBatch& batch, LoopCounters& counters) {
  std::lock_guard<std::mutex> lock(mutex);
  if (closed) return;
  const std::uint64_t bytes = kFrameHeaderBytes + 20 + 17 * batch.events.size();
  if (event_bytes + out_backlog.load(std::memory_order_relaxed) + bytes > queue_bytes_max) {
    ++events_dropped;  // the subscriber is slow: the next frame it gets says how many
    counters.events_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  encode_event(frames, subscribe_id, batch, events_dropped + batch.batches_dropped_before);
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
      mailbox_(new Mailbox(dispatcher, conn.id, dispatcher.options.limits.subscription_queue_bytes)),
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
    if (data.size() - at < whole) {
      if (partial_.empty()) partial_.reserve(whole);
      break;
    }
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
      return error(header.id, invalid_argument("the first frame must be HELLO, not " +
                                               std::string(frame_type_name(header.type))),
                   true);
    }
    return hello(header, body);
  }
  if (in_flight_ >= dispatcher_.options.limits.requests_in_flight_max) {
    return error(header.id,
                 limit("requests_in_flight_max", dispatcher_.options.limits.requests_in_flight_max,
                       "too many unanswered requests on this connection"),
                 true);
  }
  handle_request(header, body);
}

void Session::handle_request(const FrameHeader& header, std::span<const std::byte> body) {
  switch (header.type) {
    case FrameType::kCommit: return commit(header, body);
    case FrameType::kRead: return read(header, body);
    case FrameType::kPin: return pin(header, body, false);
    case FrameType::kUnpin: return pin(header, body, true);
    case FrameType::kFork: return fork(header, body, false);
    case FrameType::kDropFork: return fork(header, body, true);
    case FrameType::kMerge: return merge(header, body);
    case FrameType::kSubscribe: return subscribe(header, body, false);
    case FrameType::kUnsubscribe: return subscribe(header, body, true);
    case FrameType::kIngest: return ingest(header, body);
    case FrameType::kStats:
    case FrameType::kCheckpoint:
    case FrameType::kReplay: return slow(header, body);
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

void Session::commit(const FrameHeader& header, std::span<const std::byte> body) {
  Commit request;
  Status decoded = decode_commit(body, request);
  if (!decoded.is_ok()) return error(header.id, decoded);
  if (request.fork != 0) {
    auto it = forks_.find(request.fork);
    if (it == forks_.end()) {
      return error(header.id, not_found("fork " + std::to_string(request.fork) +
                                        " is not held by this connection"));
    }
    Result<CommitInfo> info = commit_to_fork(it->second, request.ops);
    if (!info.is_ok()) return error(header.id, info.status());
    encode_commit_ok(conn_.out, header.id, *info);
    dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Transaction txn = dispatcher_.engine.begin();
  for (log::Op& op : request.ops) (void)txn.add(std::move(op));
  ++in_flight_;
  mailbox_->ref();
  Mailbox* mailbox = mailbox_;
  const std::uint64_t id = header.id;
  txn.commit_async([mailbox, id](Result<CommitInfo> outcome) {
    mailbox->commit_done(id, std::move(outcome));
    mailbox->unref();
  });
}

void Session::read(const FrameHeader& header, std::span<const std::byte> body) {
  Status decoded = decode_read(body, read_);
  if (!decoded.is_ok()) return error(header.id, decoded);
  auto answer = [&](const auto& source, std::uint64_t tick) {
    ReadOkWriter writer(conn_.out, header.id, tick, static_cast<std::uint32_t>(read_.pages.size()));
    for (PageId page : read_.pages) writer.add(source.page(page));
    writer.finish();
    dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
  };
  if (read_.fork != 0) {
    auto it = forks_.find(read_.fork);
    if (it == forks_.end()) {
      return error(header.id, not_found("fork " + std::to_string(read_.fork) +
                                        " is not held by this connection"));
    }
    return answer(it->second, it->second.head().tick().value());
  }
  if (read_.tick != 0) {
    auto it = pins_.find(read_.tick);
    if (it == pins_.end()) {
      return error(header.id, not_found("the snapshot of tick " + std::to_string(read_.tick) +
                                        " is not pinned by this connection"));
    }
    return answer(it->second, read_.tick);
  }
  const State state = dispatcher_.engine.snapshot();
  answer(state, state.tick().value());
}

void Session::pin(const FrameHeader& header, std::span<const std::byte> body, bool unpin) {
  if (unpin) {
    std::uint64_t tick = 0;
    Status decoded = decode_u64(body, header.type, tick);
    if (!decoded.is_ok()) return error(header.id, decoded);
    if (pins_.erase(tick) == 0) {
      return error(header.id, not_found("the snapshot of tick " + std::to_string(tick) +
                                        " is not pinned by this connection"));
    }
    encode_empty(conn_.out, answer_to(header.type), header.id);
    dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Status decoded = decode_empty(body, header.type);
  if (!decoded.is_ok()) return error(header.id, decoded);
  State state = dispatcher_.engine.snapshot();
  const std::uint32_t max = dispatcher_.options.limits.pins_max;
  if (pins_.size() >= max && pins_.count(state.tick().value()) == 0) {
    return error(header.id, limit("pins_max", max, "too many pinned snapshots"), true);
  }
  encode_tick_root(conn_.out, header.type, header.id, TickRoot{state.tick().value(), state.root(), 0});
  dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
  pins_.insert_or_assign(state.tick().value(), std::move(state));
}

void Session::fork(const FrameHeader& header, std::span<const std::byte> body, bool drop) {
  if (drop) {
    std::uint64_t id = 0;
    Status decoded = decode_u64(body, header.type, id);
    if (!decoded.is_ok()) return error(header.id, decoded);
    if (forks_.erase(id) == 0) {
      return error(header.id, not_found("fork " + std::to_string(id) +
                                        " is not held by this connection"));
    }
    encode_empty(conn_.out, answer_to(header.type), header.id);
    dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Status decoded = decode_empty(body, header.type);
  if (!decoded.is_ok()) return error(header.id, decoded);
  const std::uint32_t max = dispatcher_.options.limits.forks_max;
  if (forks_.size() >= max) return error(header.id, limit("forks_max", max, "too many forks"), true);
  const std::uint64_t id = next_fork_++;
  auto [it, added] = forks_.emplace(id, Fork(dispatcher_.engine.snapshot()));
  const State& base = it->second.base();
  encode_tick_root(conn_.out, header.type, header.id, TickRoot{base.tick().value(), base.root(), id});
  dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void Session::merge(const FrameHeader& header, std::span<const std::byte> body) {
  Merge request;
  Status decoded = decode_merge(body, request);
  if (!decoded.is_ok()) return error(header.id, decoded);
  auto it = forks_.find(request.fork);
  if (it == forks_.end()) {
    return error(header.id, not_found("fork " + std::to_string(request.fork) +
                                      " is not held by this connection"));
  }
  // A merge waits for its tick: on the slow lane. The fork goes with it (a merge uses it
  // up; one that fails leaves nothing to retry but a new fork).
  auto fork = std::make_shared<Fork>(std::move(it->second));
  forks_.erase(it);
  ++in_flight_;
  Engine& engine = dispatcher_.engine;
  dispatcher_.slow.run([&engine, fork, policy = request.policy, id = header.id,
                        mailbox = MailboxRef(mailbox_)] {
    std::vector<std::byte> frame;
    MergeOptions options;
    options.policy = policy;
    Result<MergeResult> merged = engine.merge(*fork, options);
    if (merged.is_ok()) {
      encode_merge_ok(frame, id, *merged);
    } else {
      encode_error(frame, id, merged.status(), false);
    }
    mailbox->slow_done(std::move(frame));
  });
}

void Session::subscribe(const FrameHeader& header, std::span<const std::byte> body,
                        bool unsubscribe) {
  if (unsubscribe) {
    std::uint64_t id = 0;
    Status decoded = decode_u64(body, header.type, id);
    if (!decoded.is_ok()) return error(header.id, decoded);
    auto it = subscriptions_.find(id);
    if (it == subscriptions_.end()) {
      return error(header.id, not_found("no subscription " + std::to_string(id) +
                                        " on this connection"));
    }
    (void)dispatcher_.engine.unsubscribe(it->second);
    subscriptions_.erase(it);
    encode_empty(conn_.out, answer_to(header.type), header.id);
    dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Subscribe request;
  Status decoded = decode_subscribe(body, request);
  if (!decoded.is_ok()) return error(header.id, decoded);
  const std::uint32_t max = dispatcher_.options.limits.subscriptions_max;
  if (subscriptions_.size() >= max) {
    return error(header.id, limit("subscriptions_max", max, "too many subscriptions"), true);
  }
  if (subscriptions_.count(header.id) != 0) {
    return error(header.id, invalid_argument("a subscription with request id " +
                                             std::to_string(header.id) + " exists"));
  }
  EventFilter filter{std::move(request.pages), request.types};
  LoopCounters& counters = dispatcher_.counters;
  Result<std::uint64_t> subscription = dispatcher_.engine.subscribe(
      std::move(filter), [mailbox = MailboxRef(mailbox_), id = header.id,
                          &counters](const EventBatch& batch) { mailbox->event(id, batch, counters); });
  if (!subscription.is_ok()) return error(header.id, subscription.status());
  subscriptions_.emplace(header.id, *subscription);
  encode_u64(conn_.out, answer_to(header.type), header.id, header.id);
  dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
}

void Session::ingest(const FrameHeader& header, std::span<const std::byte> body) {
  Status decoded = decode_ingest(body, packets_);
  if (!decoded.is_ok()) return error(header.id, decoded);
  if (!producer_) {
    ProducerOptions options;
    options.backpressure = Backpressure::kFailFast;  // a loop never waits
    options.ring_packets = 2 * kIngestPacketsMax;
    options.keep_verdicts = true;
    options.on_complete = [mailbox = MailboxRef(mailbox_)] { mailbox->ingest_ready(); };
    Result<Producer> producer = dispatcher_.engine.producer(options);
    if (!producer.is_ok()) return error(header.id, producer.status());
    producer_.emplace(std::move(*producer));
  }
  IngestBatch batch{header.id, 0, 0, packets_.size()};
  if (!packets_.empty()) {
    Result<std::size_t> entered = producer_->submit_batch(packets_);
    if (!entered.is_ok() && entered.status().code() != StatusCode::kResourceExhausted) {
      return error(header.id, entered.status());
    }
    batch.entered = entered.is_ok() ? *entered : 0;
    batch.refused = packets_.size() - batch.entered;
    batch.first_sequence = batch.entered != 0 ? packets_[0].sequence : 0;
  }
  ++in_flight_;
  ingest_batches_.push_back(batch);
  answer_verdicts();
}

void Session::answer_verdicts() {
  if (producer_) {
    std::size_t wanted = 0;
    for (std::size_t i = ingest_head_; i < ingest_batches_.size(); ++i) {
      wanted += ingest_batches_[i].entered;
    }
    const std::size_t have = verdicts_.size();
    if (wanted > have) {
      verdicts_.resize(wanted);
      verdicts_.resize(have + producer_->take_verdicts(
                                  std::span<PacketVerdict>(verdicts_.data() + have, wanted - have)));
    }
  }
  std::size_t used = 0;
  std::size_t answers = 0;
  while (ingest_head_ < ingest_batches_.size() &&
         verdicts_.size() - used >= ingest_batches_[ingest_head_].entered) {
    const IngestBatch& batch = ingest_batches_[ingest_head_++];
    encode_ingest_ok(conn_.out, batch.id, batch.first_sequence,
                     std::span<const PacketVerdict>(verdicts_.data() + used, batch.entered),
                     batch.refused);
    dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
    used += batch.entered;
    ++answers;
  }
  if (ingest_head_ == ingest_batches_.size()) {
    ingest_batches_.clear();
    ingest_head_ = 0;
  }
  verdicts_.erase(verdicts_.begin(), verdicts_.begin() + static_cast<std::ptrdiff_t>(used));
  answered(answers);
}

void Session::slow(const FrameHeader& header, std::span<const std::byte> body) {
  Engine& engine = dispatcher_.engine;
  if (header.type == FrameType::kStats) {
    Status decoded = decode_empty(body, header.type);
    if (!decoded.is_ok()) return error(header.id, decoded);
    encode_stats_ok(conn_.out, header.id, stats_entries(engine.stats()));
    dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Replay replay;
  Status decoded = header.type == FrameType::kReplay ? decode_replay(body, replay)
                                                     : decode_empty(body, header.type);
  if (!decoded.is_ok()) return error(header.id, decoded);
  const std::uint64_t now = engine.snapshot().tick().value();
  if (replay.to > now) {
    return error(header.id, invalid_argument("replay to tick " + std::to_string(replay.to) +
                                             ": the engine is at tick " + std::to_string(now)));
  }
  if (replay.to == 0) replay.to = now;
  ++in_flight_;
  dispatcher_.slow.run([&engine, type = header.type, replay, id = header.id,
                        dir = dispatcher_.options.data_dir, mailbox = MailboxRef(mailbox_)] {
    std::vector<std::byte> frame;
    if (type == FrameType::kCheckpoint) {
      Result<TickId> tick = engine.checkpoint();
      if (tick.is_ok()) {
        encode_tick_root(frame, type, id, TickRoot{tick->value(), Hash128{}, 0});
      } else {
        encode_error(frame, id, tick.status(), false);
      }
    } else {
      ReplayOptions options;
      options.to = TickId(replay.to);
      options.reexecute = replay.reexecute;
      ReplaySummary summary;
      Result<State> state = mmsb::replay(dir, options, &summary);
      if (state.is_ok()) {
        encode_tick_root(frame, type, id,
                         TickRoot{state->tick().value(), state->root(), summary.ticks_applied});
      } else {
        encode_error(frame, id, state.status(), false);
      }
    }
    mailbox->slow_done(std::move(frame));
  });
}

void Session::on_mail() {
  std::uint64_t slow_answers = 0;
  bool verdicts = false;
  {
    std::lock_guard<std::mutex> lock(mailbox_->mutex);
    mailbox_->posted = false;
    commits_.swap(mailbox_->commits);
    frames_.swap(mailbox_->frames);
    slow_answers = mailbox_->slow_answers;
    mailbox_->slow_answers = 0;
    mailbox_->event_bytes = 0;
    verdicts = mailbox_->verdicts;
    mailbox_->verdicts = false;
  }
  if (closed_) return;
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
    error(0, limit("hello_timeout_ms", limits.hello_timeout_ms, "no HELLO"), true);
  } else if (authenticated_ && in_flight_ == 0 && subscriptions_.empty() &&
             now - last_frame_ > std::chrono::milliseconds(limits.idle_timeout_ms)) {
    dispatcher_.counters.idle_closed.fetch_add(1, std::memory_order_relaxed);
    error(0, limit("idle_timeout_ms", limits.idle_timeout_ms, "no request"), true);
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
  mailbox_->out_backlog.store(conn_.out.size() + conn_.sending.size() - conn_.sent,
                              std::memory_order_relaxed);
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

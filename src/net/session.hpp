// One connection's protocol state on its loop's thread: the handshake, frame parsing,
// requests dispatched to the engine, what the connection holds (pins, forks,
// subscriptions, a producer) and its limits. Engine threads never touch a Session: they
// leave outcomes in its Mailbox and wake the loop (docs/ARCHITECTURE.md "net").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "mmsb/engine.hpp"
#include "mmsb/server.hpp"
#include "net/loop.hpp"
#include "net/wire.hpp"

namespace mmsb::net {

class Dispatcher;

// What engine threads hand to a connection: commit outcomes, encoded frames (events, the
// answers of slow requests), "verdicts are ready". Reference-counted by hand, so that a
// commit's callback captures one pointer and an id (no allocation for the std::function).
struct Mailbox {
  Mailbox(Dispatcher& owner, std::uint64_t conn, std::uint64_t queue_bytes)
      : owner(owner), conn(conn), queue_bytes_max(queue_bytes) {}
  void ref() { refs.fetch_add(1, std::memory_order_relaxed); }
  void unref() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  void commit_done(std::uint64_t request, Result<CommitInfo> outcome);
  // One answered slow request; a failed MERGE hands its fork back with it.
  void slow_done(std::vector<std::byte>&& frame, std::uint64_t fork_id = 0,
                 std::shared_ptr<Fork> fork = nullptr);
  void event(std::uint64_t subscribe_id, const EventBatch& batch, LoopCounters& counters);
  void ingest_ready();

  Dispatcher& owner;
  const std::uint64_t conn;
  const std::uint64_t queue_bytes_max;
  std::atomic<int> refs{1};
  std::mutex mutex;
  bool posted = false;  // the conn id is in the dispatcher's inbox
  bool closed = false;  // the connection is gone: drop everything
  std::vector<std::pair<std::uint64_t, Result<CommitInfo>>> commits;
  std::vector<std::byte> frames;  // whole frames to send as they are
  std::uint64_t slow_answers = 0;
  std::vector<std::pair<std::uint64_t, std::shared_ptr<Fork>>> forks_back;
  std::uint64_t slow_errors = 0;   // of which ERROR frames
  std::uint64_t event_frames = 0;  // in `frames`
  std::uint64_t event_bytes = 0;     // of `frames`, event frames
  std::uint64_t events_dropped = 0;  // since the last event frame
  bool verdicts = false;
  // Bytes the connection has yet to send (the session sets it): counted against
  // queue_bytes_max with the event frames, so a subscriber that does not read is bounded.
  std::atomic<std::uint64_t> out_backlog{0};

 private:
  void post_locked();
};

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

// The error for a passed limit: ResourceExhausted naming it ("limit pins_max (64): ...").
inline Status limit_passed(const char* name, std::uint64_t value, const std::string& what) {
  return resource_exhausted(std::string("limit ") + name + " (" + std::to_string(value) +
                            "): " + what);
}

class Session {
 public:
  Session(Dispatcher& dispatcher, Conn& conn);
  ~Session();  // releases what the connection holds

  void on_data(std::span<const std::byte> bytes);
  void on_mail();     // the mailbox has something
  void on_drained();  // the connection sent all it had
  // Idle and handshake timeouts; true if the connection was closed.
  bool check_timeout(std::chrono::steady_clock::time_point now);

 private:
  void handle(const FrameHeader& header, std::span<const std::byte> body);
  void handle_request(const FrameHeader& header, std::span<const std::byte> body);
  void hello(const FrameHeader& header, std::span<const std::byte> body);
  void commit(const FrameHeader& header, std::span<const std::byte> body);
  void read(const FrameHeader& header, std::span<const std::byte> body);
  void pin(const FrameHeader& header, std::span<const std::byte> body, bool unpin);
  void fork(const FrameHeader& header, std::span<const std::byte> body, bool drop);
  void merge(const FrameHeader& header, std::span<const std::byte> body);
  void subscribe(const FrameHeader& header, std::span<const std::byte> body, bool unsubscribe);
  void ingest(const FrameHeader& header, std::span<const std::byte> body);
  void slow(const FrameHeader& header, std::span<const std::byte> body);
  void answer_verdicts();
  // An ERROR frame for the request; `fatal` closes the connection after it.
  void error(std::uint64_t id, const Status& status, bool fatal = false);
  void answered(std::size_t n = 1);
  void flush();

  Dispatcher& dispatcher_;
  Conn& conn_;
  Mailbox* mailbox_;
  bool authenticated_ = false;
  bool closed_ = false;
  std::chrono::steady_clock::time_point last_frame_;
  std::chrono::steady_clock::time_point opened_;
  std::uint64_t in_flight_ = 0;
  std::vector<std::byte> partial_;  // a frame not yet whole
  // Held by the connection, released when it goes.
  std::map<std::uint64_t, State> pins_;  // by tick
  std::map<std::uint64_t, Fork> forks_;  // by id
  std::uint64_t next_fork_ = 1;
  std::map<std::uint64_t, std::uint64_t> subscriptions_;  // SUBSCRIBE id -> engine's id
  std::optional<Producer> producer_;
  struct IngestBatch {
    std::uint64_t id = 0;
    std::uint64_t first_sequence = 0;
    std::size_t entered = 0;
    std::size_t refused = 0;
  };
  // Batches waiting for verdicts, oldest at ingest_head_ (a vector reused as a queue: a
  // deque would allocate and free blocks as it goes).
  std::vector<IngestBatch> ingest_batches_;
  std::size_t ingest_head_ = 0;
  // Scratch kept from request to request: no allocation once grown.
  Read read_;
  std::vector<Result<PageView>> views_;  // a READ's pages, looked up once
  std::vector<Packet> packets_;
  std::vector<PacketVerdict> verdicts_;
  std::vector<std::pair<std::uint64_t, Result<CommitInfo>>> commits_;
  std::vector<std::byte> frames_;
  std::vector<std::pair<std::uint64_t, std::shared_ptr<Fork>>> forks_back_;
};

// The Handler of one loop: sessions, the inbox engine threads post to, timeouts.
class Dispatcher final : public IoLoop::Handler {
 public:
  Dispatcher(Engine& engine, const ServerOptions& options, LoopCounters& counters,
             class SlowLane& slow)
      : engine(engine), options(options), counters(counters), slow(slow) {}
  void set_loop(IoLoop& io) { loop = &io; }

  bool on_open(Conn& conn) override;
  void on_data(Conn& conn, std::span<const std::byte> bytes) override;
  void on_close(Conn& conn) override;
  void on_drained(Conn& conn) override;
  void on_wake() override;
  void on_tick() override;
  // Any thread: have the loop look at this connection's mailbox.
  void post(std::uint64_t conn);

  Engine& engine;
  const ServerOptions& options;
  LoopCounters& counters;
  SlowLane& slow;
  IoLoop* loop = nullptr;

 private:
  std::mutex inbox_mutex_;
  std::vector<std::uint64_t> inbox_;
  std::vector<std::uint64_t> taken_;
};

}  // namespace mmsb::net

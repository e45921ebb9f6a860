// Client: an Engine on a server (`mmsb serve`), reached through the wire protocol
// (docs/FORMAT.md "Wire protocol"). The calls mirror the embedded API: a RemoteTransaction
// records operations like a Transaction and commits them in one round trip; commits can be
// pipelined (commit_async: many in flight on one connection, answered as each tick is
// durable); reads come from the current state, a pinned snapshot or a fork held by the
// connection.
//
// An outcome is only a success when the server acknowledged it. If the connection breaks,
// every request in flight fails with Unavailable ("outcome unknown": a commit may or may
// not have been applied) and so does every later call; reconnecting is explicit (connect
// again). Thread-safety: every call may be made from any thread; callbacks (commit_async,
// subscriptions) run on the client's reader thread and must not wait for the client.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mmsb/engine.hpp"
#include "mmsb/tick_record.hpp"

namespace mmsb {

struct ClientOptions {
  std::string address = "127.0.0.1:7420";  // HOST:PORT
  std::string token;                       // as the server was given (empty: none)
  std::uint32_t timeout_ms = 60'000;       // a synchronous call gives up after this
};

// A page as read from the server (its bytes copied out of the answer).
struct RemotePage {
  PageId id;
  PageType type = 0;
  Epoch epoch;
  std::vector<std::byte> bytes;
};

struct RemoteMerge {
  TickId tick;
  Hash128 root;
  MergePath path = MergePath::kThreeWay;
  std::uint64_t pages_taken_from_theirs = 0;
  std::uint64_t pages_merged = 0;
  std::uint64_t clashes_resolved = 0;
  std::vector<IdRemap> page_remap;
  std::vector<IdRemap> edge_remap;
};

// What became of an ingest batch: one verdict per packet, in the order sent (the packets
// that did not fit the server's ring are kRefused).
struct RemoteIngest {
  std::uint64_t first_sequence = 0;
  std::vector<PacketVerdict> verdicts;
};

struct RemoteStat {
  std::string name;  // as in EngineStats (ingest ones prefixed ingest_)
  double value = 0;
  bool counter = true;
};

class Client;

// Records operations as Transaction does (provisional ids for what it creates) and commits
// them on the server in one request: to the engine, or to a fork held by the connection.
class RemoteTransaction {
 public:
  PageId create_page(const PageSpec& spec);
  void write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes);
  void put(PageId page, std::span<const std::byte> bytes);  // a write at 0 (size checked there)
  void delete_page(PageId page);
  EdgeId add_edge(EdgeKind kind, PageId from, PageId to);
  void remove_edge(EdgeId edge);
  void derive(PageId child, std::span<const PageId> parents, std::string_view function);
  void apply(std::string_view rule, PageId scope);
  // Reads the page from the current state on the server and records the epoch seen: the
  // commit fails with Conflict if the page changed before it.
  Result<std::vector<std::byte>> read(PageId page);

  Result<CommitInfo> commit();
  void commit_async(CommitCallback done);
  const std::vector<log::Op>& ops() const { return recorder_.ops(); }

 private:
  friend class Client;
  RemoteTransaction(Client& client, std::uint64_t fork) : client_(&client), fork_(fork) {}
  Client* client_;
  std::uint64_t fork_;
  log::OpRecorder recorder_;
};

// Packets to the server's ingest plane one at a time, like Producer: they are sent in
// batches (when `batch_packets` are waiting, or at flush), each batch answered with every
// packet's verdict, counted here. One thread at a time.
class RemoteProducer {
 public:
  RemoteProducer(RemoteProducer&&) noexcept;
  RemoteProducer& operator=(RemoteProducer&&) noexcept;
  ~RemoteProducer();  // flush()

  // Queues one packet (payload inline, at most kPacketInlineBytes: InvalidArgument).
  Status submit(std::uint32_t topic, std::span<const std::byte> payload);
  // Sends what is queued and waits until every packet has its verdict; the first error of
  // a batch (the connection broke: Unavailable) if any.
  Status flush();
  // So far: submitted counts packets queued; the rest, verdicts received.
  ProducerCounters counters() const;

 private:
  friend class Client;
  struct State;
  RemoteProducer(Client& client, std::size_t batch_packets);
  void send_queued();
  Client* client_;
  std::size_t batch_packets_;
  std::vector<Packet> queued_;
  std::shared_ptr<State> state_;
};

class Client {
 public:
  // Connects and says HELLO. IOError if it cannot connect; PermissionDenied for a wrong
  // token; FailedPrecondition for a protocol version the server does not speak.
  static Result<std::unique_ptr<Client>> connect(const ClientOptions& options);
  ~Client();  // close()
  void close();

  RemoteTransaction begin(std::uint64_t fork = 0) { return RemoteTransaction(*this, fork); }
  // One transaction's ops (as log::Op) committed without waiting; `done` runs on the reader
  // thread once the server answers.
  void commit_async(const std::vector<log::Op>& ops, CommitCallback done, std::uint64_t fork = 0);
  Result<CommitInfo> commit(const std::vector<log::Op>& ops, std::uint64_t fork = 0);

  // Pages from the current state (tick 0), a pinned tick or a fork of this connection: one
  // Result per page (NotFound for a page that does not exist). NotFound for the whole call
  // if the tick is not pinned or the fork not held by this connection.
  Result<std::vector<Result<RemotePage>>> read(std::span<const PageId> pages,
                                               std::uint64_t tick = 0, std::uint64_t fork = 0);
  Result<RemotePage> get(PageId page, std::uint64_t tick = 0, std::uint64_t fork = 0);

  // Pins the current state on the server (until unpin or disconnect); its tick and root.
  Result<std::pair<TickId, Hash128>> pin();
  Status unpin(TickId tick);
  // A fork of the current state held by this connection; its id.
  Result<std::uint64_t> fork();
  Status drop_fork(std::uint64_t fork);
  // Merges and uses up the fork; a failed merge (Conflict under kFail, say) leaves it held
  // with its writes. kCustom is not available remotely.
  Result<RemoteMerge> merge(std::uint64_t fork, MergePolicy policy = MergePolicy::kFail);

  // `callback` gets each tick's batch on the reader thread; returns the subscription's id.
  Result<std::uint64_t> subscribe(const EventFilter& filter, EventCallback callback);
  Status unsubscribe(std::uint64_t subscription);

  // Packets (topic and inline payload of each; at most 65536 a batch) to the ingest plane;
  // the answer comes when every packet has its verdict.
  Result<RemoteIngest> ingest(std::span<const Packet> packets);
  void ingest_async(std::span<const Packet> packets,
                    std::function<void(Result<RemoteIngest>)> done);
  // A producer on this connection (batches of `batch_packets`, at most 65536).
  RemoteProducer producer(std::size_t batch_packets = 1024);

  Result<std::vector<RemoteStat>> stats();
  Result<TickId> checkpoint();
  // Replays the server's data directory to `to` (0: the current tick) on the server and
  // returns the State's tick and root and the ticks applied: a check that the log gives the
  // live root.
  struct ReplayAnswer {
    TickId tick;
    Hash128 root;
    std::uint64_t ticks_applied = 0;
  };
  Result<ReplayAnswer> replay(TickId to = TickId(0), bool reexecute = false);

  // The server's limits from its HELLO answer.
  std::uint32_t frame_bytes_max() const;
  std::uint32_t requests_in_flight_max() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmsb

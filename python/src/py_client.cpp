// mmsb.Client: the Engine surface over the wire protocol (binding the C++ Client), so code
// moves between embedded and remote by changing the line that opens it.
#include <string>

#include "mmsb/client.hpp"
#include "py_common.hpp"

namespace mmsb::py {

namespace {

using ClientRef = std::shared_ptr<Client>;

class PyRemoteTransaction : public HeldTransaction<RemoteTransaction, ClientRef> {
 public:
  PyRemoteTransaction(const ClientRef& client, std::uint64_t fork)
      : HeldTransaction(client, client->begin(fork)) {}

  pyb::memoryview read(std::uint64_t page) {
    RemoteTransaction& t = txn();
    return owned_view(unwrap(without_gil([&] { return t.read(PageId(page)); })));
  }
  bool empty() const { return !txn_ || txn_->ops().empty(); }
};

class PyRemoteSnapshot {
 public:
  explicit PyRemoteSnapshot(ClientRef client) : client_(std::move(client)) {
    std::tie(tick_, root_) = unwrap(without_gil([&] { return client_->pin(); }));
    pinned_ = true;
  }
  ~PyRemoteSnapshot() {
    if (!pinned_) return;
    pyb::gil_scoped_release release;
    client_->unpin(tick_).ignore();  // the connection may be gone: the pin went with it
  }
  RemotePage get(std::uint64_t page) {
    if (!pinned_) raise(failed_precondition("the snapshot is closed"));
    return unwrap(without_gil([&] { return client_->get(PageId(page), tick_.value()); }));
  }
  void close() {
    if (!pinned_) return;
    pinned_ = false;
    check(without_gil([&] { return client_->unpin(tick_); }));
  }
  std::uint64_t tick() const { return tick_.value(); }
  const Hash128& root() const { return root_; }

 private:
  ClientRef client_;
  TickId tick_;
  Hash128 root_;
  bool pinned_ = false;
};

// A fork held by this connection. Writes are recorded and sent at commit(), merge or the
// next read (so reads see the fork's own writes, as an embedded Fork's do).
class PyRemoteFork {
 public:
  explicit PyRemoteFork(ClientRef client)
      : client_(std::move(client)),
        id_(unwrap(without_gil([&] { return client_->fork(); }))),
        pending_(client_, id_) {}
  RemoteTransaction& txn() { return pending_.txn(); }
  std::uint64_t id() const { return id_; }
  CommitInfo commit() {
    CommitInfo info = pending_.commit();
    pending_ = PyRemoteTransaction(client_, id_);
    return info;
  }
  void send_pending() {
    if (!pending_.empty()) commit();
  }
  RemotePage get(std::uint64_t page) {
    send_pending();
    return unwrap(without_gil([&] { return client_->get(PageId(page), 0, id_); }));
  }
  void drop() {
    check(without_gil([&] { return client_->drop_fork(id_); }));
  }

 private:
  ClientRef client_;
  std::uint64_t id_;
  PyRemoteTransaction pending_;
};

PageView info_of(const RemotePage& page) {
  PageView view;
  view.id = page.id;
  view.type = page.type;
  view.size_bytes = page.bytes.size();
  view.epoch = page.epoch;
  return view;  // no address: the bytes were copied out of the answer
}

template <typename Class>
void bind_context(Class& cls) {
  cls.def("__enter__", [](pyb::object self) { return self; });
}

void bind_remote_objects(pyb::module_& m) {
  pyb::class_<PyRemoteTransaction> txn(m, "RemoteTransaction",
                                       "Transaction over the wire: operations are recorded and "
                                       "sent in one request by commit().");
  bind_txn_ops<PyRemoteTransaction>(txn);
  txn.def("read", &PyRemoteTransaction::read, pyb::arg("page"),
          "The page's bytes from the server's current state (a copy), epoch recorded.");
  bind_txn_lifecycle<PyRemoteTransaction>(txn);

  pyb::class_<PyRemoteSnapshot> snap(m, "RemoteSnapshot",
                                     "A state pinned on the server until close().");
  snap.def_property_readonly("tick", &PyRemoteSnapshot::tick)
      .def_property_readonly("root", [](const PyRemoteSnapshot& s) { return hash_bytes(s.root()); })
      .def(
          "read",
          [](PyRemoteSnapshot& s, std::uint64_t page) { return owned_view(s.get(page).bytes); },
          pyb::arg("page"), "The page's bytes at the pinned tick (a copy from the answer).")
      .def(
          "page", [](PyRemoteSnapshot& s, std::uint64_t page) { return info_of(s.get(page)); },
          pyb::arg("page"))
      .def("close", &PyRemoteSnapshot::close, "Unpins the state on the server.");
  bind_context(snap);
  snap.def("__exit__", [](PyRemoteSnapshot& s, const pyb::args&) {
    s.close();
    return false;
  });

  pyb::class_<PyRemoteFork> fork(m, "RemoteFork", "A fork held by the connection.");
  bind_txn_ops<PyRemoteFork>(fork);
  fork.def_property_readonly("id", &PyRemoteFork::id)
      .def(
          "read", [](PyRemoteFork& f, std::uint64_t page) { return owned_view(f.get(page).bytes); },
          pyb::arg("page"))
      .def(
          "page", [](PyRemoteFork& f, std::uint64_t page) { return info_of(f.get(page)); },
          pyb::arg("page"))
      .def("commit", &PyRemoteFork::commit, "Sends the recorded writes to the fork.")
      .def("drop", &PyRemoteFork::drop, "Drops the fork on the server.");

  pyb::class_<RemoteMerge>(m, "RemoteMergeResult", "What a merge on the server did.")
      .def_property_readonly("tick", [](const RemoteMerge& r) { return r.tick.value(); })
      .def_property_readonly("root", [](const RemoteMerge& r) { return hash_bytes(r.root); })
      .def_readonly("pages_taken_from_theirs", &RemoteMerge::pages_taken_from_theirs)
      .def_readonly("pages_merged", &RemoteMerge::pages_merged)
      .def_readonly("clashes_resolved", &RemoteMerge::clashes_resolved);
}

class PyRemoteProducer {
 public:
  PyRemoteProducer(ClientRef client, std::size_t batch_packets)
      : client_(std::move(client)), producer_(client_->producer(batch_packets)) {}
  void submit(std::uint32_t topic, const pyb::handle& payload) {
    BufferBytes bytes(payload, "payload");
    check(producer_.submit(topic, bytes.bytes));
  }
  std::size_t submit_many(std::uint32_t topic, const pyb::handle& records,
                          std::optional<std::size_t> record_bytes) {
    BufferBytes bytes(records, "records");
    std::size_t each =
        record_bytes ? *record_bytes
                     : static_cast<std::size_t>(
                           bytes.info.ndim == 2 ? bytes.info.shape[1] * bytes.info.itemsize : 0);
    if (each == 0 || each > kPacketInlineBytes || bytes.bytes.size() % each != 0) {
      raise(invalid_argument("records: record_bytes must be 1 to " +
                             std::to_string(kPacketInlineBytes) + " and divide the buffer's " +
                             std::to_string(bytes.bytes.size()) + " bytes"));
    }
    check(without_gil([&] {
      for (std::size_t at = 0; at < bytes.bytes.size(); at += each) {
        MMSB_RETURN_IF_ERROR(producer_.submit(topic, bytes.bytes.subspan(at, each)));
      }
      return Status::ok();
    }));
    return bytes.bytes.size() / each;
  }
  void flush() {
    check(without_gil([&] { return producer_.flush(); }));
  }
  ProducerCounters counters() const { return producer_.counters(); }

 private:
  ClientRef client_;
  RemoteProducer producer_;
};

void bind_remote_producer(pyb::module_& m) {
  pyb::class_<PyRemoteProducer> producer(m, "RemoteProducer",
                                         "Packets to the server's ingest plane, sent in batches.");
  producer.def("submit", &PyRemoteProducer::submit, pyb::arg("topic"), pyb::arg("payload"))
      .def("submit_many", &PyRemoteProducer::submit_many, pyb::arg("topic"), pyb::arg("records"),
           pyb::arg("record_bytes") = pyb::none())
      .def("flush", &PyRemoteProducer::flush, "Sends what is queued and waits for every verdict.")
      .def_property_readonly("counters",
                             [](const PyRemoteProducer& p) { return counters_dict(p.counters()); });
  bind_context(producer);
  producer.def("__exit__", [](PyRemoteProducer& p, const pyb::args&) {
    p.flush();
    return false;
  });
}

class PyClient {
 public:
  PyClient(const std::string& address, const std::string& token, std::uint32_t timeout_ms) {
    ClientOptions options;
    options.address = address;
    options.token = token;
    options.timeout_ms = timeout_ms;
    client_ = shared_released(unwrap(without_gil([&] { return Client::connect(options); })));
  }
  ClientRef get() const {
    if (!client_) raise(Status(StatusCode::kUnavailable, "the client is closed"));
    return client_;
  }
  void close() {
    ClientRef client = std::move(client_);
    client_ = nullptr;
    if (client) {
      without_gil([&] {
        client->close();
        client.reset();
        return 0;
      });
    }
  }

 private:
  ClientRef client_;
};

void bind_client_core(pyb::class_<PyClient>& cls) {
  cls.def(pyb::init<const std::string&, const std::string&, std::uint32_t>(), pyb::arg("address"),
          pyb::arg("token") = "", pyb::arg("timeout_ms") = 60'000,
          "Connects to `mmsb serve` at HOST:PORT (IoError if it cannot; PermissionDeniedError "
          "for a wrong token).")
      .def("close", &PyClient::close)
      .def("begin", [](PyClient& c) { return PyRemoteTransaction(c.get(), 0); })
      .def(
          "snapshot", [](PyClient& c) { return std::make_unique<PyRemoteSnapshot>(c.get()); },
          "Pins the server's current state (close() or a with-block unpins it).")
      .def("fork", [](PyClient& c) { return std::make_unique<PyRemoteFork>(c.get()); })
      .def(
          "merge",
          [](PyClient& c, PyRemoteFork& fork, const std::string& policy) {
            ClientRef client = c.get();
            MergePolicy chosen = merge_policy(policy);
            fork.send_pending();
            return unwrap(without_gil([&] { return client->merge(fork.id(), chosen); }));
          },
          pyb::arg("fork"), pyb::arg("policy") = "fail")
      .def("checkpoint",
           [](PyClient& c) {
             ClientRef client = c.get();
             return unwrap(without_gil([&] { return client->checkpoint(); })).value();
           })
      .def(
          "replay",
          [](PyClient& c, std::uint64_t to, bool verify) {
            ClientRef client = c.get();
            auto answer = unwrap(without_gil([&] { return client->replay(TickId(to), verify); }));
            pyb::dict out;
            out["tick"] = answer.tick.value();
            out["root"] = hash_bytes(answer.root);
            out["ticks_applied"] = answer.ticks_applied;
            return out;
          },
          pyb::arg("to") = 0, pyb::arg("verify") = false,
          "Replays the server's directory there; its tick, root and ticks applied.")
      .def("stats", [](PyClient& c) {
        ClientRef client = c.get();
        pyb::dict out;
        for (const RemoteStat& stat : unwrap(without_gil([&] { return client->stats(); }))) {
          out[pyb::str(stat.name)] = stat_value(stat.value);
        }
        return out;
      });
}

}  // namespace

void bind_client(pyb::module_& m) {
  bind_remote_objects(m);
  bind_remote_producer(m);
  pyb::class_<PyClient> client(m, "Client",
                               "An engine on a server (`mmsb serve`), with the Engine's "
                               "transaction, snapshot, fork, subscribe and producer calls.");
  bind_client_core(client);
  client
      .def(
          "subscribe",
          [](PyClient& c, pyb::function callback,
             const std::optional<std::vector<std::uint64_t>>& pages,
             const std::optional<std::vector<std::string>>& types) {
            ClientRef client = c.get();
            EventFilter filter = event_filter(pages, types);
            EventCallback call = python_subscriber(Held(std::move(callback)));
            return unwrap(without_gil([&] { return client->subscribe(filter, std::move(call)); }));
          },
          pyb::arg("callback"), pyb::arg("pages") = pyb::none(), pyb::arg("types") = pyb::none())
      .def(
          "unsubscribe",
          [](PyClient& c, std::uint64_t subscription) {
            ClientRef client = c.get();
            check(without_gil([&] { return client->unsubscribe(subscription); }));
          },
          pyb::arg("subscription"))
      .def(
          "producer",
          [](PyClient& c, std::size_t batch_packets) {
            return std::make_unique<PyRemoteProducer>(c.get(), batch_packets);
          },
          pyb::arg("batch_packets") = 1024);
  bind_context(client);
  client.def("__exit__", [](PyClient& c, const pyb::args&) {
    c.close();
    return false;
  });
}

}  // namespace mmsb::py

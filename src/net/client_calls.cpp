// The calls of mmsb::Client and RemoteTransaction: each encodes its request and decodes
// its answer (docs/SEMANTICS.md "Server").
#include "net/client_impl.hpp"

namespace mmsb {

void Client::commit_async(const std::vector<log::Op>& ops, CommitCallback done,
                          std::uint64_t fork) {
  impl_->request(
      [&](std::vector<std::byte>& out, std::uint64_t id) {
        return net::encode_commit(out, id, fork, ops);
      },
      [done = std::move(done)](const Answer& answer) {
        Status status = answer_status(answer, FrameType::kCommit);
        if (!status.is_ok()) return done(status);
        CommitInfo info;
        status = net::decode_commit_ok(answer.body, info);
        if (!status.is_ok()) return done(status);
        done(std::move(info));
      });
}

Result<CommitInfo> Client::commit(const std::vector<log::Op>& ops, std::uint64_t fork) {
  auto promise = std::make_shared<std::promise<Result<CommitInfo>>>();
  std::future<Result<CommitInfo>> result = promise->get_future();
  commit_async(
      ops, [promise](Result<CommitInfo> info) { promise->set_value(std::move(info)); }, fork);
  return result.get();
}

Result<std::vector<Result<RemotePage>>> Client::read(std::span<const PageId> pages,
                                                     std::uint64_t tick, std::uint64_t fork) {
  net::Read request{tick, fork, std::vector<PageId>(pages.begin(), pages.end())};
  return impl_->call<std::vector<Result<RemotePage>>>(
      FrameType::kRead,
      [&](std::vector<std::byte>& out, std::uint64_t id) { net::encode_read(out, id, request); },
      [ids = request.pages](
          std::span<const std::byte> body) -> Result<std::vector<Result<RemotePage>>> {
        net::ReadOk ok;
        MMSB_RETURN_IF_ERROR(net::decode_read_ok(body, ok));
        if (ok.pages.size() != ids.size()) {
          return Status(StatusCode::kInternal, "READ answered with another page count");
        }
        std::vector<Result<RemotePage>> out;
        for (std::size_t i = 0; i < ok.pages.size(); ++i) {
          const net::PageAnswer& page = ok.pages[i];
          if (page.code != StatusCode::kOk) {
            out.emplace_back(
                Status(page.code, "page " + std::to_string(ids[i].value()) + " does not exist"));
            continue;
          }
          out.emplace_back(
              RemotePage{ids[i], page.type, page.epoch,
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
  MMSB_ASSIGN_OR_RETURN(
      net::TickRoot answer,
      impl_->call<net::TickRoot>(
          FrameType::kPin,
          [](std::vector<std::byte>& out, std::uint64_t id) {
            net::encode_empty(out, FrameType::kPin, id);
          },
          [](std::span<const std::byte> body) { return tick_root_of(body, FrameType::kPin); }));
  return std::make_pair(TickId(answer.tick), answer.root);
}

Status Client::unpin(TickId tick) {
  return impl_
      ->call<bool>(
          FrameType::kUnpin,
          [&](std::vector<std::byte>& out, std::uint64_t id) {
            net::encode_u64(out, FrameType::kUnpin, id, tick.value());
          },
          [](std::span<const std::byte> body) { return empty_answer(body, FrameType::kUnpin); })
      .status();
}

Result<std::uint64_t> Client::fork() {
  MMSB_ASSIGN_OR_RETURN(
      net::TickRoot answer,
      impl_->call<net::TickRoot>(
          FrameType::kFork,
          [](std::vector<std::byte>& out, std::uint64_t id) {
            net::encode_empty(out, FrameType::kFork, id);
          },
          [](std::span<const std::byte> body) { return tick_root_of(body, FrameType::kFork); }));
  return answer.count;
}

Status Client::drop_fork(std::uint64_t fork) {
  return impl_
      ->call<bool>(
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
        RemoteMerge merged;
        MMSB_RETURN_IF_ERROR(net::decode_merge_ok(body, merged));
        return merged;
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
  Status status = impl_
                      ->call<bool>(
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
        RemoteIngest ingest;
        status = net::decode_ingest_ok(answer.body, ingest);
        if (!status.is_ok()) return (*callback)(status);
        (*callback)(std::move(ingest));
      });
}

RemoteProducer Client::producer(std::size_t batch_packets) {
  return RemoteProducer(*this, batch_packets);
}

Result<RemoteIngest> Client::ingest(std::span<const Packet> packets) {
  auto promise = std::make_shared<std::promise<Result<RemoteIngest>>>();
  std::future<Result<RemoteIngest>> result = promise->get_future();
  ingest_async(packets,
               [promise](Result<RemoteIngest> answer) { promise->set_value(std::move(answer)); });
  return result.get();
}

Result<std::vector<RemoteStat>> Client::stats() {
  return impl_->call<std::vector<RemoteStat>>(
      FrameType::kStats,
      [](std::vector<std::byte>& out, std::uint64_t id) {
        net::encode_empty(out, FrameType::kStats, id);
      },
      [](std::span<const std::byte> body) -> Result<std::vector<RemoteStat>> {
        std::vector<net::StatsEntry> entries;
        MMSB_RETURN_IF_ERROR(net::decode_stats_ok(body, entries));
        std::vector<RemoteStat> out;
        for (net::StatsEntry& entry : entries)
          out.push_back({std::move(entry.name), entry.value, entry.counter});
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
  MMSB_ASSIGN_OR_RETURN(
      net::TickRoot answer,
      impl_->call<net::TickRoot>(
          FrameType::kReplay,
          [&](std::vector<std::byte>& out, std::uint64_t id) {
            net::encode_replay(out, id, net::Replay{to.value(), reexecute});
          },
          [](std::span<const std::byte> body) { return tick_root_of(body, FrameType::kReplay); }));
  return ReplayAnswer{TickId(answer.tick), answer.root, answer.count};
}

// --- RemoteTransaction: records as Transaction does (log::OpRecorder) ---

PageId RemoteTransaction::create_page(const PageSpec& spec) { return recorder_.create_page(spec); }
void RemoteTransaction::write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes) {
  recorder_.write(page, offset, bytes);
}
void RemoteTransaction::put(PageId page, std::span<const std::byte> bytes) {
  write(page, 0, bytes);
}
void RemoteTransaction::delete_page(PageId page) { recorder_.delete_page(page); }
EdgeId RemoteTransaction::add_edge(EdgeKind kind, PageId from, PageId to) {
  return recorder_.add_edge(kind, from, to);
}
void RemoteTransaction::remove_edge(EdgeId edge) { recorder_.remove_edge(edge); }
void RemoteTransaction::derive(PageId child, std::span<const PageId> parents,
                               std::string_view function) {
  recorder_.derive(child, parents, function);
}
void RemoteTransaction::apply(std::string_view rule, PageId scope) {
  recorder_.apply(rule_family_id(rule), scope);
}

Result<std::vector<std::byte>> RemoteTransaction::read(PageId page) {
  MMSB_ASSIGN_OR_RETURN(RemotePage remote, client_->get(page, 0, fork_));
  recorder_.read(page, remote.epoch);
  return std::move(remote.bytes);
}

Result<CommitInfo> RemoteTransaction::commit() { return client_->commit(recorder_.ops(), fork_); }

void RemoteTransaction::commit_async(CommitCallback done) {
  client_->commit_async(recorder_.ops(), std::move(done), fork_);
}

}  // namespace mmsb

// The requests of a session after HELLO: each decodes its body, does what it asks on the
// loop's thread or hands it to the engine or the slow lane, and answers or leaves the
// answer to the Mailbox (docs/SEMANTICS.md "Server").
#include "mmsb/replay.hpp"
#include "net/session.hpp"
#include "net/slow_lane.hpp"

namespace mmsb::net {

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
    // Each page looked up once; the answer is a frame too, so it may not pass
    // frame_bytes_max.
    views_.clear();
    std::uint64_t bytes = kReadOkBytes;
    for (PageId page : read_.pages) {
      const Result<PageView>& view = views_.emplace_back(source.page(page));
      bytes += kReadPageHeaderBytes + (view.is_ok() ? view->bytes.size() : 0);
    }
    const std::uint32_t max = dispatcher_.options.limits.frame_bytes_max;
    if (bytes > max) {
      return error(header.id, limit_passed("frame_bytes_max", max,
                                           "the answer would be " + std::to_string(bytes) +
                                               " bytes: read fewer pages at once"));
    }
    ReadOkWriter writer(conn_.out, header.id, tick, static_cast<std::uint32_t>(views_.size()));
    for (const Result<PageView>& view : views_) writer.add(view);
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
    return error(header.id, limit_passed("pins_max", max, "too many pinned snapshots"), true);
  }
  encode_tick_root(conn_.out, header.type, header.id,
                   TickRoot{state.tick().value(), state.root(), 0});
  dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
  pins_.insert_or_assign(state.tick().value(), std::move(state));
}

void Session::fork(const FrameHeader& header, std::span<const std::byte> body, bool drop) {
  if (drop) {
    std::uint64_t id = 0;
    Status decoded = decode_u64(body, header.type, id);
    if (!decoded.is_ok()) return error(header.id, decoded);
    if (forks_.erase(id) == 0) {
      return error(header.id,
                   not_found("fork " + std::to_string(id) + " is not held by this connection"));
    }
    encode_empty(conn_.out, answer_to(header.type), header.id);
    dispatcher_.counters.frames_out.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Status decoded = decode_empty(body, header.type);
  if (!decoded.is_ok()) return error(header.id, decoded);
  const std::uint32_t max = dispatcher_.options.limits.forks_max;
  if (forks_.size() >= max)
    return error(header.id, limit_passed("forks_max", max, "too many forks"), true);
  const std::uint64_t id = next_fork_++;
  auto [it, added] = forks_.emplace(id, Fork(dispatcher_.engine.snapshot()));
  const State& base = it->second.base();
  encode_tick_root(conn_.out, header.type, header.id,
                   TickRoot{base.tick().value(), base.root(), id});
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
  // A merge waits for its tick: on the slow lane. The fork goes with it (not held while it
  // merges); a merge uses it up, and one that fails hands it back, to retry or drop.
  auto fork = std::make_shared<Fork>(std::move(it->second));
  forks_.erase(it);
  ++in_flight_;
  Engine& engine = dispatcher_.engine;
  dispatcher_.slow.run([&engine, fork, fork_id = request.fork, policy = request.policy,
                        id = header.id, mailbox = MailboxRef(mailbox_)] {
    std::vector<std::byte> frame;
    MergeOptions options;
    options.policy = policy;
    Result<MergeResult> merged = engine.merge(*fork, options);
    if (merged.is_ok()) {
      encode_merge_ok(frame, id, *merged);
      mailbox->slow_done(std::move(frame));
    } else {
      encode_error(frame, id, merged.status(), false);
      mailbox->slow_done(std::move(frame), fork_id, fork);
    }
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
      return error(header.id,
                   not_found("no subscription " + std::to_string(id) + " on this connection"));
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
    return error(header.id, limit_passed("subscriptions_max", max, "too many subscriptions"), true);
  }
  if (subscriptions_.count(header.id) != 0) {
    return error(header.id, invalid_argument("a subscription with request id " +
                                             std::to_string(header.id) + " exists"));
  }
  EventFilter filter{std::move(request.pages), request.types};
  LoopCounters& counters = dispatcher_.counters;
  Result<std::uint64_t> subscription = dispatcher_.engine.subscribe(
      std::move(filter), [mailbox = MailboxRef(mailbox_), id = header.id, &counters](
                             const EventBatch& batch) { mailbox->event(id, batch, counters); });
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
      verdicts_.resize(have + producer_->take_verdicts(std::span<PacketVerdict>(
                                  verdicts_.data() + have, wanted - have)));
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

}  // namespace mmsb::net

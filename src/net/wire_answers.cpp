// The answers' codecs (docs/FORMAT.md "Wire protocol"), and EngineStats as named values.
#include <bit>

#include "core/endian.hpp"
#include "net/body_reader.hpp"
#include "net/wire.hpp"

namespace mmsb::net {

using detail::BodyReader;
using detail::kReceiptBytes;
using detail::put_ids;
using detail::put_remaps;
using detail::read_remaps;

void encode_hello_ok(std::vector<std::byte>& out, std::uint64_t id, const HelloOk& hello) {
  FrameWriter frame(out, answer_to(FrameType::kHello), id);
  frame.put<std::uint16_t>(hello.version).put<std::uint16_t>(0).put<std::uint64_t>(hello.tick);
  frame.put<std::uint32_t>(hello.frame_bytes_max).put<std::uint32_t>(hello.in_flight_max);
  frame.put<std::uint32_t>(hello.pins_max);
  frame.finish();
}

Status decode_hello_ok(std::span<const std::byte> body, HelloOk& hello) {
  BodyReader in(body, answer_to(FrameType::kHello));
  std::uint16_t reserved = 0;
  in.read(hello.version, "version") && in.read(reserved, "reserved") &&
      in.read(hello.tick, "tick") && in.read(hello.frame_bytes_max, "frame_bytes_max") &&
      in.read(hello.in_flight_max, "in_flight_max") && in.read(hello.pins_max, "pins_max");
  return in.done();
}

void encode_commit_ok(std::vector<std::byte>& out, std::uint64_t id, const CommitInfo& info) {
  FrameWriter frame(out, answer_to(FrameType::kCommit), id);
  frame.put<std::uint64_t>(info.tick.value()).hash(info.root);
  put_ids(frame, info.created_pages);
  put_ids(frame, info.created_edges);
  frame.put<std::uint32_t>(static_cast<std::uint32_t>(info.receipts.size()));
  for (const RuleReceipt& receipt : info.receipts) {
    frame.put<std::uint64_t>(receipt.family).put<std::uint64_t>(receipt.scope.value());
    frame.put<std::uint64_t>(receipt.nonce)
        .put<std::uint8_t>(static_cast<std::uint8_t>(receipt.outcome));
    frame.put<std::uint32_t>(receipt.attempt).put<std::uint64_t>(receipt.blocker_family);
    frame.put<std::uint64_t>(receipt.blocker_scope.value())
        .put<std::uint64_t>(receipt.retry_at.value());
  }
  frame.finish();
}

Status decode_commit_ok(std::span<const std::byte> body, CommitInfo& info) {
  BodyReader in(body, answer_to(FrameType::kCommit));
  std::uint64_t tick = 0;
  std::uint32_t receipts = 0;
  if (!in.read(tick, "tick") || !in.read_hash(info.root, "root") ||
      !in.read_ids(info.created_pages, "created page count", "created page") ||
      !in.read_ids(info.created_edges, "created edge count", "created edge") ||
      !in.read_count(receipts, kReceiptBytes, "receipt count", 0xffffffffu)) {
    return in.done();
  }
  info.tick = TickId(tick);
  info.receipts.resize(receipts);
  for (RuleReceipt& receipt : info.receipts) {
    std::uint64_t scope = 0, blocker = 0, retry = 0;
    std::uint8_t outcome = 0;
    if (!in.read(receipt.family, "receipt family") || !in.read(scope, "receipt scope") ||
        !in.read(receipt.nonce, "receipt nonce") || !in.read(outcome, "receipt outcome") ||
        !in.read(receipt.attempt, "receipt attempt") ||
        !in.read(receipt.blocker_family, "receipt blocker family") ||
        !in.read(blocker, "receipt blocker scope") || !in.read(retry, "receipt retry tick")) {
      break;
    }
    receipt.scope = PageId(scope);
    receipt.outcome = static_cast<ReceiptOutcome>(outcome);
    receipt.blocker_scope = PageId(blocker);
    receipt.retry_at = TickId(retry);
  }
  return in.done();
}

ReadOkWriter::ReadOkWriter(std::vector<std::byte>& out, std::uint64_t id, std::uint64_t tick,
                           std::uint32_t pages)
    : frame_(out, answer_to(FrameType::kRead), id) {
  frame_.put<std::uint64_t>(tick).put<std::uint32_t>(pages);
}

void ReadOkWriter::add(const Result<PageView>& page) {
  if (!page.is_ok()) {
    frame_.put<std::uint8_t>(static_cast<std::uint8_t>(page.status().code()));
    frame_.put<std::uint32_t>(0).put<std::uint64_t>(0).put<std::uint64_t>(0);
    return;
  }
  frame_.put<std::uint8_t>(0)
      .put<std::uint32_t>(page->type)
      .put<std::uint64_t>(page->epoch.value());
  frame_.put<std::uint64_t>(page->bytes.size()).bytes(page->bytes);
}

Status decode_read_ok(std::span<const std::byte> body, ReadOk& read) {
  BodyReader in(body, answer_to(FrameType::kRead));
  std::uint32_t n = 0;
  if (!in.read(read.tick, "tick") || !in.read_count(n, kReadPageHeaderBytes, "page count", kReadPagesMax)) {
    return in.done();
  }
  read.pages.resize(n);
  for (PageAnswer& page : read.pages) {
    std::uint8_t code = 0;
    std::uint64_t epoch = 0, size = 0;
    if (!in.read(code, "page status") || !in.read(page.type, "page type") ||
        !in.read(epoch, "page epoch") || !in.read(size, "page size")) {
      break;
    }
    if (code > kStatusCodeLast) {
      in.fail("unknown page status " + std::to_string(code));
      break;
    }
    page.code = static_cast<StatusCode>(code);
    page.epoch = Epoch(epoch);
    if (!in.span(static_cast<std::size_t>(size), page.bytes, "page bytes")) break;
  }
  return in.done();
}

void encode_tick_root(std::vector<std::byte>& out, FrameType request, std::uint64_t id,
                      const TickRoot& answer) {
  FrameWriter frame(out, answer_to(request), id);
  frame.put<std::uint64_t>(answer.tick).hash(answer.root).put<std::uint64_t>(answer.count);
  frame.finish();
}

Status decode_tick_root(std::span<const std::byte> body, FrameType request, TickRoot& answer) {
  BodyReader in(body, answer_to(request));
  in.read(answer.tick, "tick") && in.read_hash(answer.root, "root") && in.read(answer.count, "count");
  return in.done();
}

void encode_merge_ok(std::vector<std::byte>& out, std::uint64_t id, const MergeResult& merge) {
  FrameWriter frame(out, answer_to(FrameType::kMerge), id);
  frame.put<std::uint64_t>(merge.state.tick().value()).hash(merge.state.root());
  frame.put<std::uint8_t>(static_cast<std::uint8_t>(merge.path));
  frame.put<std::uint64_t>(merge.pages_taken_from_theirs).put<std::uint64_t>(merge.pages_merged);
  frame.put<std::uint64_t>(merge.clashes_resolved);
  put_remaps(frame, merge.page_remap);
  put_remaps(frame, merge.edge_remap);
  frame.finish();
}

Status decode_merge_ok(std::span<const std::byte> body, RemoteMerge& merge) {
  BodyReader in(body, answer_to(FrameType::kMerge));
  std::uint8_t path = 0;
  std::uint64_t tick = 0;
  if (in.read(tick, "tick") && in.read_hash(merge.root, "root") && in.read(path, "path") &&
      in.read(merge.pages_taken_from_theirs, "pages taken") &&
      in.read(merge.pages_merged, "pages merged") &&
      in.read(merge.clashes_resolved, "clashes resolved") &&
      read_remaps(in, merge.page_remap, "page remap count")) {
    read_remaps(in, merge.edge_remap, "edge remap count");
  }
  if (path > static_cast<std::uint8_t>(MergePath::kThreeWay)) in.fail("unknown merge path");
  merge.tick = TickId(tick);
  merge.path = static_cast<MergePath>(path);
  return in.done();
}

void encode_ingest_ok(std::vector<std::byte>& out, std::uint64_t id, std::uint64_t first_sequence,
                      std::span<const PacketVerdict> verdicts, std::size_t refused) {
  FrameWriter frame(out, answer_to(FrameType::kIngest), id);
  frame.put<std::uint64_t>(first_sequence);
  frame.put<std::uint32_t>(static_cast<std::uint32_t>(verdicts.size() + refused));
  std::vector<std::byte>& bytes = frame.out();
  const std::size_t at = bytes.size();
  bytes.resize(at + 2 * (verdicts.size() + refused));
  std::byte* to = bytes.data() + at;
  for (const PacketVerdict& verdict : verdicts) {
    *to++ = static_cast<std::byte>(verdict.outcome);
    *to++ = static_cast<std::byte>(verdict.reason);
  }
  for (std::size_t i = 0; i < refused; ++i) {
    *to++ = static_cast<std::byte>(PacketOutcome::kRefused);
    *to++ = static_cast<std::byte>(DenyReason::kNone);
  }
  frame.finish();
}

Status decode_ingest_ok(std::span<const std::byte> body, RemoteIngest& ingest) {
  BodyReader in(body, answer_to(FrameType::kIngest));
  std::uint32_t n = 0;
  if (in.read(ingest.first_sequence, "first sequence") &&
      in.read_count(n, 2, "verdict count", kIngestPacketsMax)) {
    ingest.verdicts.resize(n);
    for (PacketVerdict& verdict : ingest.verdicts) {
      std::uint8_t outcome = 0, reason = 0;
      if (!in.read(outcome, "outcome") || !in.read(reason, "reason")) break;
      if (outcome < 1 || outcome > 4 || reason >= kDenyReasons) {
        in.fail("unknown verdict " + std::to_string(outcome) + "/" + std::to_string(reason));
        break;
      }
      verdict = {static_cast<PacketOutcome>(outcome), static_cast<DenyReason>(reason)};
    }
  }
  return in.done();
}

void encode_stats_ok(std::vector<std::byte>& out, std::uint64_t id,
                     std::span<const StatsEntry> entries) {
  FrameWriter frame(out, answer_to(FrameType::kStats), id);
  frame.put<std::uint32_t>(static_cast<std::uint32_t>(entries.size()));
  for (const StatsEntry& entry : entries) {
    frame.string(entry.name).put<std::uint8_t>(entry.counter ? 1 : 0);
    frame.put<std::uint64_t>(std::bit_cast<std::uint64_t>(entry.value));
  }
  frame.finish();
}

Status decode_stats_ok(std::span<const std::byte> body, std::vector<StatsEntry>& entries) {
  BodyReader in(body, answer_to(FrameType::kStats));
  std::uint32_t n = 0;
  if (in.read_count(n, 13, "entry count", 1u << 16)) entries.resize(n);
  for (StatsEntry& entry : entries) {
    std::uint64_t bits = 0;
    std::uint8_t counter = 0;
    if (!in.read_string(entry.name, 256, "name") || !in.read(counter, "kind") ||
        !in.read(bits, "value")) {
      break;
    }
    if (counter > 1) {
      in.fail("unknown kind " + std::to_string(counter));
      break;
    }
    entry.counter = counter == 1;
    entry.value = std::bit_cast<double>(bits);
  }
  return in.done();
}

void encode_event(std::vector<std::byte>& out, std::uint64_t id, const EventBatch& batch,
                  std::uint64_t dropped_before) {
  FrameWriter frame(out, FrameType::kEvent, id);
  frame.put<std::uint64_t>(batch.tick.value()).put<std::uint64_t>(dropped_before);
  frame.put<std::uint32_t>(static_cast<std::uint32_t>(batch.events.size()));
  for (const Event& event : batch.events) {
    frame.put<std::uint8_t>(static_cast<std::uint8_t>(event.type));
    frame.put<std::uint64_t>(event.page.value()).put<std::uint64_t>(event.epoch.value());
  }
  frame.finish();
}

Status decode_event(std::span<const std::byte> body, EventBatch& batch) {
  BodyReader in(body, FrameType::kEvent);
  std::uint64_t tick = 0;
  std::uint32_t n = 0;
  if (in.read(tick, "tick") && in.read(batch.batches_dropped_before, "dropped before") &&
      in.read_count(n, 17, "event count", 0xffffffffu)) {
    batch.tick = TickId(tick);
    batch.events.resize(n);
    for (Event& event : batch.events) {
      std::uint8_t type = 0;
      std::uint64_t page = 0, epoch = 0;
      if (!in.read(type, "event type") || !in.read(page, "event page") ||
          !in.read(epoch, "event epoch")) {
        break;
      }
      if (type > static_cast<std::uint8_t>(EventType::kStale)) {
        in.fail("unknown event type " + std::to_string(type));
        break;
      }
      event = {static_cast<EventType>(type), PageId(page), Epoch(epoch)};
    }
  }
  return in.done();
}

void encode_error(std::vector<std::byte>& out, std::uint64_t id, const Status& status, bool fatal) {
  FrameWriter frame(out, FrameType::kError, id);
  frame.put<std::uint8_t>(static_cast<std::uint8_t>(status.code()))
      .put<std::uint8_t>(fatal ? 1 : 0);
  frame.put<std::uint16_t>(0);
  const std::string& message = status.message();
  frame.string(std::string_view(message).substr(0, kErrorMessageBytesMax));
  frame.finish();
}

Status decode_error(std::span<const std::byte> body, ErrorAnswer& error) {
  BodyReader in(body, FrameType::kError);
  std::uint8_t code = 0, fatal = 0;
  std::uint16_t reserved = 0;
  if (in.read(code, "code") && in.read(fatal, "fatal") && in.read(reserved, "reserved")) {
    if (code == 0 || code > kStatusCodeLast || fatal > 1) in.fail("unknown code or fatal flag");
    in.read_string(error.message, kErrorMessageBytesMax, "message");
  }
  error.code = static_cast<StatusCode>(code);
  error.fatal = fatal == 1;
  return in.done();
}

std::vector<StatsEntry> stats_entries(const EngineStats& s) {
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  std::vector<StatsEntry> e = {
      {"ticks", d(s.ticks)},
      {"transactions", d(s.transactions)},
      {"transactions_committed", d(s.transactions_committed)},
      {"conflicts", d(s.conflicts)},
      {"failed", d(s.failed)},
      {"deltas", d(s.deltas)},
      {"bytes_logged", d(s.bytes_logged)},
      {"fsyncs", d(s.fsyncs)},
      {"checkpoints", d(s.checkpoints)},
      {"commit_latency_ns_p50", d(s.commit_latency_ns_p50), false},
      {"commit_latency_ns_p99", d(s.commit_latency_ns_p99), false},
      {"commit_latency_ns_p999", d(s.commit_latency_ns_p999), false},
      {"derived_recomputes", d(s.derived_recomputes)},
      {"derived_skipped", d(s.derived_skipped)},
      {"derived_cutoffs", d(s.derived_cutoffs)},
      {"derived_changed", d(s.derived_changed)},
      {"derived_stale", d(s.derived_stale)},
      {"derive_failures", d(s.derive_failures)},
      {"event_batches_delivered", d(s.event_batches_delivered)},
      {"event_batches_dropped", d(s.event_batches_dropped)},
      {"subscriber_errors", d(s.subscriber_errors)},
      {"rule_candidates", d(s.rule_candidates)},
      {"rules_applied", d(s.rules_applied)},
      {"rules_rejected", d(s.rules_rejected)},
      {"rules_deferred", d(s.rules_deferred)},
      {"rule_retries", d(s.rule_retries)},
      {"rule_failures", d(s.rule_failures)},
      // The last tick with candidates (gauges).
      {"rule_tick_candidates", d(s.last_rule_tick.candidates), false},
      {"rule_tick_applied", d(s.last_rule_tick.applied), false},
      {"rule_tick_conflicts", d(s.last_rule_tick.conflicts), false},
      {"rule_tick_conflict_rate", s.last_rule_tick.conflict_rate, false},
      {"rule_tick_retries", d(s.last_rule_tick.retries), false},
      {"rule_tick_skipped", d(s.last_rule_tick.skipped), false},
      {"rule_tick_duplicates", d(s.last_rule_tick.duplicates), false},
      {"rule_tick_gate_probes", d(s.last_rule_tick.gate_probes), false},
      {"rule_tick_mask_fast_path", d(s.last_rule_tick.mask_fast_path), false},
      {"rule_tick_matches_reused", d(s.last_rule_tick.matches_reused), false},
      {"rule_tick_reservation_ns", d(s.last_rule_tick.reservation_ns), false},
      {"rule_tick_execution_ns", d(s.last_rule_tick.execution_ns), false},
      {"rule_tick_commit_ns", d(s.last_rule_tick.commit_ns), false},
      {"ingest_producers", d(s.ingest.producers), false},
      {"ingest_ticks", d(s.ingest.ticks)},
      {"ingest_packets", d(s.ingest.packets)},
      {"ingest_admitted", d(s.ingest.admitted)},
      {"ingest_denied", d(s.ingest.denied)},
      {"ingest_throttled", d(s.ingest.throttled)},
      {"ingest_refused", d(s.ingest.refused)},
      {"ingest_dropped", d(s.ingest.dropped)},
      {"ingest_queue_depth", d(s.ingest.queue_depth), false},
      {"ingest_queue_depth_max", d(s.ingest.queue_depth_max), false},
      {"ingest_latency_ns_p50", d(s.ingest.latency_ns_p50), false},
      {"ingest_latency_ns_p99", d(s.ingest.latency_ns_p99), false},
      {"ingest_latency_ns_p999", d(s.ingest.latency_ns_p999), false},
  };
  return e;
}

}  // namespace mmsb::net

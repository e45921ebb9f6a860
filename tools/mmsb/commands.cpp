#include "tools/mmsb/commands.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <chrono>

#include "mmsb/mmsb.hpp"
#include "tools/mmsb/cli_util.hpp"

namespace mmsb::cli {
namespace {

// A page id as a transaction names it: provisional ids are the transaction's own creations.
std::string id_text(std::uint64_t id) {
  if (log::is_provisional(id)) return "new#" + std::to_string(id & ~log::kProvisionalBit);
  return std::to_string(id);
}

// One op and what applying it gave, as a line.
std::string describe(const log::Op& any, const log::OpResult& result) {
  struct Describe {
    const log::OpResult& result;
    std::string operator()(const log::ReadOp& op) const {
      return fmt::format("{:<11} page {} epoch seen {}", "read", id_text(op.page), op.epoch);
    }
    std::string operator()(const log::CreatePageOp& op) const {
      return fmt::format("{:<11} type {} size {} initial bytes {} id {}", "create", op.type,
                         op.size_bytes, op.bytes.size(), result.assigned);
    }
    std::string operator()(const log::WriteOp& op) const {
      return fmt::format("{:<11} page {} offset {} bytes {} at epoch {}", "write", id_text(op.page),
                         op.offset, op.bytes.size(), result.epoch);
    }
    std::string operator()(const log::DeletePageOp& op) const {
      return fmt::format("{:<11} page {}", "delete", id_text(op.page));
    }
    std::string operator()(const log::AddEdgeOp& op) const {
      return fmt::format("{:<11} kind {} from {} to {} id {}", "add-edge", op.edge_kind,
                         id_text(op.from), id_text(op.to), result.assigned);
    }
    std::string operator()(const log::RemoveEdgeOp& op) const {
      return fmt::format("{:<11} edge {}", "remove-edge", id_text(op.edge));
    }
    std::string operator()(const log::DeriveOp& op) const {
      std::vector<std::string> parents;
      for (std::uint64_t parent : op.parents) parents.push_back(id_text(parent));
      return fmt::format("{:<11} page {} function '{}' parents [{}] first edge {}", "derive",
                         id_text(op.page), op.function, fmt::join(parents, ", "), result.assigned);
    }
    std::string operator()(const log::ApplyRuleOp& op) const {
      return fmt::format("{:<11} rule {:016x} scope {} (id {})", "apply-rule", op.family,
                         id_text(op.page), result.assigned);
    }
  };
  return std::visit(Describe{result}, any);
}

void print_record(const log::TickRecord& record) {
  fmt::print("tick {}\n  root     {}\n  previous {}\n  wall time {} ns\n", record.tick.value(),
             record.root.to_hex(), record.previous.to_hex(), record.wall_time_ns);
  for (std::size_t i = 0; i < record.transactions.size(); ++i) {
    const log::LoggedTransaction& txn = record.transactions[i];
    const std::vector<log::Op>& ops = txn.input.ops;
    const std::span<const log::OpResult> results = record.results_of(txn);
    fmt::print("  transaction {}: {} ops, {}\n", i, ops.size(),
               status_code_name(txn.result.outcome));
    for (std::size_t k = 0; k < ops.size(); ++k) {
      fmt::print("    {}\n", describe(ops[k], txn.committed() ? results[k] : log::OpResult{}));
    }
  }
  if (record.has_merge) {
    fmt::print("  merge: {} pages set, {} deleted, {} edges added, {} removed\n",
               record.merge.pages_set.size(), record.merge.pages_deleted.size(),
               record.merge.edges_added.size(), record.merge.edges_removed.size());
  }
  if (record.has_ingest) {
    const log::IngestSection& ingest = record.ingest;
    fmt::print("  ingest at {} ns, ruleset {}{}, {} buckets, {} packets\n", ingest.time_ns,
               ingest.ruleset.to_hex(), ingest.ruleset_bytes.empty() ? "" : " (logged in full)",
               ingest.buckets.size(), ingest.packets.size());
    for (const log::IngestPacket& packet : ingest.packets) {
      fmt::print("    producer {} sequence {} topic {}: {}", packet.producer, packet.sequence,
                 packet.topic, packet_outcome_name(packet.outcome));
      if (packet.outcome == PacketOutcome::kDenied) {
        fmt::print(" ({})", deny_reason_name(packet.reason));
      }
      fmt::print(", {} bytes\n", packet.length);
    }
  }
  for (const log::RuleOutcome& rule : record.rules) {
    const RuleReceipt& receipt = rule.receipt;
    fmt::print("  rule {:016x} scope {} nonce {} attempt {}: {}", receipt.family,
               receipt.scope.value(), receipt.nonce, receipt.attempt,
               receipt_outcome_name(receipt.outcome));
    if (receipt.outcome != ReceiptOutcome::kApplied && receipt.blocker_scope.is_valid()) {
      fmt::print(" (by rule {:016x} scope {})", receipt.blocker_family, receipt.blocker_scope.value());
    }
    if (receipt.outcome == ReceiptOutcome::kDeferred) {
      fmt::print(", retry at tick {}", receipt.retry_at.value());
    }
    fmt::print(", {} writes\n", rule.writes.size());
  }
  for (const Delta& derived : record.derived) {
    fmt::print("  derived page {} from epoch {}: {} runs, {} bytes\n", derived.page().value(),
               derived.base_epoch().value(), derived.runs().size(), derived.bytes().size());
  }
}

// What re-execution checked, and what it had to take from the log.
void print_reexecution(const ReplaySummary& summary) {
  const std::uint64_t rerun = summary.derived_recomputes - summary.derived_taken_from_log;
  fmt::print("  propagation      {} recomputes re-run and checked, {} taken from the log\n", rerun,
             summary.derived_taken_from_log);
  if (summary.derived_taken_from_log != 0) {
    fmt::print(
        "                   (user functions live in the program that registered them;\n"
        "                   this tool has only the built-ins)\n");
  }
  if (summary.rule_ticks_taken_from_log != 0) {
    fmt::print(
        "  rules            {} ticks' receipts and writes taken from the log (rules live\n"
        "                   in the program that registered them)\n",
        summary.rule_ticks_taken_from_log);
  }
}

}  // namespace

int run_replay(const ReplayCommand& command) {
  ReplayOptions options;
  if (command.to) options.to = TickId(*command.to);
  options.reexecute = command.verify;
  options.ignore_checkpoints = command.full;
  const auto start = Clock::now();
  options.progress = [&](TickId tick, std::uint64_t bytes) {
    fmt::print(stderr, "\r  replayed to tick {}  {:.1f} MB  {:.0f} MB/s   ", tick.value(),
               bytes / 1e6, bytes / 1e6 / std::max(seconds_since(start), 1e-9));
  };
  ReplaySummary summary;
  auto state = replay(command.dir, options, &summary);
  if (options.progress && summary.ticks_applied >= options.progress_every) fmt::print(stderr, "\n");
  if (!state.is_ok()) return fail(state.status());
  const double seconds = seconds_since(start);
  fmt::print("replay of {} ({})\n", command.dir,
             command.verify ? "re-executing inputs" : "applying logged ticks");
  if (summary.checkpoint) fmt::print("  from checkpoint  tick {}\n", summary.checkpoint->value());
  fmt::print("  ticks replayed   {}\n  log read         {:.2f} MB in {:.3f} s ({:.0f} MB/s)\n",
             summary.ticks_applied, summary.bytes_read / 1e6, seconds,
             summary.bytes_read / 1e6 / std::max(seconds, 1e-9));
  if (summary.torn) {
    fmt::print("  torn tail        {} bytes at byte {} of {} (dropped at the next open)\n",
               summary.torn->bytes_dropped, summary.torn->offset, summary.torn->path);
  }
  fmt::print("  tick             {}\n  pages / edges    {} / {}\n  derived pages    {}\n"
             "  state root       {}\n",
             state->tick().value(), state->page_count(), state->edge_count(),
             state->derivation_count(), state->root().to_hex());
  if (summary.packets_checked != 0) {
    fmt::print("  ingest           {} packets judged again, every outcome equal to the log\n",
               summary.packets_checked);
  }
  if (command.verify) print_reexecution(summary);
  fmt::print("  every tick's root matched the log\n");
  return 0;
}

int run_verify(const std::string& dir) {
  auto report = verify(dir);
  if (!report.is_ok()) {
    fmt::print("verify {}: FAILED\n  {}\n", dir, report.status().to_string());
    return 1;
  }
  const ReplaySummary& recovery = report->recovery;
  fmt::print("verify {}: {}\n", dir, report->ok() ? "OK" : "FAILED");
  if (!report->failure.is_ok()) {
    fmt::print("  recovery would fail: {}\n", report->failure.to_string());
  } else {
    fmt::print("  recovery: {} + {} ticks re-executed (checksums, chain, roots, inputs)\n",
               recovery.checkpoint ? "checkpoint " + std::to_string(recovery.checkpoint->value())
                                   : std::string("the whole log"),
               recovery.ticks_applied);
    fmt::print("  tick {}\n  state root {}\n", report->tick.value(), report->root.to_hex());
    print_reexecution(recovery);
  }
  for (const CheckpointCheck& check : report->checkpoints) {
    fmt::print("  checkpoint {}: {}{}{}\n", check.tick.value(),
               checkpoint_outcome_name(check.outcome), check.detail.empty() ? "" : ": ",
               check.detail);
  }
  if (recovery.torn) {
    fmt::print("  torn tail of {} bytes in {}\n", recovery.torn->bytes_dropped,
               recovery.torn->path);
  }
  return report->ok() ? 0 : 1;
}

int run_log_inspect(const std::string& dir, std::optional<std::uint64_t> tick) {
  bool found = false;
  auto scan = scan_log(dir, [&](const log::TickRecord& record) {
    if (tick && record.tick.value() == *tick) {
      print_record(record);
      found = true;
    }
    return Status::ok();
  });
  if (!scan.is_ok()) return fail(scan.status());
  if (scan->segments.empty()) {
    fmt::print("{}: no log segments\n", dir);
    return 1;
  }
  if (tick) {
    if (!found) fmt::print("tick {} is not in the log\n", *tick);
    return found ? 0 : 1;
  }
  fmt::print("{:<26} {:>12} {:>12} {:>10} {:>12}\n", "segment", "first tick", "last tick",
             "records", "bytes");
  std::uint64_t records = 0, bytes = 0;
  for (const LogSegmentInfo& segment : scan->segments) {
    fmt::print("{:<26} {:>12} {:>12} {:>10} {:>12}\n", segment.name, segment.first_tick.value(),
               segment.last_tick.value(), segment.records, segment.bytes);
    records += segment.records;
    bytes += segment.bytes;
  }
  fmt::print("{:<26} {:>12} {:>12} {:>10} {:>12}\n", "total", "", "", records, bytes);
  if (scan->torn)
    fmt::print("torn tail: {} bytes at byte {} of {}\n", scan->torn->bytes_dropped,
               scan->torn->offset, scan->torn->path);
  return 0;
}

int run_checkpoint(const std::string& dir) {
  EngineOptions options;
  options.dir = dir;
  auto engine = Engine::open(options);
  if (!engine.is_ok()) return fail(engine.status());
  auto tick = (*engine)->checkpoint();
  if (!tick.is_ok()) return fail(tick.status());
  fmt::print("checkpoint of {} at tick {}\n", dir, tick->value());
  Status closed = (*engine)->close();
  return closed.is_ok() ? 0 : fail(closed);
}

}  // namespace mmsb::cli

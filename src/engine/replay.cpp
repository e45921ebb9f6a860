#include "engine/replay.hpp"

#include "engine/apply.hpp"
#include "log/checkpoint.hpp"
#include "log/tick_record.hpp"

namespace mmsb::engine {
namespace {

std::string at(const std::string& path, std::uint64_t offset) {
  return path + " at byte " + std::to_string(offset);
}

// The state after `record`, applied on `state`. The record's ops are applied in place
// (their logged ids and epochs are set aside and compared afterwards), so nothing is copied.
Result<State> apply_record(const State& state, log::TickRecord& record, bool reexecute,
                           const std::string& where) {
  state::ForkCore fork(state);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> logged_results;
  for (std::size_t i = 0; i < record.transactions.size(); ++i) {
    log::TransactionInput& logged = record.transactions[i];
    if (!reexecute && logged.outcome != StatusCode::kOk) continue;
    logged_results.clear();
    for (log::Op& op : logged.ops) {
      logged_results.emplace_back(op.assigned, op.epoch);
      op.assigned = 0;
      if (op.kind == log::OpKind::kWrite) op.epoch = 0;
    }
    bool damaged = false;
    Status outcome = apply_transaction(fork, logged.ops, nullptr, &damaged);
    if (damaged) return outcome;  // the allocator, not the log
    const std::string txn = where + ": tick " + std::to_string(record.tick.value()) +
                            " transaction " + std::to_string(i);
    if (outcome.code() != logged.outcome) {
      return corruption(txn + ": logged outcome " + std::string(status_code_name(logged.outcome)) +
                        " but re-execution gives " + outcome.to_string());
    }
    if (!outcome.is_ok()) continue;
    for (std::size_t k = 0; k < logged.ops.size(); ++k) {
      const log::Op& op = logged.ops[k];
      if (op.assigned != logged_results[k].first || op.epoch != logged_results[k].second) {
        return corruption(txn + ": operation " + std::to_string(k) +
                          ": ids or epochs differ from the logged ones");
      }
    }
  }
  if (record.has_merge) {
    Status merged = apply_merge_effect(fork, record.merge);
    if (!merged.is_ok()) {
      return corruption(where + ": tick " + std::to_string(record.tick.value()) + ": " +
                        merged.message());
    }
  }
  return fork.commit_as(record.tick);
}

}  // namespace

std::string log_dir_of(const std::string& dir) { return dir + "/log"; }
std::string checkpoint_dir_of(const std::string& dir) { return dir + "/checkpoints"; }

Result<State> replay(Env& env, const std::string& dir, const StateOptions& state_options,
                     const ReplayOptions& options, ReplaySummary* summary) {
  *summary = ReplaySummary{};
  MMSB_ASSIGN_OR_RETURN(State state, State::empty(state_options));
  if (!options.ignore_checkpoints) {
    MMSB_ASSIGN_OR_RETURN(std::vector<TickId> checkpoints,
                          log::list_checkpoints(env, checkpoint_dir_of(dir)));
    // Newest first; a damaged checkpoint is skipped in favour of an older one, because the
    // log still covers the ticks after the older one unless segments were removed (which
    // the tick check below then reports).
    for (auto it = checkpoints.rbegin(); it != checkpoints.rend(); ++it) {
      if (options.to && *it > *options.to) continue;
      auto loaded = log::load_checkpoint(
          env, checkpoint_dir_of(dir) + "/" + log::checkpoint_file_name(*it), state_options);
      if (loaded.is_ok()) {
        state = *loaded;
        summary->checkpoint = *it;
        break;
      }
      if (loaded.status().code() != StatusCode::kCorruption) return loaded.status();
    }
  }
  bool have_previous = false;
  Hash128 previous;
  bool done = false;
  Status scanned = log::read_log(
      env, log_dir_of(dir),
      [&](std::span<const std::byte> payload, const std::string& path,
          std::uint64_t offset) -> Status {
        if (done) return Status::ok();
        summary->bytes_read += payload.size() + log::kFrameHeaderBytes;
        auto decoded = log::decode_tick_record(payload);
        if (!decoded.is_ok())
          return corruption(at(path, offset) + ": " + decoded.status().message());
        log::TickRecord& record = *decoded;
        if (have_previous && record.previous != previous) {
          return corruption(at(path, offset) + ": tick " + std::to_string(record.tick.value()) +
                            " does not chain to the record before it");
        }
        have_previous = true;
        previous = xxh3_128(payload);
        summary->last_record_hash = previous;
        if (record.tick <= state.tick()) return Status::ok();  // covered by the checkpoint
        if (options.to && record.tick > *options.to) {
          done = true;
          return Status::ok();
        }
        if (record.tick.value() != state.tick().value() + 1) {
          return corruption(at(path, offset) + ": expected tick " +
                            std::to_string(state.tick().value() + 1) + ", found tick " +
                            std::to_string(record.tick.value()));
        }
        MMSB_ASSIGN_OR_RETURN(State next,
                              apply_record(state, record, options.reexecute, at(path, offset)));
        if (next.root() != record.root) {
          return corruption(at(path, offset) + ": tick " + std::to_string(record.tick.value()) +
                            ": replayed root " + next.root().to_hex() +
                            " differs from the logged " + record.root.to_hex());
        }
        state = std::move(next);
        ++summary->ticks_applied;
        if (options.progress && summary->ticks_applied % options.progress_every == 0) {
          options.progress(state.tick(), summary->bytes_read);
        }
        return Status::ok();
      },
      &summary->torn);
  MMSB_RETURN_IF_ERROR(scanned);
  return state;
}

}  // namespace mmsb::engine

// The C ABI: errors, versions, engine lifetime, statistics, replay and verification.
#include <string>

#include "capi/capi_internal.hpp"
#include "mmsb/replay.hpp"
#include "mmsb/version.hpp"

namespace mmsb::capi {
namespace {

thread_local std::string last_error;

static_assert(static_cast<int>(StatusCode::kInvalidArgument) == MMSB_INVALID_ARGUMENT);
static_assert(static_cast<int>(StatusCode::kConflict) == MMSB_CONFLICT);
static_assert(static_cast<int>(StatusCode::kUnavailable) == MMSB_UNAVAILABLE);
static_assert(static_cast<int>(StatusCode::kInternal) == MMSB_INTERNAL);
static_assert(kStatusCodeLast == MMSB_INTERNAL, "a new StatusCode needs its mmsb_status");

Status engine_options(const mmsb_engine_options* in, const char* dir, EngineOptions& out) {
  out.dir = dir;
  if (in == nullptr) return Status::ok();
  if (in->struct_size < sizeof(mmsb_engine_options)) {
    return invalid_argument("mmsb_engine_options.struct_size " + std::to_string(in->struct_size) +
                            " is too small (call mmsb_engine_options_init)");
  }
  if (in->durability > MMSB_DURABILITY_FSYNC) {
    return invalid_argument("mmsb_engine_options.durability " + std::to_string(in->durability) +
                            " is not an mmsb_durability");
  }
  out.durability = static_cast<Durability>(in->durability);
  out.propagation_workers = in->propagation_workers;
  out.rule_workers = in->rule_workers;
  out.state.page_size_max_bytes = in->page_size_max_bytes;
  out.ingest_tick_packets_max = in->ingest_tick_packets_max;
  return Status::ok();
}

void fill_replay_info(const State& state, const ReplaySummary& summary, mmsb_replay_info* out) {
  out->tick = state.tick().value();
  out->root = to_c(state.root());
  out->ticks_applied = summary.ticks_applied;
  out->bytes_read = summary.bytes_read;
  out->checkpoint = summary.checkpoint ? summary.checkpoint->value() : 0;
}

}  // namespace

mmsb_status report(const Status& status) {
  if (status.is_ok()) return MMSB_OK;
  last_error = status.message();
  return static_cast<mmsb_status>(status.code());
}

void fill_page(const PageView& view, mmsb_page* out) {
  out->id = view.id.value();
  out->type = view.type;
  out->epoch = view.epoch.value();
  out->bytes = view.bytes.data();
  out->size = view.size_bytes;
}

}  // namespace mmsb::capi

using namespace mmsb;
using capi::guard;
using capi::require;

extern "C" {

uint32_t mmsb_abi_version(void) { return MMSB_ABI_VERSION; }

const char* mmsb_version(void) { return kVersion; }

const char* mmsb_status_name(mmsb_status status) {
  if (status < MMSB_OK || status > MMSB_INTERNAL) return "Unknown";
  // The names are string literals, so their data is NUL-terminated.
  return status_code_name(static_cast<StatusCode>(status)).data();
}

const char* mmsb_last_error(void) { return capi::last_error.c_str(); }

void mmsb_engine_options_init(mmsb_engine_options* options) {
  if (options == nullptr) return;
  EngineOptions defaults;
  options->struct_size = sizeof(mmsb_engine_options);
  options->durability = static_cast<uint32_t>(defaults.durability);
  options->propagation_workers = static_cast<uint32_t>(defaults.propagation_workers);
  options->rule_workers = static_cast<uint32_t>(defaults.rule_workers);
  options->page_size_max_bytes = defaults.state.page_size_max_bytes;
  options->ingest_tick_packets_max = defaults.ingest_tick_packets_max;
}

mmsb_status mmsb_engine_open(const char* dir, const mmsb_engine_options* options,
                             mmsb_engine** out) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(dir, "dir"));
    MMSB_RETURN_IF_ERROR(require(out, "out"));
    EngineOptions engine_options;
    MMSB_RETURN_IF_ERROR(capi::engine_options(options, dir, engine_options));
    MMSB_ASSIGN_OR_RETURN(auto engine, Engine::open(engine_options));
    *out = new mmsb_engine{std::move(engine)};
    return Status::ok();
  });
}

mmsb_status mmsb_engine_close(mmsb_engine* engine) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    std::unique_ptr<mmsb_engine> owned(engine);
    return owned->engine->close();
  });
}

mmsb_status mmsb_engine_checkpoint(mmsb_engine* engine, uint64_t* tick) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    MMSB_ASSIGN_OR_RETURN(TickId done, engine->engine->checkpoint());
    if (tick != nullptr) *tick = done.value();
    return Status::ok();
  });
}

mmsb_status mmsb_engine_stats(const mmsb_engine* engine, mmsb_stats* out) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(engine, "engine"));
    MMSB_RETURN_IF_ERROR(require(out, "out"));
    EngineStats s = engine->engine->stats();
    *out = mmsb_stats{s.ticks,
                      s.transactions,
                      s.transactions_committed,
                      s.conflicts,
                      s.failed,
                      s.deltas,
                      s.bytes_logged,
                      s.fsyncs,
                      s.checkpoints,
                      s.commit_latency_ns_p50,
                      s.commit_latency_ns_p99,
                      s.derived_recomputes,
                      s.derived_changed,
                      s.derive_failures,
                      s.event_batches_delivered,
                      s.event_batches_dropped,
                      s.subscriber_errors,
                      s.rule_candidates,
                      s.rules_applied,
                      s.rules_rejected,
                      s.rule_failures,
                      s.ingest.packets,
                      s.ingest.admitted,
                      s.ingest.denied,
                      s.ingest.throttled,
                      s.ingest.refused};
    return Status::ok();
  });
}

mmsb_status mmsb_replay(const char* dir, uint64_t to, int reexecute, mmsb_replay_info* info,
                        mmsb_snapshot** snapshot) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(dir, "dir"));
    ReplayOptions options;
    if (to != 0) options.to = TickId(to);
    options.reexecute = reexecute != 0;
    ReplaySummary summary;
    MMSB_ASSIGN_OR_RETURN(State state, replay(dir, options, &summary));
    if (info != nullptr) capi::fill_replay_info(state, summary, info);
    if (snapshot != nullptr) *snapshot = new mmsb_snapshot{std::move(state)};
    return Status::ok();
  });
}

mmsb_status mmsb_verify(const char* dir, int* ok, mmsb_replay_info* info) {
  return guard([&]() -> Status {
    MMSB_RETURN_IF_ERROR(require(dir, "dir"));
    MMSB_RETURN_IF_ERROR(require(ok, "ok"));
    MMSB_ASSIGN_OR_RETURN(VerifyReport report, verify(dir));
    *ok = report.ok() ? 1 : 0;
    if (info != nullptr) {
      info->tick = report.tick.value();
      info->root = capi::to_c(report.root);
      info->ticks_applied = report.recovery.ticks_applied;
      info->bytes_read = report.recovery.bytes_read;
      info->checkpoint = report.recovery.checkpoint ? report.recovery.checkpoint->value() : 0;
    }
    if (!report.ok()) {
      std::string why = report.failure.is_ok() ? "" : report.failure.to_string();
      for (const CheckpointCheck& check : report.checkpoints) {
        if (check.outcome == CheckpointCheck::Outcome::kMatches ||
            check.outcome == CheckpointCheck::Outcome::kUnchecked) {
          continue;
        }
        if (!why.empty()) why += "; ";
        why += check.path + ": " + std::string(checkpoint_outcome_name(check.outcome)) + " (" +
               check.detail + ")";
      }
      capi::last_error = why;
    }
    return Status::ok();
  });
}

}  // extern "C"

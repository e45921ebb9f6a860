// Engine: opening (recovery), closing, and the calls that are not transactions. The commit
// thread is in sequencer.cpp. See include/mmsb/engine.hpp and docs/ARCHITECTURE.md "engine".
#include "mmsb/engine.hpp"

#include "engine/engine_impl.hpp"
#include "engine/replay.hpp"
#include "ingest/ruleset_store.hpp"
#include "log/checkpoint.hpp"
#include "state/tables.hpp"

namespace mmsb {

using engine::Request;

Engine::Engine(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() { close().ignore(); }

namespace {

Status validate_options(const EngineOptions& options) {
  if (options.tick_transactions_max == 0 || options.checkpoints_kept == 0) {
    return invalid_argument(
        "engine options: tick_transactions_max and checkpoints_kept must be >= 1");
  }
  if (options.propagation_workers == 0 || options.propagation_workers > kPropagationWorkersMax) {
    return invalid_argument("engine options: propagation_workers " +
                            std::to_string(options.propagation_workers) + " is outside [1, " +
                            std::to_string(kPropagationWorkersMax) + "]");
  }
  if (options.rule_workers == 0 || options.rule_workers > kRuleWorkersMax) {
    return invalid_argument("engine options: rule_workers " + std::to_string(options.rule_workers) +
                            " is outside [1, " + std::to_string(kRuleWorkersMax) + "]");
  }
  if (options.ingest_tick_packets_max == 0 ||
      options.ingest_tick_packets_max > kIngestTickPacketsMax) {
    return invalid_argument("engine options: ingest_tick_packets_max " +
                            std::to_string(options.ingest_tick_packets_max) + " is outside [1, " +
                            std::to_string(kIngestTickPacketsMax) + "]");
  }
  if (options.event_queue_batches == 0 || options.event_queue_batches > kEventQueueBatchesMax) {
    return invalid_argument("engine options: event_queue_batches " +
                            std::to_string(options.event_queue_batches) + " is outside [1, " +
                            std::to_string(kEventQueueBatchesMax) + "]");
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& options, OpenReport* report) {
  MMSB_RETURN_IF_ERROR(validate_options(options));
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  impl->env = options.env != nullptr ? options.env : Env::posix();
  impl->clock = options.clock != nullptr ? options.clock : Clock::system();
  Env& env = *impl->env;
  MMSB_RETURN_IF_ERROR(env.create_dir(options.dir));
  OpenReport local;
  OpenReport& out = report != nullptr ? *report : local;
  out = OpenReport{};
  out.created = !env.file_exists(engine::log_dir_of(options.dir)) &&
                !env.file_exists(engine::checkpoint_dir_of(options.dir));

  engine::ReplaySummary summary;
  MMSB_ASSIGN_OR_RETURN(State state, engine::replay(env, options.dir, options.state, {}, &summary));
  if (summary.torn) {
    const log::TornTail& torn = *summary.torn;
    if (torn.offset == 0) {
      MMSB_RETURN_IF_ERROR(env.remove_file(torn.path));
    } else {
      MMSB_RETURN_IF_ERROR(env.truncate_file(torn.path, torn.offset));
    }
    MMSB_RETURN_IF_ERROR(env.sync_dir(engine::log_dir_of(options.dir)));
    out.torn_segment = torn.path;
    out.torn_offset = torn.offset;
    out.torn_bytes_dropped = torn.bytes_dropped;
  }
  out.checkpoint = summary.checkpoint;
  out.ticks_replayed = summary.ticks_applied;
  out.tick = state.tick();
  out.root = state.root();

  MMSB_ASSIGN_OR_RETURN(
      impl->machinery,
      engine::TickMachinery::create(state, options.propagation_workers, options.rule_workers));
  if (!options.rule_telemetry_path.empty()) {
    MMSB_ASSIGN_OR_RETURN(impl->telemetry,
                          sched::TelemetryWriter::open(options.rule_telemetry_path));
  }

  MMSB_ASSIGN_OR_RETURN(
      std::unique_ptr<log::LogWriter> writer,
      log::LogWriter::open(
          &env, engine::log_dir_of(options.dir), options.segment_size_max_bytes,
          options.durability == Durability::kFsync ? log::kSyncedLogPreallocateBytes : 0));
  impl->committer = std::make_unique<engine::LogCommitter>(
      std::move(writer), summary.last_record_hash, *impl->clock, options.durability);
  state = state::with_new_lineage(state);
  impl->published = state;
  MMSB_ASSIGN_OR_RETURN(impl->ruleset_set, ingest::load_current_ruleset(env, options.dir));
  if (impl->ruleset_set) {
    impl->machinery->governor().set_ruleset(impl->ruleset_set);
    impl->ingest.totals.ruleset = impl->ruleset_set->hash();
  }
  Impl* raw = impl.get();
  impl->sequencer = std::thread([raw] { raw->run_sequencer(); });
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Status Engine::close() {
  {
    std::lock_guard<std::mutex> lock(impl_->queue_mutex);
    if (impl_->closed) return Status::ok();
    impl_->doorbell->closed.store(true, std::memory_order_release);  // no new packets
    impl_->stopping = true;
    impl_->queue_changed.notify_all();
  }
  if (impl_->sequencer.joinable()) impl_->sequencer.join();
  impl_->refuse_leftovers();  // pushed while the sequencer took its last packets
  impl_->events.close();      // delivers what the last ticks queued
  if (impl_->telemetry) impl_->telemetry->flush();
  std::lock_guard<std::mutex> checkpoint_lock(impl_->checkpoint_mutex);
  std::lock_guard<std::mutex> lock(impl_->queue_mutex);
  impl_->closed = true;
  // A clean close leaves everything durable, whatever the durability level of commits.
  Status synced = impl_->failure.is_ok() ? impl_->committer->sync() : Status::ok();
  Status closed = impl_->committer->close();
  return synced.is_ok() ? closed : synced;
}

Transaction Engine::begin() {
  auto impl = std::make_unique<Transaction::Impl>();
  impl->engine = impl_;
  impl->snapshot = impl_->head();
  return Transaction(std::move(impl));
}

State Engine::snapshot() const { return impl_->head(); }

Fork Engine::fork() const { return Fork(impl_->head()); }

Result<MergeResult> Engine::merge(const Fork& fork, const MergeOptions& options) {
  if (fork.has_uncommitted_changes()) {
    return failed_precondition(
        "merge: the fork has uncommitted changes; commit() them to the fork first (a merge "
        "takes the fork's committed head)");
  }
  if (state::lineage_of(fork.base()) != state::lineage_of(impl_->head())) {
    return invalid_argument(
        "merge: the fork was not made from this engine's states (from another engine, from "
        "this directory before it was reopened, or from a State built by hand)");
  }
  Request request(Request::Waiter::kMerge);
  request.merge_base = fork.base();
  request.merge_theirs = fork.head();
  request.merge_options = options;
  std::future<Result<MergeResult>> result = request.merged->get_future();
  MMSB_RETURN_IF_ERROR(impl_->submit(&request));
  return result.get();
}

Result<TickId> Engine::checkpoint() {
  std::lock_guard<std::mutex> lock(impl_->checkpoint_mutex);
  {
    std::lock_guard<std::mutex> queue_lock(impl_->queue_mutex);
    if (impl_->closed) return Status(StatusCode::kUnavailable, "engine is closed");
  }
  State state = impl_->head();
  // Whatever the durability level, the log must hold every tick the checkpoint covers, so
  // the log stays replayable on its own (mmsb verify) after a crash.
  Request barrier(Request::Waiter::kSync);
  std::future<Status> synced = barrier.synced->get_future();
  MMSB_RETURN_IF_ERROR(impl_->submit(&barrier));
  MMSB_RETURN_IF_ERROR(synced.get());
  Env& env = *impl_->env;
  const std::string dir = engine::checkpoint_dir_of(impl_->options.dir);
  MMSB_RETURN_IF_ERROR(log::write_checkpoint(env, dir, state));
  // Retention: keep the newest checkpoints_kept, then optionally the segments they cover.
  MMSB_ASSIGN_OR_RETURN(std::vector<TickId> kept, log::list_checkpoints(env, dir));
  while (kept.size() > impl_->options.checkpoints_kept) {
    MMSB_RETURN_IF_ERROR(env.remove_file(dir + "/" + log::checkpoint_file_name(kept.front())));
    kept.erase(kept.begin());
  }
  if (impl_->options.remove_covered_segments && !kept.empty()) {
    const std::string log_dir = engine::log_dir_of(impl_->options.dir);
    MMSB_ASSIGN_OR_RETURN(std::vector<log::SegmentFile> segments, log::list_segments(env, log_dir));
    for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
      // Segment i holds ticks [first_i, first_{i+1}); removable when the oldest kept
      // checkpoint covers all of them.
      if (segments[i + 1].first_tick.value() - 1 > kept.front().value()) break;
      MMSB_RETURN_IF_ERROR(env.remove_file(log_dir + "/" + segments[i].name));
    }
  }
  std::lock_guard<std::mutex> stats_lock(impl_->stats_mutex);
  ++impl_->stats.checkpoints;
  return state.tick();
}

const state::Tables& Engine::Impl::tables_of(const State& state) {
  return state::StateAccessors::data(state).tables;
}

Result<Producer> Engine::producer(const ProducerOptions& options) {
  if (impl_->doorbell->closed.load(std::memory_order_acquire)) {
    return Status(StatusCode::kUnavailable, "engine is closed");
  }
  MMSB_ASSIGN_OR_RETURN(std::shared_ptr<ingest::ProducerState> state,
                        impl_->producers.add(options));
  return Producer(std::move(state));
}

Result<Hash128> Engine::set_ruleset(const Ruleset& ruleset) {
  MMSB_ASSIGN_OR_RETURN(std::shared_ptr<const ingest::CompiledRuleset> compiled,
                        ingest::CompiledRuleset::compile(ruleset));
  std::lock_guard<std::mutex> lock(impl_->ruleset_mutex);
  if (impl_->doorbell->closed.load(std::memory_order_acquire)) {
    return Status(StatusCode::kUnavailable, "engine is closed");
  }
  MMSB_RETURN_IF_ERROR(compiled->check_pages(Impl::tables_of(impl_->head())));
  // The ruleset already set: stored and handed over before, nothing to write or swap.
  if (impl_->ruleset_set && impl_->ruleset_set->hash() == compiled->hash()) {
    return compiled->hash();
  }
  MMSB_RETURN_IF_ERROR(ingest::store_ruleset(*impl_->env, impl_->options.dir, *compiled));
  impl_->ruleset_set = compiled;
  delete impl_->pending_ruleset.exchange(
      new std::shared_ptr<const ingest::CompiledRuleset>(compiled), std::memory_order_acq_rel);
  return compiled->hash();
}

std::optional<Ruleset> Engine::ruleset() const {
  std::lock_guard<std::mutex> lock(impl_->ruleset_mutex);
  if (!impl_->ruleset_set) return std::nullopt;
  return impl_->ruleset_set->spec();
}

EngineStats Engine::stats() const {
  // Producer counters first (each producer's own lock), then the engine's.
  const auto producers = impl_->producers.snapshot();
  std::map<std::uint32_t, std::uint64_t> refused_live;
  EngineStats::Ingest live;
  for (const auto& producer : *producers) {
    ingest::add_backpressure_counters(*producer, live, refused_live);
    live.queue_depth += producer->ring.size_approx();
  }
  std::lock_guard<std::mutex> lock(impl_->stats_mutex);
  EngineStats stats = impl_->stats;
  const engine::IngestTotals& ingest = impl_->ingest;
  stats.ingest = ingest.totals;
  stats.ingest.producers = producers->size();
  stats.ingest.refused = live.refused + ingest.gone.refused;
  stats.ingest.dropped = live.dropped + ingest.gone.dropped;
  stats.ingest.backpressure_transitions =
      live.backpressure_transitions + ingest.gone.backpressure_transitions;
  stats.ingest.queue_depth = live.queue_depth;
  stats.ingest.latency_ns_p50 = ingest.latency.percentile(0.50);
  stats.ingest.latency_ns_p99 = ingest.latency.percentile(0.99);
  stats.ingest.latency_ns_p999 = ingest.latency.percentile(0.999);
  std::map<std::uint32_t, EngineStats::IngestTopic> topics = ingest.topics;
  auto add_refused = [&](const std::map<std::uint32_t, std::uint64_t>& refused) {
    for (const auto& [topic, count] : refused) {
      EngineStats::IngestTopic& entry = topics[topic];
      entry.topic = topic;
      entry.refused += count;
    }
  };
  add_refused(refused_live);
  add_refused(ingest.refused_gone);
  for (const auto& [topic, entry] : topics) stats.ingest.topics.push_back(entry);
  stats.commit_latency_ns_p50 = impl_->latency.percentile(0.50);
  stats.commit_latency_ns_p99 = impl_->latency.percentile(0.99);
  stats.commit_latency_ns_p999 = impl_->latency.percentile(0.999);
  const engine::EventCounters events = impl_->events.counters();
  stats.event_batches_delivered = events.batches_delivered;
  stats.event_batches_dropped = events.batches_dropped;
  stats.subscriber_errors = events.callback_errors;
  return stats;
}

const EngineOptions& Engine::options() const { return impl_->options; }

Status Engine::register_function(const std::string& name, DeriveFunction function) {
  return impl_->functions.add(name, std::move(function));
}

Result<CommitInfo> Engine::derive(PageId child, std::span<const PageId> parents,
                                  std::string_view function) {
  Transaction transaction = begin();
  transaction.derive(child, parents, function);
  return transaction.commit();
}

Status Engine::register_rule(Rule rule) { return impl_->rules.add(std::move(rule)); }

Result<CommitInfo> Engine::apply(std::string_view rule, PageId scope) {
  Transaction transaction = begin();
  transaction.apply(rule, scope);
  return transaction.commit();
}

Status Engine::rule_status(std::string_view rule) const {
  const auto rules = impl_->rules.snapshot();
  const sched::RegisteredRule* found = rules->find(rule_family_id(rule));
  if (found == nullptr || found->rule.name != rule) {
    return not_found("rule '" + std::string(rule) + "' is not registered");
  }
  return found->suspended;
}

Result<std::uint64_t> Engine::subscribe(EventFilter filter, EventCallback callback) {
  if (!callback) return invalid_argument("subscribe: empty callback");
  {
    std::lock_guard<std::mutex> lock(impl_->queue_mutex);
    if (impl_->closed || impl_->stopping) {
      return Status(StatusCode::kUnavailable, "engine is closed");
    }
  }
  return impl_->events.subscribe(std::move(filter), std::move(callback),
                                 impl_->options.event_queue_batches);
}

Status Engine::unsubscribe(std::uint64_t subscription) {
  if (!impl_->events.unsubscribe(subscription)) {
    return not_found("subscription " + std::to_string(subscription) + " does not exist");
  }
  return Status::ok();
}

}  // namespace mmsb

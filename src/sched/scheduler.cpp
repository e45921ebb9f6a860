#include "sched/scheduler.hpp"

#include <array>
#include <chrono>
#include <exception>
#include <optional>

#include "core/prefetch.hpp"
#include "sched/retry.hpp"

namespace mmsb::sched {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t elapsed_ns(Clock::time_point since) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - since).count());
}

// Candidates handed to one pool task at a time (also the bulk executor's most), and the
// fewest worth waking the pool for (below, the sequencer alone is faster than a hand-off).
constexpr std::size_t kChunk = kBulkCallsMax;
constexpr std::size_t kParallelCandidatesMin = 256;

// body(begin, end) for consecutive chunks of [0, count), on the pool's threads.
void parallel_chunks(core::WorkerPool* pool, std::size_t count,
                     const std::function<void(std::size_t, std::size_t)>& body) {
  const std::size_t chunks = (count + kChunk - 1) / kChunk;
  auto run_chunk = [&](std::size_t chunk) {
    body(chunk * kChunk, std::min(count, (chunk + 1) * kChunk));
  };
  if (pool == nullptr || count < kParallelCandidatesMin) {
    for (std::size_t chunk = 0; chunk < chunks; ++chunk) run_chunk(chunk);
  } else {
    pool->run(chunks, run_chunk);
  }
}

// Starts loading a footprint's page sets (their storage is apart from the footprint).
void prefetch_sets(const Footprint& footprint) {
  core::prefetch(footprint.pages_written.data());
  core::prefetch(footprint.pages_read.data());
}

// Starts loading the records of the first page a footprint writes and the first it reads
// (what its executor reads first, as a rule's usually does), and keeps them in `records`
// for a later prefetch of their bytes (prefetch_bytes).
void prefetch_records(const state::Tables& tables, const Footprint& footprint,
                      std::span<const state::PageRecord*, 2> records) {
  std::size_t n = 0;
  for (const std::vector<PageId>* pages : {&footprint.pages_written, &footprint.pages_read}) {
    const state::PageRecord* record = pages->empty() ? nullptr : tables.find_page(pages->front());
    if (record != nullptr) core::prefetch(record);
    records[n++] = record;
  }
}

void prefetch_bytes(std::span<const state::PageRecord* const, 2> records) {
  for (const state::PageRecord* record : records) {
    if (record != nullptr) core::prefetch(record->data);
  }
}

Status threw(const char* what, const char* message) {
  return internal_error(std::string(what) + " threw: " + message);
}

// The executor's writes, checked against its footprint and the pages, into the outcome's
// writes (its elements, and their bytes' storage, reused; finish() drops what is left over).
class BufferSink final : public DeltaSink {
 public:
  BufferSink(const state::Tables& tables, const Footprint& footprint,
             std::vector<log::PageWrite>& out)
      : tables_(tables), footprint_(footprint), out_(out) {}

  Status write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes) override {
    auto target = [&] { return "write to page " + std::to_string(page.value()); };
    if (!footprint_.may_write(page)) {
      return refuse(failed_precondition(target() + " outside its footprint"));
    }
    const state::PageRecord* record = tables_.find_page(page);
    if (record == nullptr) return refuse(not_found(target() + ": the page does not exist"));
    if (tables_.find_derivation(page) != nullptr) {
      return refuse(invalid_argument(target() + ": the page is derived: only propagation "
                                                "writes it"));
    }
    if (offset > record->size_bytes || bytes.size() > record->size_bytes - offset) {
      return refuse(invalid_argument(target() + ": " + std::to_string(bytes.size()) +
                                     " bytes at offset " + std::to_string(offset) +
                                     " pass its end (" + std::to_string(record->size_bytes) +
                                     " bytes)"));
    }
    log::PageWrite& written = used_ < out_.size() ? out_[used_] : out_.emplace_back();
    ++used_;
    written.page = page;
    written.epoch = record->epoch;  // as the tick found it: epochs move at the seal
    written.offset = offset;
    written.bytes.assign(bytes.begin(), bytes.end());
    return Status::ok();
  }
  void finish() { out_.resize(used_); }
  const Status& violation() const { return violation_; }

 private:
  Status refuse(Status status) {
    if (violation_.is_ok()) violation_ = status;
    return status;
  }
  const state::Tables& tables_;
  const Footprint& footprint_;
  std::vector<log::PageWrite>& out_;
  std::size_t used_ = 0;
  Status violation_;
};

}  // namespace

std::string candidate_name(const RuleMap& rules, const Candidate& candidate) {
  return "rule '" + rules.rules[candidate.rule].rule.name + "' at scope " +
         std::to_string(candidate.scope.value());
}

Status TablesView::outside(const std::string& what) const {
  Status status = failed_precondition(what + " outside its footprint");
  if (violation_.is_ok()) violation_ = status;
  return status;
}

Result<PageView> TablesView::page(PageId page) const {
  if (!readable(page)) return outside("read of page " + std::to_string(page.value()));
  return tables_.page(page);
}

Result<std::span<const std::byte>> TablesView::read(PageId page) const {
  if (!readable(page)) return outside("read of page " + std::to_string(page.value()));
  return tables_.read(page);
}

Result<Edge> TablesView::edge(EdgeId edge) const {
  if (footprint_ != nullptr && !footprint_->may_read_edge(edge)) {
    return outside("read of edge " + std::to_string(edge.value()));
  }
  return tables_.edge(edge);
}

Result<std::vector<Edge>> TablesView::edges_of(PageId page) const {
  if (!readable(page)) return outside("edges of page " + std::to_string(page.value()));
  if (tables_.find_page(page) == nullptr) return not_found(state::page_not_found(page));
  return tables_.edges_of(page);
}

void Scheduler::run(const state::ForkCore& fork, const RuleMap& rules, TickId tick,
                    RulesStep& out) {
  memo_.begin(tick);
  memo_fork_ = &fork;
  run_step(fork.tables(), rules, tick, out);
  memo_fork_ = nullptr;
}

void Scheduler::run(const state::Tables& tables, const RuleMap& rules, TickId tick,
                    RulesStep& out) {
  memo_fork_ = nullptr;
  run_step(tables, rules, tick, out);
}

void Scheduler::step_applied(const RulesStep& step, std::uint64_t apply_ns) {
  if (pool_ == nullptr) return;
  tuner_.record(step.counters.reservation_ns + step.counters.execution_ns + apply_ns,
                step.candidates.size(), kParallelCandidatesMin);
}

void Scheduler::run_step(const state::Tables& tables, const RuleMap& rules, TickId tick,
                         RulesStep& out) {
  const Clock::time_point started = Clock::now();
  prepare(out);
  match(tables, rules, out);
  if (failed(rules, out)) return;
  reserve(rules, tick, out);
  out.counters.reservation_ns = elapsed_ns(started);
  const Clock::time_point executing = Clock::now();
  execute(tables, rules, out);
  out.counters.execution_ns = elapsed_ns(executing);
  failed(rules, out);
}

void Scheduler::prepare(RulesStep& out) {
  // `out` and the scratch keep their storage from tick to tick.
  sort_candidates(out.input, scratch_);
  out.candidates.swap(out.input);
  out.input.clear();
  const std::vector<Candidate>& all = out.candidates;
  const std::size_t n = all.size();
  out.counters = RuleCounters{};
  out.counters.candidates = n;
  out.failure = Status::ok();
  out.failed = 0;
  out.outcomes.resize(n);  // elements kept: see RulesStep::outcomes
  if (footprints_.size() < n) footprints_.resize(n);
  matched_.assign(n, 0);
  duplicate_.assign(n, 0);
  reserved_.assign(n, 0);
  memo_use_.assign(n, kMemoNone);
  statuses_.assign(n, Status::ok());
  // Receipts, and repeats of (rule, scope), which sit next to each other in this order.
  std::size_t first_of_run = 0;
  for (std::size_t i = 0; i < n; ++i) {
    RuleReceipt& receipt = out.outcomes[i].receipt;
    receipt = RuleReceipt{};
    receipt.family = all[i].key.family;
    receipt.scope = all[i].scope;
    receipt.nonce = all[i].key.nonce;
    receipt.attempt = all[i].attempt;
    receipt.outcome = ReceiptOutcome::kSkipped;
    out.counters.retries += all[i].attempt > 1;
    if (i > 0 && all[i].scope == all[first_of_run].scope &&
        all[i].key.family == all[first_of_run].key.family) {
      receipt.outcome = ReceiptOutcome::kDuplicate;
      duplicate_[i] = 1;
      receipt.blocker_family = all[first_of_run].key.family;
      receipt.blocker_scope = all[first_of_run].scope;
    } else {
      first_of_run = i;
    }
  }
}

void Scheduler::match(const state::Tables& tables, const RuleMap& rules, RulesStep& out) {
  // Match and footprint every candidate in parallel (pure functions of the snapshot), in
  // the input's order (pages one after another) rather than the canonical (hashed) one.
  // What is read per candidate comes in that order too (the input, the visit order); only
  // the results land at canonical indexes.
  const std::vector<Candidate>& input = scratch_.candidates;
  const std::vector<std::uint32_t>& visit = scratch_.visit;
  parallel_chunks(step_pool(), visit.size(), [&](std::size_t begin, std::size_t end) {
    for (std::size_t k = begin; k < end; ++k) {
      if (k + 8 < end) core::prefetch(&footprints_[visit[k + 8]]);  // canonical slots
      if (k + 4 < end) prefetch_sets(footprints_[visit[k + 4]]);
      match_one(tables, rules, input[k], visit[k]);
    }
  });
  if (memo_fork_ != nullptr) remember_matches(out);
}

void Scheduler::match_one(const state::Tables& tables, const RuleMap& rules,
                          const Candidate& candidate, std::size_t i) {
  if (duplicate_[i]) return;
  const state::PageRecord* scope = tables.find_page(candidate.scope);
  if (scope == nullptr) return;  // gone: skipped
  const Rule& rule = rules.rules[candidate.rule].rule;
  MatchMemo::Entry* memo = nullptr;
  if (memo_fork_ != nullptr && rule.depends_only_on_footprint) {
    memo = memo_.find(candidate.rule, candidate.scope);
    if (memo != nullptr && memo_.renew(*memo, *scope, *memo_fork_)) {
      memo_use_[i] = kMemoReused;
      if (memo->matched) {
        footprints_[i] = memo->footprinted->footprint;
        matched_[i] = 1;
      }
      return;
    }
    if (memo == nullptr) memo_use_[i] = kMemoNew;  // made and recorded by remember_matches
  }
  Status status = match_fresh(tables, rule, candidate.scope, footprints_[i], matched_[i]);
  if (!status.is_ok()) {
    statuses_[i] = std::move(status);  // only on failure: see execute_one
  } else if (memo != nullptr) {
    memo_.record(*memo, *scope, *memo_fork_, matched_[i] != 0, footprints_[i]);
  }
}

Status Scheduler::match_fresh(const state::Tables& tables, const Rule& rule, PageId scope,
                              Footprint& footprint, std::uint8_t& matched) {
  TablesView view(tables);
  try {
    if (rule.matcher && !rule.matcher(view, scope)) return Status::ok();
    footprint.clear();
    Status declared = rule.footprint(view, scope, footprint);
    if (!declared.is_ok()) return Status(declared.code(), "footprint: " + declared.message());
    MMSB_RETURN_IF_ERROR(footprint.normalize());
    footprint.factor_mask &= rule.factor_mask;
    matched = 1;
    return Status::ok();
  } catch (const std::exception& error) {
    return threw("matcher or footprint", error.what());
  } catch (...) {
    return threw("matcher or footprint", "an exception that is not std::exception");
  }
}

void Scheduler::remember_matches(RulesStep& out) {
  // New entries are made here, alone: the parallel phase only looked entries up.
  for (std::size_t i = 0; i < out.candidates.size(); ++i) {
    const std::uint8_t use = memo_use_[i];
    out.counters.matches_reused += use == kMemoReused;
    if (use != kMemoNew || !statuses_[i].is_ok()) continue;
    const Candidate& candidate = out.candidates[i];
    MatchMemo::Entry& entry = memo_.add(candidate.rule, candidate.scope);
    memo_.record(entry, *memo_fork_->tables().find_page(candidate.scope), *memo_fork_,
                 matched_[i] != 0, footprints_[i]);
  }
  memo_.end();
}

void Scheduler::reserve(const RuleMap& rules, TickId tick, RulesStep& out) {
  // The reserve gate, in canonical order.
  const std::vector<Candidate>& all = out.candidates;
  const ReserveGate::Counters gate_before = gate_.counters();
  gate_.begin_tick();
  for (std::size_t i = 0; i < all.size(); ++i) {
    // The footprints' sets and the marks of their pages are scattered: load them ahead.
    if (i + 8 < all.size() && matched_[i + 8]) prefetch_sets(footprints_[i + 8]);
    if (i + 4 < all.size() && matched_[i + 4]) gate_.prefetch(footprints_[i + 4]);
    RuleReceipt& receipt = out.outcomes[i].receipt;
    if (receipt.outcome == ReceiptOutcome::kDuplicate) {
      out.outcomes[i].writes.clear();  // only reserved candidates write
      ++out.counters.duplicates;
      continue;
    }
    if (!matched_[i]) {
      out.outcomes[i].writes.clear();
      ++out.counters.skipped;
      continue;
    }
    const std::uint32_t blocker = gate_.reserve(footprints_[i], static_cast<std::uint32_t>(i));
    if (blocker == ReserveGate::kReserved) {
      receipt.outcome = ReceiptOutcome::kApplied;
      reserved_[i] = 1;
      ++out.counters.applied;
      continue;
    }
    out.outcomes[i].writes.clear();
    receipt.blocker_family = all[blocker].key.family;
    receipt.blocker_scope = all[blocker].scope;
    const ConflictPolicy& policy = rules.rules[all[i].rule].rule.policy;
    if (policy.kind == ConflictPolicy::Kind::kRetry && all[i].attempt < policy.max_attempts) {
      receipt.outcome = ReceiptOutcome::kDeferred;
      receipt.retry_at = TickId(
          tick.value() + retry_backoff(receipt.family, receipt.scope, tick, receipt.attempt));
      ++out.counters.deferred;
    } else {
      receipt.outcome = ReceiptOutcome::kRejected;
      ++out.counters.rejected;
    }
  }
  out.counters.mask_fast_path = gate_.counters().mask_fast_path - gate_before.mask_fast_path;
  out.counters.gate_probes = gate_.counters().probes - gate_before.probes;
  order_reserved(out);
}

void Scheduler::order_reserved(RulesStep& out) {
  // The reserved in the input's order (visit maps it to canonical indexes), read as it lies;
  // kept if that is by scope, as standing rules' candidates are.
  out.order.clear();
  const std::vector<Candidate>& input = scratch_.candidates;
  const std::vector<std::uint32_t>& visit = scratch_.visit;
  PageId last_scope;
  std::size_t k = 0;
  for (; k < visit.size(); ++k) {
    if (!reserved_[visit[k]]) continue;
    if (input[k].scope < last_scope) break;
    last_scope = input[k].scope;
    out.order.push_back(visit[k]);
  }
  if (k == visit.size()) return;
  out.order.clear();
  keys_.clear();
  for (std::size_t i = 0; i < reserved_.size(); ++i) {
    if (reserved_[i]) keys_.push_back(SortKey{out.candidates[i].scope.value(), i});
  }
  sort_keys(keys_, spare_keys_);
  for (const SortKey& key : keys_) out.order.push_back(static_cast<std::uint32_t>(key.index));
}

void prefetch_outcomes(const RulesStep& step, std::size_t k, std::size_t end) {
  if (k + 8 < end) core::prefetch(&step.outcomes[step.order[k + 8]]);
  if (k + 4 < end) core::prefetch(step.outcomes[step.order[k + 4]].writes.data());
  if (k + 2 < end) {
    const std::vector<log::PageWrite>& writes = step.outcomes[step.order[k + 2]].writes;
    if (!writes.empty()) core::prefetch(writes.front().bytes.data());
  }
}

void Scheduler::prefetch_execution(const state::Tables& tables, const RulesStep& out, std::size_t k,
                                   std::size_t end, PagesAhead& ahead) const {
  // The outcomes (see prefetch_outcomes), and the candidates and footprints, stored the
  // same way: the slot 8 ahead, its footprint's sets 6 ahead, the records of its pages 4
  // ahead and their bytes 2 ahead.
  prefetch_outcomes(out, k, end);
  if (k + 8 < end) {
    const std::uint32_t i = out.order[k + 8];
    core::prefetch(&out.candidates[i]);
    core::prefetch(&footprints_[i]);
  }
  if (k + 6 < end) prefetch_sets(footprints_[out.order[k + 6]]);
  if (k + 4 < end) {
    prefetch_records(tables, footprints_[out.order[k + 4]], ahead.slot(k + 4));
  }
  if (k + 2 < end) prefetch_bytes(ahead.slot(k + 2));
}

void Scheduler::execute(const state::Tables& tables, const RuleMap& rules, RulesStep& out) {
  // The reserved candidates in parallel, each into its own outcome; runs of one rule with a
  // bulk executor in one call.
  parallel_chunks(step_pool(), out.order.size(), [&](std::size_t begin, std::size_t end) {
    PagesAhead ahead;
    for (std::size_t k = begin; k < end;) {
      prefetch_execution(tables, out, k, end, ahead);
      const std::uint32_t rule = out.candidates[out.order[k]].rule;
      if (!rules.rules[rule].rule.bulk_executor) {
        execute_one(tables, rules, out.order[k++], out);
        continue;
      }
      std::size_t run_end = k + 1;
      while (run_end < end && out.candidates[out.order[run_end]].rule == rule) ++run_end;
      execute_bulk(tables, rules.rules[rule].rule, std::span(out.order).subspan(k, run_end - k),
                   out);
      k = run_end;
    }
  });
}

namespace {

// A candidate's status: the first access outside its footprint (whatever the executor
// returned), else the executor's.
Status verdict(Status returned, const TablesView& view, const Status& sink_violation) {
  if (!view.violation().is_ok()) return view.violation();
  if (!sink_violation.is_ok()) return sink_violation;
  return returned;
}

template <typename Call>
Status guarded(Call&& call) {
  try {
    return call();
  } catch (const std::exception& error) {
    return threw("executor", error.what());
  } catch (...) {
    return threw("executor", "an exception that is not std::exception");
  }
}

}  // namespace

void Scheduler::execute_one(const state::Tables& tables, const RuleMap& rules, std::size_t i,
                            RulesStep& out) {
  const Candidate& candidate = out.candidates[i];
  TablesView view(tables, &footprints_[i]);
  BufferSink sink(tables, footprints_[i], out.outcomes[i].writes);
  Status status = guarded(
      [&] { return rules.rules[candidate.rule].rule.executor(view, candidate.scope, sink); });
  sink.finish();
  // Written only on failure: an ok status is already there (from match), and a write would
  // move the line to this thread.
  Status result = verdict(std::move(status), view, sink.violation());
  if (!result.is_ok()) statuses_[i] = std::move(result);
}

void Scheduler::execute_bulk(const state::Tables& tables, const Rule& rule,
                             std::span<const std::uint32_t> indices, RulesStep& out) {
  MMSB_ASSERT(indices.size() <= kBulkCallsMax);
  // Views and sinks for the call, on the stack (no allocation).
  std::array<std::optional<TablesView>, kBulkCallsMax> views;
  std::array<std::optional<BufferSink>, kBulkCallsMax> sinks;
  std::array<RuleCall, kBulkCallsMax> calls;
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::uint32_t i = indices[k];
    views[k].emplace(tables, &footprints_[i]);
    sinks[k].emplace(tables, footprints_[i], out.outcomes[i].writes);
    calls[k] = RuleCall{out.candidates[i].scope, &*views[k], &*sinks[k]};
  }
  Status status =
      guarded([&] { return rule.bulk_executor(std::span(calls.data(), indices.size())); });
  bool blamed = false;  // a candidate's own violation names it instead of the first
  for (std::size_t k = 0; k < indices.size(); ++k) {
    sinks[k]->finish();
    Status result = verdict(Status::ok(), *views[k], sinks[k]->violation());
    if (result.is_ok()) continue;
    statuses_[indices[k]] = std::move(result);
    blamed = true;
  }
  if (!status.is_ok() && !blamed) statuses_[indices[0]] = std::move(status);
}

bool Scheduler::failed(const RuleMap& rules, RulesStep& out) {
  for (std::size_t i = 0; i < out.candidates.size(); ++i) {
    if (statuses_[i].is_ok()) continue;
    out.failure = Status(statuses_[i].code(),
                         candidate_name(rules, out.candidates[i]) + ": " + statuses_[i].message());
    out.failed = i;
    return true;
  }
  return false;
}

}  // namespace mmsb::sched

// The rules step of a tick (docs/SEMANTICS.md "Rules and scheduling"): candidates in
// canonical order, matched and footprinted against the rule snapshot, collapsed when they
// repeat a (rule, scope), passed through the reserve gate, and the reserved ones executed
// in parallel, each into its own buffer. The caller applies the buffers in canonical order.
// Shared by the sequencer and the re-executing replay.
//
// Thread-safety: one Scheduler per thread that builds ticks; it uses `pool` for the
// parallel parts while its ParallelTuner finds that cheaper (told by step_applied).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.hpp"
#include "mmsb/rule.hpp"
#include "mmsb/tick_record.hpp"
#include "sched/match_memo.hpp"
#include "sched/order.hpp"
#include "sched/parallel_tuner.hpp"
#include "sched/reserve_gate.hpp"
#include "sched/rule_table.hpp"
#include "state/tables.hpp"

namespace mmsb::sched {

// Per-tick figures (telemetry; the times decide only whether the next steps use the worker
// pool, ParallelTuner, never what a step produces).
struct RuleCounters {
  std::uint64_t candidates = 0;
  std::uint64_t applied = 0;
  std::uint64_t rejected = 0;  // for good
  std::uint64_t deferred = 0;  // rejected, retried later
  std::uint64_t skipped = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t retries = 0;         // candidates on their second or later attempt
  std::uint64_t mask_fast_path = 0;  // reserved by the factor mask alone
  std::uint64_t gate_probes = 0;     // reserve-gate marks looked up
  // Matches reused from the previous step (Rule::depends_only_on_footprint)
  std::uint64_t matches_reused = 0;
  std::uint64_t reservation_ns = 0;  // match, footprint, sort, reserve
  std::uint64_t execution_ns = 0;
};

struct RulesStep {
  // The caller's candidates for the next run (any order; nonces assigned). run() takes them
  // and leaves the previous run's storage here, cleared, for the caller to fill again.
  std::vector<Candidate> input;
  std::vector<Candidate> candidates;  // canonical order
  // One per candidate, as the tick record logs it: the receipt, and for kApplied the
  // executor's writes (each with its page's epoch at the tick's start). Every element is
  // overwritten by the next step, so the vectors' storage serves tick after tick (the
  // engine swaps this with the tick record's and gives the record's back).
  std::vector<log::RuleOutcome> outcomes;
  // The reserved (kApplied) candidates' indices in the order they execute and are applied:
  // by scope page id, so that neighbouring pages are read and written one after another.
  // Their writes touch disjoint pages, so any order gives the same state; the record and
  // the receipts keep the canonical order.
  std::vector<std::uint32_t> order;
  // A rule failed (its matcher, footprint or executor, or an access outside its
  // footprint): the tick cannot be built. `failed` is the candidate's index.
  Status failure;
  std::size_t failed = 0;
  RuleCounters counters;
};

class Scheduler {
 public:
  explicit Scheduler(core::WorkerPool* pool) : pool_(pool) {}

  // Runs the step for tick `tick` on `out.input` against `tables` (the rule snapshot, not
  // changed meanwhile). `rules` must hold every candidate's rule. Every candidate is
  // matched afresh (re-executing replay: it checks what the sequencer reused).
  void run(const state::Tables& tables, const RuleMap& rules, TickId tick, RulesStep& out);
  // The same against the fork's tables (the sequencer's tick): the candidates of rules that
  // depend only on their footprint reuse the previous step's match where their pages did
  // not change (see MatchMemo).
  void run(const state::ForkCore& fork, const RuleMap& rules, TickId tick, RulesStep& out);
  // The caller applied the last run's writes (and its receipts) in `apply_ns`: with the
  // run's own time, the step's cost, from which the tuner decides whether the next steps
  // use the pool.
  void step_applied(const RulesStep& step, std::uint64_t apply_ns);
  const ParallelTuner& tuner() const { return tuner_; }

 private:
  void run_step(const state::Tables& tables, const RuleMap& rules, TickId tick, RulesStep& out);
  // The step's phases: sort and reset `out`, receipts and duplicates; match and footprint
  // (parallel); the reserve gate (canonical order); execute the reserved (parallel).
  void prepare(RulesStep& out);
  void match(const state::Tables& tables, const RuleMap& rules, RulesStep& out);
  // Fills out.order (order_reserved).
  void reserve(const RuleMap& rules, TickId tick, RulesStep& out);
  // out.order: the reserved candidates by scope. Taken from the input's order where it is by
  // scope (standing rules' candidates come in page order), else sorted.
  void order_reserved(RulesStep& out);
  void execute(const state::Tables& tables, const RuleMap& rules, RulesStep& out);
  // The page records prefetch_execution looked up for the candidates a few ahead, by
  // position (k mod 4), so it loads their bytes later without a second lookup.
  struct PagesAhead {
    std::array<const state::PageRecord*, 8> records{};
    std::span<const state::PageRecord*, 2> slot(std::size_t k) {
      return std::span<const state::PageRecord*, 2>(&records[2 * (k % 4)], 2);
    }
  };
  // Loads what executing out.order[k] and the next few will touch (see execute()).
  void prefetch_execution(const state::Tables& tables, const RulesStep& out, std::size_t k,
                          std::size_t end, PagesAhead& ahead) const;
  // Matches `candidate`, the step's i-th (canonical) candidate.
  void match_one(const state::Tables& tables, const RuleMap& rules, const Candidate& candidate,
                 std::size_t i);
  // The rule's matcher and footprint at `scope`; `matched` set to 1 if it matched.
  static Status match_fresh(const state::Tables& tables, const Rule& rule, PageId scope,
                            Footprint& footprint, std::uint8_t& matched);
  // After the match: entries for the candidates the memo did not hold, the reuse counted.
  void remember_matches(RulesStep& out);
  void execute_one(const state::Tables& tables, const RuleMap& rules, std::size_t i,
                   RulesStep& out);
  // One bulk executor call for `indices` (candidates of `rule`, at most kBulkCallsMax).
  void execute_bulk(const state::Tables& tables, const Rule& rule,
                    std::span<const std::uint32_t> indices, RulesStep& out);
  // The first failed candidate in canonical order becomes out.failure: true if any.
  bool failed(const RuleMap& rules, RulesStep& out);

  // The pool for this step's parallel phases: none while the tuner holds the step serial
  // (it changes only in step_applied, between steps).
  core::WorkerPool* step_pool() const { return tuner_.parallel() ? pool_ : nullptr; }

  core::WorkerPool* pool_;
  ParallelTuner tuner_;
  ReserveGate gate_;
  CandidateSortScratch scratch_;
  std::vector<SortKey> keys_, spare_keys_;
  std::vector<Footprint> footprints_;
  std::vector<std::uint8_t> matched_;
  std::vector<std::uint8_t> duplicate_;  // repeats a (rule, scope): not matched
  std::vector<std::uint8_t> reserved_;   // set by the gate
  // Per candidate: how the memo served it (kMemo*).
  enum : std::uint8_t { kMemoNone, kMemoReused, kMemoNew };
  std::vector<std::uint8_t> memo_use_;
  MatchMemo memo_;
  const state::ForkCore* memo_fork_ = nullptr;  // during run(fork, ...)
  std::vector<Status> statuses_;
};

// Read access over one version's tables; with a footprint, only what it declares (the
// first access outside it is kept in violation()).
class TablesView final : public RuleView {
 public:
  explicit TablesView(const state::Tables& tables, const Footprint* footprint = nullptr)
      : tables_(tables), footprint_(footprint) {}
  Result<PageView> page(PageId page) const override;
  Result<std::span<const std::byte>> read(PageId page) const override;
  Result<Edge> edge(EdgeId edge) const override;
  Result<std::vector<Edge>> edges_of(PageId page) const override;
  const Status& violation() const { return violation_; }

 private:
  Status outside(const std::string& what) const;
  bool readable(PageId page) const { return footprint_ == nullptr || footprint_->may_read(page); }
  const state::Tables& tables_;
  const Footprint* footprint_;
  mutable Status violation_;
};

// "rule 'name' at scope N"
std::string candidate_name(const RuleMap& rules, const Candidate& candidate);

// Starts loading what step.order[k] will touch in its outcome, for loops that go through
// the outcomes (stored in canonical, hashed order) in page order: at 100,000 candidates each
// is a cache miss. The outcome 8 candidates ahead, its writes 4 ahead and their bytes 2
// ahead (each known once the one before is in); `end` bounds k.
void prefetch_outcomes(const RulesStep& step, std::size_t k, std::size_t end);

}  // namespace mmsb::sched

// The rules step inside a tick (step 2), shared by the sequencer and replay: which
// candidates a tick has, how the scheduler's buffers reach the fork, and how the retry
// queue moves on. docs/SEMANTICS.md "Rules and scheduling".
#pragma once

#include <vector>

#include "log/tick_record.hpp"
#include "sched/scheduler.hpp"
#include "state/tables.hpp"

namespace mmsb::engine {

// The tick's candidates, nonces in this order: retries due by `tick` (queue order), then
// the committed transactions' apply ops (in sequence order), then every standing rule (by
// family id) at every page of its type (by page id). Suspended or unregistered rules get no
// standing or retry candidates. Appended to `candidates`.
void collect_candidates(const state::ForkCore& fork, TickId tick, const log::TickRecord& record,
                        const sched::RuleMap& rules, std::vector<sched::Candidate>& candidates);

// Applies the step's writes (its outcomes') to `fork` in the step's order (by page: their
// pages are disjoint, so the order changes nothing but the speed). Only the allocator can
// refuse (ResourceExhausted: the fork is then partly changed).
Status apply_rules_step(state::ForkCore& fork, const sched::RulesStep& step);

// Applies logged outcomes (replay): their writes, each checked against its logged epoch.
Status apply_logged_rules(state::ForkCore& fork, const std::vector<log::RuleOutcome>& rules);

// Moves the fork's retry queue past `tick`: entries due by then leave, and each deferred
// receipt among `rules` (the tick's outcomes) joins as (retry tick, family, scope,
// attempt + 1). The one place the queue changes, for the sequencer and replay alike.
void advance_retries(state::ForkCore& fork, TickId tick,
                     const std::vector<log::RuleOutcome>& rules);

}  // namespace mmsb::engine

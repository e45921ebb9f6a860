// Applying one transaction to the tick being built: shared by the live engine and replay,
// so both take exactly the same decisions.
#pragma once

#include <vector>

#include "graph/dependency_graph.hpp"
#include "log/tick_record.hpp"
#include "mmsb/engine.hpp"
#include "state/tables.hpp"

namespace mmsb::engine {

// Validates all of `ops` against `fork` (the tick so far), then applies them in order and
// appends to `results`, one per op, the id it was given (creations) and the epoch it was
// applied at (writes). The ops are inputs and never change. On failure returns why and
// changes nothing (`results` included): Conflict if a read page was written earlier in this
// tick or has another epoch than the one seen; InvalidArgument or NotFound for an invalid
// operation, naming the operation's index. `info` gets the assigned ids.
//
// An allocator failure while applying (after validation) returns ResourceExhausted with the
// fork partly changed: the caller must drop the whole tick.
//
// With a `graph` (the dependency edges of `fork`), dependency edges that would close a cycle
// fail the transaction with InvalidArgument naming the cycle, and the graph follows the
// applied transaction (its journal lets the caller roll a failed tick back).
Status apply_transaction(state::ForkCore& fork, const std::vector<log::Op>& ops,
                         std::vector<log::OpResult>& results, CommitInfo* info, bool* fork_damaged,
                         graph::DependencyGraph* graph = nullptr);

// Applies a merge effect as logged. With a `graph`, it follows the effect's dependency
// edges, and an edge that would close a cycle is refused with InvalidArgument (the fork and
// graph are then partly changed: the caller drops the tick and rolls the graph back).
Status apply_merge_effect(state::ForkCore& fork, const log::MergeEffect& effect,
                          graph::DependencyGraph* graph = nullptr);

// The effect that turns `before` into `after` (for logging a merge).
log::MergeEffect merge_effect(const State& before, const State& after);

}  // namespace mmsb::engine

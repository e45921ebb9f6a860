// The simulator's rules and their model (docs/SEMANTICS.md "Rules and scheduling"):
//
//   sim.grow  standing at every page of kScopeType, Abort: bumps the scope's first byte and
//             copies its neighbour's first byte into its second;
//   sim.pull  applied by transactions, Retry(3): folds the neighbour's first byte into the
//             scope's last.
//
// A candidate at scope s writes s and reads its neighbour s + 1 if that page exists, so
// candidates at neighbouring scopes conflict. The model builds the candidates (due retries,
// applied calls, standing rules), sorts them canonically, runs a naive reserve gate (each
// candidate against every one reserved before it), executes the reserved ones against the
// rule snapshot and defers the blocked retrying ones. The scope hash and the backoff are the
// engine's (sched/order.hpp, sched/retry.hpp): formulas pinned by their own golden tests,
// not logic this model checks.
#pragma once

#include <vector>

#include "sim/model.hpp"

namespace mmsb::sim {

inline constexpr std::string_view kGrowRule = "sim.grow";
inline constexpr std::string_view kPullRule = "sim.pull";
inline constexpr std::uint32_t kPullAttempts = 3;

// sim.grow and sim.pull, for an engine (register_rules) or a re-executing replay.
std::vector<Rule> make_rules();
Status register_rules(Engine& engine);

// The rules step of tick `before.tick + 1` on `model` (the State after the tick's inputs),
// with `applied` the scopes of the tick's committed sim.pull calls in call order. Moves the
// model's pending retries on.
void model_rules_step(Model& model, std::uint64_t tick, const std::vector<std::uint64_t>& applied);

}  // namespace mmsb::sim

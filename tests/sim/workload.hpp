// What the simulator asks of the engine, drawn from the run's Random against the model's
// current state: transactions (mostly valid, some invalid on purpose), stale reads that must
// conflict, derivations (cycles included), fork changes, and the steps between them.
#pragma once

#include <set>

#include "sim/model.hpp"
#include "sim/random.hpp"

namespace mmsb::sim {

inline constexpr std::size_t kPagesMax = 48;
inline constexpr std::uint64_t kPageBytesMax = 192;
inline constexpr PageType kScopeType = 7;  // pages a standing rule visits

enum class StepKind : std::uint8_t {
  kTransaction,
  kStaleRead,  // a transaction whose read another commit invalidates first
  kMerge,      // fork, change it, commit other transactions, merge
  kRule,       // a transaction that applies rules
  kIngest,     // a batch of packets
  kRuleset,    // a new governance ruleset
  kClock,      // the simulated clock moves
  kCheckpoint,
  kReopen,  // close cleanly and open again
  kCrash,   // the process dies here (and maybe the power with it)
};

StepKind draw_step(Random& random);

// A transaction against `model`; pages in `avoid` are left alone.
std::vector<SimOp> draw_transaction(Random& random, const Model& model,
                                    const std::set<std::uint64_t>& avoid = {});

// A transaction of zero to two writes, then one to three sim.pull calls.
std::vector<SimOp> draw_rule_transaction(Random& random, const Model& model);

// Pages ordinary writes may target (existing, not derived) and that are not in `avoid`.
std::vector<std::uint64_t> writable_pages(const Model& model,
                                          const std::set<std::uint64_t>& avoid = {});

// A fork's changes: writes to existing pages, new pages, and deletes of pages with no edges.
ForkChanges draw_fork_changes(Random& random, const Model& model);

// The pages a fork's changes touch (what transactions between fork and merge must avoid).
std::set<std::uint64_t> touched_by(const ForkChanges& changes);

}  // namespace mmsb::sim

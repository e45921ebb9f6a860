// The simulator's oracle: a plain in-memory model of an engine's State (maps, vectors and
// naive algorithms: every derived page recomputed every tick, cycles found by search), kept
// beside the engine. Written from docs/SEMANTICS.md, not from the engine's code.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mmsb/mmsb.hpp"

namespace mmsb::sim {

struct ModelPage {
  PageType type = 0;
  std::uint64_t epoch = 0;
  std::vector<std::byte> bytes;
};

struct Model {
  std::uint64_t tick = 0;
  std::uint64_t next_page = 1;
  std::uint64_t next_edge = 1;
  std::map<std::uint64_t, ModelPage> pages;
  std::map<std::uint64_t, Edge> edges;
  std::map<std::uint64_t, std::string> derivations;  // child -> function
  std::vector<PendingRetry> retries;                 // by (due, family, scope)

  // The child's Data parents, in edge id order.
  std::vector<std::uint64_t> parents_of(std::uint64_t child) const;
  bool is_derived(std::uint64_t page) const { return derivations.count(page) != 0; }
  // The root docs/FORMAT.md defines, from the model's own maps (tests/support).
  Hash128 root() const;
};

// A page named by a transaction: an existing id, or the n-th page the transaction created.
struct PageRef {
  bool created = false;
  std::uint64_t value = 0;
};

struct SimOp {
  enum class Kind : std::uint8_t {
    kCreate,
    kWrite,
    kPut,
    kDelete,
    kAddEdge,
    kRemoveEdge,
    kDerive,
    kApply  // kApply: sim.pull
  };
  Kind kind = Kind::kWrite;
  PageRef page;                  // kCreate: unused; kAddEdge: from
  PageRef to;                    // kAddEdge
  PageType type = 0;             // kCreate
  std::uint64_t size = 0;        // kCreate
  std::uint64_t offset = 0;      // kWrite
  std::vector<std::byte> bytes;  // kWrite, kPut
  EdgeKind edge_kind = 0;        // kAddEdge
  std::uint64_t edge = 0;        // kRemoveEdge
  std::vector<PageRef> parents;  // kDerive
  std::string function;          // kDerive
};

struct SimRead {
  std::uint64_t page = 0;
  std::uint64_t epoch = 0;  // what the transaction saw
};

// What the model says a transaction does.
struct Outcome {
  Status status;       // OK, or the class of failure expected
  bool logged = true;  // the tick happens (also for Conflict and invalid operations)
  Model after;         // the state after its tick (== before if not logged)
  std::vector<std::uint64_t> created_pages;
  std::vector<std::uint64_t> created_edges;
};

// One transaction tick: the inputs (nothing of them if they fail), then finish_tick.
Outcome model_transaction(const Model& before, const std::vector<SimOp>& ops,
                          const std::vector<SimRead>& reads);

// The steps of a transaction or ingest tick after its inputs: the rules step (sim/rules.hpp)
// with `applied` the tick's sim.pull scopes, propagation, and the seal against `before`
// (epochs, tick). Not logged, and `before` kept, if propagation fails.
Outcome finish_tick(const Model& before, Model inputs, const std::vector<std::uint64_t>& applied);

// A fork's changes, as the simulator made them: whole pages written (by id in the base),
// pages created (with their content) and pages deleted.
struct ForkChanges {
  std::map<std::uint64_t, std::vector<std::byte>> written;
  std::vector<std::pair<PageType, std::vector<std::byte>>> created;
  std::vector<std::uint64_t> deleted;
};

// A merge of a fork taken at `base` whose side made `theirs` (one commit), into `ours`, where
// no page was changed on both sides. Fails (no tick) only if propagation fails.
Outcome model_merge(const Model& base, const Model& ours, const ForkChanges& theirs);

// Empty if `state` is the model's State, else the first difference, named.
std::string first_difference(const Model& model, const State& state);

}  // namespace mmsb::sim

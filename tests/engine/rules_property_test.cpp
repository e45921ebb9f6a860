// Determinism of the rules step (docs/SEMANTICS.md "Rules and scheduling"): random rule
// workloads give the same receipts and roots with 1, 2, 4 and 8 rule workers, and the
// re-executing replay and a reopen reach the same root.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "engine/replay.hpp"
#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/rapidcheck_gtest.hpp"
#include "support/rules.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

constexpr PageType kStandingType = 3;

using test::u64_bytes;
using test::u64_of;

// The page a counter names as its neighbour: its content picks one of `pages` (so
// footprints depend on the state).
PageId neighbour(const RuleView& view, PageId scope, std::uint64_t pages) {
  auto bytes = view.read(scope);
  if (!bytes.is_ok()) return scope;
  return PageId(1 + u64_of(*bytes) % pages);
}

std::vector<Rule> workload_rules(std::uint64_t pages) {
  std::vector<Rule> rules;
  Rule mix;  // reads a neighbour, writes the scope; a port per value class; retried
  mix.name = "test/mix";
  mix.policy = ConflictPolicy::retry(3);
  mix.footprint = [pages](const RuleView& view, PageId scope, Footprint& out) -> Status {
    const PageId other = neighbour(view, scope, pages);
    MMSB_ASSIGN_OR_RETURN(auto bytes, view.read(scope));
    out.write(scope).read(other).port(PageId(1), u64_of(bytes) % 5, PortDirection::kOut);
    return Status::ok();
  };
  mix.executor = [pages](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    const PageId other = neighbour(view, scope, pages);
    MMSB_ASSIGN_OR_RETURN(auto mine, view.read(scope));
    MMSB_ASSIGN_OR_RETURN(auto theirs, view.read(other));
    return out.write(scope, 0, u64_bytes(u64_of(mine) * 31 + u64_of(theirs) + 7));
  };
  rules.push_back(mix);
  Rule spread;  // writes the scope and its neighbour; aborted when blocked
  spread.name = "test/spread";
  spread.matcher = [](const RuleView& view, PageId scope) {
    auto bytes = view.read(scope);
    return bytes.is_ok() && u64_of(*bytes) % 4 != 0;
  };
  spread.footprint = [pages](const RuleView& view, PageId scope, Footprint& out) {
    out.write(scope).write(neighbour(view, scope, pages));
    return Status::ok();
  };
  spread.executor = [pages](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    const PageId other = neighbour(view, scope, pages);
    MMSB_ASSIGN_OR_RETURN(auto mine, view.read(scope));
    MMSB_RETURN_IF_ERROR(out.write(other, 0, u64_bytes(u64_of(mine) ^ 0x5555)));
    if (other != scope) MMSB_RETURN_IF_ERROR(out.write(scope, 0, u64_bytes(u64_of(mine) + 1)));
    return Status::ok();
  };
  rules.push_back(spread);
  Rule decay;  // standing on the typed pages
  decay.name = "test/decay";
  decay.standing_type = kStandingType;
  decay.footprint = [](const RuleView&, PageId scope, Footprint& out) {
    out.write(scope);
    return Status::ok();
  };
  decay.executor = [](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    MMSB_ASSIGN_OR_RETURN(auto mine, view.read(scope));
    return out.write(scope, 4, std::span(mine).subspan(0, 4));
  };
  rules.push_back(decay);
  return rules;
}

struct TickInput {
  std::vector<std::pair<int, std::uint64_t>> applies;  // rule index, page
  std::vector<std::pair<std::uint64_t, std::uint64_t>> writes;  // page, value
};

RC_GTEST_PROP(RulesDeterminismProperty, SameRootsAndReceiptsForEveryWorkerCountAndReplay, ()) {
  const std::uint64_t pages = *rc::gen::inRange<std::uint64_t>(4, 60);
  const int ticks = *rc::gen::inRange(1, 9);
  std::mt19937_64 random(*rc::gen::arbitrary<std::uint64_t>());
  std::vector<std::uint64_t> initial(pages);
  std::vector<bool> standing(pages);
  for (std::uint64_t i = 0; i < pages; ++i) {
    initial[i] = random();
    standing[i] = random() % 3 == 0;
  }
  std::vector<TickInput> inputs(ticks);
  static const char* const kNames[] = {"test/mix", "test/spread"};
  for (TickInput& input : inputs) {
    for (int k = static_cast<int>(random() % 30); k > 0; --k) {
      input.applies.emplace_back(static_cast<int>(random() % 2), 1 + random() % pages);
    }
    for (int k = static_cast<int>(random() % 4); k > 0; --k) {
      input.writes.emplace_back(1 + random() % pages, random());
    }
  }
  std::vector<Hash128> expected_roots;
  std::vector<std::vector<RuleReceipt>> expected_receipts;
  for (std::size_t workers : {1, 2, 4, 8}) {
    test::TempDir dir;
    const EngineOptions options = test::rules_engine_options(dir, workers);
    auto engine = Engine::open(options).value();
    for (const Rule& rule : workload_rules(pages)) RC_ASSERT(engine->register_rule(rule).is_ok());
    Transaction create = engine->begin();
    for (std::uint64_t i = 0; i < pages; ++i) {
      create.create_page({.type = standing[i] ? kStandingType : 0,
                          .size_bytes = 8,
                          .initial = u64_bytes(initial[i])});
    }
    RC_ASSERT(create.commit().is_ok());
    std::vector<Hash128> roots;
    std::vector<std::vector<RuleReceipt>> receipts;
    for (const TickInput& input : inputs) {
      Transaction txn = engine->begin();
      for (const auto& [page, value] : input.writes) txn.put(PageId(page), u64_bytes(value));
      for (const auto& [rule, page] : input.applies) txn.apply(kNames[rule], PageId(page));
      auto committed = txn.commit();
      RC_ASSERT(committed.is_ok());
      roots.push_back(engine->snapshot().root());
      receipts.push_back(committed->receipts);
    }
    // Let every retry run out.
    for (int k = 0; k < 40; ++k) {
      RC_ASSERT(engine->begin().commit().is_ok());
      roots.push_back(engine->snapshot().root());
    }
    RC_ASSERT(engine->snapshot().pending_retries().empty());
    if (workers == 1) {
      expected_roots = roots;
      expected_receipts = receipts;
      const Hash128 root = engine->snapshot().root();
      RC_ASSERT(engine->close().is_ok());
      // The re-executing replay re-runs every tick's rules and reaches the root.
      sched::RuleTable table;
      for (const Rule& rule : workload_rules(pages)) RC_ASSERT(table.add(rule).is_ok());
      const auto rules = table.snapshot();
      engine::ReplayOptions replay_options;
      replay_options.reexecute = true;
      replay_options.rules = rules.get();
      replay_options.rule_workers = 4;
      engine::ReplaySummary summary;
      auto replayed = engine::replay(*Env::posix(), dir.path(), {}, replay_options, &summary);
      RC_ASSERT(replayed.is_ok());
      RC_ASSERT(replayed->root() == root);
      RC_ASSERT(summary.rule_ticks_taken_from_log == 0u);
      auto reopened = Engine::open(options).value();
      RC_ASSERT(reopened->snapshot().root() == root);
    } else {
      RC_ASSERT(roots == expected_roots);
      RC_ASSERT(receipts == expected_receipts);
    }
  }
}

}  // namespace
}  // namespace mmsb

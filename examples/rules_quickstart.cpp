// Rules: a standing motion rule moves every particle each tick; a transaction applies
// `collide` where two particles are close; the reserve gate keeps conflicting rewrites
// apart and receipts say what happened (docs/SEMANTICS.md "Rules and scheduling").
#include <cstdio>
#include <filesystem>

#include "mmsb/mmsb.hpp"
#include "particles.hpp"

int main() {
  const std::string dir =
      (std::filesystem::temp_directory_path() / "mmsb-rules-quickstart").string();
  std::filesystem::remove_all(dir);
  mmsb::EngineOptions options;
  options.dir = dir;
  options.rule_workers = 4;  // the result is the same with 1
  auto engine = mmsb::Engine::open(options).value();
  particles::World world = particles::create_world(*engine, 500, 1).value();
  if (!particles::register_rules(*engine, world).is_ok()) return 1;  // code: after every open

  std::size_t applied = 0, deferred = 0, rejected = 0;
  for (int tick = 0; tick < 50; ++tick) {
    mmsb::CommitInfo info = particles::step(*engine, world).value();  // standing rules run too
    for (const mmsb::RuleReceipt& receipt : info.receipts) {           // the collide requests
      applied += receipt.outcome == mmsb::ReceiptOutcome::kApplied;
      deferred += receipt.outcome == mmsb::ReceiptOutcome::kDeferred;
      rejected += receipt.outcome == mmsb::ReceiptOutcome::kRejected;
    }
  }
  const mmsb::EngineStats stats = engine->stats();
  std::printf("collide requests: %zu applied, %zu deferred, %zu rejected\n", applied, deferred,
              rejected);
  std::printf("all candidates: %llu, retries %llu, last tick conflict rate %.3f\n",
              static_cast<unsigned long long>(stats.rule_candidates),
              static_cast<unsigned long long>(stats.rule_retries),
              stats.last_rule_tick.conflict_rate);
  std::printf("tick %llu root %s\n",
              static_cast<unsigned long long>(engine->snapshot().tick().value()),
              engine->snapshot().root().to_hex().c_str());
  if (!engine->close().is_ok()) return 1;
  std::filesystem::remove_all(dir);
  return applied > 0 ? 0 : 1;
}

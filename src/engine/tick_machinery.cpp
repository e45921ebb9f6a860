#include "engine/tick_machinery.hpp"

namespace mmsb::engine {
namespace {

std::unique_ptr<core::WorkerPool> pool_of(std::size_t workers) {
  return workers > 1 ? std::make_unique<core::WorkerPool>(workers) : nullptr;
}

}  // namespace

TickMachinery::TickMachinery(std::size_t propagation_workers, std::size_t rule_workers)
    : propagation_pool_(pool_of(propagation_workers)),
      propagator_(propagation_pool_.get()),
      rule_pool_(pool_of(rule_workers)),
      scheduler_(rule_pool_.get()) {}

Result<std::unique_ptr<TickMachinery>> TickMachinery::create(const State& state,
                                                             std::size_t propagation_workers,
                                                             std::size_t rule_workers,
                                                             bool mirror_graph) {
  std::unique_ptr<TickMachinery> machinery(new TickMachinery(propagation_workers, rule_workers));
  if (mirror_graph) MMSB_RETURN_IF_ERROR(machinery->graph_.build(state));
  return machinery;
}

TickContext TickMachinery::context(const graph::FunctionMap* functions,
                                   const sched::RuleMap* rules) {
  TickContext ctx;
  ctx.graph = &graph_;
  ctx.propagator = &propagator_;
  ctx.functions = functions;
  ctx.scheduler = &scheduler_;
  ctx.rules_step = &rules_step_;
  ctx.rules = rules;
  ctx.governor = &governor_;
  return ctx;
}

}  // namespace mmsb::engine

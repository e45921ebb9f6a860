#include "graph/propagator.hpp"

#include <algorithm>
#include <cstring>
#include <exception>

namespace mmsb::graph {
namespace {

// A level runs on the pool only with at least this many recomputes: waking workers costs
// more than a few small functions.
constexpr std::size_t kParallelJobsMin = 4;

std::string page_function(PageId page, const std::string& function) {
  return "derived page " + std::to_string(page.value()) + " (function '" + function + "')";
}

bool contains(const std::vector<PageId>& sorted, PageId page) {
  return std::binary_search(sorted.begin(), sorted.end(), page);
}

void sort_unique(std::vector<PageId>& pages) {
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
}

}  // namespace

PropagationCounters& PropagationCounters::operator+=(const PropagationCounters& other) {
  recomputes += other.recomputes;
  skipped += other.skipped;
  cutoffs += other.cutoffs;
  changed += other.changed;
  stale += other.stale;
  return *this;
}

void Propagator::give_back(std::vector<Delta>&& deltas) {
  for (Delta& delta : deltas) {
    if (spare_.size() >= kept_max_) break;
    spare_.push_back(std::move(delta));
  }
  deltas.clear();
}

void PropagationOutput::clear() {
  derived.clear();
  events.clear();
  counters = {};
  taken_from_log = 0;
}

std::size_t Propagator::add_item(PageId page, std::uint32_t node) {
  const std::size_t index = items_.size();
  items_.push_back(Item{page, node});
  if (node != DependencyGraph::kNoNode) {
    node_stamp_[node] = stamp_;
    item_of_node_[node] = static_cast<std::uint32_t>(index);
  }
  return index;
}

// The affected set: every page written or re-wired in this tick, and everything below it.
void Propagator::collect(const state::ForkCore& fork, const DependencyGraph& graph,
                         const PropagationInput& input) {
  items_.clear();
  if (node_stamp_.size() < graph.node_capacity()) {
    node_stamp_.resize(graph.node_capacity(), 0);
    item_of_node_.resize(graph.node_capacity(), 0);
  }
  if (++stamp_ == 0) {
    std::fill(node_stamp_.begin(), node_stamp_.end(), 0);
    stamp_ = 1;
  }
  touched_.assign(fork.dependency_touched().begin(), fork.dependency_touched().end());
  sort_unique(touched_);
  also_changed_.assign(input.also_changed.begin(), input.also_changed.end());
  sort_unique(also_changed_);
  seeds_.clear();
  for (const state::TickWrite& write : fork.tick_writes()) seeds_.push_back(write.id);
  seeds_.insert(seeds_.end(), also_changed_.begin(), also_changed_.end());
  seeds_.insert(seeds_.end(), touched_.begin(), touched_.end());
  sort_unique(seeds_);
  const state::Tables& tables = fork.tables();
  for (PageId page : seeds_) {
    if (tables.find_page(page) == nullptr) continue;  // deleted in this tick
    Item& item = items_[add_item(page, graph.node_of(page))];
    item.changed = fork.bytes_changed(page) || contains(also_changed_, page);
    // A derived page written by the tick's inputs (a merge) or re-wired is recomputed.
    item.forced = contains(touched_, page) ||
                  (item.changed && tables.find_derivation(page) != nullptr);
  }
  for (std::size_t i = 0; i < items_.size(); ++i) {
    const std::uint32_t node = items_[i].node;
    if (node == DependencyGraph::kNoNode) continue;
    for (const DependencyGraph::Link& child : graph.children(node)) {
      if (node_stamp_[child.node] != stamp_) add_item(child.page, child.node);
    }
  }
  for (Item& item : items_) {
    if (item.node == DependencyGraph::kNoNode) continue;
    for (const DependencyGraph::Link& parent : graph.parents(item.node)) {
      item.pending += node_stamp_[parent.node] == stamp_;
    }
  }
}

Epoch Propagator::epoch_after_write(const state::ForkCore& fork, PageId page) const {
  const std::optional<Epoch> before = fork.epoch_at_tick_start(page);
  return before ? Epoch(before->value() + 1) : Epoch(0);
}

void Propagator::plan_level(const state::ForkCore& fork, const DependencyGraph& graph,
                            const PropagationInput& input, std::uint32_t level,
                            PropagationOutput& out) {
  const state::Tables& tables = fork.tables();
  jobs_used_ = 0;
  for (std::size_t index : frontier_) {
    Item& item = items_[index];
    const state::PageRecord* record = tables.find_page(item.page);
    if (record == nullptr) continue;
    if (item.changed) {
      emit(input.collect_events, level, EventType::kApplied, item.page, [&] {
        const bool merged = contains(also_changed_, item.page);
        return merged ? record->epoch : epoch_after_write(fork, item.page);
      });
    }
    bool data_changed = false, control_changed = false;
    if (item.node != DependencyGraph::kNoNode) {
      for (const DependencyGraph::Link& parent : graph.parents(item.node)) {
        if (node_stamp_[parent.node] != stamp_ || !items_[item_of_node_[parent.node]].changed) {
          continue;
        }
        (parent.kind == kEdgeKindData ? data_changed : control_changed) = true;
      }
    }
    const state::DerivationRecord* derivation = tables.find_derivation(item.page);
    if (derivation == nullptr || (!item.forced && !data_changed)) {
      if (data_changed || control_changed) {
        ++out.counters.stale;
        emit(input.collect_events, level, EventType::kStale, item.page,
             [&] { return record->epoch; });
      } else if (derivation != nullptr) {
        ++out.counters.skipped;
      }
      continue;
    }
    emit(input.collect_events, level, EventType::kInvalidated, item.page,
         [&] { return record->epoch; });
    if (jobs_used_ == jobs_.size()) jobs_.emplace_back();
    Job& job = jobs_[jobs_used_++];
    job.item = index;
    job.function_name = &derivation->function;
    job.function = nullptr;
    if (input.functions != nullptr) {
      auto found = input.functions->find(derivation->function);
      if (found != input.functions->end()) job.function = &found->second;
    }
    job.parents.clear();
    if (item.node != DependencyGraph::kNoNode) {
      for (const DependencyGraph::Link& parent : graph.parents(item.node)) {
        if (parent.kind == kEdgeKindData) job.parents.push_back(tables.find_page(parent.page)->bytes());
      }
    }
    job.current = record->bytes();
    job.status = Status::ok();
  }
}

void Propagator::run_job(Job& job, PageId page) const {
  job.output.clear();
  if (job.function == nullptr) return;  // resolved at commit (from the log, or an error)
  try {
    job.status = (*job.function)(DeriveInput{page, job.parents, job.current}, job.output);
  } catch (const std::exception& error) {
    job.status = failed_precondition("threw: " + std::string(error.what()));
  } catch (...) {
    job.status = failed_precondition("threw a non-standard exception");
  }
}

Status Propagator::commit_level(state::ForkCore& fork, const PropagationInput& input,
                                std::uint32_t level, PropagationOutput& out) {
  for (std::size_t j = 0; j < jobs_used_; ++j) {
    Job& job = jobs_[j];
    Item& item = items_[job.item];
    ++out.counters.recomputes;
    if (job.function == nullptr) {
      const Delta* logged = nullptr;
      if (input.logged == nullptr) {
        return failed_precondition(page_function(item.page, *job.function_name) +
                                   ": function is not registered in this engine");
      }
      for (const Delta& delta : *input.logged) {
        if (delta.page() == item.page) logged = &delta;
      }
      job.output.assign(job.current.begin(), job.current.end());
      if (logged != nullptr) {
        Status applied = apply_delta(*logged, job.output);
        if (!applied.is_ok()) return corruption(page_function(item.page, *job.function_name) +
                                                ": logged delta: " + applied.message());
      }
      ++out.taken_from_log;
    } else if (!job.status.is_ok()) {
      return Status(job.status.code(),
                    page_function(item.page, *job.function_name) + ": " + job.status.message());
    }
    if (job.output.size() != job.current.size()) {
      return invalid_argument(page_function(item.page, *job.function_name) + ": returned " +
                              std::to_string(job.output.size()) + " bytes for a page of " +
                              std::to_string(job.current.size()) + " bytes");
    }
    const state::PageRecord* record = fork.tables().find_page(item.page);
    Delta delta;
    if (!spare_.empty()) {
      delta = std::move(spare_.back());
      spare_.pop_back();
    }
    MMSB_RETURN_IF_ERROR(diff_into(item.page, record->epoch, job.current, job.output, delta));
    if (delta.is_identity()) {
      ++out.counters.cutoffs;
      spare_.push_back(std::move(delta));
      continue;
    }
    MMSB_RETURN_IF_ERROR(fork.apply(delta));  // only the allocator can refuse
    out.derived.push_back(std::move(delta));
    item.changed = true;
    ++out.counters.changed;
    emit(input.collect_events, level, EventType::kChanged, item.page,
         [&] { return epoch_after_write(fork, item.page); });
  }
  return Status::ok();
}

Status Propagator::run(state::ForkCore& fork, const DependencyGraph& graph,
                       const PropagationInput& input, PropagationOutput& out) {
  if (graph.edge_count() == 0 && fork.tables().derivations.empty() && !input.collect_events) {
    return Status::ok();  // nothing can be derived or reported
  }
  keyed_events_.clear();
  collect(fork, graph, input);
  frontier_.clear();
  for (std::size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].pending == 0) frontier_.push_back(i);
  }
  for (std::uint32_t level = 0; !frontier_.empty(); ++level) {
    std::sort(frontier_.begin(), frontier_.end(),
              [&](std::size_t a, std::size_t b) { return items_[a].page < items_[b].page; });
    plan_level(fork, graph, input, level, out);
    auto body = [&](std::size_t j) { run_job(jobs_[j], items_[jobs_[j].item].page); };
    if (pool_ != nullptr && jobs_used_ >= kParallelJobsMin) {
      pool_->run(jobs_used_, body);
    } else {
      for (std::size_t j = 0; j < jobs_used_; ++j) body(j);
    }
    MMSB_RETURN_IF_ERROR(commit_level(fork, input, level, out));
    next_frontier_.clear();
    for (std::size_t index : frontier_) {
      const std::uint32_t node = items_[index].node;
      if (node == DependencyGraph::kNoNode) continue;
      for (const DependencyGraph::Link& child : graph.children(node)) {
        Item& next = items_[item_of_node_[child.node]];
        if (--next.pending == 0) next_frontier_.push_back(item_of_node_[child.node]);
      }
    }
    frontier_.swap(next_frontier_);
  }
  kept_max_ = std::max(kept_max_, out.derived.size());
  if (input.collect_events) {
    std::sort(keyed_events_.begin(), keyed_events_.end(), [](const Keyed& a, const Keyed& b) {
      return std::tie(a.level, a.event.page, a.event.epoch, a.event.type) <
             std::tie(b.level, b.event.page, b.event.epoch, b.event.type);
    });
    for (const Keyed& keyed : keyed_events_) out.events.push_back(keyed.event);
  }
  return Status::ok();
}

}  // namespace mmsb::graph

// A merge tick's effect: computed from the States before and after the merge (live), and
// applied as logged (the tick step, live and in replay).
#include "engine/apply.hpp"
#include "state/radix_map.hpp"

namespace mmsb::engine {

Status apply_merge_effect(state::ForkCore& fork, const log::MergeEffect& effect,
                          graph::DependencyGraph* graph) {
  for (EdgeId edge : effect.edges_removed) {
    const state::EdgeRecord* record = fork.tables().edges.find(edge.value());
    if (record == nullptr) {
      return corruption("merge effect removes missing edge " + std::to_string(edge.value()));
    }
    if (graph != nullptr) graph->remove_edge(record->edge);
    MMSB_RETURN_IF_ERROR(fork.remove_edge(edge));
  }
  for (PageId page : effect.pages_deleted) {
    if (graph != nullptr) {
      for (const Edge& edge : fork.tables().edges_of(page)) graph->remove_edge(edge);
    }
    MMSB_RETURN_IF_ERROR(fork.delete_page(page));
  }
  for (const log::PageImage& image : effect.pages_set) {
    auto record = state::PageRecord::make(image.id, image.type, image.bytes.size(), image.epoch,
                                          image.bytes, fork.options().allocator);
    if (!record)
      return resource_exhausted("merge effect: allocator refused page " +
                                std::to_string(image.id.value()));
    fork.install_page(std::move(record));
  }
  for (const Edge& edge : effect.edges_added) {
    if (fork.tables().find_page(edge.from) == nullptr ||
        fork.tables().find_page(edge.to) == nullptr ||
        fork.tables().edges.find(edge.id.value()) != nullptr) {
      return corruption("merge effect adds an invalid edge " + std::to_string(edge.id.value()));
    }
    if (graph != nullptr) MMSB_RETURN_IF_ERROR(graph->add_edge(edge));
    fork.install_edge(edge);
  }
  for (PageId child : effect.derivations_removed) {
    if (fork.tables().find_derivation(child) == nullptr) {
      return corruption("merge effect removes the missing derivation of page " +
                        std::to_string(child.value()));
    }
    fork.set_derivation(child, "");
  }
  for (const auto& [child, function] : effect.derivations_set) {
    if (fork.tables().find_page(child) == nullptr || function.empty()) {
      return corruption("merge effect derives an invalid page " + std::to_string(child.value()));
    }
    fork.set_derivation(child, function);
  }
  if (effect.next_page_id < fork.tables().next_page_id ||
      effect.next_edge_id < fork.tables().next_edge_id) {
    return corruption("merge effect moves the id counters back");
  }
  fork.set_counters(effect.next_page_id, effect.next_edge_id);
  return Status::ok();
}

log::MergeEffect merge_effect(const State& before, const State& after) {
  const state::Tables& a = state::StateAccessors::data(before).tables;
  const state::Tables& b = state::StateAccessors::data(after).tables;
  log::MergeEffect effect;
  state::RadixMap<state::PageRecord>::diff(
      a.pages, b.pages,
      [&](std::uint64_t id, const state::PageRecord*, const state::PageRecord* now) {
        if (now == nullptr) {
          effect.pages_deleted.push_back(PageId(id));
        } else {
          effect.pages_set.push_back(
              log::PageImage{now->id, now->type, now->epoch,
                             std::vector<std::byte>(now->bytes().begin(), now->bytes().end())});
        }
      });
  state::RadixMap<state::EdgeRecord>::diff(
      a.edges, b.edges,
      [&](std::uint64_t id, const state::EdgeRecord* was, const state::EdgeRecord* now) {
        if (now == nullptr) {
          effect.edges_removed.push_back(EdgeId(id));
        } else if (was == nullptr) {
          effect.edges_added.push_back(now->edge);
        }
      });
  state::RadixMap<state::DerivationRecord>::diff(
      a.derivations, b.derivations,
      [&](std::uint64_t id, const state::DerivationRecord*, const state::DerivationRecord* now) {
        if (now == nullptr) {
          effect.derivations_removed.push_back(PageId(id));
        } else {
          effect.derivations_set.emplace_back(PageId(id), now->function);
        }
      });
  effect.next_page_id = b.next_page_id;
  effect.next_edge_id = b.next_edge_id;
  return effect;
}

}  // namespace mmsb::engine

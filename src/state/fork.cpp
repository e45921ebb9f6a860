#include <atomic>
#include <cstring>

#include "state/tables.hpp"

namespace mmsb {
namespace state {
// Owner tokens only need to be unique; they never influence state or its hashes.
std::uint64_t ForkCore::next_token() {
  static std::atomic<std::uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

ForkCore::ForkCore(const State& base)
    : base_(base),
      head_(base),
      options_(StateAccessors::data(base).options),
      allocator_index_(core::payload_allocator_index(options_.allocator)),
      tables_(StateAccessors::data(base).tables),
      lineage_(StateAccessors::data(base).lineage),
      token_(next_token()),
      tick_start_next_page_(StateAccessors::data(base).tables.next_page_id),
      sealed_tick_(base.tick()),
      sealed_root_(base.root()) {
  TickLists& spare = spare_lists();
  writes_.swap(spare.writes);
  undo_.swap(spare.undo);
  undo_bytes_.swap(spare.undo_bytes);
}

ForkCore::TickLists& ForkCore::spare_lists() {
  thread_local TickLists spare;
  return spare;
}

namespace {

// Hands `list`'s memory (emptied) to `spare` if it has more and is not past `kept_max`.
template <typename T>
void keep_larger(std::vector<T>& list, std::vector<T>& spare, std::size_t kept_max) {
  if (list.capacity() <= spare.capacity() || list.capacity() > kept_max) return;
  list.clear();
  list.swap(spare);
}

}  // namespace

ForkCore::~ForkCore() {
  // Lists past these sizes are let go rather than kept for the thread's life.
  constexpr std::size_t kKeptEntriesMax = std::size_t{1} << 16;
  constexpr std::size_t kKeptUndoBytesMax = std::size_t{1} << 22;
  TickLists& spare = spare_lists();
  keep_larger(writes_, spare.writes, kKeptEntriesMax);
  keep_larger(undo_, spare.undo, kKeptEntriesMax);
  keep_larger(undo_bytes_, spare.undo_bytes, kKeptUndoBytesMax);
}

ForkCore ForkCore::working(State base) {
  ForkCore core(base);
  core.base_ = State();
  core.head_ = State();
  core.keeps_versions_ = false;
  return core;
}

Result<PageId> ForkCore::create_page(const PageSpec& spec) {
  if (spec.size_bytes == 0 || spec.size_bytes > options_.page_size_max_bytes) {
    return invalid_argument("new page: size " + std::to_string(spec.size_bytes) +
                            " bytes is outside [1, " +
                            std::to_string(options_.page_size_max_bytes) + "]");
  }
  if (!spec.initial.empty() && spec.initial.size() != spec.size_bytes) {
    return invalid_argument("new page: initial content of " + std::to_string(spec.initial.size()) +
                            " bytes for a page of " + std::to_string(spec.size_bytes) + " bytes");
  }
  PageId id(tables_.next_page_id);
  Ref<PageRecord> record = PageRecord::make_indexed(id, spec.type, spec.size_bytes, Epoch(0),
                                                    spec.initial, allocator_index_);
  if (!record) {
    return resource_exhausted("new page: allocator refused " + std::to_string(spec.size_bytes) +
                              " bytes");
  }
  record_write(*record, nullptr);
  tables_.pages_sum.add(record->meta_term());
  if (!spec.initial.empty()) tables_.pages_sum.add(record->content_terms());
  tables_.pages.set(id.value(), std::move(record), token_);
  index_type(spec.type, id, true);
  ++tables_.next_page_id;
  changed_ = true;
  return id;
}

Status ForkCore::delete_page(PageId page) {
  const PageRecord* record = tables_.find_page(page);
  if (record == nullptr) return not_found(page_not_found(page));
  if (const EdgeList* list = tables_.adjacency.find(page.value())) {
    std::vector<EdgeId> incident = list->ids;
    for (EdgeId id : incident) MMSB_RETURN_IF_ERROR(remove_edge(id));
  }
  index_type(record->type, page, false);
  tables_.pages_sum.subtract(page_term(*record));
  forget_write(record);
  bool erased = tables_.pages.erase(page.value(), token_);
  MMSB_ASSERT(erased);
  if (const DerivationRecord* derivation = tables_.find_derivation(page)) {
    tables_.derivations_sum.subtract(derivation->term());
    tables_.derivations.erase(page.value(), token_);
  }
  changed_ = true;
  return Status::ok();
}

Result<EdgeId> ForkCore::add_edge(EdgeKind kind, PageId from, PageId to) {
  for (PageId end : {from, to}) {
    if (tables_.find_page(end) == nullptr) {
      return not_found("new edge " + std::to_string(from.value()) + " -> " +
                       std::to_string(to.value()) + ": " + page_not_found(end));
    }
  }
  Edge edge{EdgeId(tables_.next_edge_id), kind, from, to};
  install_edge(edge);
  return edge.id;
}

void ForkCore::install_edge(const Edge& edge) {
  MMSB_ASSERT(tables_.edges.find(edge.id.value()) == nullptr);
  Ref<EdgeRecord> record = make_ref<EdgeRecord>(edge);
  tables_.edges_sum.add(record->term());
  tables_.edges.set(edge.id.value(), std::move(record), token_);
  link_edge(edge.id, edge.from);
  if (edge.to != edge.from) link_edge(edge.id, edge.to);
  if (edge.id.value() >= tables_.next_edge_id) tables_.next_edge_id = edge.id.value() + 1;
  if (is_dependency_kind(edge.kind)) dependency_touched_.push_back(edge.to);
  changed_ = true;
}

Status ForkCore::remove_edge(EdgeId edge) {
  const EdgeRecord* record = tables_.edges.find(edge.value());
  if (record == nullptr)
    return not_found("edge " + std::to_string(edge.value()) + " does not exist");
  Edge removed = record->edge;
  tables_.edges_sum.subtract(record->term());
  unlink_edge(edge, removed.from);
  if (removed.to != removed.from) unlink_edge(edge, removed.to);
  tables_.edges.erase(edge.value(), token_);
  if (is_dependency_kind(removed.kind)) dependency_touched_.push_back(removed.to);
  changed_ = true;
  return Status::ok();
}

void ForkCore::set_derivation(PageId child, const std::string& function) {
  MMSB_ASSERT(tables_.find_page(child) != nullptr);
  if (const DerivationRecord* previous = tables_.find_derivation(child)) {
    tables_.derivations_sum.subtract(previous->term());
  }
  if (function.empty()) {
    tables_.derivations.erase(child.value(), token_);
  } else {
    Ref<DerivationRecord> record = make_ref<DerivationRecord>(child, function);
    tables_.derivations_sum.add(record->term());
    tables_.derivations.set(child.value(), std::move(record), token_);
  }
  dependency_touched_.push_back(child);
  changed_ = true;
}

void ForkCore::index_type(PageType type, PageId page, bool add) {
  if (type == 0) return;  // untyped pages are not indexed
  // The entry changed last, if the fork still owns it (same tick): a run of pages of one
  // type skips the lookup.
  TypeMembers* owned =
      indexed_members_ != nullptr && indexed_type_ == type && indexed_members_->owner == token_
          ? indexed_members_
          : nullptr;
  Ref<TypeMembers> copy;
  if (owned == nullptr) {
    const TypeMembers* members = tables_.types.find(type);
    // The fork's own index is changed where it stands (no count taken on it); another is
    // copied, and the copy installed.
    if (members == nullptr) {
      copy = make_ref<TypeMembers>(token_);
    } else if (members->owner != token_) {
      copy = make_ref<TypeMembers>(*members, token_);
    }
    owned = copy ? copy.get() : const_cast<TypeMembers*>(members);
  }
  if (add) {
    owned->pages.set(page.value(), TypeMembers::marker(), token_);
  } else {
    owned->pages.erase(page.value(), token_);
  }
  if (owned->pages.empty()) {
    tables_.types.erase(type, token_);
    indexed_members_ = nullptr;
    return;
  }
  if (copy) tables_.types.set(type, std::move(copy), token_);
  indexed_type_ = type;
  indexed_members_ = owned;
}

void ForkCore::set_retries(std::vector<PendingRetry> retries) {
  MMSB_DEBUG_ASSERT(std::is_sorted(retries.begin(), retries.end()));
  if (retries.empty() && !tables_.retries) return;
  tables_.retries = retries.empty() ? nullptr : make_ref<RetryList>(std::move(retries));
  changed_ = true;
}

void ForkCore::link_edge(EdgeId edge, PageId page) {
  const EdgeList* list = tables_.adjacency.find(page.value());
  EdgeList* owned;
  if (list == nullptr || list->owner != token_) {
    Ref<EdgeList> copy =
        list == nullptr ? make_ref<EdgeList>(token_) : make_ref<EdgeList>(*list, token_);
    owned = copy.get();
    tables_.adjacency.set(page.value(), std::move(copy), token_);
  } else {
    owned = const_cast<EdgeList*>(list);
  }
  auto at = std::lower_bound(owned->ids.begin(), owned->ids.end(), edge);
  owned->ids.insert(at, edge);
}

void ForkCore::unlink_edge(EdgeId edge, PageId page) {
  const EdgeList* list = tables_.adjacency.find(page.value());
  MMSB_ASSERT(list != nullptr);
  if (list->ids.size() == 1) {
    MMSB_ASSERT(list->ids.front() == edge);
    tables_.adjacency.erase(page.value(), token_);
    return;
  }
  EdgeList* owned = const_cast<EdgeList*>(list);
  if (list->owner != token_) {
    Ref<EdgeList> copy = make_ref<EdgeList>(*list, token_);
    owned = copy.get();
    tables_.adjacency.set(page.value(), std::move(copy), token_);
  }
  auto at = std::lower_bound(owned->ids.begin(), owned->ids.end(), edge);
  MMSB_ASSERT(at != owned->ids.end() && *at == edge);
  owned->ids.erase(at);
}

void ForkCore::install_page(Ref<PageRecord> record) {
  MMSB_ASSERT(record);
  MMSB_ASSERT(!owns(*record));  // installed records are never epoch-bumped
  PageId id = record->id;
  const PageRecord* current = tables_.find_page(id);
  if (current != nullptr) tables_.pages_sum.subtract(page_term(*current));
  tables_.pages_sum.add(record->meta_term());
  tables_.pages_sum.add(record->content_terms());
  TickWrite* written = current != nullptr ? write_of(*current) : nullptr;
  if (written != nullptr && written->in_place) undo_in_place(*written->current, *written);
  if (id.value() < tick_start_next_page_ && !installed_over_.contains(id)) {
    installed_over_.emplace(id, Ref<PageRecord>(page_at_tick_start(id, current)));
  }
  if (current == nullptr) index_type(record->type, id, true);
  forget_write(current);
  tables_.pages.set(id.value(), std::move(record), token_);
  if (id.value() >= tables_.next_page_id) tables_.next_page_id = id.value() + 1;
  changed_ = true;
}

void ForkCore::set_counters(std::uint64_t next_page_id, std::uint64_t next_edge_id) {
  MMSB_ASSERT(next_page_id >= tables_.next_page_id);
  MMSB_ASSERT(next_edge_id >= tables_.next_edge_id);
  tables_.next_page_id = next_page_id;
  tables_.next_edge_id = next_edge_id;
}

State ForkCore::publish() const {
  MMSB_ASSERT(!changed_);  // the current tick is sealed
  auto data = make_ref<StateData>();
  data->root = sealed_root_;
  data->tables = tables_;
  data->tick = sealed_tick_;
  data->options = options_;
  data->lineage = lineage_;
  return StateAccessors::adopt(std::move(data));
}

State ForkCore::commit() { return commit_as(TickId(sealed_tick_.value() + 1)); }

State ForkCore::commit_as(TickId tick) {
  seal(tick);
  head_ = publish();
  return head_;
}

}  // namespace state

Fork::Fork(const State& base) : base_(base) {}
Fork::Fork(Fork&&) noexcept = default;
Fork& Fork::operator=(Fork&&) noexcept = default;
Fork::~Fork() = default;

const state::Tables& Fork::tables() const {
  return core_ ? core_->tables() : state::StateAccessors::data(base_).tables;
}

state::ForkCore& Fork::core() {
  if (!core_) core_ = std::make_unique<state::ForkCore>(base_);
  return *core_;
}

const State& Fork::base() const { return base_; }
const State& Fork::head() const { return core_ ? core_->head() : base_; }
bool Fork::has_uncommitted_changes() const { return core_ && core_->has_uncommitted_changes(); }
bool Fork::contains(PageId page) const { return tables().find_page(page) != nullptr; }
Result<PageView> Fork::page(PageId page) const { return tables().page(page); }

Result<std::span<const std::byte>> Fork::read(PageId page) const { return tables().read(page); }

Result<Edge> Fork::edge(EdgeId edge) const { return tables().edge(edge); }
std::vector<Edge> Fork::edges_of(PageId page) const { return tables().edges_of(page); }
std::size_t Fork::page_count() const { return tables().pages.size(); }
std::size_t Fork::edge_count() const { return tables().edges.size(); }
Result<PageId> Fork::create_page(const PageSpec& spec) { return core().create_page(spec); }

Status Fork::write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes) {
  return core().write(page, offset, bytes);
}

Status Fork::put(PageId page, std::span<const std::byte> bytes) {
  const state::PageRecord* record = tables().find_page(page);
  if (record == nullptr) return not_found(state::page_not_found(page));
  if (bytes.size() != record->size_bytes) {
    return invalid_argument("page " + std::to_string(page.value()) + ": put of " +
                            std::to_string(bytes.size()) + " bytes into a page of " +
                            std::to_string(record->size_bytes) + " bytes");
  }
  return core().write(page, 0, bytes);
}

Status Fork::apply(const Delta& delta) { return core().apply(delta); }

Result<std::span<std::byte>> Fork::mutable_bytes(PageId page) {
  MMSB_ASSIGN_OR_RETURN(state::PageRecord * owned, core().own_page(page));
  core().mark_written(*owned, 0, owned->size_bytes);
  return owned->mutable_bytes();
}

Status Fork::delete_page(PageId page) { return core().delete_page(page); }
Result<EdgeId> Fork::add_edge(EdgeKind kind, PageId from, PageId to) {
  return core().add_edge(kind, from, to);
}
Status Fork::remove_edge(EdgeId edge) { return core().remove_edge(edge); }
State Fork::commit() { return core().commit(); }

}  // namespace mmsb

#include <atomic>
#include <cstring>

#include "state/tables.hpp"

namespace mmsb {
namespace state {
namespace {

// Owner tokens only need to be unique; they never influence state or its hashes.
std::uint64_t next_token() {
  static std::atomic<std::uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

std::string range_text(std::uint64_t offset, std::uint64_t length) {
  return "[" + std::to_string(offset) + "," + std::to_string(offset + length) + ")";
}

}  // namespace

ForkCore::ForkCore(const State& base)
    : base_(base),
      head_(base),
      options_(StateAccessors::data(base).options),
      tables_(StateAccessors::data(base).tables),
      lineage_(StateAccessors::data(base).lineage),
      token_(next_token()),
      tick_start_next_page_(StateAccessors::data(base).tables.next_page_id),
      sealed_tick_(base.tick()),
      sealed_root_(base.root()) {}

ForkCore ForkCore::working(State base) {
  ForkCore core(base);
  core.base_ = State();
  core.head_ = State();
  return core;
}

void ForkCore::record_write(PageRecord& page, Ref<PageRecord> previous) {
  page.tick_write = static_cast<std::uint32_t>(writes_.size());
  writes_.push_back(TickWrite{page.id, &page, std::move(previous)});
}

void ForkCore::forget_write(const PageRecord* replaced) {
  if (replaced != nullptr && owns(*replaced)) writes_[replaced->tick_write].current = nullptr;
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
  Ref<PageRecord> record =
      PageRecord::make(id, spec.type, spec.size_bytes, Epoch(0), spec.initial, options_.allocator);
  if (!record) {
    return resource_exhausted("new page: allocator refused " + std::to_string(spec.size_bytes) +
                              " bytes");
  }
  record_write(*record, nullptr);
  tables_.pages.set(id.value(), std::move(record), token_);
  index_type(spec.type, id, true);
  ++tables_.next_page_id;
  changed_ = true;
  return id;
}

Result<PageRecord*> ForkCore::copy_into(Ref<RefCounted>& slot, const PageRecord& record) {
  // Taken before the copy: its reference count's locked add would wait for the copy's stores.
  Ref<PageRecord> previous = page_at_tick_start(record.id, &record);
  Ref<PageRecord> copy = record.copy(record.id);
  if (!copy) {
    return resource_exhausted("page " + std::to_string(record.id.value()) + ": allocator refused " +
                              std::to_string(record.size_bytes) + " bytes for a copy");
  }
  PageRecord* owned = copy.get();
  record_write(*owned, std::move(previous));
  slot = Ref<RefCounted>(std::move(copy));
  return owned;
}

Result<PageRecord*> ForkCore::own_page(PageId page) {
  const PageRecord* record = tables_.find_page(page);
  if (record == nullptr) return not_found(page_not_found(page));
  changed_ = true;
  if (owns(*record) && !writes_[record->tick_write].in_place) {
    return const_cast<PageRecord*>(record);
  }
  Ref<RefCounted>& slot = tables_.pages.own_slot(page.value(), token_);
  if (!owns(*record)) return copy_into(slot, *record);
  // Written in place so far, and the caller may now write anywhere: it gets a copy, and the
  // claimed record is put back as the tick found it, for the seal to compare the copy with.
  auto* claimed = const_cast<PageRecord*>(record);
  const TickWrite written = writes_[claimed->tick_write];
  Ref<PageRecord> copy = claimed->copy(page);
  if (!copy) {
    return resource_exhausted("page " + std::to_string(page.value()) + ": allocator refused " +
                              std::to_string(claimed->size_bytes) + " bytes for a copy");
  }
  undo_in_place(*claimed, writes_[claimed->tick_write]);
  writes_[claimed->tick_write].current = nullptr;
  PageRecord* owned = copy.get();
  record_write(*owned, Ref<PageRecord>(claimed));
  writes_.back().begin = written.begin;
  writes_.back().end = written.end;
  slot = Ref<RefCounted>(std::move(copy));
  return owned;
}

Result<PageRecord*> ForkCore::write_target(PageId page, std::uint64_t offset,
                                           std::uint64_t length) {
  const PageRecord* record = tables_.find_page(page);
  changed_ = true;
  if (owns(*record)) {
    TickWrite& write = writes_[record->tick_write];
    if (write.in_place) keep_undo(write, *record, offset, length);
    return const_cast<PageRecord*>(record);
  }
  Ref<RefCounted>& slot = tables_.pages.own_slot(page.value(), token_);
  // Claimed when the slot holds the only reference on a path only this fork reaches, and
  // the page is the one the tick found (not new in it, not installed over).
  const bool claimable = slot->ref_count() == 1 && page.value() < tick_start_next_page_ &&
                         (installed_over_.empty() || !installed_over_.contains(page));
  if (!claimable) return copy_into(slot, *record);
  auto* claimed = static_cast<PageRecord*>(slot.get());
  record_write(*claimed, nullptr);
  writes_.back().in_place = true;
  keep_undo(writes_.back(), *claimed, offset, length);
  return claimed;
}

void ForkCore::keep_undo(TickWrite& write, const PageRecord& page, std::uint64_t offset,
                         std::uint64_t length) {
  const std::uint64_t at = undo_bytes_.size();
  undo_bytes_.insert(undo_bytes_.end(), page.data + offset, page.data + offset + length);
  undo_.push_back(UndoRun{offset, length, at, write.last_undo});
  write.last_undo = static_cast<std::uint32_t>(undo_.size() - 1);
}

bool ForkCore::in_place_differs(const PageRecord& page, const TickWrite& write) const {
  if (write.last_undo == TickWrite::kNoUndo) return false;
  const UndoRun& last = undo_[write.last_undo];
  if (last.previous == TickWrite::kNoUndo) {  // one write: its undo run is the whole hull
    return std::memcmp(page.data + last.offset, undo_bytes_.data() + last.at, last.length) != 0;
  }
  // Several: the hull as the tick found it is the page's with the runs put back, latest first.
  const std::uint64_t begin = write.begin;
  std::vector<std::byte> found(page.data + begin, page.data + write.end);
  for (std::uint32_t i = write.last_undo; i != TickWrite::kNoUndo; i = undo_[i].previous) {
    const UndoRun& run = undo_[i];
    std::memcpy(found.data() + (run.offset - begin), undo_bytes_.data() + run.at, run.length);
  }
  return std::memcmp(found.data(), page.data + begin, found.size()) != 0;
}

void ForkCore::undo_in_place(PageRecord& page, TickWrite& write) {
  for (std::uint32_t i = write.last_undo; i != TickWrite::kNoUndo; i = undo_[i].previous) {
    const UndoRun& run = undo_[i];
    std::memcpy(page.data + run.offset, undo_bytes_.data() + run.at, run.length);
  }
  write.last_undo = TickWrite::kNoUndo;
}

Status ForkCore::write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes) {
  const PageRecord* record = tables_.find_page(page);
  if (record == nullptr) return not_found(page_not_found(page));
  if (offset > record->size_bytes || bytes.size() > record->size_bytes - offset) {
    return invalid_argument("page " + std::to_string(page.value()) + ": write " +
                            range_text(offset, bytes.size()) + " exceeds page size " +
                            std::to_string(record->size_bytes));
  }
  if (bytes.empty()) return Status::ok();
  MMSB_ASSIGN_OR_RETURN(PageRecord * owned, write_target(page, offset, bytes.size()));
  std::memcpy(owned->data + offset, bytes.data(), bytes.size());
  mark_written(*owned, offset, bytes.size());
  return Status::ok();
}

Status ForkCore::apply(const Delta& delta) {
  const PageRecord* record = tables_.find_page(delta.page());
  if (record == nullptr) return not_found(page_not_found(delta.page()));
  if (delta.base_epoch() != record->epoch) {
    return conflict("page " + std::to_string(delta.page().value()) +
                    ": delta computed against epoch " + std::to_string(delta.base_epoch().value()) +
                    " but the page is at epoch " + std::to_string(record->epoch.value()));
  }
  MMSB_RETURN_IF_ERROR(delta.validate(record->size_bytes));
  if (delta.is_identity()) return Status::ok();
  const bool dense = delta.encoding() == DeltaEncoding::kDense;
  const std::uint64_t begin = dense ? 0 : delta.runs().front().offset;
  const std::uint64_t end = dense ? record->size_bytes : delta.runs().back().end();
  MMSB_ASSIGN_OR_RETURN(PageRecord * owned, write_target(delta.page(), begin, end - begin));
  Status applied = apply_delta(delta, owned->mutable_bytes());
  MMSB_ASSERT(applied.is_ok());  // validated above
  mark_written(*owned, begin, end - begin);
  return Status::ok();
}

Status ForkCore::delete_page(PageId page) {
  if (tables_.find_page(page) == nullptr) return not_found(page_not_found(page));
  if (const EdgeList* list = tables_.adjacency.find(page.value())) {
    std::vector<EdgeId> incident = list->ids;
    for (EdgeId id : incident) MMSB_RETURN_IF_ERROR(remove_edge(id));
  }
  index_type(tables_.find_page(page)->type, page, false);
  forget_write(tables_.find_page(page));
  bool erased = tables_.pages.erase(page.value(), token_);
  MMSB_ASSERT(erased);
  tables_.derivations.erase(page.value(), token_);
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
  tables_.edges.set(edge.id.value(), make_ref<EdgeRecord>(edge), token_);
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
  unlink_edge(edge, removed.from);
  if (removed.to != removed.from) unlink_edge(edge, removed.to);
  tables_.edges.erase(edge.value(), token_);
  if (is_dependency_kind(removed.kind)) dependency_touched_.push_back(removed.to);
  changed_ = true;
  return Status::ok();
}

void ForkCore::set_derivation(PageId child, const std::string& function) {
  MMSB_ASSERT(tables_.find_page(child) != nullptr);
  if (function.empty()) {
    tables_.derivations.erase(child.value(), token_);
  } else {
    tables_.derivations.set(child.value(), make_ref<DerivationRecord>(child, function), token_);
  }
  dependency_touched_.push_back(child);
  changed_ = true;
}

void ForkCore::index_type(PageType type, PageId page, bool add) {
  if (type == 0) return;  // untyped pages are not indexed
  const TypeMembers* members = tables_.types.find(type);
  Ref<TypeMembers> owned;
  if (members != nullptr && members->owner == token_) {
    owned = Ref<TypeMembers>(const_cast<TypeMembers*>(members));
  } else if (members != nullptr) {
    owned = make_ref<TypeMembers>(*members, token_);
  } else {
    owned = make_ref<TypeMembers>(token_);
  }
  if (add) {
    owned->pages.set(page.value(), TypeMembers::marker(), token_);
  } else {
    owned->pages.erase(page.value(), token_);
  }
  if (owned->pages.empty()) {
    tables_.types.erase(type, token_);
  } else if (owned.get() != members) {
    tables_.types.set(type, std::move(owned), token_);
  }
}

void ForkCore::set_retries(std::vector<PendingRetry> retries) {
  MMSB_DEBUG_ASSERT(std::is_sorted(retries.begin(), retries.end()));
  if (retries.empty() && !tables_.retries) return;
  tables_.retries = retries.empty() ? nullptr : make_ref<RetryList>(std::move(retries));
  changed_ = true;
}

namespace {

// True if `record` differs from `write.previous` inside the hull written this tick.
bool hull_differs(const PageRecord& record, const TickWrite& write) {
  const PageRecord& previous = *write.previous;
  if (previous.size_bytes != record.size_bytes) return true;
  const std::uint64_t begin = std::min(write.begin, record.size_bytes);
  const std::uint64_t end = std::min(write.end, record.size_bytes);
  return begin < end && std::memcmp(previous.data + begin, record.data + begin, end - begin) != 0;
}

}  // namespace

bool ForkCore::bytes_changed(PageId page) const {
  const PageRecord* record = tables_.find_page(page);
  if (record == nullptr || !owns(*record)) return false;
  const TickWrite& write = writes_[record->tick_write];
  if (write.in_place) return in_place_differs(*record, write);
  return !write.previous || hull_differs(*record, write);  // no previous: created in this tick
}

Ref<PageRecord> ForkCore::page_at_tick_start(PageId page, const PageRecord* record) const {
  if (record != nullptr && owns(*record)) {
    const TickWrite& write = writes_[record->tick_write];
    // Written in place: the same record (its epoch is the tick's; its bytes are once the
    // writes are undone).
    if (write.in_place) return Ref<PageRecord>(const_cast<PageRecord*>(record));
    return write.previous;
  }
  if (page.value() >= tick_start_next_page_) return nullptr;  // new in this tick
  if (!installed_over_.empty()) {
    auto installed = installed_over_.find(page);
    if (installed != installed_over_.end()) return installed->second;
  }
  return Ref<PageRecord>(const_cast<PageRecord*>(record));
}

std::optional<Epoch> ForkCore::epoch_at_tick_start(PageId page) const {
  Ref<PageRecord> before = page_at_tick_start(page, tables_.find_page(page));
  if (!before) return std::nullopt;
  return before->epoch;
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
  if (current != nullptr && owns(*current) && writes_[current->tick_write].in_place) {
    undo_in_place(*const_cast<PageRecord*>(current), writes_[current->tick_write]);
  }
  if (id.value() < tick_start_next_page_ && !installed_over_.contains(id)) {
    installed_over_.emplace(id, page_at_tick_start(id, current));
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

Hash128 ForkCore::seal(TickId tick) {
  for (const TickWrite& write : writes_) {
    const PageRecord* record = tables_.find_page(write.id);
    if (record == nullptr || !owns(*record)) continue;  // deleted or replaced
    if (write.in_place) {
      if (in_place_differs(*record, write)) {
        const_cast<PageRecord*>(record)->epoch = Epoch(record->epoch.value() + 1);
      }
      continue;
    }
    if (!write.previous) continue;  // created in this tick: epoch 0
    if (hull_differs(*record, write)) {
      const_cast<PageRecord*>(record)->epoch = Epoch(write.previous->epoch.value() + 1);
    } else {
      // Written back to what it was: keep sharing the old record, no epoch bump.
      tables_.pages.set(write.id.value(), write.previous, token_);
    }
  }
  sealed_root_ = compute_root(tables_, tick);
  sealed_tick_ = tick;
  token_ = next_token();
  tick_start_next_page_ = tables_.next_page_id;
  writes_.clear();
  undo_.clear();
  undo_bytes_.clear();
  installed_over_.clear();
  dependency_touched_.clear();
  changed_ = false;
  return sealed_root_;
}

State ForkCore::publish() const {
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

Result<std::span<const std::byte>> Fork::read(PageId page) const {
  const state::PageRecord* record = tables().find_page(page);
  if (record == nullptr) return not_found(state::page_not_found(page));
  return record->bytes();
}

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

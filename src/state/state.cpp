#include <atomic>
#include <cstring>
#include <new>

#include "core/arena.hpp"
#include "core/endian.hpp"
#include "mmsb/allocator.hpp"
#include "state/tables.hpp"

namespace mmsb {
namespace state {

Ref<PageRecord> PageRecord::make(PageId id, PageType type, std::uint64_t size_bytes, Epoch epoch,
                                 std::span<const std::byte> initial, PayloadAllocator* allocator) {
  return make_indexed(id, type, size_bytes, epoch, initial,
                      core::payload_allocator_index(allocator));
}

Ref<PageRecord> PageRecord::make_indexed(PageId id, PageType type, std::uint64_t size_bytes,
                                         Epoch epoch, std::span<const std::byte> initial,
                                         std::uint8_t allocator_index) {
  MMSB_ASSERT(initial.empty() || initial.size() == size_bytes);
  static const std::uint8_t default_index =
      core::payload_allocator_index(&default_payload_allocator());
  const bool zero_backed = initial.empty() && size_bytes <= core::kZeroRegionBytes &&
                           allocator_index == default_index && core::zero_region() != nullptr;
  std::byte* data = nullptr;
  if (zero_backed) {
    data = const_cast<std::byte*>(core::zero_region());  // never written through (see above)
  } else {
    PayloadAllocator* const allocator = core::payload_allocator_at(allocator_index);
    data =
        initial.empty() ? allocator->allocate_zeroed(size_bytes) : allocator->allocate(size_bytes);
    if (data == nullptr) return nullptr;
    if (!initial.empty()) std::memcpy(data, initial.data(), size_bytes);
  }
  void* storage = core::arena_allocate(sizeof(PageRecord));
  if (storage == nullptr) {
    if (!zero_backed) core::payload_allocator_at(allocator_index)->deallocate(data, size_bytes);
    return nullptr;
  }
  auto* record = new (storage) PageRecord();
  record->id = id;
  record->type = type;
  record->size_bytes = size_bytes;
  record->epoch = epoch;
  record->data = data;
  record->allocator_index = allocator_index;
  return Ref<PageRecord>::adopt(record);
}

Ref<PageRecord> PageRecord::copy(PageId new_id) const {
  const std::span<const std::byte> initial = zero_backed() ? std::span<const std::byte>{} : bytes();
  Ref<PageRecord> record = make_indexed(new_id, type, size_bytes, epoch, initial, allocator_index);
  if (record) record->location = location;
  return record;
}

bool PageRecord::take_zero_block() {
  std::byte* block = allocator()->allocate_zeroed(size_bytes);
  if (block == nullptr) return false;
  data = block;
  return true;
}

Hash128 EdgeRecord::term() const {
  // id (8), kind (4), from (8), to (8): FORMAT.md.
  std::byte input[28];
  put_le<std::uint64_t>(input, edge.id.value());
  put_le<std::uint32_t>(input + 8, edge.kind);
  put_le<std::uint64_t>(input + 12, edge.from.value());
  put_le<std::uint64_t>(input + 20, edge.to.value());
  return xxh3_128(input);
}

Hash128 DerivationRecord::term() const {
  // child (8), function length (4), function bytes: FORMAT.md.
  Hasher128 hasher;
  hasher.update_u64(child.value());
  hasher.update_u32(static_cast<std::uint32_t>(function.size()));
  hasher.update(as_bytes(function));
  return hasher.digest();
}

Ref<TypeMembers::Marker> TypeMembers::marker() {
  static const TypeMembers::Marker shared;
  return Ref<TypeMembers::Marker>(const_cast<TypeMembers::Marker*>(&shared));
}

RetryList::RetryList(std::vector<PendingRetry> items_in) : items(std::move(items_in)) {
  // Per item: due (8), family (8), scope (8), attempt (4): FORMAT.md.
  Hasher128 hasher;
  for (const PendingRetry& retry : items) {
    hasher.update_u64(retry.due.value());
    hasher.update_u64(retry.family);
    hasher.update_u64(retry.scope.value());
    hasher.update_u32(retry.attempt);
  }
  hash = hasher.digest();
}

std::string page_not_found(PageId page) {
  return "page " + std::to_string(page.value()) + " does not exist";
}

Result<PageView> Tables::page(PageId page) const {
  const PageRecord* record = find_page(page);
  if (record == nullptr) return not_found(page_not_found(page));
  return record->view();
}

Result<Edge> Tables::edge(EdgeId edge) const {
  const EdgeRecord* record = edges.find(edge.value());
  if (record == nullptr) {
    return not_found("edge " + std::to_string(edge.value()) + " does not exist");
  }
  return record->edge;
}

std::vector<Edge> Tables::edges_of(PageId page) const {
  std::vector<Edge> out;
  if (const EdgeList* list = adjacency.find(page.value())) {
    out.reserve(list->ids.size());
    for (EdgeId id : list->ids) out.push_back(edges.find(id.value())->edge);
  }
  return out;
}

std::vector<PageId> Tables::data_parents(PageId child) const {
  std::vector<PageId> parents;
  if (const EdgeList* list = adjacency.find(child.value())) {
    for (EdgeId id : list->ids) {
      const Edge& edge = edges.find(id.value())->edge;
      if (edge.kind == kEdgeKindData && edge.to == child) parents.push_back(edge.from);
    }
  }
  return parents;
}

bool Tables::same_as(const Tables& other) const {
  return pages.same_as(other.pages) && edges.same_as(other.edges) &&
         derivations.same_as(other.derivations) && retries == other.retries &&
         next_page_id == other.next_page_id && next_edge_id == other.next_edge_id;
}

Hash128 compute_root(const Tables& tables, TickId tick) {
  Hasher128 hasher;
  hasher.update_string("mmsb:state-root:v4");
  hasher.update_u64(tick.value());
  hasher.update_u64(tables.next_page_id);
  hasher.update_u64(tables.next_edge_id);
  hasher.update_u64(tables.pages.size());
  hasher.update_u64(tables.edges.size());
  hasher.update_u64(tables.derivations.size());
  hasher.update_hash(tables.pages_sum.as_hash());
  hasher.update_hash(tables.edges_sum.as_hash());
  hasher.update_hash(tables.derivations_sum.as_hash());
  hasher.update_u64(tables.retries ? tables.retries->items.size() : 0);
  static const Hash128 no_retries = RetryList({}).hash;
  hasher.update_hash(tables.retries ? tables.retries->hash : no_retries);
  return hasher.digest();
}

namespace {

// A heap object's footprint: glibc's chunk (8 bytes of header, 16-byte granules).
constexpr std::uint64_t heap_block_bytes(std::size_t size_bytes) {
  return (size_bytes + 8 + 15) / 16 * 16;
}

template <typename T>
std::uint64_t node_bytes(const RadixMap<T>& map) {
  std::uint64_t bytes = 0;
  map.for_each_node([&](const RadixNode& node) {
    bytes += node.diff ? core::arena_block_bytes(sizeof(RadixDiff))
                       : heap_block_bytes(sizeof(RadixFull));
  });
  return bytes;
}

}  // namespace

MemoryUsage memory_usage(const Tables& tables) {
  MemoryUsage usage;
  usage.metadata_bytes = node_bytes(tables.pages) + node_bytes(tables.types);
  const std::uint64_t record_bytes = core::arena_block_bytes(sizeof(PageRecord));
  tables.pages.for_each([&](std::uint64_t, const PageRecord& page) {
    ++usage.pages;
    usage.payload_bytes += page.size_bytes;
    usage.metadata_bytes += record_bytes;  // a zero-backed page has no block yet
    if (!page.zero_backed())
      usage.metadata_bytes += core::payload_block_bytes(page.size_bytes) - page.size_bytes;
  });
  tables.types.for_each([&](std::uint64_t, const TypeMembers& members) {
    usage.metadata_bytes += heap_block_bytes(sizeof(TypeMembers)) + node_bytes(members.pages);
  });
  return usage;
}

const StateData& StateAccessors::data(const State& state) { return *state.data_; }

State StateAccessors::adopt(Ref<StateData> data) {
  data->ref();  // the reference State's constructor adopts
  return State(data.get());
}

std::uint64_t lineage_of(const State& state) { return StateAccessors::data(state).lineage; }

State with_new_lineage(const State& state) {
  static std::atomic<std::uint64_t> next{1};
  const StateData& from = StateAccessors::data(state);
  auto data = make_ref<StateData>();
  data->tables = from.tables;
  data->tick = from.tick;
  data->root = from.root;
  data->options = from.options;
  data->lineage = next.fetch_add(1, std::memory_order_relaxed);
  return StateAccessors::adopt(std::move(data));
}

namespace {

Ref<StateData> make_empty(const StateOptions& options) {
  auto data = make_ref<StateData>();
  data->options = options;
  if (data->options.allocator == nullptr) data->options.allocator = &default_payload_allocator();
  data->root = compute_root(data->tables, data->tick);
  return data;
}

const StateData* shared_empty() {
  // Never freed: handles to it may outlive static destruction.
  static const StateData* empty = [] {
    Ref<StateData> data = make_empty(StateOptions{});
    data->ref();
    return data.get();
  }();
  return empty;
}

}  // namespace
}  // namespace state

State::State() : data_(state::shared_empty()) { data_->ref(); }

State::State(const state::StateData* data) : data_(data) {}

Result<State> State::empty(const StateOptions& options) {
  if (options.page_size_max_bytes == 0 || options.page_size_max_bytes > kPageSizeHardMaxBytes) {
    return invalid_argument("state options: page_size_max_bytes " +
                            std::to_string(options.page_size_max_bytes) + " is outside [1, " +
                            std::to_string(kPageSizeHardMaxBytes) + "]");
  }
  return state::StateAccessors::adopt(state::make_empty(options));
}

State::State(const State& other) : data_(other.data_) { data_->ref(); }
State::State(State&& other) noexcept : data_(other.data_) { other.data_ = nullptr; }
State& State::operator=(const State& other) {
  if (this != &other) {
    other.data_->ref();
    if (data_ != nullptr) data_->unref();
    data_ = other.data_;
  }
  return *this;
}
State& State::operator=(State&& other) noexcept {
  std::swap(data_, other.data_);
  return *this;
}
State::~State() {
  if (data_ != nullptr) data_->unref();
}

TickId State::tick() const { return data_->tick; }
PageId State::next_page_id() const { return PageId(data_->tables.next_page_id); }
EdgeId State::next_edge_id() const { return EdgeId(data_->tables.next_edge_id); }
std::size_t State::page_count() const { return data_->tables.pages.size(); }
std::size_t State::edge_count() const { return data_->tables.edges.size(); }
const StateOptions& State::options() const { return data_->options; }
bool State::contains(PageId page) const { return data_->tables.find_page(page) != nullptr; }
Result<PageView> State::page(PageId page) const { return data_->tables.page(page); }

Result<std::span<const std::byte>> State::read(PageId page) const {
  return data_->tables.read(page);
}

Result<Edge> State::edge(EdgeId edge) const { return data_->tables.edge(edge); }
std::vector<Edge> State::edges_of(PageId page) const { return data_->tables.edges_of(page); }

void State::for_each_page(const std::function<void(const PageView&)>& visit) const {
  data_->tables.pages.for_each(
      [&](std::uint64_t, const state::PageRecord& record) { visit(record.view()); });
}

void State::for_each_edge(const std::function<void(const Edge&)>& visit) const {
  data_->tables.edges.for_each(
      [&](std::uint64_t, const state::EdgeRecord& record) { visit(record.edge); });
}

std::optional<Derivation> State::derivation(PageId child) const {
  const state::DerivationRecord* record = data_->tables.find_derivation(child);
  if (record == nullptr) return std::nullopt;
  return data_->tables.derivation(*record);
}

std::size_t State::derivation_count() const { return data_->tables.derivations.size(); }

std::size_t State::page_count_of_type(PageType type) const {
  const state::TypeMembers* members = data_->tables.types.find(type);
  return members == nullptr ? 0 : members->pages.size();
}

void State::for_each_page_of_type(PageType type, const std::function<void(PageId)>& visit) const {
  const state::TypeMembers* members = data_->tables.types.find(type);
  if (members == nullptr) return;
  members->pages.for_each([&](std::uint64_t id, const auto&) { visit(PageId(id)); });
}

std::span<const PendingRetry> State::pending_retries() const {
  const auto& retries = data_->tables.retries;
  if (!retries) return {};
  return retries->items;
}

void State::for_each_derivation(const std::function<void(const Derivation&)>& visit) const {
  data_->tables.derivations.for_each([&](std::uint64_t, const state::DerivationRecord& record) {
    visit(data_->tables.derivation(record));
  });
}

Hash128 State::root() const { return data_->root; }

Result<State> State::apply(const Delta& delta) const {
  Fork fork(*this);
  MMSB_RETURN_IF_ERROR(fork.apply(delta));
  return fork.commit();
}

Fork State::fork() const { return Fork(*this); }

}  // namespace mmsb

// How a ForkCore writes pages within a tick and seals it: the list of the tick's writes, the
// copy or claim of a page's record on its first write, the undo runs of writes in place,
// the root's terms of what each write changes, and the seal's comparison of what was
// written with what the tick found (docs/ARCHITECTURE.md "Fork and commit", "Claiming what
// nobody else reaches", "The state root").
#include <algorithm>
#include <bit>
#include <cstring>

#include "state/tables.hpp"

namespace mmsb::state {

namespace {

std::string range_text(std::uint64_t offset, std::uint64_t length) {
  return "[" + std::to_string(offset) + "," + std::to_string(offset + length) + ")";
}

// True if `record` differs from `write.previous` inside the hull written this tick.
bool hull_differs(const PageRecord& record, const TickWrite& write) {
  const PageRecord& previous = *write.previous;
  if (previous.size_bytes != record.size_bytes) return true;
  const std::uint64_t begin = std::min(write.begin, record.size_bytes);
  const std::uint64_t end = std::min(write.end, record.size_bytes);
  return begin < end && std::memcmp(previous.data + begin, record.data + begin, end - begin) != 0;
}

// The terms of the chunks of `page` that the runs of `delta` touch (every chunk if dense).
TermSum delta_content_terms(const PageRecord& page, const Delta& delta) {
  if (delta.encoding() == DeltaEncoding::kDense) return page.content_terms();
  TermSum sum;
  std::uint64_t next_chunk = 0;  // chunks below it are counted
  for (const DeltaRun& run : delta.runs()) {
    const std::uint64_t begin = std::max<std::uint64_t>(run.offset, next_chunk * kRootChunkBytes);
    if (begin >= run.end()) continue;
    sum.add(page_content_terms(page.id, page.bytes(), begin, run.end()));
    next_chunk = (run.end() + kRootChunkBytes - 1) / kRootChunkBytes;
  }
  return sum;
}

// Pages of up to this many bytes keep a later write's chunk terms pending (TickWrite::
// pending_chunks, one bit a chunk).
constexpr std::uint64_t kPendingPageBytesMax = 64 * kRootChunkBytes;

// The chunks [offset, end) touches, as bits (end > offset, end <= kPendingPageBytesMax).
std::uint64_t chunk_bits(std::uint64_t offset, std::uint64_t end) {
  const std::uint64_t first = offset / kRootChunkBytes;
  const std::uint64_t last = (end - 1) / kRootChunkBytes;
  return (~std::uint64_t{0} >> (63 - last)) & (~std::uint64_t{0} << first);
}

// The terms of `page`'s chunks in `chunks`.
TermSum chunk_terms(const PageRecord& page, std::uint64_t chunks) {
  TermSum sum;
  for (; chunks != 0; chunks &= chunks - 1) {
    const auto index = static_cast<std::uint64_t>(std::countr_zero(chunks));
    const std::uint64_t at = index * kRootChunkBytes;
    sum.add(page_chunk_term(
        page.id, index, page.bytes().subspan(at, std::min(kRootChunkBytes, page.size_bytes - at))));
  }
  return sum;
}

}  // namespace

void ForkCore::settle(TickWrite& write) {
  if (write.pending_chunks == 0) return;
  count_content(write, TermSum{}, chunk_terms(*write.current, write.pending_chunks));
  write.pending_chunks = 0;
}

bool ForkCore::differs(const PageRecord& page, const TickWrite& write) const {
  // Equal bytes have equal terms, so terms that moved prove a change without reading the
  // (by now cold) bytes; terms that did not move are compared byte by byte.
  if (!write.raw && write.pending_chunks == 0 && write.content_delta != TermSum{}) return true;
  if (write.in_place) return in_place_differs(page, write);
  return !write.previous || hull_differs(page, write);  // no previous: created in this tick
}

bool ForkCore::bytes_changed(PageId page) const {
  const PageRecord* record = tables_.find_page(page);
  const TickWrite* write = record != nullptr ? write_of(*record) : nullptr;
  return write != nullptr && differs(*record, *write);
}

PageRecord* ForkCore::page_at_tick_start(PageId page, const PageRecord* record) const {
  if (record != nullptr) {
    if (const TickWrite* write = write_of(*record)) {
      // Written in place: the same record (its epoch is the tick's; its bytes are once the
      // writes are undone).
      return write->in_place ? write->current : write->previous.get();
    }
  }
  if (page.value() >= tick_start_next_page_) return nullptr;  // new in this tick
  if (!installed_over_.empty()) {
    auto installed = installed_over_.find(page);
    if (installed != installed_over_.end()) return installed->second.get();
  }
  return const_cast<PageRecord*>(record);
}

std::optional<Epoch> ForkCore::epoch_at_tick_start(PageId page) const {
  const PageRecord* before = page_at_tick_start(page, tables_.find_page(page));
  if (before == nullptr) return std::nullopt;
  return before->epoch;
}

TermSum ForkCore::page_term(const PageRecord& record) {
  TermSum term;
  term.add(record.meta_term());
  TickWrite* write = write_of(record);
  if (write != nullptr) settle(*write);
  if (write == nullptr || !write->raw) term.add(record.content_terms());
  return term;
}

// The caller of own_page() may write anywhere: the page's content terms leave the pages sum
// until the seal puts back those of what it wrote.
PageRecord* ForkCore::make_raw(PageRecord& page) {
  TickWrite& write = writes_[page.tick_write];
  if (!write.raw) {
    settle(write);
    tables_.pages_sum.subtract(page.content_terms());
    write.raw = true;
  }
  return &page;
}

void ForkCore::count_content(TickWrite& write, const TermSum& before, const TermSum& after) {
  tables_.pages_sum.subtract(before);
  tables_.pages_sum.add(after);
  write.content_delta.subtract(before);
  write.content_delta.add(after);
}

void ForkCore::record_write(PageRecord& page, Ref<PageRecord> previous) {
  page.tick_write = static_cast<std::uint32_t>(writes_.size());
  TickWrite& write = writes_.emplace_back();
  write.id = page.id;
  write.current = &page;
  write.previous = std::move(previous);
}

void ForkCore::forget_write(const PageRecord* replaced) {
  if (replaced == nullptr) return;
  if (TickWrite* write = write_of(*replaced)) write->current = nullptr;
}

Status ForkCore::allocator_refused(const PageRecord& record) {
  return resource_exhausted("page " + std::to_string(record.id.value()) + ": allocator refused " +
                            std::to_string(record.size_bytes) + " bytes for its first write");
}

Result<PageRecord*> ForkCore::copy_into(OwnedSlot<PageRecord> slot, const PageRecord& record) {
  PageRecord* const at_start = page_at_tick_start(record.id, &record);
  Ref<PageRecord> copy = record.copy(record.id);
  if (!copy) {
    return resource_exhausted("page " + std::to_string(record.id.value()) + ": allocator refused " +
                              std::to_string(record.size_bytes) + " bytes for a copy");
  }
  MMSB_RETURN_IF_ERROR(make_writable(*copy));
  PageRecord* owned = copy.get();
  // The slot's reference to the record becomes the tick's reference to what it found (the
  // usual case: no count changes, so nothing writes the old record's line, which readers on
  // other processors may hold); otherwise the found record is referenced anew.
  Ref<PageRecord> replaced = slot.exchange(std::move(copy));
  record_write(*owned,
               replaced.get() == at_start ? std::move(replaced) : Ref<PageRecord>(at_start));
  return owned;
}

Result<PageRecord*> ForkCore::own_page(PageId page) {
  const PageRecord* record = tables_.find_page(page);
  if (record == nullptr) return not_found(page_not_found(page));
  changed_ = true;
  const TickWrite* write = write_of(*record);
  if (write != nullptr && !write->in_place) {
    // Made in this tick: a new page may still be zero-backed.
    MMSB_RETURN_IF_ERROR(make_writable(*write->current));
    return make_raw(*write->current);
  }
  OwnedSlot<PageRecord> slot = tables_.pages.own_slot(page.value(), token_);
  if (write == nullptr) {
    MMSB_ASSIGN_OR_RETURN(PageRecord * owned, copy_into(slot, *record));
    return make_raw(*owned);
  }
  // Written in place so far, and the caller may now write anywhere: it gets a copy (whose
  // previous is the claimed record), and the claimed record is put back as the tick found it.
  PageRecord* claimed = write->current;
  const std::size_t claimed_write = claimed->tick_write;
  settle(writes_[claimed_write]);  // make_raw takes the copy's terms out whole
  const std::uint64_t begin = write->begin;
  const std::uint64_t end = write->end;
  MMSB_ASSIGN_OR_RETURN(PageRecord * owned, copy_into(slot, *claimed));
  undo_in_place(*claimed, writes_[claimed_write]);
  writes_[claimed_write].current = nullptr;
  if (begin < end) mark_written(*owned, begin, end - begin);
  return make_raw(*owned);
}

Result<PageRecord*> ForkCore::write_target(const PageRecord& record, TickWrite* write,
                                           std::uint64_t offset, std::uint64_t length) {
  MMSB_DEBUG_ASSERT(write == write_of(record));
  changed_ = true;
  if (write != nullptr) {
    // Made in this tick: a new page may still be zero-backed.
    MMSB_RETURN_IF_ERROR(make_writable(*write->current));
    if (write->in_place) keep_undo(*write, record, offset, length);
    return write->current;
  }
  const PageId page = record.id;
  OwnedSlot<PageRecord> slot = tables_.pages.own_slot(page.value(), token_);
  // Claimed when the slot holds the only reference on a path only this fork reaches, and
  // the page is the one the tick found (not new in it, not installed over).
  const bool claimable = slot->ref_count() == 1 && page.value() < tick_start_next_page_ &&
                         (installed_over_.empty() || !installed_over_.contains(page));
  if (!claimable) return copy_into(slot, record);
  PageRecord* claimed = slot.get();
  MMSB_RETURN_IF_ERROR(make_writable(*claimed));
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

Status ForkCore::write(PageId page, std::uint64_t offset, std::span<const std::byte> bytes,
                       Epoch* epoch) {
  const PageRecord* record = tables_.find_page(page);
  if (record == nullptr) return not_found(page_not_found(page));
  if (epoch != nullptr) *epoch = record->epoch;
  if (offset > record->size_bytes || bytes.size() > record->size_bytes - offset) {
    return invalid_argument("page " + std::to_string(page.value()) + ": write " +
                            range_text(offset, bytes.size()) + " exceeds page size " +
                            std::to_string(record->size_bytes));
  }
  if (bytes.empty()) return Status::ok();
  const std::uint64_t end = offset + bytes.size();
  // How the write counts its chunks' terms follows from the page's write in this tick, if
  // any (write_target() returns that write's record; without one it makes a fresh write).
  TickWrite* earlier = write_of(*record);
  const bool raw = earlier != nullptr && earlier->raw;
  const bool pending = !raw && earlier != nullptr && earlier->begin < earlier->end &&
                       record->size_bytes <= kPendingPageBytesMax;
  // Otherwise the chunks' terms before, from the record found and before write_target():
  // a copy's bytes read back at once wait for its stores, and the record found may be one
  // installed in this tick, which its copy replaces in the slot and frees.
  const TermSum before =
      raw || pending ? TermSum{} : page_content_terms(page, record->bytes(), offset, end);
  MMSB_ASSIGN_OR_RETURN(PageRecord * owned, write_target(*record, earlier, offset, bytes.size()));
  TickWrite& written = writes_[owned->tick_write];
  if (pending) {
    // Written before in this tick: the chunks not pending yet leave the sums as they stand
    // and become pending; their terms come back once, at the seal (settle).
    const std::uint64_t chunks = chunk_bits(offset, end) & ~written.pending_chunks;
    count_content(written, chunk_terms(*owned, chunks), TermSum{});
    written.pending_chunks |= chunks;
  }
  std::memcpy(owned->data + offset, bytes.data(), bytes.size());
  if (!raw && !pending) {
    count_content(written, before, page_content_terms(page, owned->bytes(), offset, end));
  }
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
  // The terms below are the delta's chunks' as they stand, taken before write_target() (see
  // write()).
  TickWrite* earlier = write_of(*record);
  if (earlier != nullptr) settle(*earlier);
  const bool raw = earlier != nullptr && earlier->raw;
  const TermSum before = raw ? TermSum{} : delta_content_terms(*record, delta);
  MMSB_ASSIGN_OR_RETURN(PageRecord * owned, write_target(*record, earlier, begin, end - begin));
  TickWrite& written = writes_[owned->tick_write];
  Status applied = apply_delta(delta, owned->mutable_bytes());
  MMSB_ASSERT(applied.is_ok());  // validated above
  if (!raw) count_content(written, before, delta_content_terms(*owned, delta));
  mark_written(*owned, begin, end - begin);
  return Status::ok();
}

Hash128 ForkCore::seal(TickId tick) {
  for (TickWrite& write : writes_) {
    PageRecord* record = write.current;
    if (record == nullptr) continue;  // deleted or replaced since
    settle(write);
    if (write.raw) tables_.pages_sum.add(record->content_terms());
    if (!write.in_place && !write.previous) continue;  // created in this tick: epoch 0
    // A copy keeps the epoch the tick found, and so does a page written in place.
    if (differs(*record, write)) {
      tables_.pages_sum.subtract(record->meta_term());
      record->epoch = Epoch(record->epoch.value() + 1);
      tables_.pages_sum.add(record->meta_term());
    } else if (!write.in_place) {
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

}  // namespace mmsb::state

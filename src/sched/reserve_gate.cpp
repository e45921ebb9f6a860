#include "sched/reserve_gate.hpp"

#include <algorithm>

#include "sched/order.hpp"

namespace mmsb::sched {
namespace {

constexpr std::size_t kInitialSlots = 1024;  // a power of two

std::uint64_t slot_hash(std::uint64_t key, std::uint64_t key2) {
  return scope_hash(PageId(key ^ (key2 * 0x9e3779b97f4a7c15ull)));
}

}  // namespace

ReserveGate::HashMarks::HashMarks() : slots_(kInitialSlots), mask_(kInitialSlots - 1) {}

void ReserveGate::HashMarks::begin_tick(std::uint32_t generation) {
  if (generation == 1) {  // the counter wrapped: stamps from 2^32 ticks ago could match
    std::fill(slots_.begin(), slots_.end(), Slot{});
  }
  generation_ = generation;
  live_ = 0;
}

std::size_t ReserveGate::HashMarks::probe(std::uint64_t key, std::uint64_t key2) const {
  std::size_t i = slot_hash(key, key2) & mask_;
  for (;;) {
    const Slot& slot = slots_[i];
    if (slot.mark.generation != generation_ || (slot.key == key && slot.key2 == key2)) return i;
    i = (i + 1) & mask_;
  }
}

const ReserveGate::Mark* ReserveGate::HashMarks::find(std::uint64_t key,
                                                      std::uint64_t key2) const {
  const Slot& slot = slots_[probe(key, key2)];
  return slot.mark.generation == generation_ ? &slot.mark : nullptr;
}

ReserveGate::Mark& ReserveGate::HashMarks::mark(std::uint64_t key, std::uint64_t key2) {
  Slot& slot = slots_[probe(key, key2)];
  if (slot.mark.generation != generation_) {
    slot = Slot{key, key2, Mark{generation_, kReserved, kReserved}};
    ++live_;
  }
  return slot.mark;
}

void ReserveGate::HashMarks::reserve_room(std::size_t more) {
  if ((live_ + more) * 2 <= slots_.size()) return;
  std::size_t size = slots_.size();
  while ((live_ + more) * 2 > size) size *= 2;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(size, Slot{});
  mask_ = size - 1;
  live_ = 0;
  for (const Slot& slot : old) {
    if (slot.mark.generation == generation_) mark(slot.key, slot.key2) = slot.mark;
  }
}

void ReserveGate::IdMarks::begin_tick(std::uint32_t generation) {
  if (generation == 1) std::fill(dense_.begin(), dense_.end(), Mark{});
  generation_ = generation;
  sparse_.begin_tick(generation);
}

ReserveGate::Mark& ReserveGate::IdMarks::mark(std::uint64_t id) {
  if (id >= kDenseIdsMax) return sparse_.mark(id, 0);
  if (id >= dense_.size()) {
    dense_.resize(std::min<std::uint64_t>(kDenseIdsMax, std::max<std::uint64_t>(id + 1, 2 * dense_.size())));
  }
  Mark& mark = dense_[id];
  if (mark.generation != generation_) mark = Mark{generation_, kReserved, kReserved};
  return mark;
}

ReserveGate::ReserveGate() = default;

void ReserveGate::begin_tick() {
  generation_ = generation_ == 0xffffffffu ? 1 : generation_ + 1;
  pages_.begin_tick(generation_);
  edges_.begin_tick(generation_);
  ports_.begin_tick(generation_);
  mask_union_ = 0;
}

std::uint32_t ReserveGate::check(const Footprint& footprint, std::uint64_t& probes) const {
  for (const Port& port : footprint.ports) {
    ++probes;
    if (const Mark* mark = ports_.find(port.page.value(), port_key2(port))) return mark->writer;
  }
  for (EdgeId edge : footprint.edges_written) {
    ++probes;
    if (const Mark* mark = edges_.find(edge.value())) {
      return mark->writer != kReserved ? mark->writer : mark->reader;
    }
  }
  for (EdgeId edge : footprint.edges_read) {
    ++probes;
    const Mark* mark = edges_.find(edge.value());
    if (mark != nullptr && mark->writer != kReserved) return mark->writer;
  }
  for (PageId page : footprint.pages_written) {
    ++probes;
    if (const Mark* mark = pages_.find(page.value())) {
      return mark->writer != kReserved ? mark->writer : mark->reader;
    }
  }
  for (PageId page : footprint.pages_read) {
    ++probes;
    const Mark* mark = pages_.find(page.value());
    if (mark != nullptr && mark->writer != kReserved) return mark->writer;
  }
  return kReserved;
}

void ReserveGate::mark(const Footprint& footprint, std::uint32_t index) {
  ports_.reserve_room(footprint.ports.size());
  edges_.reserve_room(footprint.edges_read.size() + footprint.edges_written.size());
  pages_.reserve_room(footprint.pages_read.size() + footprint.pages_written.size());
  for (const Port& port : footprint.ports) ports_.mark(port.page.value(), port_key2(port)).writer = index;
  for (EdgeId edge : footprint.edges_written) edges_.mark(edge.value()).writer = index;
  for (EdgeId edge : footprint.edges_read) {
    Mark& mark = edges_.mark(edge.value());
    if (mark.reader == kReserved) mark.reader = index;
  }
  for (PageId page : footprint.pages_written) pages_.mark(page.value()).writer = index;
  for (PageId page : footprint.pages_read) {
    Mark& mark = pages_.mark(page.value());
    if (mark.reader == kReserved) mark.reader = index;
  }
}

void ReserveGate::prefetch(const Footprint& footprint) const {
  for (const PageId page : footprint.pages_written) pages_.prefetch(page.value());
  for (const PageId page : footprint.pages_read) pages_.prefetch(page.value());
}

std::uint32_t ReserveGate::reserve(const Footprint& footprint, std::uint32_t index,
                                   bool use_mask) {
  if (use_mask && (footprint.factor_mask & mask_union_) == 0) {
    ++counters_.mask_fast_path;
  } else if (const std::uint32_t blocker = check(footprint, counters_.probes);
             blocker != kReserved) {
    ++counters_.rejected;
    return blocker;
  }
  mark(footprint, index);
  mask_union_ |= footprint.factor_mask;
  ++counters_.reserved;
  return kReserved;
}

}  // namespace mmsb::sched

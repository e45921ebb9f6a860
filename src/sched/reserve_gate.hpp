// The reserve gate (docs/SEMANTICS.md "Rules and scheduling"): in canonical order, a
// candidate is reserved if its footprint is independent of every footprint reserved so far
// in the tick. It checks first and marks only on success, so a rejected candidate marks
// nothing. Cost is O(footprint): one probe per entry into generation-stamped hash tables,
// whose slots from earlier ticks count as empty, so starting a tick clears nothing.
//
// Thread-safety: one thread (the sequencer) at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "mmsb/rule.hpp"

namespace mmsb::sched {

class ReserveGate {
 public:
  static constexpr std::uint32_t kReserved = 0xffffffffu;

  struct Counters {
    std::uint64_t reserved = 0;
    std::uint64_t rejected = 0;
    std::uint64_t mask_fast_path = 0;  // reserved with no probe: mask disjoint from the tick's
    friend bool operator==(const Counters&, const Counters&) = default;
  };

  ReserveGate();

  // Forgets every reservation: O(1) (a generation bump).
  void begin_tick();
  // Reserves the normalized `footprint` for candidate `index` and returns kReserved, or
  // returns the index of a reserved candidate it conflicts with (marking nothing).
  // `use_mask` false skips the factor-mask fast path (for tests of that path).
  std::uint32_t reserve(const Footprint& footprint, std::uint32_t index, bool use_mask = true);

  const Counters& counters() const { return counters_; }

 private:
  // One marked page, edge or port: who writes it and the first who reads it.
  struct Slot {
    std::uint64_t key = 0;
    std::uint64_t key2 = 0;  // ports: id and direction; 0 for pages and edges
    std::uint32_t generation = 0;
    std::uint32_t writer = kReserved;
    std::uint32_t reader = kReserved;
  };
  class Table {
   public:
    Table();
    void begin_tick(std::uint32_t generation);
    const Slot* find(std::uint64_t key, std::uint64_t key2) const;
    Slot& find_or_insert(std::uint64_t key, std::uint64_t key2);
    void reserve_room(std::size_t more);

   private:
    std::size_t probe(std::uint64_t key, std::uint64_t key2) const;
    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    std::size_t live_ = 0;
    std::uint32_t generation_ = 1;
  };

  static std::uint64_t port_key2(const Port& port) {
    return (std::uint64_t{port.id} << 1) | static_cast<std::uint64_t>(port.direction) | (1ull << 63);
  }
  std::uint32_t check(const Footprint& footprint) const;
  void mark(const Footprint& footprint, std::uint32_t index);

  Table pages_;
  Table edges_;
  Table ports_;
  std::uint32_t generation_ = 1;
  std::uint64_t mask_union_ = 0;
  Counters counters_;
};

}  // namespace mmsb::sched

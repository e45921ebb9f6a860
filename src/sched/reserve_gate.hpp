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

#include "core/prefetch.hpp"
#include "mmsb/rule.hpp"

namespace mmsb::sched {

class ReserveGate {
 public:
  static constexpr std::uint32_t kReserved = 0xffffffffu;

  struct Counters {
    std::uint64_t reserved = 0;
    std::uint64_t rejected = 0;
    std::uint64_t mask_fast_path = 0;  // reserved with no probe: mask disjoint from the tick's
    std::uint64_t probes = 0;          // marks looked up (footprint entries checked)
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
  // Starts loading the marks reserve() will look up first for `footprint` (its pages'),
  // for a caller that knows the next footprints ahead of time.
  void prefetch(const Footprint& footprint) const;

 private:
  // Who writes a marked page, edge or port and the first who reads it; a mark from an
  // earlier generation (tick) counts as no mark.
  struct Mark {
    std::uint32_t generation = 0;
    std::uint32_t writer = kReserved;
    std::uint32_t reader = kReserved;
  };
  // Marks keyed by (key, key2), open addressing with linear probing.
  class HashMarks {
   public:
    HashMarks();
    void begin_tick(std::uint32_t generation);
    const Mark* find(std::uint64_t key, std::uint64_t key2) const;
    Mark& mark(std::uint64_t key, std::uint64_t key2);
    void reserve_room(std::size_t more);

   private:
    struct Slot {
      std::uint64_t key = 0;
      std::uint64_t key2 = 0;
      Mark mark;
    };
    std::size_t probe(std::uint64_t key, std::uint64_t key2) const;
    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    std::size_t live_ = 0;
    std::uint32_t generation_ = 1;
  };
  // Marks for page or edge ids: ids are dense (assigned in order from 1), so ids below
  // kDenseIdsMax index an array directly (12 bytes an id up to the largest id seen); larger
  // ones go to a hash table.
  class IdMarks {
   public:
    void begin_tick(std::uint32_t generation);
    const Mark* find(std::uint64_t id) const {
      if (id < dense_.size()) {
        const Mark& mark = dense_[id];
        return mark.generation == generation_ ? &mark : nullptr;
      }
      return id < kDenseIdsMax ? nullptr : sparse_.find(id, 0);
    }
    Mark& mark(std::uint64_t id);
    void reserve_room(std::size_t more) { sparse_.reserve_room(more); }
    void prefetch(std::uint64_t id) const {
      if (id < dense_.size()) core::prefetch(&dense_[id]);
    }

   private:
    std::vector<Mark> dense_;
    HashMarks sparse_;
    std::uint32_t generation_ = 1;
  };

 public:
  // Ids below this are marked in arrays rather than hash tables.
  static constexpr std::uint64_t kDenseIdsMax = std::uint64_t{1} << 22;

 private:
  static std::uint64_t port_key2(const Port& port) {
    return (std::uint64_t{port.id} << 1) | static_cast<std::uint64_t>(port.direction) | (1ull << 63);
  }
  // Adds the marks it looks up to `probes`.
  std::uint32_t check(const Footprint& footprint, std::uint64_t& probes) const;
  void mark(const Footprint& footprint, std::uint32_t index);

  IdMarks pages_;
  IdMarks edges_;
  HashMarks ports_;
  std::uint32_t generation_ = 1;
  std::uint64_t mask_union_ = 0;
  Counters counters_;
};

}  // namespace mmsb::sched

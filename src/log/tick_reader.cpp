#include "log/tick_reader.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "log/format.hpp"

namespace mmsb::log {

std::string LoggedTick::where() const { return at_byte(path, offset); }

namespace {

// Decodes the records of a log in order, each checked to chain to the one before.
class ChainDecoder {
 public:
  Status decode(std::span<const std::byte> payload, const std::string& path, std::uint64_t offset,
                LoggedTick& tick) {
    tick.path = path;  // into the slot's kept capacity: no allocation a record
    tick.offset = offset;
    tick.bytes = payload.size() + kFrameHeaderBytes;
    Status decoded = decode_tick_record(payload, tick.record);
    if (!decoded.is_ok()) return corruption(tick.where() + ": " + decoded.message());
    if (have_previous_ && tick.record.previous != previous_) {
      return corruption(tick.where() + ": tick " + std::to_string(tick.record.tick.value()) +
                        " does not chain to the record before it");
    }
    have_previous_ = true;
    previous_ = xxh3_128(payload);
    tick.hash = previous_;
    return Status::ok();
  }

 private:
  bool have_previous_ = false;
  Hash128 previous_;
};

// The records between the reading thread and the visiting one: a ring of slots, each a
// decoded record (or the error its decoding gave), their memory kept from record to record,
// and at most kBytesMax of records' frames in it unless one alone is larger. Either side that
// waits is woken only once the other has gone half way round the ring, so a side that keeps
// up never sleeps and one that does not sleeps once every few records (a wake-up on every
// record took 4-5% of BM_replay/16's time).
class Ring {
 public:
  struct Slot {
    LoggedTick tick;
    Status status;  // not ok: the record did not decode or chain
  };

  static constexpr std::uint64_t kBytesMax = 64 << 20;

  explicit Ring(std::size_t slots) : slots_(slots), half_(std::max<std::size_t>(1, slots / 2)) {}

  // Reader: the slot to fill next, once there is one; nullptr once the visitor has left.
  Slot* room() {
    std::unique_lock lock(mutex_);
    if (count_ == slots_.size() || (count_ > 0 && bytes_ >= kBytesMax)) {
      reader_waiting_ = true;
      room_.wait(lock, [&] { return left_ || room_again(); });
      reader_waiting_ = false;
    }
    return left_ ? nullptr : &slots_[(first_ + count_) % slots_.size()];
  }
  // Reader: the slot room() gave is filled.
  void publish() {
    std::lock_guard lock(mutex_);
    bytes_ += slots_[(first_ + count_) % slots_.size()].tick.bytes;
    ++count_;
    if (visitor_waiting_ && count_ >= half_) filled_.notify_one();
  }
  // Reader: no more slots; `status` is how the reading ended.
  void finish(Status status) {
    std::lock_guard lock(mutex_);
    finished_ = true;
    end_ = std::move(status);
    filled_.notify_one();
  }

  // Visitor: the oldest filled slot; nullptr once the reader has finished and all are seen.
  Slot* next() {
    std::unique_lock lock(mutex_);
    if (count_ == 0 && !finished_) {
      visitor_waiting_ = true;
      filled_.wait(lock, [&] { return finished_ || count_ >= half_; });
      visitor_waiting_ = false;
    }
    return count_ == 0 ? nullptr : &slots_[first_];
  }
  // Visitor: the slot next() gave is done with.
  void release() {
    std::lock_guard lock(mutex_);
    bytes_ -= slots_[first_].tick.bytes;
    first_ = (first_ + 1) % slots_.size();
    --count_;
    if (reader_waiting_ && room_again()) room_.notify_one();
  }
  // Visitor: it wants no more records decoded (read on, frames checked).
  void no_more() { no_more_.store(true, std::memory_order_relaxed); }
  bool wants_more() const { return !no_more_.load(std::memory_order_relaxed); }
  // Visitor: it has left; the reader stops at its next record.
  void leave() {
    std::lock_guard lock(mutex_);
    left_ = true;
    room_.notify_one();
  }
  // How the reading ended, once the reader's thread is joined.
  const Status& end() const { return end_; }

 private:
  // A reader that waited for room goes on: half the slots are free and half the bytes.
  bool room_again() const {
    return count_ == 0 || (slots_.size() - count_ >= half_ && bytes_ < kBytesMax / 2);
  }

  std::vector<Slot> slots_;
  const std::size_t half_;
  std::mutex mutex_;
  std::condition_variable room_;    // the reader waits on it
  std::condition_variable filled_;  // the visitor waits on it
  std::size_t first_ = 0;           // the oldest filled slot
  std::size_t count_ = 0;           // filled slots
  std::uint64_t bytes_ = 0;         // of their records' frames
  bool reader_waiting_ = false;
  bool visitor_waiting_ = false;
  bool finished_ = false;
  bool left_ = false;
  std::atomic<bool> no_more_{false};
  Status end_;
};

Status read_inline(Env& env, const std::string& log_dir, const TickVisitor& visit,
                   std::optional<TornTail>* torn) {
  ChainDecoder decoder;
  LoggedTick tick;  // every record is decoded into this one, its memory kept
  bool more = true;
  return read_log(
      env, log_dir,
      [&](std::span<const std::byte> payload, const std::string& path,
          std::uint64_t offset) -> Status {
        if (!more) return Status::ok();
        MMSB_RETURN_IF_ERROR(decoder.decode(payload, path, offset, tick));
        MMSB_ASSIGN_OR_RETURN(NextTick next, visit(tick));
        more = next == NextTick::kMore;
        return Status::ok();
      },
      torn);
}

// The reading thread's part: read_log, each record decoded into a slot of the ring.
void read_into(Env& env, const std::string& log_dir, Ring& ring, std::optional<TornTail>* torn) {
  ChainDecoder decoder;
  bool failed = false;  // a record did not decode or chain: none after it is decoded
  Status status = read_log(
      env, log_dir,
      [&](std::span<const std::byte> payload, const std::string& path,
          std::uint64_t offset) -> Status {
        if (failed || !ring.wants_more()) return Status::ok();
        Ring::Slot* slot = ring.room();
        if (slot == nullptr) return failed_precondition("the visitor of the records has left");
        slot->status = decoder.decode(payload, path, offset, slot->tick);
        failed = !slot->status.is_ok();
        ring.publish();
        return Status::ok();
      },
      torn);
  ring.finish(std::move(status));
}

// The visiting thread's part: every slot in order, until the end, an error or a record
// that did not decode (unless the visitor wanted no more by then).
Status visit_ring(Ring& ring, const TickVisitor& visit) {
  bool more = true;
  while (Ring::Slot* slot = ring.next()) {
    if (more) {
      MMSB_RETURN_IF_ERROR(slot->status);
      MMSB_ASSIGN_OR_RETURN(NextTick next, visit(slot->tick));
      if (next == NextTick::kNoMore) {
        more = false;
        ring.no_more();
      }
    }
    ring.release();
  }
  return Status::ok();
}

}  // namespace

Status read_tick_records(Env& env, const std::string& log_dir, std::size_t read_ahead,
                         const TickVisitor& visit, std::optional<TornTail>* torn) {
  if (read_ahead == 0) return read_inline(env, log_dir, visit, torn);
  Ring ring(read_ahead);
  std::thread reader([&] { read_into(env, log_dir, ring, torn); });
  Status visited = visit_ring(ring, visit);
  ring.leave();
  reader.join();
  MMSB_RETURN_IF_ERROR(visited);
  return ring.end();
}

}  // namespace mmsb::log

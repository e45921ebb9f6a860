// The log committer: appends the records of a batch's ticks, chained one to the next, then
// makes them durable with one flush or sync as the engine's durability asks (group commit).
// Used by the sequencer thread only (and by close() after the sequencer stopped).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "log/log_file.hpp"
#include "log/tick_record.hpp"
#include "mmsb/clock.hpp"
#include "mmsb/engine.hpp"

namespace mmsb::engine {

class LogCommitter {
 public:
  // `previous`: the hash of the last record in the log (zero for an empty log).
  LogCommitter(std::unique_ptr<log::LogWriter> writer, const Hash128& previous, Clock& clock,
               Durability durability);

  // Appends one tick's record, chained to the one appended before and stamped with its root
  // and wall time (metadata). A failed append or sync is sticky for the engine (no later
  // record is written), so the chain is never rolled back.
  Status append(log::TickRecord& record, const Hash128& root);
  // Ends a batch: one flush or sync for all it appended, as the durability asks.
  Status finish_batch();
  // Makes everything appended so far durable (before a checkpoint).
  Status sync();
  Status close();

  std::uint64_t bytes_written() const { return writer_->bytes_written(); }
  std::uint64_t syncs() const { return writer_->syncs(); }

 private:
  std::unique_ptr<log::LogWriter> writer_;
  Clock& clock_;
  Durability durability_;
  Hash128 previous_;  // hash of the last record appended
  std::vector<std::byte> buffer_;  // kept from record to record
};

}  // namespace mmsb::engine

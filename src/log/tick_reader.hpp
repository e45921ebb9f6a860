// Reading a log's tick records decoded: each record decoded and checked to chain to the one
// before it, on a thread of its own a few records ahead of the caller, who applies them
// (docs/ARCHITECTURE.md "Replay").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "log/log_file.hpp"
#include "log/tick_record.hpp"
#include "mmsb/hash.hpp"

namespace mmsb::log {

// One record of the log, decoded.
struct LoggedTick {
  TickRecord record;
  // Its file and byte, for messages (where(): at_byte's text, made only when asked for).
  std::string path;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;  // its frame's, header included
  Hash128 hash;             // of its payload: what the next record's `previous` names

  std::string where() const;
};

// What the visitor of read_tick_records asks for next.
enum class NextTick : std::uint8_t {
  kMore,
  // No more records: the log is still read to its end and its frames checked, as read_log
  // checks them, but no record after this one is decoded or visited.
  kNoMore,
};

using TickVisitor = std::function<Result<NextTick>(LoggedTick& tick)>;

// Calls `visit` on the caller's thread with every record of the log in order, decoded and
// checked to chain to the one before it. With `read_ahead` > 0, a thread of its own reads,
// decodes and checks up to that many records ahead of `visit`; with 0, the caller's thread
// does it all. Either way the outcome is the same: a record that does not decode or chain is
// Corruption naming its file and byte, returned once `visit` has seen every record before
// it; an error `visit` returns is returned as it is and ends the read; otherwise read_log's
// outcome (a torn tail in `*torn`, damage to the frames as Corruption).
Status read_tick_records(Env& env, const std::string& log_dir, std::size_t read_ahead,
                         const TickVisitor& visit, std::optional<TornTail>* torn);

}  // namespace mmsb::log

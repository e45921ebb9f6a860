// Reading and writing the write-ahead log: a directory of segment files
// (<dir>/<first tick>.seg) holding framed records (docs/FORMAT.md "Log segments").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "log/format.hpp"
#include "mmsb/env.hpp"
#include "mmsb/replay.hpp"

namespace mmsb::log {

struct SegmentFile {
  std::string name;
  TickId first_tick;
};

// Segment files of `log_dir` in tick order (other files are ignored); empty if the
// directory does not exist.
Result<std::vector<SegmentFile>> list_segments(Env& env, const std::string& log_dir);

// An incomplete record at the end of the last segment: what a crash mid-append leaves.
using TornTail = ::mmsb::TornTail;  // mmsb/replay.hpp

using RecordVisitor = std::function<Status(std::span<const std::byte> payload,
                                           const std::string& path, std::uint64_t offset)>;

// Calls `visit` for every valid record in order. A torn tail in the last segment ends the
// scan and is described in `*torn` (it is not an error; the caller truncates it). Any other
// damage (bad magic, a bad checksum with valid records after it, a record cut short in a
// segment that is not the last) is Corruption naming the file and byte offset.
Status read_log(Env& env, const std::string& log_dir, const RecordVisitor& visit,
                std::optional<TornTail>* torn);

// Zeros a log synced at every batch keeps ahead of its records (LogWriter::open).
inline constexpr std::uint64_t kSyncedLogPreallocateBytes = 1 << 20;

// Appends records to the log. One thread at a time.
class LogWriter {
 public:
  // Continues the last segment of `log_dir` (which must hold no torn tail), or starts a new
  // segment at the first append. With `preallocate_bytes`, the segment's file is given that
  // many zero bytes past its records (WritableFile::preallocate) whenever a record would
  // pass the last ones, so that a sync has the records to write and not the file's growth
  // (for logs synced often; records larger than that are appended as they are). A crash
  // leaves the zeros after the last record: a torn tail (docs/FORMAT.md).
  static Result<std::unique_ptr<LogWriter>> open(Env* env, std::string log_dir,
                                                 std::uint64_t segment_size_max_bytes,
                                                 std::uint64_t preallocate_bytes = 0);

  // Frames and writes one record for `tick`. Starts a new segment first when the current
  // one would pass its maximum size (the old one is synced and closed).
  Status append(TickId tick, std::span<const std::byte> payload);
  // Hands written records to the operating system.
  Status flush();
  // Makes written records durable (and any new segment file's directory entry).
  Status sync();
  Status close();

  std::uint64_t bytes_written() const { return bytes_written_; }
  std::uint64_t syncs() const { return syncs_; }
  // Times zeros were preallocated, and times the file refused them (the records are then
  // appended past the end as without preallocation: the appends report what is wrong).
  std::uint64_t preallocations() const { return preallocations_; }
  std::uint64_t preallocations_refused() const { return preallocations_refused_; }

 private:
  LogWriter(Env* env, std::string log_dir, std::uint64_t segment_size_max_bytes,
            std::uint64_t preallocate_bytes)
      : env_(env),
        log_dir_(std::move(log_dir)),
        segment_size_max_bytes_(segment_size_max_bytes),
        preallocate_bytes_(preallocate_bytes) {}
  Status start_segment(TickId first_tick);
  // Zeros ahead of a frame of `frame_bytes` about to be appended, if it would pass them.
  void preallocate_for(std::uint64_t frame_bytes);

  Env* env_;
  std::string log_dir_;
  std::uint64_t segment_size_max_bytes_;
  std::uint64_t preallocate_bytes_;
  std::uint64_t preallocated_ = 0;  // the current file's size with its zeros (0: none)
  std::unique_ptr<WritableFile> file_;
  std::vector<std::byte> frame_;
  bool directory_dirty_ = false;
  std::uint64_t bytes_written_ = 0;
  std::uint64_t syncs_ = 0;
  std::uint64_t preallocations_ = 0;
  std::uint64_t preallocations_refused_ = 0;
};

}  // namespace mmsb::log

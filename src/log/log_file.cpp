#include "log/log_file.hpp"

#include <algorithm>
#include <limits>

namespace mmsb::log {
namespace {

std::string join(const std::string& dir, const std::string& name) { return dir + "/" + name; }

// A segment file read front to back through one window of memory, reused from segment to
// segment: memory that is neither zeroed nor faulted in again, and stays in the caches.
// A record larger than the window grows it.
class SegmentReader {
 public:
  static constexpr std::size_t kWindowBytes = 4 << 20;

  explicit SegmentReader(std::vector<std::byte>& window) : window_(window) {}

  Status open(Env& env, const std::string& path) {
    MMSB_ASSIGN_OR_RETURN(file_, env.new_random_access_file(path));
    path_ = path;
    size_ = file_->size();
    begin_ = end_ = 0;
    return Status::ok();
  }
  std::uint64_t size() const { return size_; }

  // Bytes [at, at + length) of the file, which must be within it.
  Result<std::span<const std::byte>> bytes(std::uint64_t at, std::uint64_t length) {
    MMSB_ASSERT(at + length <= size_);
    if (at < begin_ || at + length > end_) {
      const std::uint64_t want =
          std::min(size_ - at, std::max<std::uint64_t>(length, kWindowBytes));
      if (window_.size() < want) window_.resize(want);
      const std::span<std::byte> into(window_.data(), want);
      MMSB_ASSIGN_OR_RETURN(std::size_t got, file_->read(at, into));
      if (got != want) {
        return io_error(path_ + ": read " + std::to_string(got) + " of " + std::to_string(want) +
                        " bytes at byte " + std::to_string(at));
      }
      begin_ = at;
      end_ = at + want;
    }
    return std::span<const std::byte>(window_.data() + (at - begin_), length);
  }

 private:
  std::vector<std::byte>& window_;
  std::unique_ptr<RandomAccessFile> file_;
  std::string path_;
  std::uint64_t size_ = 0;
  std::uint64_t begin_ = 0;  // the window holds the file's [begin_, end_)
  std::uint64_t end_ = 0;
};

// True if a valid frame (header and payload) starts anywhere in the file's [from, end).
Result<bool> valid_frame_after(SegmentReader& file, std::uint64_t from) {
  // Only on damage: the rest of the file is read whole.
  if (from >= file.size()) return false;
  MMSB_ASSIGN_OR_RETURN(std::span<const std::byte> rest, file.bytes(from, file.size() - from));
  for (std::uint64_t at = 0; at + kFrameHeaderBytes <= rest.size(); ++at) {
    FrameHeader header;
    if (!parse_frame_header(rest.data() + at, header)) continue;
    const std::uint64_t end = at + kFrameHeaderBytes + header.length;
    if (end <= rest.size() &&
        payload_matches(header, rest.subspan(at + kFrameHeaderBytes, header.length))) {
      return true;
    }
  }
  return false;
}

// Reads one segment. `last`: damage at the end may be a torn tail rather than corruption.
Status read_segment(Env& env, const std::string& path, TickId named, bool last,
                    const RecordVisitor& visit, std::optional<TornTail>* torn,
                    std::vector<std::byte>& window) {
  SegmentReader file(window);
  MMSB_RETURN_IF_ERROR(file.open(env, path));
  const std::uint64_t size = file.size();
  if (size < kSegmentHeaderBytes && last) {
    *torn = TornTail{path, 0, size};  // created, header never completed
    return Status::ok();
  }
  MMSB_ASSIGN_OR_RETURN(std::span<const std::byte> head,
                        file.bytes(0, std::min<std::uint64_t>(size, kSegmentHeaderBytes)));
  MMSB_ASSIGN_OR_RETURN(TickId first_tick, decode_segment_header(head, path));
  if (first_tick != named) {
    return corruption(path + ": its header says first tick " + std::to_string(first_tick.value()) +
                      ", its name " + std::to_string(named.value()) + " (renamed?)");
  }
  std::uint64_t at = kSegmentHeaderBytes;
  while (at < size) {
    // Damage at `at` in the last segment is a torn tail unless a valid frame follows it,
    // searched from `scan_from`.
    auto torn_here = [&](const char* what, std::uint64_t scan_from) -> Status {
      if (last) {
        MMSB_ASSIGN_OR_RETURN(bool valid_later, valid_frame_after(file, scan_from));
        if (!valid_later) {
          *torn = TornTail{path, at, size - at};
          return Status::ok();
        }
      }
      return corruption(at_byte(path, at) + ": " + what);
    };
    if (size - at < kFrameHeaderBytes) return torn_here("record header cut short", at + 1);
    MMSB_ASSIGN_OR_RETURN(std::span<const std::byte> frame, file.bytes(at, kFrameHeaderBytes));
    FrameHeader header;
    if (!parse_frame_header(frame.data(), header)) return torn_here("bad record header", at + 1);
    const std::uint64_t end = at + kFrameHeaderBytes + header.length;
    if (end > size) return torn_here("record extends past the end of the file", at + 1);
    MMSB_ASSIGN_OR_RETURN(std::span<const std::byte> payload,
                          file.bytes(at + kFrameHeaderBytes, header.length));
    if (!payload_matches(header, payload)) {
      // The header is whole (its checksum holds), so the frame ends at `end`: a crash that
      // cut it short left it ending at the file's end or inside the zeros the writer
      // preallocated after it. Its own payload is not searched for frames.
      return torn_here("record checksum mismatch", end);
    }
    MMSB_RETURN_IF_ERROR(visit(payload, path, at));
    at = end;
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<SegmentFile>> list_segments(Env& env, const std::string& log_dir) {
  MMSB_ASSIGN_OR_RETURN(std::vector<TickFile> files, list_tick_files(env, log_dir, ".seg"));
  std::vector<SegmentFile> segments;
  segments.reserve(files.size());
  for (TickFile& file : files) segments.push_back(SegmentFile{std::move(file.name), file.tick});
  return segments;
}

Status read_log(Env& env, const std::string& log_dir, const RecordVisitor& visit,
                std::optional<TornTail>* torn) {
  torn->reset();
  MMSB_ASSIGN_OR_RETURN(std::vector<SegmentFile> segments, list_segments(env, log_dir));
  std::vector<std::byte> window;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const bool last = i + 1 == segments.size();
    MMSB_RETURN_IF_ERROR(read_segment(env, join(log_dir, segments[i].name), segments[i].first_tick,
                                      last, visit, torn, window));
  }
  return Status::ok();
}

Result<std::unique_ptr<LogWriter>> LogWriter::open(Env* env, std::string log_dir,
                                                   std::uint64_t segment_size_max_bytes,
                                                   std::uint64_t preallocate_bytes) {
  MMSB_RETURN_IF_ERROR(env->create_dir(log_dir));
  std::unique_ptr<LogWriter> writer(
      new LogWriter(env, log_dir, segment_size_max_bytes, preallocate_bytes));
  MMSB_ASSIGN_OR_RETURN(std::vector<SegmentFile> segments, list_segments(*env, log_dir));
  if (!segments.empty()) {
    MMSB_ASSIGN_OR_RETURN(writer->file_,
                          env->new_appendable_file(join(log_dir, segments.back().name)));
  }
  return writer;
}

Status LogWriter::start_segment(TickId first_tick) {
  if (file_) {
    MMSB_RETURN_IF_ERROR(file_->sync());
    ++syncs_;
    MMSB_RETURN_IF_ERROR(file_->close());
    file_.reset();
  }
  std::string path = join(log_dir_, segment_file_name(first_tick));
  MMSB_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env_->new_writable_file(path));
  std::vector<std::byte> header;
  encode_segment_header(first_tick, header);
  MMSB_RETURN_IF_ERROR(file->append(header));
  file_ = std::move(file);
  preallocated_ = 0;
  directory_dirty_ = true;
  bytes_written_ += header.size();
  return Status::ok();
}

Status LogWriter::append(TickId tick, std::span<const std::byte> payload) {
  if (payload.size() > kRecordPayloadMaxBytes) {
    return resource_exhausted("tick " + std::to_string(tick.value()) + ": record of " +
                              std::to_string(payload.size()) + " bytes exceeds the limit of " +
                              std::to_string(kRecordPayloadMaxBytes));
  }
  const std::uint64_t frame_bytes = kFrameHeaderBytes + payload.size();
  if (!file_ || (file_->size() > kSegmentHeaderBytes &&
                 file_->size() + frame_bytes > segment_size_max_bytes_)) {
    MMSB_RETURN_IF_ERROR(start_segment(tick));
  }
  preallocate_for(frame_bytes);
  frame_.clear();
  append_frame(RecordType::kTick, payload, frame_);
  MMSB_RETURN_IF_ERROR(file_->append(frame_));
  bytes_written_ += frame_.size();
  return Status::ok();
}

void LogWriter::preallocate_for(std::uint64_t frame_bytes) {
  const std::uint64_t end = file_->size() + frame_bytes;
  if (preallocate_bytes_ == 0 || frame_bytes > preallocate_bytes_ || end <= preallocated_) return;
  // Within the segment's maximum, which a record alone may pass.
  const std::uint64_t want =
      std::min(end + preallocate_bytes_, std::max(segment_size_max_bytes_, end));
  if (file_->preallocate(want).is_ok()) {
    preallocated_ = want;
    ++preallocations_;
    return;
  }
  // Not the records' failure: they are appended past the end instead, for the rest of this
  // segment, and report what is wrong with the disk themselves.
  preallocated_ = std::numeric_limits<std::uint64_t>::max();
  ++preallocations_refused_;
}

Status LogWriter::flush() { return file_ ? file_->flush() : Status::ok(); }

Status LogWriter::sync() {
  if (!file_) return Status::ok();
  MMSB_RETURN_IF_ERROR(file_->sync());
  ++syncs_;
  if (directory_dirty_) {
    MMSB_RETURN_IF_ERROR(env_->sync_dir(log_dir_));
    directory_dirty_ = false;
  }
  return Status::ok();
}

Status LogWriter::close() {
  if (!file_) return Status::ok();
  Status status = file_->close();
  file_.reset();
  return status;
}

}  // namespace mmsb::log

#include "log/log_file.hpp"

namespace mmsb::log {
namespace {

std::string join(const std::string& dir, const std::string& name) { return dir + "/" + name; }

// True if a valid frame (header and payload) starts anywhere in bytes[from, end).
bool valid_frame_after(std::span<const std::byte> bytes, std::uint64_t from) {
  for (std::uint64_t at = from; at + kFrameHeaderBytes <= bytes.size(); ++at) {
    FrameHeader header;
    if (!parse_frame_header(bytes.data() + at, header)) continue;
    std::uint64_t end = at + kFrameHeaderBytes + header.length;
    if (end <= bytes.size() &&
        payload_matches(header, bytes.subspan(at + kFrameHeaderBytes, header.length))) {
      return true;
    }
  }
  return false;
}

// Reads one segment. `last`: damage at the end may be a torn tail rather than corruption.
Status read_segment(Env& env, const std::string& path, TickId named, bool last,
                    const RecordVisitor& visit, std::optional<TornTail>* torn) {
  MMSB_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, read_file(env, path));
  std::span<const std::byte> all(bytes);
  if (bytes.size() < kSegmentHeaderBytes && last) {
    *torn = TornTail{path, 0, bytes.size()};  // created, header never completed
    return Status::ok();
  }
  MMSB_ASSIGN_OR_RETURN(TickId first_tick, decode_segment_header(all, path));
  if (first_tick != named) {
    return corruption(path + ": its header says first tick " + std::to_string(first_tick.value()) +
                      ", its name " + std::to_string(named.value()) + " (renamed?)");
  }
  std::uint64_t at = kSegmentHeaderBytes;
  while (at < bytes.size()) {
    auto torn_here = [&](const char* what) -> Status {
      if (last && !valid_frame_after(all, at + 1)) {
        *torn = TornTail{path, at, bytes.size() - at};
        return Status::ok();
      }
      return corruption(at_byte(path, at) + ": " + what);
    };
    if (bytes.size() - at < kFrameHeaderBytes) return torn_here("record header cut short");
    FrameHeader header;
    if (!parse_frame_header(bytes.data() + at, header)) return torn_here("bad record header");
    const std::uint64_t end = at + kFrameHeaderBytes + header.length;
    if (end > bytes.size()) return torn_here("record extends past the end of the file");
    std::span<const std::byte> payload = all.subspan(at + kFrameHeaderBytes, header.length);
    if (!payload_matches(header, payload)) {
      if (last && end == bytes.size()) {
        *torn = TornTail{path, at, bytes.size() - at};
        return Status::ok();
      }
      return corruption(at_byte(path, at) + ": record checksum mismatch");
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
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const bool last = i + 1 == segments.size();
    MMSB_RETURN_IF_ERROR(read_segment(env, join(log_dir, segments[i].name), segments[i].first_tick,
                                      last, visit, torn));
  }
  return Status::ok();
}

Result<std::unique_ptr<LogWriter>> LogWriter::open(Env* env, std::string log_dir,
                                                   std::uint64_t segment_size_max_bytes) {
  MMSB_RETURN_IF_ERROR(env->create_dir(log_dir));
  std::unique_ptr<LogWriter> writer(new LogWriter(env, log_dir, segment_size_max_bytes));
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
  frame_.clear();
  append_frame(RecordType::kTick, payload, frame_);
  MMSB_RETURN_IF_ERROR(file_->append(frame_));
  bytes_written_ += frame_.size();
  return Status::ok();
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

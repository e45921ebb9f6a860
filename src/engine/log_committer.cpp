#include "engine/log_committer.hpp"

namespace mmsb::engine {

LogCommitter::LogCommitter(std::unique_ptr<log::LogWriter> writer, const Hash128& previous,
                           Clock& clock, Durability durability)
    : writer_(std::move(writer)),
      clock_(clock),
      durability_(durability),
      previous_(previous) {}

Status LogCommitter::append(log::TickRecord& record, const Hash128& root) {
  record.previous = previous_;
  record.root = root;
  record.wall_time_ns = clock_.now_ns();
  buffer_.clear();
  MMSB_RETURN_IF_ERROR(log::encode_tick_record(record, buffer_));
  MMSB_RETURN_IF_ERROR(writer_->append(record.tick, buffer_));
  previous_ = xxh3_128(buffer_);
  return Status::ok();
}

Status LogCommitter::finish_batch() {
  if (durability_ == Durability::kFlush) MMSB_RETURN_IF_ERROR(writer_->flush());
  if (durability_ == Durability::kFsync) MMSB_RETURN_IF_ERROR(writer_->sync());
  return Status::ok();
}

Status LogCommitter::sync() { return writer_->sync(); }

Status LogCommitter::close() { return writer_->close(); }

}  // namespace mmsb::engine

#include "log/fault_env.hpp"

#include <algorithm>

namespace mmsb::log {
namespace {

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultEnv* env, std::string path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  Status append(std::span<const std::byte> data) override {
    Status injected = env_->check("append", path_);
    if (!injected.is_ok()) {
      base_->append(data.first(data.size() / 2)).ignore();  // a short write
      return injected;
    }
    const std::uint64_t fits = env_->take_space(data.size());
    if (fits < data.size()) {
      base_->append(data.first(fits)).ignore();
      return io_error(path_ + ": append failed: no space left on device (injected)");
    }
    return base_->append(data);
  }
  Status flush() override {
    MMSB_RETURN_IF_ERROR(env_->check("flush", path_));
    return base_->flush();
  }
  Status sync() override {
    MMSB_RETURN_IF_ERROR(env_->check("sync", path_));
    MMSB_RETURN_IF_ERROR(base_->sync());
    env_->note_synced(path_, base_->size());
    return Status::ok();
  }
  // A call that may fail like the others; the zeros take no space from set_space_bytes()
  // (what a full disk refuses is the appends).
  Status preallocate(std::uint64_t size_bytes) override {
    MMSB_RETURN_IF_ERROR(env_->check("preallocate", path_));
    return base_->preallocate(size_bytes);
  }
  Status close() override {
    MMSB_RETURN_IF_ERROR(env_->check("close", path_));
    return base_->close();
  }
  std::uint64_t size() const override { return base_->size(); }

 private:
  FaultEnv* env_;
  std::string path_;
  std::unique_ptr<WritableFile> base_;
};

class FaultRandomAccessFile final : public RandomAccessFile {
 public:
  FaultRandomAccessFile(FaultEnv* env, std::string path, std::unique_ptr<RandomAccessFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> buffer) const override {
    MMSB_RETURN_IF_ERROR(env_->check("read", path_));
    return base_->read(offset, buffer);
  }
  std::uint64_t size() const override { return base_->size(); }

 private:
  FaultEnv* env_;
  std::string path_;
  std::unique_ptr<RandomAccessFile> base_;
};

}  // namespace

void FaultEnv::fail_call(std::uint64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  fail_at_ = n;
  failed_ = false;
}

void FaultEnv::fail_next(std::string what) {
  std::lock_guard<std::mutex> lock(mutex_);
  fail_next_ = std::move(what);
  failed_ = false;
}

void FaultEnv::set_space_bytes(std::optional<std::uint64_t> bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  space_bytes_ = bytes;
}

void FaultEnv::heal() {
  std::lock_guard<std::mutex> lock(mutex_);
  fail_at_ = 0;
  fail_next_.clear();
  sticky_ = false;
  failed_ = false;
  space_bytes_.reset();
}

std::uint64_t FaultEnv::take_space(std::uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!space_bytes_) return bytes;
  const std::uint64_t fits = std::min(bytes, *space_bytes_);
  *space_bytes_ -= fits;
  if (fits < bytes) ++failures_;
  return fits;
}

void FaultEnv::set_sticky(bool sticky) {
  std::lock_guard<std::mutex> lock(mutex_);
  sticky_ = sticky;
}

std::uint64_t FaultEnv::calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_;
}

std::uint64_t FaultEnv::failures() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failures_;
}

Status FaultEnv::check(const char* what, const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++calls_;
  const bool next_of_kind = !fail_next_.empty() && fail_next_ == what;
  if (next_of_kind) fail_next_.clear();
  if (calls_ == fail_at_ || next_of_kind || (sticky_ && failed_)) {
    failed_ = true;
    ++failures_;
    return io_error(path + ": " + what + " failed: injected fault at call " +
                    std::to_string(calls_));
  }
  return Status::ok();
}

void FaultEnv::note_synced(const std::string& path, std::uint64_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  synced_size_[path] = size;
}

Status FaultEnv::drop_unsynced() { return cut_unsynced(std::nullopt); }

Status FaultEnv::drop_unsynced(std::uint64_t seed) { return cut_unsynced(seed); }

Status FaultEnv::cut_unsynced(std::optional<std::uint64_t> seed) {
  std::map<std::string, std::uint64_t> synced;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    synced = synced_size_;
  }
  std::uint64_t draw = seed.value_or(0);
  for (const auto& [path, size] : synced) {
    if (!base_->file_exists(path)) continue;
    std::uint64_t kept = 0;  // of what was written after the last sync
    if (seed) {
      MMSB_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file,
                            base_->new_random_access_file(path));
      if (file->size() <= size) continue;
      draw = draw * 6364136223846793005ull + 1442695040888963407ull;  // one LCG step a file
      kept = (draw >> 33) % (file->size() - size + 1);
    }
    MMSB_RETURN_IF_ERROR(base_->truncate_file(path, size + kept));
  }
  return Status::ok();
}

Result<std::unique_ptr<WritableFile>> FaultEnv::wrap(const std::string& path,
                                                     Result<std::unique_ptr<WritableFile>> file) {
  if (!file.is_ok()) return file.status();
  std::unique_ptr<WritableFile> base = std::move(file).value();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    synced_size_[path] = base->size();
  }
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, path, std::move(base)));
}

Result<std::unique_ptr<WritableFile>> FaultEnv::new_writable_file(const std::string& path) {
  MMSB_RETURN_IF_ERROR(check("open", path));
  return wrap(path, base_->new_writable_file(path));
}

Result<std::unique_ptr<WritableFile>> FaultEnv::new_appendable_file(const std::string& path) {
  MMSB_RETURN_IF_ERROR(check("open", path));
  return wrap(path, base_->new_appendable_file(path));
}

Result<std::unique_ptr<RandomAccessFile>> FaultEnv::new_random_access_file(
    const std::string& path) {
  MMSB_RETURN_IF_ERROR(check("open", path));
  MMSB_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> base,
                        base_->new_random_access_file(path));
  return std::unique_ptr<RandomAccessFile>(new FaultRandomAccessFile(this, path, std::move(base)));
}

bool FaultEnv::file_exists(const std::string& path) { return base_->file_exists(path); }

Result<std::vector<std::string>> FaultEnv::list_dir(const std::string& dir) {
  MMSB_RETURN_IF_ERROR(check("list", dir));
  return base_->list_dir(dir);
}

Status FaultEnv::create_dir(const std::string& dir) {
  MMSB_RETURN_IF_ERROR(check("create directory", dir));
  return base_->create_dir(dir);
}

Status FaultEnv::remove_file(const std::string& path) {
  MMSB_RETURN_IF_ERROR(check("remove", path));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    synced_size_.erase(path);
  }
  return base_->remove_file(path);
}

Status FaultEnv::rename_file(const std::string& from, const std::string& to) {
  MMSB_RETURN_IF_ERROR(check("rename", from));
  MMSB_RETURN_IF_ERROR(base_->rename_file(from, to));
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = synced_size_.find(from);
  if (it != synced_size_.end()) {
    synced_size_[to] = it->second;
    synced_size_.erase(it);
  }
  return Status::ok();
}

Status FaultEnv::truncate_file(const std::string& path, std::uint64_t size_bytes) {
  MMSB_RETURN_IF_ERROR(check("truncate", path));
  MMSB_RETURN_IF_ERROR(base_->truncate_file(path, size_bytes));
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = synced_size_.find(path);
  if (it != synced_size_.end() && it->second > size_bytes) it->second = size_bytes;
  return Status::ok();
}

Status FaultEnv::sync_dir(const std::string& dir) {
  MMSB_RETURN_IF_ERROR(check("sync directory", dir));
  return base_->sync_dir(dir);
}

}  // namespace mmsb::log

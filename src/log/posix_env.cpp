// Env::posix(): the real file system, through POSIX calls. Every error names the path and
// the call, with the operating system's reason.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/arena.hpp"
#include "mmsb/env.hpp"

namespace mmsb {
namespace {

Status os_error(const std::string& what, const std::string& path, int error_number) {
  return io_error(path + ": " + what + " failed: " + std::strerror(error_number));
}

// Writes at its own position (the file's end when opened) rather than with O_APPEND, so
// that zeros preallocated past that position are written over, not appended after.
class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, std::uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size), allocated_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);  // without close(): preallocated zeros stay, as in a crash
  }

  Status append(std::span<const std::byte> data) override {
    Status written = write_at(size_, data, "write");  // a prefix written counts, as it stays
    allocated_ = std::max(allocated_, size_);
    return written;
  }

  Status flush() override { return Status::ok(); }  // append() already wrote to the OS

  Status sync() override {
    if (::fdatasync(fd_) != 0) return os_error("fdatasync", path_, errno);
    return Status::ok();
  }

  Status preallocate(std::uint64_t size_bytes) override {
    // Written, not fallocate()d: a block allocated unwritten is converted at its first write,
    // a change the next sync would have to make durable too.
    const std::byte* zeros = core::zero_region();
    if (zeros == nullptr || allocated_ >= size_bytes) return Status::ok();  // nothing to do
    while (allocated_ < size_bytes) {
      const std::uint64_t length =
          std::min<std::uint64_t>(core::kZeroRegionBytes, size_bytes - allocated_);
      std::uint64_t at = allocated_;
      allocated_ += length;  // counted before the write: close() drops a part written too
      MMSB_RETURN_IF_ERROR(write_at(at, std::span(zeros, length), "write (preallocate)"));
    }
    return sync();
  }

  Status close() override {
    if (fd_ < 0) return Status::ok();
    Status status = drop_preallocated();
    const int rc = ::close(fd_);
    fd_ = -1;
    if (status.is_ok() && rc != 0) status = os_error("close", path_, errno);
    return status;
  }

  std::uint64_t size() const override { return size_; }

 private:
  // Writes `data` at `offset`, which moves past each part written.
  Status write_at(std::uint64_t& offset, std::span<const std::byte> data, const char* what) {
    const std::byte* at = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      const ssize_t written = ::pwrite(fd_, at, left, static_cast<off_t>(offset));
      if (written < 0) {
        if (errno == EINTR) continue;
        return os_error(what, path_, errno);
      }
      at += written;
      offset += static_cast<std::uint64_t>(written);
      left -= static_cast<std::size_t>(written);
    }
    return Status::ok();
  }

  // The zeros past what was appended go, durably: a file closed has none.
  Status drop_preallocated() {
    if (allocated_ == size_) return Status::ok();
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0)
      return os_error("ftruncate", path_, errno);
    allocated_ = size_;
    return sync();
  }

  std::string path_;
  int fd_;
  std::uint64_t size_;       // where the next append writes
  std::uint64_t allocated_;  // the file's size: size_ and any preallocated zeros after it
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd, std::uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> buffer) const override {
    std::size_t done = 0;
    while (done < buffer.size()) {
      ssize_t got = ::pread(fd_, buffer.data() + done, buffer.size() - done,
                            static_cast<off_t>(offset + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        return os_error("pread", path_, errno);
      }
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

  std::uint64_t size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  std::uint64_t size_;
};

Result<std::uint64_t> fd_size(int fd, const std::string& path) {
  struct stat info;
  if (::fstat(fd, &info) != 0) return os_error("fstat", path, errno);
  return static_cast<std::uint64_t>(info.st_size);
}

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override {
    return open_writable(path, O_TRUNC);
  }

  Result<std::unique_ptr<WritableFile>> new_appendable_file(const std::string& path) override {
    return open_writable(path, 0);  // PosixWritableFile writes at the end it found
  }

  Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return not_found(path + ": no such file");
      return os_error("open", path, errno);
    }
    auto size = fd_size(fd, path);
    if (!size.is_ok()) {
      ::close(fd);
      return size.status();
    }
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, fd, *size));
  }

  bool file_exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    DIR* handle = ::opendir(dir.c_str());
    if (handle == nullptr) {
      if (errno == ENOENT) return not_found(dir + ": no such directory");
      return os_error("opendir", dir, errno);
    }
    std::vector<std::string> names;
    while (dirent* entry = ::readdir(handle)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(handle);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status create_dir(const std::string& dir) override {
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) return io_error(dir + ": create directory failed: " + error.message());
    return Status::ok();
  }

  Status remove_file(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return os_error("unlink", path, errno);
    return Status::ok();
  }

  Status rename_file(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return os_error("rename to " + to, from, errno);
    return Status::ok();
  }

  Status truncate_file(const std::string& path, std::uint64_t size_bytes) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size_bytes)) != 0) {
      return os_error("truncate", path, errno);
    }
    return Status::ok();
  }

  Status sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return os_error("open directory", dir, errno);
    int rc = ::fsync(fd);
    int error_number = errno;
    ::close(fd);
    if (rc != 0) return os_error("fsync directory", dir, error_number);
    return Status::ok();
  }

 private:
  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, int mode) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | mode, 0644);
    if (fd < 0) return os_error("open", path, errno);
    auto size = fd_size(fd, path);
    if (!size.is_ok()) {
      ::close(fd);
      return size.status();
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd, *size));
  }
};

}  // namespace

Env* Env::posix() {
  static auto* env = new PosixEnv();
  return env;
}

Result<std::vector<std::byte>> read_file(Env& env, const std::string& path) {
  MMSB_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file, env.new_random_access_file(path));
  std::vector<std::byte> bytes(file->size());
  MMSB_ASSIGN_OR_RETURN(std::size_t got, file->read(0, bytes));
  if (got != bytes.size()) {
    return io_error(path + ": read " + std::to_string(got) + " of " + std::to_string(bytes.size()) +
                    " bytes");
  }
  return bytes;
}

}  // namespace mmsb

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

#include "mmsb/env.hpp"

namespace mmsb {
namespace {

Status os_error(const std::string& what, const std::string& path, int error_number) {
  return io_error(path + ": " + what + " failed: " + std::strerror(error_number));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, std::uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status append(std::span<const std::byte> data) override {
    const std::byte* at = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      ssize_t written = ::write(fd_, at, left);
      if (written < 0) {
        if (errno == EINTR) continue;
        return os_error("write", path_, errno);
      }
      at += written;
      left -= static_cast<std::size_t>(written);
      size_ += static_cast<std::uint64_t>(written);
    }
    return Status::ok();
  }

  Status flush() override { return Status::ok(); }  // append() already wrote to the OS

  Status sync() override {
    if (::fdatasync(fd_) != 0) return os_error("fdatasync", path_, errno);
    return Status::ok();
  }

  Status close() override {
    if (fd_ < 0) return Status::ok();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return os_error("close", path_, errno);
    return Status::ok();
  }

  std::uint64_t size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  std::uint64_t size_;
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
    return open_writable(path, O_APPEND);
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

// Env: every file-system call mmsb makes goes through one of these (as in LevelDB), so tests
// can fail any read, write, sync or rename, cut writes short and drop unsynced data, and so
// an embedder can supply its own. Env::posix() is the real one.
//
// Thread-safety: an Env may be used from several threads; a file object by one at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mmsb/status.hpp"

namespace mmsb {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data` or returns IOError (some prefix may have been written).
  virtual Status append(std::span<const std::byte> data) = 0;
  // Hands appended data to the operating system (survives a process crash).
  virtual Status flush() = 0;
  // Makes appended data durable (survives a power loss): fdatasync.
  virtual Status sync() = 0;
  // Gives the file zero bytes on disk past what was appended, up to `size_bytes` in all,
  // durably, without moving where append() writes: a later sync() of data appended over
  // them then has no change of the file's size (or of its blocks' allocation) to make
  // durable as well, which on most file systems costs a second write. close() drops what is
  // left of them (durably); a crash leaves them after the appended bytes. An Env may do
  // nothing here (the default).
  virtual Status preallocate(std::uint64_t size_bytes) {
    (void)size_bytes;
    return Status::ok();
  }
  virtual Status close() = 0;
  // Bytes in the file, counting what this handle appended (not preallocated zeros).
  virtual std::uint64_t size() const = 0;
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to buffer.size() bytes at `offset`; fewer only at the end of the file.
  virtual Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> buffer) const = 0;
  virtual std::uint64_t size() const = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The operating system's file system. Never destroyed.
  static Env* posix();

  // Creates or truncates `path` for writing.
  virtual Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) = 0;
  // Opens `path` for appending at its end, creating it if needed.
  virtual Result<std::unique_ptr<WritableFile>> new_appendable_file(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(
      const std::string& path) = 0;

  virtual bool file_exists(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, sorted.
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;
  // Creates `dir` and missing parents; OK if it exists.
  virtual Status create_dir(const std::string& dir) = 0;
  virtual Status remove_file(const std::string& path) = 0;
  // Atomically replaces `to` with `from`.
  virtual Status rename_file(const std::string& from, const std::string& to) = 0;
  virtual Status truncate_file(const std::string& path, std::uint64_t size_bytes) = 0;
  // Makes the directory's entries (creations, renames, removals) durable.
  virtual Status sync_dir(const std::string& dir) = 0;
};

// Reads a whole file through `env`.
Result<std::vector<std::byte>> read_file(Env& env, const std::string& path);

}  // namespace mmsb

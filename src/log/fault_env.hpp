// FaultEnv: an Env for tests that wraps another and can fail any call, cut appends short
// and simulate a power loss by dropping everything not yet synced.
//
// Calls are numbered from 1 in the order they happen; fail_call(n) makes call n return
// IOError (an append that fails first writes half its data, a "short write"). A test walks
// n over every call of a workload, the SQLite way. fail_next("sync") fails the next call of
// one kind; set_space_bytes makes the disk fill up; drop_unsynced(seed) keeps a random part
// of what was not synced (a torn tail). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "mmsb/env.hpp"

namespace mmsb::log {

class FaultEnv final : public Env {
 public:
  explicit FaultEnv(Env* base) : base_(base) {}

  // Makes call number `n` fail (0: none). Counting continues across calls.
  void fail_call(std::uint64_t n);
  // Makes the next call of kind `what` ("append", "sync", "preallocate", "rename", ...) fail.
  void fail_next(std::string what);
  // Makes every call after the first failure fail too, as a dead disk would.
  void set_sticky(bool sticky);
  // A disk of `bytes` free space (nullopt: unlimited): an append past it writes what fits
  // and fails with IOError "no space left".
  void set_space_bytes(std::optional<std::uint64_t> bytes);
  // Ends every injection: no call fails from now on (counting goes on).
  void heal();
  std::uint64_t calls() const;
  std::uint64_t failures() const;

  // Power loss: every file written through this Env is cut back to what was last synced
  // (files opened for appending count their size at open as synced).
  Status drop_unsynced();
  // Power loss with torn writes: each file keeps what was synced plus a prefix of what was
  // not, its length drawn from `seed` (deterministic: files are visited by path).
  Status drop_unsynced(std::uint64_t seed);

  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> new_appendable_file(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(
      const std::string& path) override;
  bool file_exists(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  Status create_dir(const std::string& dir) override;
  Status remove_file(const std::string& path) override;
  Status rename_file(const std::string& from, const std::string& to) override;
  Status truncate_file(const std::string& path, std::uint64_t size_bytes) override;
  Status sync_dir(const std::string& dir) override;

  // Internal: called by the file wrappers.
  Status check(const char* what, const std::string& path);
  // How much of an append of `bytes` the disk takes (all of it unless it is full).
  std::uint64_t take_space(std::uint64_t bytes);
  void note_synced(const std::string& path, std::uint64_t size);

 private:
  // Cuts every file back to its synced size plus, with a seed, a drawn part of the rest.
  Status cut_unsynced(std::optional<std::uint64_t> seed);
  Result<std::unique_ptr<WritableFile>> wrap(const std::string& path,
                                             Result<std::unique_ptr<WritableFile>> file);

  Env* base_;
  mutable std::mutex mutex_;
  std::uint64_t calls_ = 0;
  std::uint64_t fail_at_ = 0;
  std::uint64_t failures_ = 0;
  bool sticky_ = false;
  bool failed_ = false;
  std::string fail_next_;
  std::optional<std::uint64_t> space_bytes_;
  std::map<std::string, std::uint64_t> synced_size_;  // ordered: drop_unsynced is deterministic
};

}  // namespace mmsb::log

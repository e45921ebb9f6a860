// An Env that keeps files in memory: for fuzz targets (no disk I/O per input) and for tests
// that want a file system they can inspect. Paths are plain keys; directories exist once
// created. Not thread-safe: one user at a time.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "mmsb/env.hpp"

namespace mmsb::test {

class MemoryEnv final : public Env {
 public:
  using Bytes = std::vector<std::byte>;

  void put_file(const std::string& path, std::span<const std::byte> bytes) {
    files_[path] = std::make_shared<Bytes>(bytes.begin(), bytes.end());
  }
  const Bytes* file(const std::string& path) const {
    auto it = files_.find(path);
    return it == files_.end() ? nullptr : it->second.get();
  }

  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override {
    auto bytes = std::make_shared<Bytes>();
    files_[path] = bytes;
    return std::unique_ptr<WritableFile>(new File(bytes));
  }
  Result<std::unique_ptr<WritableFile>> new_appendable_file(const std::string& path) override {
    auto& bytes = files_[path];
    if (!bytes) bytes = std::make_shared<Bytes>();
    return std::unique_ptr<WritableFile>(new File(bytes));
  }
  Result<std::unique_ptr<RandomAccessFile>> new_random_access_file(
      const std::string& path) override {
    auto it = files_.find(path);
    if (it == files_.end()) return Status(StatusCode::kNotFound, path + ": no such file");
    return std::unique_ptr<RandomAccessFile>(new Reader(it->second));
  }
  // Files, and directories: created ones and any that holds a file.
  bool file_exists(const std::string& path) override {
    if (files_.count(path) != 0 || dirs_.count(path) != 0) return true;
    auto after = files_.lower_bound(path + "/");
    return after != files_.end() && after->first.compare(0, path.size() + 1, path + "/") == 0;
  }
  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    std::vector<std::string> names;
    const std::string prefix = dir + "/";
    for (const auto& [path, bytes] : files_) {
      if (path.compare(0, prefix.size(), prefix) == 0 &&
          path.find('/', prefix.size()) == std::string::npos) {
        names.push_back(path.substr(prefix.size()));
      }
    }
    return names;  // std::map keeps them sorted
  }
  Status create_dir(const std::string& dir) override {
    dirs_.insert(dir);
    return Status::ok();
  }
  Status remove_file(const std::string& path) override {
    if (files_.erase(path) == 0) return Status(StatusCode::kNotFound, path + ": no such file");
    return Status::ok();
  }
  Status rename_file(const std::string& from, const std::string& to) override {
    auto it = files_.find(from);
    if (it == files_.end()) return Status(StatusCode::kNotFound, from + ": no such file");
    files_[to] = it->second;
    files_.erase(from);
    return Status::ok();
  }
  Status truncate_file(const std::string& path, std::uint64_t size_bytes) override {
    auto it = files_.find(path);
    if (it == files_.end()) return Status(StatusCode::kNotFound, path + ": no such file");
    it->second->resize(std::min<std::size_t>(it->second->size(), size_bytes));
    return Status::ok();
  }
  Status sync_dir(const std::string&) override { return Status::ok(); }

 private:
  class File final : public WritableFile {
   public:
    explicit File(std::shared_ptr<Bytes> bytes) : bytes_(std::move(bytes)) {}
    Status append(std::span<const std::byte> data) override {
      bytes_->insert(bytes_->end(), data.begin(), data.end());
      return Status::ok();
    }
    Status flush() override { return Status::ok(); }
    Status sync() override { return Status::ok(); }
    Status close() override { return Status::ok(); }
    std::uint64_t size() const override { return bytes_->size(); }

   private:
    std::shared_ptr<Bytes> bytes_;
  };
  class Reader final : public RandomAccessFile {
   public:
    explicit Reader(std::shared_ptr<Bytes> bytes) : bytes_(std::move(bytes)) {}
    Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> buffer) const override {
      if (offset >= bytes_->size()) return std::size_t{0};
      const std::size_t count = std::min<std::size_t>(buffer.size(), bytes_->size() - offset);
      std::copy_n(bytes_->begin() + static_cast<std::ptrdiff_t>(offset), count, buffer.begin());
      return count;
    }
    std::uint64_t size() const override { return bytes_->size(); }

   private:
    std::shared_ptr<Bytes> bytes_;
  };

  std::map<std::string, std::shared_ptr<Bytes>> files_;
  std::set<std::string> dirs_;
};

}  // namespace mmsb::test

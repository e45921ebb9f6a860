#include "log/checkpoint.hpp"

#include <cstring>

#include "core/byte_reader.hpp"
#include "log/format.hpp"
#include "state/tables.hpp"

namespace mmsb::log {
namespace {

constexpr std::size_t kWriteChunkBytes = 1 << 20;

// Streams bytes to a file in chunks while hashing them.
class HashingWriter {
 public:
  explicit HashingWriter(WritableFile& file) : file_(file) {}
  Status put(std::span<const std::byte> bytes) {
    hasher_update(bytes);
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    if (buffer_.size() >= kWriteChunkBytes) return drain();
    return Status::ok();
  }
  template <typename T>
  Status put_le_value(T value) {
    std::byte bytes[sizeof(T)];
    put_le<T>(bytes, value);
    return put(bytes);
  }
  Status drain() {
    Status status = file_.append(buffer_);
    buffer_.clear();
    return status;
  }
  std::uint64_t digest() const { return hash_.digest().low; }

 private:
  void hasher_update(std::span<const std::byte> bytes) { hash_.update(bytes); }
  WritableFile& file_;
  std::vector<std::byte> buffer_;
  Hasher128 hash_;
};

}  // namespace

std::string checkpoint_file_name(TickId tick) { return tick_file_name(tick, ".ckpt"); }

Result<TickId> parse_checkpoint_file_name(const std::string& name) {
  return parse_tick_file_name(name, ".ckpt", "checkpoint");
}

Status write_checkpoint(Env& env, const std::string& dir, const State& state) {
  MMSB_RETURN_IF_ERROR(env.create_dir(dir));
  const std::string path = dir + "/" + checkpoint_file_name(state.tick());
  const std::string temporary = path + ".tmp";
  MMSB_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env.new_writable_file(temporary));
  HashingWriter out(*file);
  std::vector<std::byte> header(kCheckpointHeaderBytes);
  std::memcpy(header.data(), kCheckpointMagic, 8);
  put_le<std::uint32_t>(header.data() + 8, kCheckpointVersion);
  put_le<std::uint32_t>(header.data() + 12, 0);
  put_le<std::uint64_t>(header.data() + 16, state.tick().value());
  put_le<std::uint64_t>(header.data() + 24, state.next_page_id().value());
  put_le<std::uint64_t>(header.data() + 32, state.next_edge_id().value());
  put_le<std::uint64_t>(header.data() + 40, state.page_count());
  put_le<std::uint64_t>(header.data() + 48, state.edge_count());
  put_le<std::uint64_t>(header.data() + 56, state.derivation_count());
  state.root().write_bytes(header.data() + 64);
  Status status = out.put(header);
  state.for_each_page([&](const PageView& page) {
    if (!status.is_ok()) return;
    std::byte fixed[40];
    put_le<std::uint64_t>(fixed, page.id.value());
    put_le<std::uint32_t>(fixed + 8, page.type);
    put_le<std::uint8_t>(fixed + 12, static_cast<std::uint8_t>(page.location));
    put_le<std::uint8_t>(fixed + 13, 0);
    put_le<std::uint16_t>(fixed + 14, 0);
    put_le<std::uint64_t>(fixed + 16, page.epoch.value());
    put_le<std::uint64_t>(fixed + 24, page.size_bytes);
    put_le<std::uint64_t>(fixed + 32, 0);
    status = out.put(fixed);
    if (status.is_ok()) status = out.put(page.bytes);
  });
  state.for_each_edge([&](const Edge& edge) {
    if (!status.is_ok()) return;
    std::byte fixed[32];
    put_le<std::uint64_t>(fixed, edge.id.value());
    put_le<std::uint32_t>(fixed + 8, edge.kind);
    put_le<std::uint32_t>(fixed + 12, 0);
    put_le<std::uint64_t>(fixed + 16, edge.from.value());
    put_le<std::uint64_t>(fixed + 24, edge.to.value());
    status = out.put(fixed);
  });
  state.for_each_derivation([&](const Derivation& derivation) {
    if (!status.is_ok()) return;
    std::byte fixed[16];
    put_le<std::uint64_t>(fixed, derivation.child.value());
    put_le<std::uint32_t>(fixed + 8, static_cast<std::uint32_t>(derivation.function.size()));
    put_le<std::uint32_t>(fixed + 12, 0);
    status = out.put(fixed);
    if (status.is_ok()) status = out.put(as_bytes(derivation.function));
  });
  const std::span<const PendingRetry> retries = state.pending_retries();
  if (status.is_ok()) status = out.put_le_value<std::uint64_t>(retries.size());
  for (const PendingRetry& retry : retries) {
    if (!status.is_ok()) break;
    std::byte fixed[32];
    put_le<std::uint64_t>(fixed, retry.due.value());
    put_le<std::uint64_t>(fixed + 8, retry.family);
    put_le<std::uint64_t>(fixed + 16, retry.scope.value());
    put_le<std::uint32_t>(fixed + 24, retry.attempt);
    put_le<std::uint32_t>(fixed + 28, 0);
    status = out.put(fixed);
  }
  MMSB_RETURN_IF_ERROR(status);
  MMSB_RETURN_IF_ERROR(out.drain());
  std::byte trailer[8];
  put_le<std::uint64_t>(trailer, out.digest());
  MMSB_RETURN_IF_ERROR(file->append(trailer));
  MMSB_RETURN_IF_ERROR(file->sync());
  MMSB_RETURN_IF_ERROR(file->close());
  MMSB_RETURN_IF_ERROR(env.rename_file(temporary, path));
  return env.sync_dir(dir);
}

namespace {

// The checkpoint's header fields after magic, version and reserved bytes.
struct CheckpointHeader {
  TickId tick;
  std::uint64_t next_page = 0, next_edge = 0, pages = 0, edges = 0, derivations = 0;
  Hash128 root;
};

// Reads a checkpoint's sections, in order, into a fork of the empty State; every failure
// is Corruption naming the file and byte.
class CheckpointReader {
 public:
  CheckpointReader(const std::string& path, const std::vector<std::byte>& bytes,
                   const StateOptions& options, const State& empty)
      : path_(path),
        bytes_(bytes),
        options_(options),
        fork_(empty),
        in_(std::span<const std::byte>(bytes.data(), bytes.size() - 8)) {}

  Status damaged(std::uint64_t offset, const std::string& what) const {
    return corruption(at_byte(path_, offset) + ": " + what);
  }
  Result<CheckpointHeader> header();
  Status pages(const CheckpointHeader& header);
  Status edges(const CheckpointHeader& header);
  Status derivations(const CheckpointHeader& header);
  Status retries();
  Result<State> finish(const CheckpointHeader& header);

 private:
  const std::string& path_;
  const std::vector<std::byte>& bytes_;
  const StateOptions& options_;
  state::ForkCore fork_;
  ByteReader in_;
};

Result<CheckpointHeader> CheckpointReader::header() {
  const std::byte* header = bytes_.data();
  if (std::memcmp(header, kCheckpointMagic, 8) != 0) return damaged(0, "not an mmsb checkpoint");
  if (get_le<std::uint32_t>(header + 8) != kCheckpointVersion)
    return damaged(8, "unsupported version " + std::to_string(get_le<std::uint32_t>(header + 8)) +
                          " (this build reads " + std::to_string(kCheckpointVersion) + ")");
  if (get_le<std::uint32_t>(header + 12) != 0)
    return damaged(12, "reserved header bytes are not 0");
  CheckpointHeader out;
  out.tick = TickId(get_le<std::uint64_t>(header + 16));
  out.next_page = get_le<std::uint64_t>(header + 24);
  out.next_edge = get_le<std::uint64_t>(header + 32);
  // Ids start at 1 (docs/SEMANTICS.md "Ids"), so the next ones are at least 1.
  if (out.next_page == 0) return damaged(24, "next page id 0");
  if (out.next_edge == 0) return damaged(32, "next edge id 0");
  out.pages = get_le<std::uint64_t>(header + 40);
  out.edges = get_le<std::uint64_t>(header + 48);
  out.derivations = get_le<std::uint64_t>(header + 56);
  out.root = read_hash_bytes(header + 64);
  in_.skip(kCheckpointHeaderBytes, "header");
  return out;
}

Status CheckpointReader::pages(const CheckpointHeader& header) {
  std::uint64_t previous_id = 0;
  for (std::uint64_t i = 0; i < header.pages && in_.ok(); ++i) {
    const std::size_t at = in_.offset();
    std::uint64_t id = 0, epoch = 0, size = 0, reserved_wide = 0;
    std::uint32_t type = 0;
    std::uint8_t location = 0, reserved_byte = 0;
    std::uint16_t reserved_short = 0;
    if (!(in_.read(id, "page id") && in_.read(type, "page type") &&
          in_.read(location, "location") && in_.read(reserved_byte, "reserved") &&
          in_.read(reserved_short, "reserved") && in_.read(epoch, "page epoch") &&
          in_.read(size, "page size") && in_.read(reserved_wide, "reserved"))) {
      break;
    }
    if (id <= previous_id || id >= header.next_page || size == 0 ||
        size > options_.page_size_max_bytes || location != 0 || reserved_byte != 0 ||
        reserved_short != 0 || reserved_wide != 0 || size > in_.remaining()) {
      return damaged(at, "invalid page entry " + std::to_string(i));
    }
    previous_id = id;
    auto record = state::PageRecord::make(PageId(id), type, size, Epoch(epoch),
                                          std::span(bytes_.data() + in_.offset(), size),
                                          fork_.options().allocator);
    if (!record)
      return resource_exhausted(path_ + ": allocator refused page " + std::to_string(id));
    in_.skip(size, "page bytes");
    fork_.install_page(std::move(record));
  }
  return Status::ok();
}

Status CheckpointReader::edges(const CheckpointHeader& header) {
  std::uint64_t previous_edge = 0;
  for (std::uint64_t i = 0; i < header.edges && in_.ok(); ++i) {
    const std::size_t at = in_.offset();
    std::uint64_t id = 0, from = 0, to = 0;
    std::uint32_t kind = 0, reserved = 0;
    if (!(in_.read(id, "edge id") && in_.read(kind, "edge kind") &&
          in_.read(reserved, "reserved") && in_.read(from, "edge from") &&
          in_.read(to, "edge to"))) {
      break;
    }
    if (id <= previous_edge || id >= header.next_edge || reserved != 0 ||
        fork_.tables().find_page(PageId(from)) == nullptr ||
        fork_.tables().find_page(PageId(to)) == nullptr) {
      return damaged(at, "invalid edge entry " + std::to_string(i));
    }
    previous_edge = id;
    fork_.install_edge(Edge{EdgeId(id), kind, PageId(from), PageId(to)});
  }
  return Status::ok();
}

Status CheckpointReader::derivations(const CheckpointHeader& header) {
  std::uint64_t previous_child = 0;
  for (std::uint64_t i = 0; i < header.derivations && in_.ok(); ++i) {
    const std::size_t at = in_.offset();
    std::uint64_t child = 0;
    std::uint32_t length = 0, reserved = 0;
    if (!(in_.read(child, "derivation child") && in_.read(length, "function name length") &&
          in_.read(reserved, "reserved"))) {
      break;
    }
    if (child <= previous_child || fork_.tables().find_page(PageId(child)) == nullptr ||
        length == 0 || length > kFunctionNameMaxBytes || reserved != 0 ||
        length > in_.remaining()) {
      return damaged(at, "invalid derivation entry " + std::to_string(i));
    }
    previous_child = child;
    std::string function(reinterpret_cast<const char*>(bytes_.data() + in_.offset()), length);
    in_.skip(length, "function name");
    fork_.set_derivation(PageId(child), function);
  }
  return Status::ok();
}

Status CheckpointReader::retries() {
  std::uint64_t retry_count = 0;
  if (in_.ok() && in_.read(retry_count, "retry count") && retry_count > in_.remaining() / 32) {
    return damaged(in_.offset() - 8,
                   "retry count " + std::to_string(retry_count) + " exceeds the file");
  }
  std::vector<PendingRetry> retries;
  for (std::uint64_t i = 0; i < retry_count && in_.ok(); ++i) {
    const std::size_t at = in_.offset();
    std::uint64_t due = 0, family = 0, scope = 0;
    std::uint32_t attempt = 0, reserved = 0;
    if (!(in_.read(due, "retry due") && in_.read(family, "retry family") &&
          in_.read(scope, "retry scope") && in_.read(attempt, "retry attempt") &&
          in_.read(reserved, "reserved"))) {
      break;
    }
    PendingRetry retry{TickId(due), family, PageId(scope), attempt};
    // A retry may be due at or before the checkpoint's tick (one due at a merge tick waits
    // for the next transaction tick), and equal entries may repeat (the same rule and scope
    // deferred in two ticks to the same due tick): docs/SEMANTICS.md "Rules and scheduling".
    if (due == 0 || attempt < 2 || reserved != 0 || (!retries.empty() && retry < retries.back())) {
      return damaged(at, "invalid retry entry " + std::to_string(i));
    }
    retries.push_back(retry);
  }
  fork_.set_retries(std::move(retries));
  return Status::ok();
}

Result<State> CheckpointReader::finish(const CheckpointHeader& header) {
  if (!in_.ok()) return damaged(in_.offset(), in_.error());
  if (in_.remaining() != 0) return damaged(in_.offset(), "trailing bytes");
  fork_.set_counters(header.next_page, header.next_edge);
  State state = fork_.commit_as(header.tick);
  if (state.root() != header.root) {
    return damaged(64, "root " + state.root().to_hex() + " does not match the recorded " +
                           header.root.to_hex());
  }
  return state;
}

}  // namespace

Result<State> load_checkpoint(Env& env, const std::string& path, const StateOptions& options) {
  MMSB_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, read_file(env, path));
  if (bytes.size() < kCheckpointHeaderBytes + 8) {
    return corruption(at_byte(path, bytes.size()) + ": checkpoint cut short");
  }
  const std::size_t body = bytes.size() - 8;
  Hasher128 hasher;
  hasher.update({bytes.data(), body});
  if (get_le<std::uint64_t>(bytes.data() + body) != hasher.digest().low) {
    return corruption(at_byte(path, body) + ": checkpoint checksum mismatch");
  }
  MMSB_ASSIGN_OR_RETURN(State empty, State::empty(options));
  CheckpointReader reader(path, bytes, options, empty);
  MMSB_ASSIGN_OR_RETURN(CheckpointHeader header, reader.header());
  MMSB_RETURN_IF_ERROR(reader.pages(header));
  MMSB_RETURN_IF_ERROR(reader.edges(header));
  MMSB_RETURN_IF_ERROR(reader.derivations(header));
  MMSB_RETURN_IF_ERROR(reader.retries());
  return reader.finish(header);
}

Result<std::vector<TickId>> list_checkpoints(Env& env, const std::string& dir) {
  MMSB_ASSIGN_OR_RETURN(std::vector<TickFile> files, list_tick_files(env, dir, ".ckpt"));
  std::vector<TickId> ticks;
  ticks.reserve(files.size());
  for (const TickFile& file : files) ticks.push_back(file.tick);
  return ticks;
}

}  // namespace mmsb::log

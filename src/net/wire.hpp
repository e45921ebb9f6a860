// The wire protocol (docs/FORMAT.md "Wire protocol"): frames, their types and the codecs
// of every request and answer, shared by the server and the client. Encoders append one
// whole frame to a buffer (so a connection's output buffer is written in place, with no
// allocation once it has grown); decoders read a frame's body from bytes that came from the
// network and say what is wrong, naming the field and byte, without reading past the end.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_reader.hpp"
#include "mmsb/client.hpp"
#include "mmsb/engine.hpp"
#include "mmsb/hash.hpp"
#include "mmsb/packet.hpp"
#include "mmsb/tick_record.hpp"

namespace mmsb::net {

inline constexpr std::uint32_t kHelloMagic = 0x42534d4d;  // "MMSB" little-endian
inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kFrameHeaderBytes = 16;
inline constexpr std::uint8_t kAnswerBit = 0x80;
// Most pages one READ names, events one EVENT frame carries, packets one INGEST carries.
inline constexpr std::uint32_t kReadPagesMax = 1u << 16;
inline constexpr std::uint32_t kIngestPacketsMax = 1u << 16;
inline constexpr std::uint32_t kTokenBytesMax = 4096;
inline constexpr std::uint32_t kErrorMessageBytesMax = 1u << 16;

enum class FrameType : std::uint8_t {
  kHello = 1,
  kCommit = 2,
  kRead = 3,
  kPin = 4,
  kUnpin = 5,
  kFork = 6,
  kMerge = 7,
  kDropFork = 8,
  kSubscribe = 9,
  kUnsubscribe = 10,
  kIngest = 11,
  kStats = 12,
  kCheckpoint = 13,
  kReplay = 14,
  kRequestLast = kReplay,
  kEvent = 0x40,  // server-pushed, with the id of the SUBSCRIBE that asked for it
  kError = 0xFF,  // the answer to a request that failed
};
std::string_view frame_type_name(FrameType type);
inline FrameType answer_to(FrameType request) {
  return static_cast<FrameType>(static_cast<std::uint8_t>(request) | kAnswerBit);
}

struct FrameHeader {
  std::uint32_t length = 0;  // body bytes after the header
  FrameType type = FrameType::kHello;
  std::uint64_t id = 0;  // the request's, chosen by the client; answers carry it back
};

// Decodes a frame header. InvalidArgument naming what is wrong: non-zero flags or reserved
// bytes, or a body longer than `frame_bytes_max` (ResourceExhausted, naming the limit).
Result<FrameHeader> decode_header(std::span<const std::byte, kFrameHeaderBytes> bytes,
                                  std::uint32_t frame_bytes_max);

// Appends one frame to `out`: the header now, the body through the append_* calls, the
// length when finish() is called.
class FrameWriter {
 public:
  FrameWriter(std::vector<std::byte>& out, FrameType type, std::uint64_t id);
  template <typename T>
  FrameWriter& put(T value) {
    const std::size_t at = out_.size();
    out_.resize(at + sizeof(T));
    put_le<T>(out_.data() + at, value);
    return *this;
  }
  FrameWriter& bytes(std::span<const std::byte> bytes);
  FrameWriter& hash(const Hash128& hash);
  FrameWriter& string(std::string_view text);  // u32 length, then the bytes
  std::vector<std::byte>& out() { return out_; }
  void finish();

 private:
  std::vector<std::byte>& out_;
  std::size_t start_;
};

// --- requests (client to server) ---

struct Hello {
  std::uint16_t version = kProtocolVersion;
  std::string token;
};
struct Commit {
  std::uint64_t fork = 0;  // 0: the engine; otherwise a fork of this connection
  std::vector<log::Op> ops;
};
struct Read {
  std::uint64_t tick = 0;  // 0: the current state; otherwise a tick this connection pinned
  std::uint64_t fork = 0;  // non-zero: read this connection's fork (tick must be 0)
  std::vector<PageId> pages;
};
struct Merge {
  std::uint64_t fork = 0;
  MergePolicy policy = MergePolicy::kFail;
};
struct Subscribe {
  std::uint32_t types = 0xF;
  std::vector<PageId> pages;
};
struct Replay {
  std::uint64_t to = 0;  // 0: the current tick
  bool reexecute = false;
};

void encode_hello(std::vector<std::byte>& out, std::uint64_t id, const Hello& hello);
// `fork` and `ops` as Commit holds them (no copy of the ops).
[[nodiscard]] Status encode_commit(std::vector<std::byte>& out, std::uint64_t id,
                                   std::uint64_t fork, const std::vector<log::Op>& ops);
void encode_read(std::vector<std::byte>& out, std::uint64_t id, const Read& read);
void encode_merge(std::vector<std::byte>& out, std::uint64_t id, const Merge& merge);
void encode_subscribe(std::vector<std::byte>& out, std::uint64_t id, const Subscribe& subscribe);
void encode_replay(std::vector<std::byte>& out, std::uint64_t id, const Replay& replay);
// PIN, FORK, STATS, CHECKPOINT (empty body); UNPIN, DROP_FORK, UNSUBSCRIBE (one u64).
void encode_empty(std::vector<std::byte>& out, FrameType type, std::uint64_t id);
void encode_u64(std::vector<std::byte>& out, FrameType type, std::uint64_t id, std::uint64_t value);
// Packets: topic and inline payload of each (at most kPacketInlineBytes).
void encode_ingest(std::vector<std::byte>& out, std::uint64_t id, std::span<const Packet> packets);

// Decoders: InvalidArgument naming the frame, the field and the byte.
Status decode_hello(std::span<const std::byte> body, Hello& hello);
Status decode_commit(std::span<const std::byte> body, Commit& commit);
Status decode_read(std::span<const std::byte> body, Read& read);
Status decode_merge(std::span<const std::byte> body, Merge& merge);
Status decode_subscribe(std::span<const std::byte> body, Subscribe& subscribe);
Status decode_replay(std::span<const std::byte> body, Replay& replay);
Status decode_empty(std::span<const std::byte> body, FrameType type);
Status decode_u64(std::span<const std::byte> body, FrameType type, std::uint64_t& value);
// Into `packets` (resized; its capacity is kept from call to call).
Status decode_ingest(std::span<const std::byte> body, std::vector<Packet>& packets);

// --- answers (server to client) ---

struct HelloOk {
  std::uint16_t version = kProtocolVersion;
  std::uint64_t tick = 0;
  std::uint32_t frame_bytes_max = 0;
  std::uint32_t in_flight_max = 0;
  std::uint32_t pins_max = 0;
};
struct PageAnswer {
  StatusCode code = StatusCode::kOk;  // kNotFound: no such page (the rest is zero)
  PageType type = 0;
  Epoch epoch;
  std::span<const std::byte> bytes;  // into the frame being decoded
};
struct ReadOk {
  std::uint64_t tick = 0;
  std::vector<PageAnswer> pages;
};
struct TickRoot {  // PIN, REPLAY (with ticks applied), CHECKPOINT (root zero)
  std::uint64_t tick = 0;
  Hash128 root;
  std::uint64_t count = 0;  // REPLAY: ticks applied; FORK: the fork's id
};
struct StatsEntry {
  std::string name;
  double value = 0;
  bool counter = true;  // only ever grows (else a gauge)
};
struct ErrorAnswer {
  StatusCode code = StatusCode::kInternal;
  bool fatal = false;  // the server closes the connection after it
  std::string message;
};

void encode_hello_ok(std::vector<std::byte>& out, std::uint64_t id, const HelloOk& hello);
void encode_commit_ok(std::vector<std::byte>& out, std::uint64_t id, const CommitInfo& info);
// READ's answer: tick (8) and count (4), then per page a header of this size and its bytes.
inline constexpr std::size_t kReadOkBytes = 12;
inline constexpr std::size_t kReadPageHeaderBytes = 1 + 4 + 8 + 8;
// READ's answer is written page by page: begin, then one add per page, then finish().
class ReadOkWriter {
 public:
  ReadOkWriter(std::vector<std::byte>& out, std::uint64_t id, std::uint64_t tick,
               std::uint32_t pages);
  void add(const Result<PageView>& page);
  void finish() { frame_.finish(); }

 private:
  FrameWriter frame_;
};
void encode_tick_root(std::vector<std::byte>& out, FrameType request, std::uint64_t id,
                      const TickRoot& answer);
void encode_merge_ok(std::vector<std::byte>& out, std::uint64_t id, const MergeResult& merge);
// The verdicts of the packets that entered the ring, then `refused` times kRefused.
void encode_ingest_ok(std::vector<std::byte>& out, std::uint64_t id, std::uint64_t first_sequence,
                      std::span<const PacketVerdict> verdicts, std::size_t refused);
void encode_stats_ok(std::vector<std::byte>& out, std::uint64_t id,
                     std::span<const StatsEntry> entries);
void encode_event(std::vector<std::byte>& out, std::uint64_t id, const EventBatch& batch,
                  std::uint64_t dropped_before);
void encode_error(std::vector<std::byte>& out, std::uint64_t id, const Status& status, bool fatal);

Status decode_hello_ok(std::span<const std::byte> body, HelloOk& hello);
Status decode_commit_ok(std::span<const std::byte> body, CommitInfo& info);
Status decode_read_ok(std::span<const std::byte> body, ReadOk& read);
Status decode_tick_root(std::span<const std::byte> body, FrameType request, TickRoot& answer);
Status decode_merge_ok(std::span<const std::byte> body, RemoteMerge& merge);
Status decode_ingest_ok(std::span<const std::byte> body, RemoteIngest& ingest);
Status decode_stats_ok(std::span<const std::byte> body, std::vector<StatsEntry>& entries);
Status decode_event(std::span<const std::byte> body, EventBatch& batch);
Status decode_error(std::span<const std::byte> body, ErrorAnswer& error);

// EngineStats as named values, in a fixed order (STATS answers and /metrics).
std::vector<StatsEntry> stats_entries(const EngineStats& stats);

}  // namespace mmsb::net

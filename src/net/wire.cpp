#include "net/wire.hpp"

#include <cstring>

#include "core/endian.hpp"
#include "log/tick_record.hpp"
#include "net/body_reader.hpp"

namespace mmsb::net {

using detail::BodyReader;
using detail::put_ids;

std::string_view frame_type_name(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kCommit:
      return "COMMIT";
    case FrameType::kRead:
      return "READ";
    case FrameType::kPin:
      return "PIN";
    case FrameType::kUnpin:
      return "UNPIN";
    case FrameType::kFork:
      return "FORK";
    case FrameType::kMerge:
      return "MERGE";
    case FrameType::kDropFork:
      return "DROP_FORK";
    case FrameType::kSubscribe:
      return "SUBSCRIBE";
    case FrameType::kUnsubscribe:
      return "UNSUBSCRIBE";
    case FrameType::kIngest:
      return "INGEST";
    case FrameType::kStats:
      return "STATS";
    case FrameType::kCheckpoint:
      return "CHECKPOINT";
    case FrameType::kReplay:
      return "REPLAY";
    case FrameType::kEvent:
      return "EVENT";
    case FrameType::kError:
      return "ERROR";
  }
  const auto raw = static_cast<std::uint8_t>(type);
  if ((raw & kAnswerBit) != 0 && raw != 0xFF) {
    const auto request = static_cast<FrameType>(raw & ~kAnswerBit);
    if (request >= FrameType::kHello && request <= FrameType::kRequestLast) return "answer";
  }
  return "unknown";
}

Result<FrameHeader> decode_header(std::span<const std::byte, kFrameHeaderBytes> bytes,
                                  std::uint32_t frame_bytes_max) {
  FrameHeader header;
  header.length = get_le<std::uint32_t>(bytes.data());
  header.type = static_cast<FrameType>(get_le<std::uint8_t>(bytes.data() + 4));
  const auto flags = get_le<std::uint8_t>(bytes.data() + 5);
  const auto reserved = get_le<std::uint16_t>(bytes.data() + 6);
  header.id = get_le<std::uint64_t>(bytes.data() + 8);
  if (flags != 0 || reserved != 0) {
    return invalid_argument("frame header: flags " + std::to_string(flags) + " and reserved " +
                            std::to_string(reserved) + " must be 0");
  }
  if (header.length > frame_bytes_max) {
    return resource_exhausted("limit frame_bytes_max: a frame of " + std::to_string(header.length) +
                              " bytes is above " + std::to_string(frame_bytes_max));
  }
  return header;
}

FrameWriter::FrameWriter(std::vector<std::byte>& out, FrameType type, std::uint64_t id)
    : out_(out), start_(out.size()) {
  out_.resize(start_ + kFrameHeaderBytes);
  std::byte* header = out_.data() + start_;
  put_le<std::uint32_t>(header, 0);
  put_le<std::uint8_t>(header + 4, static_cast<std::uint8_t>(type));
  put_le<std::uint8_t>(header + 5, 0);
  put_le<std::uint16_t>(header + 6, 0);
  put_le<std::uint64_t>(header + 8, id);
}

FrameWriter& FrameWriter::bytes(std::span<const std::byte> bytes) {
  out_.insert(out_.end(), bytes.begin(), bytes.end());
  return *this;
}

FrameWriter& FrameWriter::hash(const Hash128& hash) {
  append_hash(out_, hash);
  return *this;
}

FrameWriter& FrameWriter::string(std::string_view text) {
  put<std::uint32_t>(static_cast<std::uint32_t>(text.size()));
  return bytes(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

void FrameWriter::finish() {
  put_le<std::uint32_t>(out_.data() + start_,
                        static_cast<std::uint32_t>(out_.size() - start_ - kFrameHeaderBytes));
}

// --- requests ---

void encode_hello(std::vector<std::byte>& out, std::uint64_t id, const Hello& hello) {
  FrameWriter frame(out, FrameType::kHello, id);
  frame.put<std::uint32_t>(kHelloMagic).put<std::uint16_t>(hello.version).put<std::uint16_t>(0);
  frame.string(hello.token);
  frame.finish();
}

Status decode_hello(std::span<const std::byte> body, Hello& hello) {
  BodyReader in(body, FrameType::kHello);
  std::uint32_t magic = 0;
  std::uint16_t reserved = 0;
  if (in.read(magic, "magic") && magic != kHelloMagic) in.fail("not an mmsb client (magic)");
  if (in.read(hello.version, "version") && in.read(reserved, "reserved") && reserved != 0) {
    in.fail("reserved must be 0");
  }
  if (in.ok()) in.read_string(hello.token, kTokenBytesMax, "token");
  return in.done();
}

Status encode_commit(std::vector<std::byte>& out, std::uint64_t id, std::uint64_t fork,
                     const std::vector<log::Op>& ops) {
  const std::size_t start = out.size();
  FrameWriter frame(out, FrameType::kCommit, id);
  frame.put<std::uint64_t>(fork);
  Status encoded = log::encode_ops(ops, out);
  if (!encoded.is_ok()) {
    out.resize(start);
    return encoded;
  }
  frame.finish();
  return Status::ok();
}

Status decode_commit(std::span<const std::byte> body, Commit& commit) {
  BodyReader in(body, FrameType::kCommit);
  if (!in.read(commit.fork, "fork")) return in.done();
  Status ops = log::decode_ops(body.subspan(8), commit.ops);
  if (!ops.is_ok()) return invalid_argument("COMMIT frame: " + ops.message());
  return Status::ok();
}

void encode_read(std::vector<std::byte>& out, std::uint64_t id, const Read& read) {
  FrameWriter frame(out, FrameType::kRead, id);
  frame.put<std::uint64_t>(read.tick).put<std::uint64_t>(read.fork);
  put_ids(frame, read.pages);
  frame.finish();
}

Status decode_read(std::span<const std::byte> body, Read& read) {
  BodyReader in(body, FrameType::kRead);
  if (in.read(read.tick, "tick") && in.read(read.fork, "fork") && read.tick != 0 &&
      read.fork != 0) {
    in.fail("a read names a tick or a fork, not both");
  }
  if (in.ok()) in.read_ids(read.pages, "page count", "page", kReadPagesMax);
  return in.done();
}

void encode_merge(std::vector<std::byte>& out, std::uint64_t id, const Merge& merge) {
  FrameWriter frame(out, FrameType::kMerge, id);
  frame.put<std::uint64_t>(merge.fork).put<std::uint8_t>(static_cast<std::uint8_t>(merge.policy));
  frame.finish();
}

Status decode_merge(std::span<const std::byte> body, Merge& merge) {
  BodyReader in(body, FrameType::kMerge);
  std::uint8_t policy = 0;
  if (in.read(merge.fork, "fork") && in.read(policy, "policy")) {
    // kCustom needs a resolver, which is code: not over the network.
    if (policy > static_cast<std::uint8_t>(MergePolicy::kPreferTheirs)) {
      in.fail("unknown merge policy " + std::to_string(policy));
    }
    merge.policy = static_cast<MergePolicy>(policy);
  }
  return in.done();
}

void encode_subscribe(std::vector<std::byte>& out, std::uint64_t id, const Subscribe& subscribe) {
  FrameWriter frame(out, FrameType::kSubscribe, id);
  frame.put<std::uint32_t>(subscribe.types);
  put_ids(frame, subscribe.pages);
  frame.finish();
}

Status decode_subscribe(std::span<const std::byte> body, Subscribe& subscribe) {
  BodyReader in(body, FrameType::kSubscribe);
  if (in.read(subscribe.types, "types") && subscribe.types > 0xF) {
    in.fail("unknown event types " + std::to_string(subscribe.types));
  }
  if (in.ok()) in.read_ids(subscribe.pages, "page count", "page", kReadPagesMax);
  return in.done();
}

void encode_replay(std::vector<std::byte>& out, std::uint64_t id, const Replay& replay) {
  FrameWriter frame(out, FrameType::kReplay, id);
  frame.put<std::uint64_t>(replay.to).put<std::uint8_t>(replay.reexecute ? 1 : 0);
  frame.finish();
}

Status decode_replay(std::span<const std::byte> body, Replay& replay) {
  BodyReader in(body, FrameType::kReplay);
  std::uint8_t reexecute = 0;
  if (in.read(replay.to, "to") && in.read(reexecute, "reexecute") && reexecute > 1) {
    in.fail("reexecute must be 0 or 1");
  }
  replay.reexecute = reexecute == 1;
  return in.done();
}

void encode_empty(std::vector<std::byte>& out, FrameType type, std::uint64_t id) {
  FrameWriter(out, type, id).finish();
}

void encode_u64(std::vector<std::byte>& out, FrameType type, std::uint64_t id,
                std::uint64_t value) {
  FrameWriter frame(out, type, id);
  frame.put<std::uint64_t>(value);
  frame.finish();
}

Status decode_empty(std::span<const std::byte> body, FrameType type) {
  return BodyReader(body, type).done();
}

Status decode_u64(std::span<const std::byte> body, FrameType type, std::uint64_t& value) {
  BodyReader in(body, type);
  in.read(value, "id");
  return in.done();
}

void encode_ingest(std::vector<std::byte>& out, std::uint64_t id, std::span<const Packet> packets) {
  FrameWriter frame(out, FrameType::kIngest, id);
  frame.put<std::uint32_t>(static_cast<std::uint32_t>(packets.size()));
  // Written through a pointer into room made once: a batch is thousands of packets.
  const std::size_t at = out.size();
  out.resize(at + packets.size() * (5 + kPacketInlineBytes));
  std::byte* to = out.data() + at;
  for (const Packet& packet : packets) {
    const std::span<const std::byte> payload = packet.payload();
    put_le<std::uint32_t>(to, packet.topic);
    put_le<std::uint8_t>(to + 4, static_cast<std::uint8_t>(payload.size()));
    if (!payload.empty()) std::memcpy(to + 5, payload.data(), payload.size());
    to += 5 + payload.size();
  }
  out.resize(static_cast<std::size_t>(to - out.data()));
  frame.finish();
}

Status decode_ingest(std::span<const std::byte> body, std::vector<Packet>& packets) {
  BodyReader in(body, FrameType::kIngest);
  std::uint32_t n = 0;
  packets.clear();
  if (!in.read_count(n, 5, "packet count", kIngestPacketsMax)) return in.done();
  packets.resize(n);
  // Each packet's bounds are checked once, then read in place.
  const std::byte* from = body.data() + 4;
  const std::byte* const end = body.data() + body.size();
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto left = static_cast<std::size_t>(end - from);
    const std::size_t length = left >= 5 ? get_le<std::uint8_t>(from + 4) : 0;
    if (left < 5 || length > kPacketInlineBytes || left < 5 + length) {
      packets.clear();
      return invalid_argument("INGEST frame: packet " + std::to_string(i) + " at byte " +
                              std::to_string(from - body.data()) +
                              (left >= 5 && length > kPacketInlineBytes
                                   ? ": " + std::to_string(length) +
                                         " bytes above the inline limit " +
                                         std::to_string(kPacketInlineBytes)
                                   : ": truncated"));
    }
    packets[i].set_inline(get_le<std::uint32_t>(from),
                          std::span<const std::byte>(from + 5, length));
    from += 5 + length;
  }
  if (from != end) {
    packets.clear();
    return invalid_argument("INGEST frame: " + std::to_string(end - from) +
                            " bytes after the body");
  }
  return Status::ok();
}

}  // namespace mmsb::net

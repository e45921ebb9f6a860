// The body of the wire protocol fuzz target (wire_fuzz.cpp, `make fuzz`): the frame header
// and every frame decoder of docs/FORMAT.md "Wire protocol". The first byte picks the
// decoder, the rest is the body. A decoder refuses with InvalidArgument or decodes; a
// request it accepts encodes back to exactly these bytes. Also run on random bodies by
// tests/net/wire_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "mmsb/assert.hpp"
#include "net/wire.hpp"

namespace mmsb::fuzz {

// The body of the frame `encode` appends.
template <typename Encode>
std::vector<std::byte> body_encoded(const Encode& encode) {
  std::vector<std::byte> frame;
  encode(frame);
  return std::vector<std::byte>(frame.begin() + net::kFrameHeaderBytes, frame.end());
}

inline void check_refusal(const Status& status) {
  MMSB_ASSERT(status.is_ok() || status.code() == StatusCode::kInvalidArgument);
}

// Returns true if a request decoder accepted the body.
inline bool wire_target(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return false;
  const auto body = std::span(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  const std::vector<std::byte> bytes(body.begin(), body.end());
  auto accepted = [&](const Status& status, auto encode) {
    check_refusal(status);
    if (!status.is_ok()) return false;
    MMSB_ASSERT(body_encoded(encode) == bytes);
    return true;
  };
  switch (data[0] % 16) {
    case 0: {
      if (body.size() < net::kFrameHeaderBytes) return false;
      auto header = net::decode_header(body.first<net::kFrameHeaderBytes>(), 1u << 20);
      MMSB_ASSERT(header.is_ok() || header.status().code() == StatusCode::kInvalidArgument ||
                  header.status().code() == StatusCode::kResourceExhausted);
      return false;
    }
    case 1: {
      net::Hello hello;
      return accepted(net::decode_hello(body, hello),
                      [&](auto& f) { net::encode_hello(f, 0, hello); });
    }
    case 2: {
      net::Commit commit;
      return accepted(net::decode_commit(body, commit),
                      [&](auto& f) { MMSB_ASSERT(net::encode_commit(f, 0, commit.fork, commit.ops).is_ok()); });
    }
    case 3: {
      net::Read read;
      return accepted(net::decode_read(body, read), [&](auto& f) { net::encode_read(f, 0, read); });
    }
    case 4: {
      net::Merge merge;
      return accepted(net::decode_merge(body, merge),
                      [&](auto& f) { net::encode_merge(f, 0, merge); });
    }
    case 5: {
      net::Subscribe subscribe;
      return accepted(net::decode_subscribe(body, subscribe),
                      [&](auto& f) { net::encode_subscribe(f, 0, subscribe); });
    }
    case 6: {
      net::Replay replay;
      return accepted(net::decode_replay(body, replay),
                      [&](auto& f) { net::encode_replay(f, 0, replay); });
    }
    case 7: {
      std::vector<Packet> packets;
      return accepted(net::decode_ingest(body, packets),
                      [&](auto& f) { net::encode_ingest(f, 0, packets); });
    }
    case 8: {
      std::uint64_t value = 0;
      return accepted(net::decode_u64(body, net::FrameType::kUnpin, value),
                      [&](auto& f) { net::encode_u64(f, net::FrameType::kUnpin, 0, value); });
    }
    // Answers (the client's decoders): decoded or refused, never read past the end.
    case 9: {
      CommitInfo info;
      check_refusal(net::decode_commit_ok(body, info));
      return false;
    }
    case 10: {
      net::ReadOk read;
      check_refusal(net::decode_read_ok(body, read));
      return false;
    }
    case 11: {
      RemoteMerge merge;
      check_refusal(net::decode_merge_ok(body, merge));
      return false;
    }
    case 12: {
      RemoteIngest ingest;
      check_refusal(net::decode_ingest_ok(body, ingest));
      return false;
    }
    case 13: {
      std::vector<net::StatsEntry> entries;
      check_refusal(net::decode_stats_ok(body, entries));
      return false;
    }
    case 14: {
      EventBatch batch;
      check_refusal(net::decode_event(body, batch));
      return false;
    }
    default: {
      net::ErrorAnswer error;
      net::HelloOk hello;
      net::TickRoot tick_root;
      check_refusal(net::decode_error(body, error));
      check_refusal(net::decode_hello_ok(body, hello));
      check_refusal(net::decode_tick_root(body, net::FrameType::kPin, tick_root));
      return false;
    }
  }
}

}  // namespace mmsb::fuzz

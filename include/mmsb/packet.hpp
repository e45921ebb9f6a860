// Packet: the unit of the ingest plane (docs/FORMAT.md "Packet"). Exactly one cache line,
// so a ring of packets never shares a line between two packets and a packet is copied with
// one 64-byte move. Payloads up to kPacketInlineBytes travel inside; larger ones (up to
// kPacketReferenceMaxBytes) by reference into a buffer the producer keeps alive until the
// packet's outcome is known.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace mmsb {

inline constexpr std::size_t kPacketBytes = 64;
inline constexpr std::size_t kPacketHeaderBytes = 24;
inline constexpr std::size_t kPacketInlineBytes = kPacketBytes - kPacketHeaderBytes;  // 40
inline constexpr std::uint32_t kPacketReferenceMaxBytes = 1u << 20;

// Packet::flags bits.
inline constexpr std::uint16_t kPacketByReference = 1;  // payload is a (pointer, length)

struct alignas(64) Packet {
  std::uint32_t topic = 0;
  std::uint32_t producer = 0;  // set by the producer handle
  std::uint64_t sequence = 0;  // per producer, from 1, set by the producer handle
  std::uint16_t flags = 0;
  std::uint16_t reserved = 0;
  std::uint32_t length = 0;  // payload bytes
  struct Reference {
    const std::byte* data;
    std::uint64_t size;
  };
  union {
    std::byte inline_bytes[kPacketInlineBytes];
    Reference reference;
  };

  Packet() : inline_bytes{} {}

  // A packet carrying `payload` inline; false (packet unchanged) if it does not fit.
  bool set_inline(std::uint32_t topic_id, std::span<const std::byte> payload) {
    if (payload.size() > kPacketInlineBytes) return false;
    topic = topic_id;
    flags = 0;
    length = static_cast<std::uint32_t>(payload.size());
    if (!payload.empty()) std::memcpy(inline_bytes, payload.data(), payload.size());
    return true;
  }
  // A packet pointing at `payload`, which must outlive the packet's processing.
  void set_reference(std::uint32_t topic_id, std::span<const std::byte> payload) {
    topic = topic_id;
    flags = kPacketByReference;
    length = static_cast<std::uint32_t>(payload.size());
    reference.data = payload.data();
    reference.size = payload.size();
  }
  std::span<const std::byte> payload() const {
    if (flags & kPacketByReference) return {reference.data, length};
    return {inline_bytes, length};
  }
};

static_assert(sizeof(Packet) == kPacketBytes, "a packet is one cache line");
static_assert(alignof(Packet) == kPacketBytes, "a packet starts a cache line");
static_assert(offsetof(Packet, inline_bytes) == kPacketHeaderBytes);

}  // namespace mmsb

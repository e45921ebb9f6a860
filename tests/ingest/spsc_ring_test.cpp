// The packet layout and the single-producer single-consumer ring (docs/ARCHITECTURE.md
// "ingest"), including a two-thread run (TSan in CI).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "ingest/spsc_ring.hpp"
#include "mmsb/packet.hpp"
#include "support/bytes.hpp"

namespace mmsb::ingest {
namespace {

TEST(PacketTest, CarriesInlineAndReferencedPayloads) {
  Packet packet;
  const std::vector<std::byte> small = test::bytes_of("forty bytes or fewer fit inline");
  ASSERT_TRUE(packet.set_inline(7, small));
  EXPECT_EQ(packet.topic, 7u);
  EXPECT_EQ(packet.flags, 0);
  EXPECT_EQ(test::to_vector(packet.payload()), small);
  const std::vector<std::byte> large(kPacketInlineBytes + 1, std::byte{9});
  EXPECT_FALSE(packet.set_inline(8, large));
  EXPECT_EQ(packet.topic, 7u);  // unchanged
  packet.set_reference(8, large);
  EXPECT_EQ(packet.flags, kPacketByReference);
  EXPECT_EQ(packet.payload().data(), large.data());
  EXPECT_EQ(packet.payload().size(), large.size());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&packet) % 64, 0u);
}

TEST(SpscRingTest, KeepsOrderAndRefusesWhatDoesNotFit) {
  SpscRing<int> ring(5);  // rounded up to 8
  EXPECT_EQ(ring.capacity(), 8u);
  const std::vector<int> ten = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(ring.push(std::span(ten)), 8u);
  EXPECT_FALSE(ring.push(10));
  EXPECT_EQ(ring.size_approx(), 8u);
  std::vector<int> out(3);
  EXPECT_EQ(ring.pop(std::span(out)), 3u);
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(ring.push(std::span(ten).subspan(8)), 2u);  // wraps around
  std::vector<int> rest;
  EXPECT_EQ(ring.consume(100, [&](int v) { rest.push_back(v); }), 7u);
  EXPECT_EQ(rest, (std::vector<int>{3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(ring.consume(100, [](int) {}), 0u);
  EXPECT_EQ(ring.size_approx(), 0u);
}

// One producer and one consumer on their own threads, random batch sizes on both sides:
// every packet arrives once, in order, with its payload intact.
TEST(SpscRingTest, TwoThreadsLoseNothingAndKeepOrder) {
  constexpr std::uint64_t kPackets = 200'000;
  SpscRing<Packet> ring(1024);
  std::thread producer([&] {
    std::mt19937 random(1);
    std::vector<Packet> batch;
    std::uint64_t next = 1;
    while (next <= kPackets) {
      batch.clear();
      const std::uint64_t want = 1 + random() % 64;
      for (std::uint64_t i = 0; i < want && next + i <= kPackets; ++i) {
        Packet packet;
        packet.sequence = next + i;
        const std::uint64_t payload = (next + i) * 0x9e3779b97f4a7c15ull;
        packet.set_inline(static_cast<std::uint32_t>((next + i) % 5),
                          std::as_bytes(std::span(&payload, 1)));
        batch.push_back(packet);
      }
      std::span<const Packet> left(batch);
      while (!left.empty()) left = left.subspan(ring.push(left));
      next += batch.size();
    }
  });
  std::mt19937 random(2);
  std::uint64_t expected = 1;
  bool intact = true;
  while (expected <= kPackets) {
    ring.consume(1 + random() % 100, [&](const Packet& packet) {
      std::uint64_t payload = 0;
      std::memcpy(&payload, packet.payload().data(), sizeof(payload));
      intact = intact && packet.sequence == expected && packet.topic == expected % 5 &&
               payload == expected * 0x9e3779b97f4a7c15ull;
      ++expected;
    });
  }
  producer.join();
  EXPECT_TRUE(intact);
  EXPECT_EQ(expected, kPackets + 1);
  EXPECT_EQ(ring.size_approx(), 0u);
}

TEST(SpscRingTest, OverwriteDropsTheOldestWhenFull) {
  SpscRing<Packet> ring(4, /*overwrite=*/true);
  std::vector<std::uint64_t> dropped;
  for (std::uint64_t i = 1; i <= 6; ++i) {
    Packet packet;
    packet.sequence = i;
    ring.push_overwrite(packet, [&](const Packet& oldest) { dropped.push_back(oldest.sequence); });
  }
  EXPECT_EQ(dropped, (std::vector<std::uint64_t>{1, 2}));
  std::vector<Packet> out(8);
  ASSERT_EQ(ring.pop(out), 4u);
  for (std::uint64_t i = 0; i < 4; ++i) EXPECT_EQ(out[i].sequence, i + 3);
  EXPECT_EQ(ring.pop(out), 0u);
}

// A producer overwriting while the consumer pops: every packet is either consumed whole (no
// torn copy: its words all derive from its sequence) or dropped, and consumed ones keep
// their order. TSan in CI checks the word-wise copies.
TEST(SpscRingTest, OverwritingProducerAndConsumerNeverTearAPacket) {
  constexpr std::uint64_t kPackets = 200'000;
  SpscRing<Packet> ring(8, /*overwrite=*/true);
  std::uint64_t dropped = 0;
  std::thread producer([&] {
    for (std::uint64_t i = 1; i <= kPackets; ++i) {
      Packet packet;
      packet.sequence = i;
      packet.topic = static_cast<std::uint32_t>(i * 7);
      packet.length = static_cast<std::uint32_t>(i * 13);
      std::memcpy(packet.inline_bytes, &i, 8);
      std::memcpy(packet.inline_bytes + 32, &i, 8);
      ring.push_overwrite(packet, [&](const Packet&) { ++dropped; });
    }
  });
  std::vector<Packet> out(5);
  std::uint64_t consumed = 0, last = 0;
  bool torn = false, disordered = false;
  while (last < kPackets) {
    const std::size_t got = ring.pop(out);
    for (std::size_t k = 0; k < got; ++k) {
      const Packet& packet = out[k];
      std::uint64_t head = 0, tail = 0;
      std::memcpy(&head, packet.inline_bytes, 8);
      std::memcpy(&tail, packet.inline_bytes + 32, 8);
      torn |= packet.topic != static_cast<std::uint32_t>(packet.sequence * 7) ||
              packet.length != static_cast<std::uint32_t>(packet.sequence * 13) ||
              head != packet.sequence || tail != packet.sequence;
      disordered |= packet.sequence <= last;
      last = packet.sequence;
      ++consumed;
    }
  }
  producer.join();
  EXPECT_FALSE(torn);
  EXPECT_FALSE(disordered);
  EXPECT_EQ(consumed + dropped, kPackets);
}

}  // namespace
}  // namespace mmsb::ingest

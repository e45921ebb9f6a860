#include "mmsb/allocator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace mmsb {
namespace {

TEST(AllocatorTest, BlocksAreAlignedAndWritable) {
  PayloadAllocator& allocator = default_payload_allocator();
  for (std::size_t size :
       {std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{1000},
        std::size_t{256 * 1024}, std::size_t{256 * 1024 + 1}, std::size_t{3 << 20}}) {
    std::byte* block = allocator.allocate(size);
    ASSERT_NE(block, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % kPayloadAlignment, 0u) << size;
    std::memset(block, 0xab, size);
    allocator.deallocate(block, size);
  }
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRecycles = false;  // every block goes to the system, for ASan's checks
#else
constexpr bool kRecycles = true;
#endif

// Recycling arena: a freed block comes straight back without the system. Under ASan every
// block must reach the system instead, so use-after-free stays detectable.
TEST(AllocatorTest, FreedBlocksAreReusedOrPassedThrough) {
  PayloadAllocator& allocator = default_payload_allocator();
  std::byte* first = allocator.allocate(1024);
  allocator.deallocate(first, 1024);
  AllocatorStats before = allocator.stats();
  std::byte* second = allocator.allocate(1000);  // same size class
  AllocatorStats after = allocator.stats();
  EXPECT_EQ(after.allocations, before.allocations + 1);
  if (kRecycles) {
    EXPECT_EQ(second, first);
    EXPECT_EQ(after.system_allocations, before.system_allocations);
  } else {
    EXPECT_EQ(after.system_allocations, before.system_allocations + 1);
  }
  allocator.deallocate(second, 1000);
}

TEST(AllocatorTest, SteadyStateNeedsNoSystemAllocation) {
  PayloadAllocator& allocator = default_payload_allocator();
  std::vector<std::byte*> blocks(10000);
  for (auto& block : blocks) block = allocator.allocate(1024);
  for (auto* block : blocks) allocator.deallocate(block, 1024);
  AllocatorStats before = allocator.stats();
  for (int round = 0; round < 3; ++round) {
    for (auto& block : blocks) block = allocator.allocate(1024);
    for (auto* block : blocks) allocator.deallocate(block, 1024);
  }
  // Recycling: none of the 30000 reach the system; passing through (ASan): all of them do.
  EXPECT_EQ(allocator.stats().system_allocations,
            before.system_allocations + (kRecycles ? 0 : 3 * blocks.size()));
}

TEST(AllocatorTest, BlocksMayBeFreedOnAnotherThread) {
  PayloadAllocator& allocator = default_payload_allocator();
  std::vector<std::byte*> blocks;
  for (int i = 0; i < 1000; ++i) blocks.push_back(allocator.allocate(4096));
  std::thread other([&] {
    for (std::byte* block : blocks) allocator.deallocate(block, 4096);
  });
  other.join();
  AllocatorStats stats = allocator.stats();
  EXPECT_GE(stats.deallocations, 1000u);
  // The other thread's cache went back to the shared pool when it exited: reusable here.
  AllocatorStats before = allocator.stats();
  for (int i = 0; i < 1000; ++i) blocks[i] = allocator.allocate(4096);
  for (std::byte* block : blocks) allocator.deallocate(block, 4096);
  if (kRecycles) {
    EXPECT_EQ(allocator.stats().system_allocations, before.system_allocations);
  }
}

}  // namespace
}  // namespace mmsb

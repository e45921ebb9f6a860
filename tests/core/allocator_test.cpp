#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "mmsb/allocator.hpp"

namespace mmsb {
namespace {

TEST(AllocatorTest, BlocksAreAlignedAndWritable) {
  PayloadAllocator& allocator = default_payload_allocator();
  for (std::size_t size : {std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{1000},
                           std::size_t{256 * 1024}, std::size_t{256 * 1024 + 1},
                           std::size_t{3 << 20}}) {
    std::byte* block = allocator.allocate(size);
    ASSERT_NE(block, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % kPayloadAlignment, 0u) << size;
    std::memset(block, 0xab, size);
    allocator.deallocate(block, size);
  }
}

TEST(AllocatorTest, FreedBlocksAreReusedWithoutTheSystem) {
  PayloadAllocator& allocator = default_payload_allocator();
  std::byte* first = allocator.allocate(1024);
  allocator.deallocate(first, 1024);
  AllocatorStats before = allocator.stats();
  std::byte* second = allocator.allocate(1000);  // same size class
  AllocatorStats after = allocator.stats();
  EXPECT_EQ(second, first);
  EXPECT_EQ(after.allocations, before.allocations + 1);
  EXPECT_EQ(after.system_allocations, before.system_allocations);
  allocator.deallocate(second, 1000);
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
}

}  // namespace
}  // namespace mmsb

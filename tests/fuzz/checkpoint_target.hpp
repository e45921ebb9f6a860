// The body of the checkpoint loader fuzz target (checkpoint_fuzz.cpp, `make fuzz`), also run
// on a fixed corpus by tests/log/decoder_fuzz_corpus_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/endian.hpp"
#include "log/checkpoint.hpp"
#include "mmsb/assert.hpp"
#include "support/memory_env.hpp"
#include "support/reference_root.hpp"

namespace mmsb::fuzz {

// Loads `file` as a checkpoint: Corruption naming the file and a byte offset, or a State
// whose root is the reference root of its content and which writes back to the same bytes.
inline void load_checkpoint_bytes(std::span<const std::byte> file) {
  test::MemoryEnv env;
  const std::string path = "checkpoints/" + log::checkpoint_file_name(TickId(1));
  env.put_file(path, file);
  Result<State> loaded = log::load_checkpoint(env, path, {});
  if (!loaded.is_ok()) {
    MMSB_ASSERT(loaded.status().code() == StatusCode::kCorruption);
    MMSB_ASSERT(loaded.status().message().find(path + " at byte ") == 0);
    return;
  }
  MMSB_ASSERT(loaded->root() == test::reference_root(*loaded));
  test::MemoryEnv again;
  MMSB_ASSERT(log::write_checkpoint(again, "out", *loaded).is_ok());
  const auto* written = again.file("out/" + log::checkpoint_file_name(loaded->tick()));
  MMSB_ASSERT(written != nullptr);
  MMSB_ASSERT(*written == std::vector<std::byte>(file.begin(), file.end()));
}

// The raw bytes, and the bytes with a valid checksum appended (so the fuzzer explores the
// body's decoder rather than only the checksum check).
inline void checkpoint_target(const std::uint8_t* data, std::size_t size) {
  const auto input = std::span(reinterpret_cast<const std::byte*>(data), size);
  load_checkpoint_bytes(input);
  std::vector<std::byte> sealed(input.begin(), input.end());
  Hasher128 hasher;
  hasher.update(input);
  sealed.resize(sealed.size() + 8);
  put_le<std::uint64_t>(sealed.data() + input.size(), hasher.digest().low);
  load_checkpoint_bytes(sealed);
}

}  // namespace mmsb::fuzz

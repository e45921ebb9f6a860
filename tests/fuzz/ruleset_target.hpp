// The body of the ruleset decoder fuzz target (ruleset_fuzz.cpp, `make fuzz`): the
// canonical encoding, ruleset files and CURRENT. Also run on a fixed corpus by
// tests/log/decoder_fuzz_corpus_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ingest/ruleset.hpp"
#include "ingest/ruleset_store.hpp"
#include "mmsb/assert.hpp"
#include "support/memory_env.hpp"

namespace mmsb::fuzz {

inline void ruleset_target(const std::uint8_t* data, std::size_t size) {
  const auto input = std::span(reinterpret_cast<const std::byte*>(data), size);
  // The encoding: Corruption, or a ruleset whose canonical encoding is these bytes.
  auto decoded = ingest::CompiledRuleset::decode(input);
  if (decoded.is_ok()) {
    MMSB_ASSERT((*decoded)->encoded() == std::vector<std::byte>(input.begin(), input.end()));
    MMSB_ASSERT((*decoded)->hash() == xxh3_128(input));
  } else {
    MMSB_ASSERT(decoded.status().code() == StatusCode::kCorruption);
  }
  // A ruleset file holding these bytes, named by their hash: loads exactly when they decode.
  const Hash128 hash = xxh3_128(input);
  const std::string dir = "data";
  const std::string path = ingest::ruleset_dir_of(dir) + "/" + hash.to_hex() + ".ruleset";
  std::vector<std::byte> file(8);
  std::memcpy(file.data(), "MMSBRULE", 8);
  file.insert(file.end(), input.begin(), input.end());
  file.resize(file.size() + 16);
  hash.write_bytes(file.data() + file.size() - 16);
  test::MemoryEnv env;
  env.put_file(path, file);
  auto loaded = ingest::load_ruleset(env, dir, hash);
  MMSB_ASSERT(loaded.is_ok() == decoded.is_ok());
  if (!loaded.is_ok()) {
    MMSB_ASSERT(loaded.status().code() == StatusCode::kCorruption);
    MMSB_ASSERT(loaded.status().message().find(path) == 0);
  }
  // The raw bytes as a ruleset file and as CURRENT: refused, naming the file.
  env.put_file(path, input);
  auto raw = ingest::load_ruleset(env, dir, hash);
  if (!raw.is_ok()) MMSB_ASSERT(raw.status().message().find(path) == 0);
  const std::string current = ingest::ruleset_dir_of(dir) + "/CURRENT";
  env.put_file(current, input);
  auto named = ingest::load_current_ruleset(env, dir);
  if (!named.is_ok()) {
    MMSB_ASSERT(named.status().code() == StatusCode::kCorruption ||
                named.status().code() == StatusCode::kNotFound);
    MMSB_ASSERT(named.status().message().find(ingest::ruleset_dir_of(dir)) != std::string::npos);
  }
}

}  // namespace mmsb::fuzz

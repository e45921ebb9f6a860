// Runs the segment, checkpoint and ruleset fuzz targets over the files of a real data
// directory and their damaged variants (every cut, flips along the way), so every build
// checks the properties `make fuzz` explores at length.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "engine/replay.hpp"
#include "fuzz/checkpoint_target.hpp"
#include "fuzz/ruleset_target.hpp"
#include "fuzz/segment_target.hpp"
#include "fuzz/tick_record_target.hpp"
#include "ingest/ruleset_store.hpp"
#include "mmsb/mmsb.hpp"
#include "support/bytes.hpp"
#include "support/temp_dir.hpp"

namespace mmsb {
namespace {

using Target = void (*)(const std::uint8_t*, std::size_t);

// Every prefix of `valid`, and each prefix with one byte flipped every `stride` bytes.
int run_damaged(Target target, const std::vector<std::byte>& valid, std::size_t stride) {
  int cases = 0;
  auto run = [&](const std::vector<std::byte>& input) {
    target(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    ++cases;
  };
  for (std::size_t cut = 0; cut <= valid.size(); cut += 1 + cut / 64) {
    std::vector<std::byte> input(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(cut));
    run(input);
  }
  for (std::size_t flip = 0; flip < valid.size(); flip += stride) {
    std::vector<std::byte> input = valid;
    input[flip] ^= std::byte{0x10};
    run(input);
  }
  run(valid);
  return cases;
}

struct DataFiles {
  std::vector<std::vector<std::byte>> segments, checkpoints, rulesets;
};

DataFiles make_data_directory(const std::string& dir) {
  EngineOptions options;
  options.dir = dir;
  options.segment_size_max_bytes = 600;
  auto engine = Engine::open(options).value();
  for (int i = 0; i < 6; ++i) {
    Transaction txn = engine->begin();
    PageId page = txn.create_page({.type = 3, .size_bytes = 40});
    txn.write(page, 4, test::bytes_of("page " + std::to_string(i)));
    if (i > 0) txn.add_edge(kEdgeKindUserFirst, PageId(1), page);
    EXPECT_TRUE(txn.commit().is_ok());
  }
  EXPECT_TRUE(
      engine->derive(PageId(6), std::vector<PageId>{PageId(5)}, kDerivePassthrough).is_ok());
  Ruleset ruleset;
  ruleset.topics.push_back(TopicRule{.topic = 9,
                                     .producers = {1, 4},
                                     .max_payload_bytes = 16,
                                     .rate_per_second = 100,
                                     .burst = 10,
                                     .mapping = {TopicAction::kOverwrite, PageId(2)}});
  ruleset.topics.push_back(TopicRule{.topic = 11, .allow = false});
  EXPECT_TRUE(engine->set_ruleset(ruleset).is_ok());
  EXPECT_TRUE(engine->checkpoint().is_ok());
  EXPECT_TRUE(engine->close().is_ok());
  DataFiles files;
  auto read_all = [](const std::string& sub, const std::string& suffix) {
    std::vector<std::vector<std::byte>> out;
    for (const auto& entry : std::filesystem::directory_iterator(sub)) {
      const std::string path = entry.path().string();
      if (path.size() >= suffix.size() &&
          path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
        out.push_back(read_file(*Env::posix(), path).value());
      }
    }
    return out;
  };
  files.segments = read_all(engine::log_dir_of(dir), ".seg");
  files.checkpoints = read_all(engine::checkpoint_dir_of(dir), ".ckpt");
  for (auto& file : read_all(ingest::ruleset_dir_of(dir), ".ruleset")) {
    files.rulesets.emplace_back(file.begin() + 8, file.end() - 16);  // the encoding alone
  }
  return files;
}

TEST(DecoderFuzzCorpusTest, SegmentsCheckpointsAndRulesetsOfARealDirectory) {
  test::TempDir dir;
  const DataFiles files = make_data_directory(dir.path());
  ASSERT_GE(files.segments.size(), 2u);
  ASSERT_EQ(files.checkpoints.size(), 1u);
  ASSERT_EQ(files.rulesets.size(), 1u);
  int cases = 0;
  for (const auto& segment : files.segments) cases += run_damaged(fuzz::segment_target, segment, 3);
  for (const auto& checkpoint : files.checkpoints) {
    cases += run_damaged(fuzz::checkpoint_target, checkpoint, 5);
    // The sealed variant of the body alone must load: it is the file itself.
    std::vector<std::byte> body(checkpoint.begin(), checkpoint.end() - 8);
    fuzz::checkpoint_target(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
  }
  for (const auto& ruleset : files.rulesets) {
    cases += run_damaged(fuzz::ruleset_target, ruleset, 1);
    EXPECT_TRUE(ingest::CompiledRuleset::decode(ruleset).is_ok());  // the corpus is valid
  }
  EXPECT_GT(cases, 1000);
}

// Inputs the fuzzers once failed on (tests/fuzz/regressions/<target>/), run in every build.
TEST(DecoderFuzzCorpusTest, InputsThatOnceFailed) {
  const std::map<std::string, Target> targets = {{"segment", fuzz::segment_target},
                                                 {"checkpoint", fuzz::checkpoint_target},
                                                 {"ruleset", fuzz::ruleset_target},
                                                 {"tick_record", fuzz::tick_record_target}};
  int inputs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(MMSB_FUZZ_REGRESSIONS)) {
    const std::string name = entry.path().filename().string();
    ASSERT_TRUE(targets.count(name)) << "no fuzz target named " << name;
    for (const auto& file : std::filesystem::directory_iterator(entry.path())) {
      const auto bytes = read_file(*Env::posix(), file.path().string()).value();
      targets.at(name)(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++inputs;
    }
  }
  EXPECT_GT(inputs, 0);
}

}  // namespace
}  // namespace mmsb

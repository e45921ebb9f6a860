#include "ingest/ruleset_store.hpp"

#include <cstring>

#include "core/byte_reader.hpp"

namespace mmsb::ingest {
namespace {

constexpr char kRulesetMagic[8] = {'M', 'M', 'S', 'B', 'R', 'U', 'L', 'E'};
constexpr char kCurrentName[] = "CURRENT";

std::string file_name(const Hash128& hash) { return hash.to_hex() + ".ruleset"; }

// Writes `bytes` to `path` through a temporary file and a rename, then syncs the directory.
Status write_durably(Env& env, const std::string& dir, const std::string& name,
                     std::span<const std::byte> bytes) {
  const std::string path = dir + "/" + name;
  const std::string temporary = path + ".tmp";
  MMSB_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env.new_writable_file(temporary));
  MMSB_RETURN_IF_ERROR(file->append(bytes));
  MMSB_RETURN_IF_ERROR(file->sync());
  MMSB_RETURN_IF_ERROR(file->close());
  MMSB_RETURN_IF_ERROR(env.rename_file(temporary, path));
  return env.sync_dir(dir);
}

}  // namespace

std::string ruleset_dir_of(const std::string& dir) { return dir + "/rulesets"; }

Status store_ruleset(Env& env, const std::string& dir, const CompiledRuleset& ruleset) {
  const std::string rulesets = ruleset_dir_of(dir);
  MMSB_RETURN_IF_ERROR(env.create_dir(rulesets));
  if (!env.file_exists(rulesets + "/" + file_name(ruleset.hash()))) {
    const std::vector<std::byte>& encoded = ruleset.encoded();
    std::vector<std::byte> bytes(8 + encoded.size() + 16);  // magic, encoding, hash
    std::memcpy(bytes.data(), kRulesetMagic, 8);
    std::memcpy(bytes.data() + 8, encoded.data(), encoded.size());
    ruleset.hash().write_bytes(bytes.data() + 8 + encoded.size());
    MMSB_RETURN_IF_ERROR(write_durably(env, rulesets, file_name(ruleset.hash()), bytes));
  }
  const std::string current = ruleset.hash().to_hex() + "\n";
  return write_durably(env, rulesets, kCurrentName, as_bytes(current));
}

Result<std::shared_ptr<const CompiledRuleset>> load_ruleset(Env& env, const std::string& dir,
                                                            const Hash128& hash) {
  const std::string path = ruleset_dir_of(dir) + "/" + file_name(hash);
  if (!env.file_exists(path)) return not_found("ruleset file " + path + " does not exist");
  MMSB_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, read_file(env, path));
  if (bytes.size() < 8 + 16 || std::memcmp(bytes.data(), kRulesetMagic, 8) != 0) {
    return corruption(path + ": not a ruleset file (magic or size)");
  }
  const std::span<const std::byte> encoded(bytes.data() + 8, bytes.size() - 8 - 16);
  if (read_hash_bytes(bytes.data() + bytes.size() - 16) != hash || xxh3_128(encoded) != hash) {
    return corruption(path + ": content does not hash to its name");
  }
  auto ruleset = CompiledRuleset::decode(encoded);
  if (!ruleset.is_ok()) return corruption(path + ": " + ruleset.status().message());
  return ruleset;
}

Result<std::shared_ptr<const CompiledRuleset>> load_current_ruleset(Env& env,
                                                                    const std::string& dir) {
  const std::string path = ruleset_dir_of(dir) + "/" + kCurrentName;
  if (!env.file_exists(path)) return std::shared_ptr<const CompiledRuleset>();
  MMSB_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, read_file(env, path));
  const std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  auto hash = Hash128::from_hex(text.substr(0, text.find('\n')));
  if (!hash) return corruption(path + ": not a ruleset hash");
  return load_ruleset(env, dir, *hash);
}

}  // namespace mmsb::ingest

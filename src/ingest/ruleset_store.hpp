// Rulesets on disk (docs/FORMAT.md "Ruleset files"): every ruleset an engine was given is
// kept in <dir>/rulesets/<hash>.ruleset, and CURRENT names the one in force, so a restart
// keeps the last acknowledged ruleset and replay finds every ruleset a log names by hash.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "ingest/ruleset.hpp"
#include "mmsb/env.hpp"

namespace mmsb::ingest {

std::string ruleset_dir_of(const std::string& dir);

// Writes the ruleset's file (if absent) and makes it CURRENT, durably.
Status store_ruleset(Env& env, const std::string& dir, const CompiledRuleset& ruleset);
// The ruleset with this hash (NotFound if there is no file; Corruption if it is damaged).
Result<std::shared_ptr<const CompiledRuleset>> load_ruleset(Env& env, const std::string& dir,
                                                            const Hash128& hash);
// The ruleset CURRENT names, or nullptr if none was ever set.
Result<std::shared_ptr<const CompiledRuleset>> load_current_ruleset(Env& env,
                                                                    const std::string& dir);

}  // namespace mmsb::ingest

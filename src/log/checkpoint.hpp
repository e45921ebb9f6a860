// Checkpoints: a whole State in one file (docs/FORMAT.md "Checkpoint"), written to a
// temporary name, synced and renamed into place, so a checkpoint file is either complete
// or absent.
#pragma once

#include <string>
#include <vector>

#include "mmsb/env.hpp"
#include "mmsb/state.hpp"

namespace mmsb::log {

inline constexpr char kCheckpointMagic[8] = {'m', 'm', 's', 'b', '-', 'c', 'k', 'p'};
inline constexpr std::uint32_t kCheckpointVersion = 4;
inline constexpr std::size_t kCheckpointHeaderBytes = 80;

// "<tick, 20 digits>.ckpt".
std::string checkpoint_file_name(TickId tick);
Result<TickId> parse_checkpoint_file_name(const std::string& name);

// Writes `state` to <dir>/<tick>.ckpt durably.
Status write_checkpoint(Env& env, const std::string& dir, const State& state);
// Loads a checkpoint; Corruption naming the file and offset if anything is wrong,
// including a root that does not match the content.
Result<State> load_checkpoint(Env& env, const std::string& path, const StateOptions& options);
// Checkpoint files in `dir`, oldest first.
Result<std::vector<TickId>> list_checkpoints(Env& env, const std::string& dir);

}  // namespace mmsb::log

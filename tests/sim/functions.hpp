// The simulator's derivation functions: registered in every engine it opens, and computed by
// its model the same way (they are workload code, not engine code).
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "mmsb/mmsb.hpp"

namespace mmsb::sim {

// Mixes its parents byte by byte into the child's size; never fails.
inline constexpr std::string_view kMix = "sim.mix";
// A copy of its first parent, cut or zero-padded to the child's size, that fails while that
// parent's first byte is kPickyPoison (so writes can make a derivation fail).
inline constexpr std::string_view kPicky = "sim.picky";
inline constexpr std::byte kPickyPoison{0xEE};

Status compute_mix(std::span<const std::span<const std::byte>> parents,
                   std::vector<std::byte>& out);
Status compute_picky(std::span<const std::span<const std::byte>> parents,
                     std::vector<std::byte>& out);

// Computes `function` (a built-in or one of the above) into `out`, which arrives with the
// child's size; a Status like the engine's on failure.
Status compute_function(std::string_view function,
                        std::span<const std::span<const std::byte>> parents,
                        std::vector<std::byte>& out);

// kMix and kPicky as DeriveFunctions.
DeriveFunction mix_function();
DeriveFunction picky_function();
// Registers kMix and kPicky.
Status register_functions(Engine& engine);

}  // namespace mmsb::sim

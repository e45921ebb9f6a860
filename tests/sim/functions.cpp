#include "sim/functions.hpp"

#include <algorithm>

namespace mmsb::sim {

Status compute_mix(std::span<const std::span<const std::byte>> parents,
                   std::vector<std::byte>& out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint8_t value = static_cast<std::uint8_t>(i * 31 + 7);
    for (const auto& parent : parents) {
      if (!parent.empty()) value ^= std::to_integer<std::uint8_t>(parent[i % parent.size()]);
      value = static_cast<std::uint8_t>(value * 5 + 1);
    }
    out[i] = std::byte{value};
  }
  return Status::ok();
}

Status compute_picky(std::span<const std::span<const std::byte>> parents,
                     std::vector<std::byte>& out) {
  if (parents.empty()) return Status(StatusCode::kInvalidArgument, "picky: no parent");
  const auto first = parents.front();
  if (!first.empty() && first[0] == kPickyPoison) {
    return Status(StatusCode::kInvalidArgument, "picky: poisoned parent");
  }
  std::fill(out.begin(), out.end(), std::byte{0});
  std::copy_n(first.begin(), std::min(first.size(), out.size()), out.begin());
  return Status::ok();
}

Status compute_function(std::string_view function,
                        std::span<const std::span<const std::byte>> parents,
                        std::vector<std::byte>& out) {
  if (function == kMix) return compute_mix(parents, out);
  if (function == kPicky) return compute_picky(parents, out);
  if (function == kDerivePassthrough) {
    if (parents.size() != 1 || parents[0].size() != out.size()) {
      return Status(StatusCode::kInvalidArgument, "passthrough: sizes differ");
    }
    std::copy(parents[0].begin(), parents[0].end(), out.begin());
    return Status::ok();
  }
  if (function == kDeriveConcat) {
    std::size_t total = 0;
    for (const auto& parent : parents) total += parent.size();
    if (total != out.size()) return Status(StatusCode::kInvalidArgument, "concat: sizes differ");
    std::size_t at = 0;
    for (const auto& parent : parents) {
      std::copy(parent.begin(), parent.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
      at += parent.size();
    }
    return Status::ok();
  }
  return Status(StatusCode::kFailedPrecondition, "unknown function");
}

namespace {

DeriveFunction engine_function(Status (*compute)(std::span<const std::span<const std::byte>>,
                                                 std::vector<std::byte>&)) {
  return [compute](const DeriveInput& input, std::vector<std::byte>& out) {
    out.resize(input.current.size());
    return compute(input.parents, out);
  };
}

}  // namespace

DeriveFunction mix_function() { return engine_function(compute_mix); }
DeriveFunction picky_function() { return engine_function(compute_picky); }

Status register_functions(Engine& engine) {
  MMSB_RETURN_IF_ERROR(engine.register_function(std::string(kMix), mix_function()));
  return engine.register_function(std::string(kPicky), picky_function());
}

}  // namespace mmsb::sim

#include "graph/functions.hpp"

#include <cstring>

#include "mmsb/state.hpp"

namespace mmsb::graph {
namespace {

Status passthrough(const DeriveInput& input, std::vector<std::byte>& out) {
  if (input.parents.size() != 1) {
    return invalid_argument("passthrough needs exactly one parent, has " +
                            std::to_string(input.parents.size()));
  }
  out.assign(input.parents[0].begin(), input.parents[0].end());
  return Status::ok();
}

Status concat(const DeriveInput& input, std::vector<std::byte>& out) {
  for (std::span<const std::byte> parent : input.parents) {
    out.insert(out.end(), parent.begin(), parent.end());
  }
  return Status::ok();
}

}  // namespace

FunctionTable::FunctionTable() {
  auto functions = std::make_shared<FunctionMap>();
  functions->emplace(kDerivePassthrough, passthrough);
  functions->emplace(kDeriveConcat, concat);
  functions_ = std::move(functions);
}

Status FunctionTable::add(const std::string& name, DeriveFunction function) {
  if (name.empty() || name.size() > kFunctionNameMaxBytes) {
    return invalid_argument("function name '" + name + "': must be 1 to " +
                            std::to_string(kFunctionNameMaxBytes) + " bytes");
  }
  if (!function) return invalid_argument("function '" + name + "': empty function");
  std::lock_guard<std::mutex> lock(mutex_);
  if (functions_->count(name) != 0) {
    return already_exists("function '" + name + "' is already registered");
  }
  auto functions = std::make_shared<FunctionMap>(*functions_);
  functions->emplace(name, std::move(function));
  functions_ = std::move(functions);
  return Status::ok();
}

std::shared_ptr<const FunctionMap> FunctionTable::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return functions_;
}

}  // namespace mmsb::graph

// FunctionTable: derivation functions by name. Functions are code, not state: every process
// registers its own after opening an engine; the State names them (Derivation::function).
//
// Thread-safety: add() and snapshot() may be called from any thread. A snapshot is an
// immutable map, so a tick looks functions up without locking.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "mmsb/derive.hpp"

namespace mmsb::graph {

using FunctionMap = std::map<std::string, DeriveFunction, std::less<>>;

class FunctionTable {
 public:
  FunctionTable();  // holds the built-ins (kDerivePassthrough, kDeriveConcat)

  // AlreadyExists if the name is taken; InvalidArgument if it is empty or longer than
  // kFunctionNameMaxBytes, or the function is empty.
  Status add(const std::string& name, DeriveFunction function);
  std::shared_ptr<const FunctionMap> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const FunctionMap> functions_;
};

}  // namespace mmsb::graph

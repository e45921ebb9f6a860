// mmsb.Engine: an embedded Engine shared by the Python objects made from it.
#pragma once

#include <memory>

#include "py_common.hpp"

namespace mmsb::py {

// Operations copy the shared_ptr before releasing the GIL, so close() from one thread never
// frees the engine under another; the Engine is destroyed with the GIL released (its
// threads may be waiting for it in a callback).
class PyEngine {
 public:
  explicit PyEngine(std::unique_ptr<Engine> engine);
  ~PyEngine();

  // The engine; UnavailableError once closed.
  std::shared_ptr<Engine> get() const;
  bool closed() const { return engine_ == nullptr; }
  void close();

 private:
  std::shared_ptr<Engine> engine_;
};

using EngineRef = std::shared_ptr<PyEngine>;
using EngineClass = pyb::class_<PyEngine, EngineRef>;

// The Python-callable parts of Engine: register_function, register_rule, subscribe.
void bind_callbacks(pyb::module_& m, EngineClass& engine);
// Producers and governance: producer(), set_ruleset(), mmsb.TopicRule, mmsb.Producer.
void bind_ingest(pyb::module_& m, EngineClass& engine);

}  // namespace mmsb::py

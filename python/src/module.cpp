// The extension module mmsb._mmsb; python/mmsb/__init__.py re-exports it as `mmsb`.
#include "mmsb/version.hpp"
#include "py_common.hpp"

PYBIND11_MODULE(_mmsb, m) {
  m.doc() = "mmsb: a deterministic, versioned state engine (the compiled part of `mmsb`).";
  m.attr("__version__") = MMSB_VERSION_STRING;
  mmsb::py::bind_common(m);
  mmsb::py::bind_state(m);
  mmsb::py::bind_engine(m);
  mmsb::py::bind_client(m);
}

// recsys._core: module definition. Each layer's bindings live in their own
// file (bind_<layer>.cc) and are registered here.
#include <pybind11/pybind11.h>

#include "recsys/recsys.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "recsys compiled core (see the recsys package for the Python API)";
  m.attr("__version__") = RECSYS_PY_VERSION;
}

// recsys._core: module definition. Each layer's bindings live in their own
// file (bind_<layer>.cc) and are registered here. Also holds the one mapping
// of absl::Status codes to Python exceptions (py_common.h).
#include <pybind11/pybind11.h>

#include <filesystem>

#include "py_common.h"
#include "recsys/core/parallel.h"
#include "recsys/recsys.h"

namespace py = pybind11;

namespace recsys::pyb {

void BindData(py::module_& m);
void BindModels(py::module_& m);
void BindEval(py::module_& m);
void BindCandidates(py::module_& m);
void BindRecommender(py::module_& m);

namespace {

// absl code → Python exception type. The original message is kept.
PyObject* ExceptionFor(const absl::Status& s) {
  const std::string msg(s.message());
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return PyExc_ValueError;
    case absl::StatusCode::kNotFound:
      // File-system lookups (errno ENOENT) vs. missing keys.
      if (msg.find("No such file") != std::string::npos || msg.find("cannot open") != std::string::npos) {
        return PyExc_FileNotFoundError;
      }
      return PyExc_KeyError;
    case absl::StatusCode::kPermissionDenied:
      return PyExc_PermissionError;
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnavailable:
      return PyExc_OSError;
    case absl::StatusCode::kCancelled:
      return PyExc_KeyboardInterrupt;
    case absl::StatusCode::kResourceExhausted:
      return PyExc_MemoryError;
    default:
      return PyExc_RuntimeError;
  }
}

}  // namespace

void RegisterStatusTranslator() {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      PyErr_SetString(ExceptionFor(e.status()), e.what());
    }
  });
}

void CheckPathExists(const std::string& path, const char* arg) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    PyErr_SetObject(PyExc_FileNotFoundError,
                    py::make_tuple(2, std::string(arg) + ": no such file: '" + path + "'", path).ptr());
    throw py::error_already_set();
  }
}

py::array_t<int64_t, py::array::c_style> CheckIntArray(const py::handle& obj, const char* arg) {
  py::array a = py::array::ensure(obj);
  if (!a) {
    PyErr_Clear();
    throw py::type_error(std::string(arg) + ": expected an integer array, got " +
                         std::string(py::str(obj.get_type())));
  }
  const char kind = a.dtype().kind();
  if (kind != 'i' && kind != 'u') {
    // Allow empty arrays of any dtype (e.g. np.array([])).
    if (!(a.size() == 0 && a.ndim() == 1)) {
      throw py::type_error(std::string(arg) + ": expected an integer dtype, got " +
                           std::string(py::str(a.dtype())));
    }
  }
  if (a.ndim() != 1) {
    throw py::value_error(std::string(arg) + ": expected a 1-D array, got ndim=" + std::to_string(a.ndim()));
  }
  if (kind == 'u' && DtypeSize(a) == 8 && a.size() > 0) {
    auto u = py::array_t<uint64_t, py::array::forcecast>::ensure(a);
    auto r = u.unchecked<1>();
    for (py::ssize_t i = 0; i < r.shape(0); ++i) {
      if (r(i) > static_cast<uint64_t>(INT64_MAX)) {
        throw py::value_error(std::string(arg) + "[" + std::to_string(i) + "] = " + std::to_string(r(i)) +
                              " does not fit in int64");
      }
    }
  }
  return py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
}

py::array_t<float, py::array::c_style> CheckFloatArray(const py::handle& obj, const char* arg, int ndim,
                                                       bool strict) {
  py::array a = py::array::ensure(obj);
  if (!a) {
    PyErr_Clear();
    throw py::type_error(std::string(arg) + ": expected a float array, got " + std::string(py::str(obj.get_type())));
  }
  const char kind = a.dtype().kind();
  if (strict ? !(kind == 'f' && DtypeSize(a) == 4) : !(kind == 'f' || kind == 'i' || kind == 'u')) {
    throw py::type_error(std::string(arg) + ": expected dtype float32, got " + std::string(py::str(a.dtype())));
  }
  if (a.ndim() != ndim) {
    throw py::value_error(std::string(arg) + ": expected a " + std::to_string(ndim) + "-D array, got ndim=" +
                          std::to_string(a.ndim()));
  }
  if (strict && !(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(arg) + ": expected a C-contiguous array (use np.ascontiguousarray)");
  }
  return py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
}

}  // namespace recsys::pyb

PYBIND11_MODULE(_core, m) {
  m.doc() = "recsys compiled core (see the recsys package for the Python API)";
  m.attr("__version__") = RECSYS_PY_VERSION;
  recsys::LimitThirdPartyThreads();
  recsys::pyb::RegisterStatusTranslator();
  recsys::pyb::BindData(m);
  recsys::pyb::BindModels(m);
  recsys::pyb::BindEval(m);
  recsys::pyb::BindCandidates(m);
  recsys::pyb::BindRecommender(m);
  m.def("_status_error", [](int code, const std::string& msg) {
    recsys::pyb::ThrowIfError(absl::Status(static_cast<absl::StatusCode>(code), msg));
  }, "Raises the Python exception mapped from an absl status code (for tests).");
}

// Shared helpers of the recsys._core bindings: the single absl::Status →
// Python exception mapping, argument checks for numpy inputs, and zero-copy
// numpy views over C++ memory owned by a Python object.
//
//   ThrowIfError(status);                          // raises the mapped exception
//   auto ids = CheckIntArray(obj, "users");        // int64, 1-D, C-contiguous copy/view
//   py::array v = View(span, owner_handle);        // read-only, keeps owner alive
//
// Thread safety: call with the GIL held (ThrowIfError may be called without:
// it only throws a C++ exception that is translated once the GIL is back).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace recsys::pyb {

namespace py = pybind11;

// Carries an absl::Status across the C++/Python boundary; translated to a
// Python exception by the translator registered in module.cc.
class StatusError : public std::exception {
 public:
  explicit StatusError(absl::Status status)
      : status_(std::move(status)), what_(std::string(status_.message())) {}
  const absl::Status& status() const { return status_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  absl::Status status_;
  std::string what_;
};

inline void ThrowIfError(const absl::Status& status) {
  if (!status.ok()) throw StatusError(status);
}

template <typename T>
T ValueOrThrow(absl::StatusOr<T> v) {
  ThrowIfError(v.status());
  return std::move(v).value();
}

// Item size of an array's dtype. Read through Python: pybind11 2.10's
// dtype::itemsize() reads the numpy 1.x descriptor layout (wrong on numpy 2).
inline py::ssize_t DtypeSize(const py::array& a) { return a.dtype().attr("itemsize").cast<py::ssize_t>(); }

// A new C-contiguous array of `shape` with strides computed from sizeof(T).
// pybind11 2.10 derives default strides from the numpy 1.x descriptor layout,
// which gives wrong (zero) strides under numpy 2, so every array the bindings
// allocate goes through here.
template <typename T>
py::array_t<T> NewArray(std::vector<py::ssize_t> shape) {
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t step = static_cast<py::ssize_t>(sizeof(T));
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = step;
    step *= shape[i];
  }
  return py::array_t<T>(std::move(shape), std::move(strides));
}

// Registers the translator (module.cc calls it once).
void RegisterStatusTranslator();

// Raises FileNotFoundError naming the argument when `path` does not exist.
void CheckPathExists(const std::string& path, const char* arg);

// An integer array of any integer dtype, 1-D, as a C-contiguous int64 array
// (a view when already int64 and contiguous, else one converted copy).
// TypeError for non-integer dtypes, ValueError for ndim != 1.
py::array_t<int64_t, py::array::c_style> CheckIntArray(const py::handle& obj, const char* arg);

// A float array (any float dtype) as C-contiguous float32 with `ndim` dims.
// When `strict` is set the input must already be float32 and C-contiguous
// (TypeError / ValueError otherwise), so that no copy is made.
py::array_t<float, py::array::c_style> CheckFloatArray(const py::handle& obj, const char* arg, int ndim,
                                                       bool strict);

// Read-only 1-D numpy view of `data` kept alive by `owner`.
template <typename T>
py::array View(std::span<const T> data, py::handle owner) {
  py::array a(py::dtype::of<T>(), {static_cast<py::ssize_t>(data.size())}, {static_cast<py::ssize_t>(sizeof(T))},
              data.data(), owner);
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

}  // namespace recsys::pyb

// ---- Types shared between binding files --------------------------------------------------------

#include <memory>
#include <vector>

#include "recsys/data/splits.h"
#include "recsys/data/vocabulary.h"

namespace recsys::pyb {

// A vocabulary kept alive by whatever owns it (a dataset or a model).
struct PyVocab {
  std::shared_ptr<const Vocabulary> v;
};

// An EvalSet with the vocabulary its dense indices refer to.
struct PyEvalSet {
  std::shared_ptr<const EvalSet> set;
  std::shared_ptr<const Vocabulary> vocab;
};

// Histories given as CSR external ids (offsets: n + 1, items), mapped onto
// `vocab`; unknown ids are dropped and counted in `unknown`. The views point
// into `dense`, which must outlive them.
struct MappedHistories {
  std::vector<ItemIndex> dense;
  std::vector<int64_t> offsets;
  std::vector<HistoryView> views;
  int64_t unknown = 0;
};
MappedHistories MapHistories(const py::handle& offsets, const py::handle& items, const Vocabulary& vocab);

}  // namespace recsys::pyb

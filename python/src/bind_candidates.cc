// Candidate-generation bindings: AnnIndex (FAISS factory string, inner
// product) build / search / save / load, with numpy inputs read in place.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "py_common.h"
#include "recsys/candidates/ann_index.h"
#include "recsys/core/eigen.h"
#include "recsys/core/parallel.h"

namespace recsys::pyb {

namespace {
using IndexPtr = std::shared_ptr<AnnIndex>;

Eigen::Map<const MatrixF> MapMatrix(const py::array_t<float, py::array::c_style>& a) {
  return Eigen::Map<const MatrixF>(a.data(), a.shape(0), a.shape(1));
}
}  // namespace

void BindCandidates(py::module_& m) {
  py::class_<AnnIndex, IndexPtr>(m, "AnnIndex", "Inner-product ANN index over item embeddings (FAISS).")
      .def_static(
          "create",
          [](const std::string& factory, int dim, int hnsw_ef_construction, int default_ef_search,
             int default_nprobe, bool locality_order) {
            AnnIndexConfig c;
            c.factory = factory;
            c.dim = dim;
            c.hnsw_ef_construction = hnsw_ef_construction;
            c.default_ef_search = default_ef_search;
            c.default_nprobe = default_nprobe;
            c.locality_order = locality_order;
            return IndexPtr(ValueOrThrow(AnnIndex::Create(c)).release());
          },
          py::arg("factory") = "Flat", py::arg("dim"), py::arg("hnsw_ef_construction") = 0,
          py::arg("default_ef_search") = 0, py::arg("default_nprobe") = 0, py::arg("locality_order") = false)
      .def_static(
          "load",
          [](const std::string& path) {
            CheckPathExists(path, "path");
            absl::StatusOr<std::unique_ptr<AnnIndex>> r;
            {
              py::gil_scoped_release release;
              r = AnnIndex::Load(path);
            }
            return IndexPtr(ValueOrThrow(std::move(r)).release());
          },
          py::arg("path"))
      .def_property_readonly("dim", &AnnIndex::dim)
      .def_property_readonly("size", &AnnIndex::size)
      .def("__len__", &AnnIndex::size)
      .def_property_readonly("factory", &AnnIndex::factory)
      .def_property_readonly("is_exact", &AnnIndex::is_exact)
      .def_property_readonly("locality_ordered", &AnnIndex::locality_ordered)
      .def(
          "add",
          [](AnnIndex& index, const py::handle& items) {
            auto a = CheckFloatArray(items, "items", 2, /*strict=*/true);
            if (a.shape(1) != index.dim()) {
              throw py::value_error("items: has " + std::to_string(a.shape(1)) + " columns, index dim is " +
                                    std::to_string(index.dim()));
            }
            absl::Status s;
            {
              py::gil_scoped_release release;
              s = index.Add(MapMatrix(a));
            }
            ThrowIfError(s);
          },
          py::arg("items"), "Adds items (n × dim float32, C-contiguous; read in place) with ids size()..")
      .def(
          "search",
          [](const AnnIndex& index, const py::handle& queries, int k, int ef_search, int nprobe, int threads,
             bool scored_results) {
            auto q = CheckFloatArray(queries, "queries", 2, /*strict=*/true);
            if (q.shape(1) != index.dim()) {
              throw py::value_error("queries: has " + std::to_string(q.shape(1)) + " columns, index dim is " +
                                    std::to_string(index.dim()));
            }
            if (k < 1) throw py::value_error("k: must be >= 1, got " + std::to_string(k));
            const py::ssize_t n = q.shape(0);
            auto ids = NewArray<int32_t>({n, static_cast<py::ssize_t>(k)});
            auto scores = NewArray<float>({n, static_cast<py::ssize_t>(k)});
            AnnSearchParams p;
            p.ef_search = ef_search;
            p.nprobe = nprobe;
            p.scored_results = scored_results;
            absl::Status s;
            {
              py::gil_scoped_release release;
              ThreadLimit limit(threads);
              Eigen::Map<Matrix<int32_t>> id_map(ids.mutable_data(), n, k);
              Eigen::Map<MatrixF> score_map(scores.mutable_data(), n, k);
              s = index.Search(MapMatrix(q), k, p, {}, id_map, score_map);
            }
            ThrowIfError(s);
            return py::make_tuple(ids, scores);
          },
          py::arg("queries"), py::arg("k") = 10, py::arg("ef_search") = 0, py::arg("nprobe") = 0,
          py::arg("threads") = 0, py::arg("scored_results") = false,
          "Top-k (ids int32, scores float32), each n × k; padding id -1.")
      .def(
          "save",
          [](const AnnIndex& index, const std::string& path) {
            absl::Status s;
            {
              py::gil_scoped_release release;
              s = index.Save(path);
            }
            ThrowIfError(s);
          },
          py::arg("path"));
}

}  // namespace recsys::pyb

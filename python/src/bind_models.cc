// Model bindings: TrainModel with a JSON config and a per-epoch Python
// callback, LoadModel, and scoring / recommendation with external ids.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "py_common.h"
#include "recsys/core/eigen.h"
#include "recsys/core/parallel.h"
#include "recsys/core/topk.h"
#include "recsys/eval/evaluator.h"
#include "recsys/models/model.h"

namespace recsys::pyb {

namespace {

using ModelPtr = std::shared_ptr<SequentialModel>;

std::shared_ptr<const Vocabulary> ModelVocab(const ModelPtr& m) {
  return std::shared_ptr<const Vocabulary>(m, &m->item_vocab());
}

py::dict ProgressDict(const TrainProgress& p) {
  py::dict d;
  d["epoch"] = p.epoch;
  d["step"] = p.step;
  d["total_steps"] = p.total_steps;
  d["loss"] = p.loss;
  d["events_per_s"] = p.events_per_s;
  d["elapsed_s"] = p.elapsed_s;
  d["eta_s"] = p.eta_s;
  d["valid_metric_name"] = p.valid_metric_name;
  d["valid_metric"] = p.valid_metric;
  return d;
}

ModelPtr Train(const std::string& type, const std::string& config_json, const std::shared_ptr<SequenceDataset>& train,
               const std::optional<PyEvalSet>& valid, int threads, uint64_t seed, double max_minutes,
               const py::object& progress) {
  if (!train) throw py::type_error("train: expected a Dataset, got None");
  TrainContext ctx;
  ctx.train = train.get();
  ctx.threads = threads;
  ctx.seed = seed;
  ctx.max_minutes = max_minutes;
  EvalSet remapped;
  if (valid) {
    if (valid->vocab.get() == &train->item_vocab()) {
      ctx.valid = valid->set.get();
    } else {
      remapped = RemapEvalSet(*valid->set, *valid->vocab, train->item_vocab());
      ctx.valid = &remapped;
    }
  }
  std::optional<py::error_already_set> callback_error;
  if (!progress.is_none()) {
    if (!PyCallable_Check(progress.ptr())) throw py::type_error("progress: expected a callable or None");
    ctx.progress = [&progress, &callback_error](const TrainProgress& p) -> bool {
      py::gil_scoped_acquire acquire;
      if (callback_error) return false;
      try {
        py::object r = progress(ProgressDict(p));
        // None (no explicit answer) continues; anything falsy stops.
        return r.is_none() || r.cast<bool>();
      } catch (py::error_already_set& e) {
        callback_error.emplace(std::move(e));
        return false;
      }
    };
  }
  absl::StatusOr<std::unique_ptr<SequentialModel>> r;
  {
    py::gil_scoped_release release;
    ThreadLimit limit(threads);
    r = TrainModel(type, config_json, ctx);
  }
  if (callback_error) throw std::move(*callback_error);
  return ModelPtr(ValueOrThrow(std::move(r)).release());
}

// Scores the mapped histories into rows of `out` (n × num_items).
void ScoreInto(const SequentialModel& model, const MappedHistories& h, float* out, int threads) {
  absl::Status s;
  {
    py::gil_scoped_release release;
    ThreadLimit limit(threads);
    const int64_t n = static_cast<int64_t>(h.views.size());
    const int64_t items = model.num_items();
    Eigen::Map<MatrixF> all(out, n, items);
    s = model.ScoreAll(h.views, all);
  }
  ThrowIfError(s);
}

py::array_t<float> ScoreAll(const ModelPtr& model, const py::handle& offsets, const py::handle& items, int threads) {
  MappedHistories h = MapHistories(offsets, items, model->item_vocab());
  auto out = NewArray<float>({static_cast<py::ssize_t>(h.views.size()), static_cast<py::ssize_t>(model->num_items())});
  ScoreInto(*model, h, out.mutable_data(), threads);
  return out;
}

py::tuple Recommend(const ModelPtr& model, const py::handle& offsets, const py::handle& items, int k, bool filter_seen,
                    const py::handle& exclude, int threads) {
  if (k < 1) throw py::value_error("k: must be >= 1, got " + std::to_string(k));
  const Vocabulary& vocab = model->item_vocab();
  MappedHistories h = MapHistories(offsets, items, vocab);
  std::vector<int32_t> excluded;
  if (!exclude.is_none()) {
    auto ex = CheckIntArray(exclude, "exclude");
    for (py::ssize_t i = 0; i < ex.size(); ++i) {
      const int32_t d = vocab.Find(ex.data()[i]);
      if (d >= 0) excluded.push_back(d);
    }
  }
  const int64_t n = static_cast<int64_t>(h.views.size());
  const int64_t num_items = model->num_items();
  const int kk = static_cast<int>(std::min<int64_t>(k, std::max<int64_t>(num_items, 1)));
  auto out_ids = NewArray<int64_t>({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(kk)});
  auto out_scores = NewArray<float>({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(kk)});
  int64_t* ids_ptr = out_ids.mutable_data();
  float* scores_ptr = out_scores.mutable_data();
  absl::Status status;
  {
    py::gil_scoped_release release;
    ThreadLimit limit(threads);
    const int64_t batch = std::max<int64_t>(1, std::min<int64_t>(256, (int64_t{64} << 20) / std::max<int64_t>(1, num_items * 4)));
    MatrixF block;
    Matrix<int32_t> top_ids;
    MatrixF top_scores;
    const float kNegInf = -std::numeric_limits<float>::infinity();
    for (int64_t b = 0; b < n && status.ok(); b += batch) {
      const int64_t e = std::min(n, b + batch);
      block.resize(e - b, num_items);
      status = model->ScoreAll(std::span<const HistoryView>(h.views).subspan(b, e - b), block);
      if (!status.ok()) break;
      for (int64_t r = b; r < e; ++r) {
        if (filter_seen) {
          for (ItemIndex it : h.views[r].items) block(r - b, it) = kNegInf;
        }
        for (int32_t it : excluded) block(r - b, it) = kNegInf;
      }
      top_ids.resize(e - b, kk);
      top_scores.resize(e - b, kk);
      TopKRows(block, kk, top_ids, top_scores);
      for (int64_t r = b; r < e; ++r) {
        for (int j = 0; j < kk; ++j) {
          const int32_t d = top_ids(r - b, j);
          const float sc = top_scores(r - b, j);
          const bool valid = d >= 0 && sc != kNegInf;
          ids_ptr[r * kk + j] = valid ? vocab.External(d) : -1;
          scores_ptr[r * kk + j] = valid ? sc : kNegInf;
        }
      }
    }
  }
  ThrowIfError(status);
  return py::make_tuple(out_ids, out_scores, h.unknown);
}

py::array_t<float> ScoreCandidates(const ModelPtr& model, const py::handle& history, const py::handle& candidates,
                                   int threads) {
  auto hist = CheckIntArray(history, "history");
  auto cand = CheckIntArray(candidates, "candidates");
  auto offsets = NewArray<int64_t>({2});
  offsets.mutable_data()[0] = 0;
  offsets.mutable_data()[1] = hist.size();
  MappedHistories h = MapHistories(offsets, hist, model->item_vocab());
  std::vector<float> row(static_cast<size_t>(model->num_items()));
  ScoreInto(*model, h, row.data(), threads);
  auto out = NewArray<float>({cand.size()});
  float* o = out.mutable_data();
  for (py::ssize_t i = 0; i < cand.size(); ++i) {
    const int32_t d = model->item_vocab().Find(cand.data()[i]);
    o[i] = d < 0 ? std::numeric_limits<float>::quiet_NaN() : row[static_cast<size_t>(d)];
  }
  return out;
}

}  // namespace

void BindModels(py::module_& m) {
  m.def("model_types", &ModelTypes, "Registered model type names.");
  py::class_<SequentialModel, ModelPtr>(m, "Model", "A trained sequential recommender (C++ SequentialModel).")
      .def_static("train", &Train, py::arg("type"), py::arg("config_json") = "{}", py::arg("train"),
                  py::arg("valid") = std::nullopt, py::arg("threads") = 0, py::arg("seed") = 42,
                  py::arg("max_minutes") = 0.0, py::arg("progress") = py::none())
      .def_static(
          "load",
          [](const std::string& path) {
            CheckPathExists(path, "path");
            absl::StatusOr<std::unique_ptr<SequentialModel>> r;
            {
              py::gil_scoped_release release;
              r = LoadModel(path);
            }
            return ModelPtr(ValueOrThrow(std::move(r)).release());
          },
          py::arg("path"))
      .def(
          "save",
          [](const SequentialModel& model, const std::string& path) {
            absl::Status s;
            {
              py::gil_scoped_release release;
              s = model.Save(path);
            }
            ThrowIfError(s);
          },
          py::arg("path"))
      .def_property_readonly("type", &SequentialModel::type)
      .def_property_readonly("config_json", &SequentialModel::config_json)
      .def_property_readonly("num_items", &SequentialModel::num_items)
      .def_property_readonly("has_embeddings", &SequentialModel::has_embeddings)
      .def_property_readonly("item_vocab", [](const ModelPtr& mp) { return PyVocab{ModelVocab(mp)}; })
      .def("score_all", &ScoreAll, py::arg("offsets"), py::arg("items"), py::arg("threads") = 0,
           "Scores of every item (n × num_items float32) for CSR external-id histories.")
      .def("recommend", &Recommend, py::arg("offsets"), py::arg("items"), py::arg("k") = 10,
           py::arg("filter_seen") = true, py::arg("exclude") = py::none(), py::arg("threads") = 0,
           "Top-k external ids and scores (n × k; padding id -1, score -inf) and the count of unknown input ids.")
      .def("score", &ScoreCandidates, py::arg("history"), py::arg("candidates"), py::arg("threads") = 0,
           "Scores of the given candidate external ids for one history (NaN for unknown candidates).");
}

}  // namespace recsys::pyb

// Evaluation bindings: the full-catalogue evaluator (returns a dict with the
// keys of EvalResultToJson) and per-case ranking metrics.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "py_common.h"
#include "recsys/eval/evaluator.h"
#include "recsys/eval/metrics.h"
#include "recsys/models/model.h"

namespace recsys::pyb {

void BindEval(py::module_& m) {
  m.def(
      "evaluate",
      [](const std::shared_ptr<SequentialModel>& model, const PyEvalSet& cases, std::vector<int> ks, bool filter_seen,
         int batch_size, int threads) {
        if (!model) throw py::type_error("model: expected a Model, got None");
        EvalOptions o;
        o.ks = std::move(ks);
        o.filter_seen = filter_seen;
        o.batch_size = batch_size;
        o.threads = threads;
        absl::StatusOr<EvalResult> r;
        {
          py::gil_scoped_release release;
          if (cases.vocab.get() == &model->item_vocab()) {
            r = Evaluate(*model, *cases.set, o);
          } else {
            const EvalSet remapped = RemapEvalSet(*cases.set, *cases.vocab, model->item_vocab());
            r = Evaluate(*model, remapped, o);
          }
        }
        const std::string json = EvalResultToJson(ValueOrThrow(std::move(r)));
        return py::module_::import("json").attr("loads")(json);
      },
      py::arg("model"), py::arg("cases"), py::arg("ks") = std::vector<int>{10}, py::arg("filter_seen") = true,
      py::arg("batch_size") = 256, py::arg("threads") = 0,
      "Full-catalogue evaluation → {'users', 'hr@K', 'ndcg@K', 'mrr@K', 'recall@K', 'coverage@K', ...}.");

  m.def(
      "case_metrics",
      [](const py::handle& ranked, const py::handle& targets, int k) {
        if (k < 1) throw py::value_error("k: must be >= 1, got " + std::to_string(k));
        auto r = CheckIntArray(ranked, "ranked");
        auto t = CheckIntArray(targets, "targets");
        if (t.size() == 0) throw py::value_error("targets: must not be empty");
        // Relabel ids densely (ids are opaque labels): targets first.
        absl::flat_hash_map<int64_t, int32_t> label;
        std::vector<ItemIndex> tg;
        for (py::ssize_t i = 0; i < t.size(); ++i) {
          tg.push_back(label.try_emplace(t.data()[i], static_cast<int32_t>(label.size())).first->second);
        }
        std::vector<ItemIndex> rk;
        for (py::ssize_t i = 0; i < r.size(); ++i) {
          auto it = label.find(r.data()[i]);
          rk.push_back(it == label.end() ? static_cast<int32_t>(label.size()) + 1 : it->second);
        }
        NormalizeTargets(tg);
        const CaseMetrics c = ComputeCaseMetrics(rk, tg, k);
        py::dict d;
        d["hr"] = c.hr;
        d["recall"] = c.recall;
        d["ndcg"] = c.ndcg;
        d["mrr"] = c.mrr;
        return d;
      },
      py::arg("ranked"), py::arg("targets"), py::arg("k"),
      "HR/recall/NDCG/MRR@k of one ranked list (best first) against its targets.");
}

}  // namespace recsys::pyb

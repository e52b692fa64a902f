// Recommender bindings: pipelines (build / save / load) and the serving facade
// (Recommend, RecommendBatch, SwapModel) with every per-request option as a
// keyword. Requests run without the GIL, so Python threads serve in parallel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "py_common.h"
#include "recsys/core/parallel.h"
#include "recsys/eval/evaluator.h"
#include "recsys/eval/two_stage.h"
#include "recsys/recommender.h"

namespace recsys::pyb {

namespace {

using ModelPtr = std::shared_ptr<SequentialModel>;
using PipelinePtr = std::shared_ptr<Pipeline>;  // pybind11 holders cannot be const; never mutated

MergeStrategy ParseMerge(const std::string& s) {
  if (s == "union_quota") return MergeStrategy::kUnionQuota;
  if (s == "max_score") return MergeStrategy::kMaxScore;
  if (s == "round_robin") return MergeStrategy::kRoundRobin;
  throw py::value_error("ann_merge: expected 'union_quota', 'max_score' or 'round_robin', got '" + s + "'");
}

RerankerKind ParseReranker(const std::string& s) {
  if (s == "none") return RerankerKind::kNone;
  if (s == "mmr") return RerankerKind::kMmr;
  if (s == "quotas") return RerankerKind::kQuotas;
  throw py::value_error("reranker: expected 'none', 'mmr' or 'quotas', got '" + s + "'");
}

std::vector<ExternalId> Ids(const py::handle& obj, const char* arg) {
  auto a = CheckIntArray(obj, arg);
  return std::vector<ExternalId>(a.data(), a.data() + a.size());
}

// Every option of RecommendOptions as a Python dict of keyword arguments.
RecommendOptions ParseOptions(const py::dict& kw) {
  RecommendOptions o;
  for (const auto& [key_h, value] : kw) {
    const std::string key = py::cast<std::string>(key_h);
    if (key == "k") {
      o.k = py::cast<int>(value);
    } else if (key == "ann_candidates") {
      o.ann_candidates = py::cast<int>(value);
    } else if (key == "item_to_item_candidates") {
      o.item_to_item_candidates = py::cast<int>(value);
    } else if (key == "popularity_candidates") {
      o.popularity_candidates = py::cast<int>(value);
    } else if (key == "ann_merge") {
      o.ann_merge = ParseMerge(py::cast<std::string>(value));
    } else if (key == "ann_fetch_factor") {
      o.ann_fetch_factor = py::cast<double>(value);
    } else if (key == "ef_search") {
      o.ef_search = py::cast<int>(value);
    } else if (key == "nprobe") {
      o.nprobe = py::cast<int>(value);
    } else if (key == "ann_scored_results") {
      o.ann_scored_results = py::cast<bool>(value);
    } else if (key == "ann_walk_group") {
      o.ann_walk_group = py::cast<int>(value);
    } else if (key == "filter_seen") {
      o.filter_seen = py::cast<bool>(value);
    } else if (key == "exclude") {
      if (!value.is_none()) o.exclude = Ids(value, "exclude");
    } else if (key == "allow") {
      if (!value.is_none()) o.allow = Ids(value, "allow");
    } else if (key == "reranker") {
      o.reranker = ParseReranker(py::cast<std::string>(value));
    } else if (key == "mmr_lambda") {
      o.mmr.lambda = py::cast<double>(value);
    } else if (key == "mmr_pool") {
      o.mmr.pool_size = py::cast<int>(value);
    } else if (key == "quotas") {
      if (!value.is_none()) {
        for (const auto& [c, share] : py::cast<py::dict>(value)) {
          o.quotas[py::cast<int32_t>(c)] = py::cast<double>(share);
        }
      }
    } else if (key == "latency_budget_ms") {
      o.latency_budget_ms = py::cast<double>(value);
    } else {
      throw py::type_error("recommend() got an unexpected keyword argument '" + key + "'");
    }
  }
  return o;
}

RecommendRequest MakeRequest(const py::handle& history, const py::handle& timestamps,
                             const std::optional<int32_t>& user_id, const RecommendOptions& options) {
  RecommendRequest r;
  if (!history.is_none()) r.history = Ids(history, "history");
  if (!timestamps.is_none()) {
    auto t = CheckIntArray(timestamps, "timestamps");
    r.timestamps.assign(t.data(), t.data() + t.size());
  }
  r.user_id = user_id;
  r.options = options;
  return r;
}

py::dict ToDict(const Recommendation& rec) {
  const auto n = static_cast<py::ssize_t>(rec.items.size());
  auto items = NewArray<int64_t>({n});
  auto scores = NewArray<float>({n});
  py::list sources;
  for (py::ssize_t i = 0; i < n; ++i) {
    const RecommendedItem& it = rec.items[static_cast<size_t>(i)];
    items.mutable_at(i) = it.item;
    scores.mutable_at(i) = it.score;
    py::list src;
    for (const CandidateSource& s : it.sources) {
      py::dict d;
      d["generator"] = GeneratorName(s.generator);
      d["query"] = s.query;
      d["rank"] = s.rank;
      d["score"] = s.score;
      src.append(std::move(d));
    }
    sources.append(std::move(src));
  }
  py::dict out;
  out["items"] = items;
  out["scores"] = scores;
  out["sources"] = sources;
  out["num_candidates"] = rec.num_candidates;
  out["unknown_history_items"] = rec.unknown_history_items;
  out["skipped_stages"] = rec.skipped_stages;
  out["elapsed_ms"] = rec.elapsed_ms;
  out["pipeline"] = rec.pipeline;
  if (!rec.quota_report.empty()) {
    py::list report;
    for (const QuotaReport& q : rec.quota_report) {
      py::dict d;
      d["category"] = q.category;
      d["target_share"] = q.target_share;
      d["quota"] = q.quota;
      d["filled"] = q.filled;
      d["met"] = q.met;
      report.append(std::move(d));
    }
    out["quota_report"] = report;
  }
  return out;
}

PipelinePtr BuildFromModel(const ModelPtr& model, const std::string& index_factory, int ef_construction,
                           int ef_search, const py::object& popularity, const py::object& categories,
                           const std::string& name, int threads, int nprobe, bool locality_order) {
  if (!model) throw py::type_error("model: expected a Model, got None");
  PipelineBuildOptions o;
  o.index_factory = index_factory;
  o.hnsw_ef_construction = ef_construction;
  o.default_ef_search = ef_search;
  if (nprobe < 0) throw py::value_error("nprobe must be >= 0, got " + std::to_string(nprobe));
  o.default_nprobe = nprobe;
  o.locality_order = locality_order;
  std::vector<float> pop;
  std::vector<int32_t> cat;
  if (!popularity.is_none()) {
    auto p = CheckFloatArray(popularity, "popularity", 1, /*strict=*/false);
    pop.assign(p.data(), p.data() + p.size());
  }
  if (!categories.is_none()) {
    auto c = CheckIntArray(categories, "categories");
    cat.reserve(static_cast<size_t>(c.size()));
    for (py::ssize_t i = 0; i < c.size(); ++i) cat.push_back(static_cast<int32_t>(c.data()[i]));
  }
  const auto n = static_cast<size_t>(model->num_items());
  if (!pop.empty() && pop.size() != n) {
    throw py::value_error("popularity: expected " + std::to_string(n) + " entries (one per model item), got " +
                          std::to_string(pop.size()));
  }
  if (!cat.empty() && cat.size() != n) {
    throw py::value_error("categories: expected " + std::to_string(n) + " entries (one per model item), got " +
                          std::to_string(cat.size()));
  }
  absl::StatusOr<Pipeline> p;
  {
    py::gil_scoped_release release;
    std::optional<ThreadLimit> limit;
    if (threads > 0) limit.emplace(threads);
    p = BuildPipeline(model, o);
  }
  Pipeline pipe = ValueOrThrow(std::move(p));
  pipe.popularity = std::move(pop);
  pipe.categories = std::move(cat);
  pipe.name = name;
  return std::make_shared<Pipeline>(std::move(pipe));
}

std::unique_ptr<Recommender> MakeRecommender(const Pipeline& p, int max_k, int max_candidates) {
  RecommenderConfig c;
  c.max_k = max_k;
  c.max_candidates_per_generator = max_candidates;
  absl::StatusOr<std::unique_ptr<Recommender>> r;
  {
    py::gil_scoped_release release;
    r = Recommender::Create(c, p);  // copies the shared pointers, not the weights
  }
  return ValueOrThrow(std::move(r));
}

}  // namespace

void BindRecommender(py::module_& m) {
  py::class_<Pipeline, PipelinePtr>(m, "Pipeline",
                                    "Everything one model version serves with: model, ANN index, popularity, "
                                    "categories (C++ recsys::Pipeline). Immutable.")
      .def_static("build", &BuildFromModel, py::arg("model"), py::arg("index_factory") = "HNSW32",
                  py::arg("ef_construction") = 0, py::arg("ef_search") = 128, py::arg("popularity") = py::none(),
                  py::arg("categories") = py::none(), py::arg("name") = "", py::arg("threads") = 0,
                  py::arg("nprobe") = 0, py::arg("locality_order") = false,
                  "Builds the ANN index over a longshort model's item embeddings (other models get none).")
      .def_static(
          "load",
          [](const std::string& path) {
            CheckPathExists(path, "path");
            absl::StatusOr<Pipeline> p;
            {
              py::gil_scoped_release release;
              p = LoadPipeline(path);
            }
            return std::make_shared<Pipeline>(ValueOrThrow(std::move(p)));
          },
          py::arg("path"))
      .def(
          "save",
          [](const Pipeline& p, const std::string& path) {
            absl::Status s;
            {
              py::gil_scoped_release release;
              s = SavePipeline(p, path);
            }
            ThrowIfError(s);
          },
          py::arg("path"))
      .def_property_readonly("name", [](const Pipeline& p) { return p.name; })
      .def_property_readonly("model", [](const PipelinePtr& p) {
        // Shares ownership with the pipeline; the Python Model is read-only in use.
        return std::const_pointer_cast<SequentialModel>(p->model);
      })
      .def_property_readonly("has_index", [](const Pipeline& p) { return p.index != nullptr; })
      .def_property_readonly("index_factory",
                             [](const Pipeline& p) { return p.index ? p.index->factory() : std::string(); })
      .def_property_readonly("index_locality_ordered",
                             [](const Pipeline& p) { return p.index != nullptr && p.index->locality_ordered(); })
      .def_property_readonly("num_items", [](const Pipeline& p) { return p.model ? p.model->num_items() : 0; });

  py::class_<Recommender>(m, "Recommender", "The serving facade (C++ recsys::Recommender). Thread-safe.")
      .def(py::init([](const PipelinePtr& p, int max_k, int max_candidates) {
             if (!p) throw py::type_error("pipeline: expected a Pipeline, got None");
             return MakeRecommender(*p, max_k, max_candidates);
           }),
           py::arg("pipeline"), py::arg("max_k") = 10000, py::arg("max_candidates_per_generator") = 100000)
      .def(
          "recommend",
          [](const Recommender& rec, const py::object& history, const py::object& timestamps,
             std::optional<int32_t> user_id, const py::kwargs& kw) {
            RecommendRequest r = MakeRequest(history, timestamps, user_id, ParseOptions(kw));
            absl::StatusOr<Recommendation> out;
            {
              py::gil_scoped_release release;
              out = rec.Recommend(r);
            }
            return ToDict(ValueOrThrow(std::move(out)));
          },
          py::arg("history") = py::none(), py::arg("timestamps") = py::none(), py::arg("user_id") = std::nullopt,
          "One request; options (k, ann_candidates, …) as keywords. Returns a dict.")
      .def(
          "recommend_batch",
          [](const Recommender& rec, const py::list& histories, int threads, const py::kwargs& kw) {
            const RecommendOptions o = ParseOptions(kw);
            std::vector<RecommendRequest> reqs;
            reqs.reserve(histories.size());
            for (const auto& h : histories) reqs.push_back(MakeRequest(h, py::none(), std::nullopt, o));
            std::vector<absl::StatusOr<Recommendation>> out;
            {
              py::gil_scoped_release release;
              std::optional<ThreadLimit> limit;
              if (threads > 0) limit.emplace(threads);
              out = rec.RecommendBatch(reqs);
            }
            py::list results;
            for (size_t i = 0; i < out.size(); ++i) {
              if (!out[i].ok()) {
                ThrowIfError(absl::Status(out[i].status().code(),
                                          "request " + std::to_string(i) + ": " +
                                              std::string(out[i].status().message())));
              }
              results.append(ToDict(*out[i]));
            }
            return results;
          },
          py::arg("histories"), py::arg("threads") = 0,
          "Many histories with the same options, in parallel without the GIL. Returns a list of dicts.")
      .def(
          "swap",
          [](Recommender& rec, const PipelinePtr& p) {
            if (!p) throw py::type_error("pipeline: expected a Pipeline, got None");
            absl::Status s;
            {
              py::gil_scoped_release release;
              s = rec.SwapModel(*p);
            }
            ThrowIfError(s);
          },
          py::arg("pipeline"), "Atomically serves a new pipeline; requests in flight finish on the old one.")
      .def(
          "evaluate",
          [](const Recommender& rec, const PyEvalSet& cases, std::vector<int> ks, int candidates, int ef_search,
             double fetch_factor, bool filter_seen, int threads, int nprobe, bool scored_results) {
            TwoStageOptions o;
            o.scored_results = scored_results;
            o.ks = std::move(ks);
            o.candidates = candidates;
            o.ef_search = ef_search;
            o.nprobe = nprobe;
            o.fetch_factor = fetch_factor;
            o.filter_seen = filter_seen;
            o.threads = threads;
            absl::StatusOr<TwoStageResult> r;
            {
              py::gil_scoped_release release;
              const Vocabulary& vocab = rec.pipeline()->model->item_vocab();
              if (cases.vocab.get() == &vocab) {
                r = EvaluateTwoStage(rec, *cases.set, o);
              } else {
                r = EvaluateTwoStage(rec, RemapEvalSet(*cases.set, *cases.vocab, vocab), o);
              }
            }
            const std::string json = TwoStageResultToJson(ValueOrThrow(std::move(r)));
            return py::module_::import("json").attr("loads")(json);
          },
          py::arg("cases"), py::arg("ks"), py::arg("candidates") = 200, py::arg("ef_search") = 0,
          py::arg("fetch_factor") = 2.0, py::arg("filter_seen") = true, py::arg("threads") = 0,
          py::arg("nprobe") = 0, py::arg("scored_results") = false,
          "Two-stage evaluation: the model ranks only the stage-1 candidates. Returns a dict.")
      .def_property_readonly("pipeline",
                             [](const Recommender& rec) { return std::const_pointer_cast<Pipeline>(rec.pipeline()); });
}

}  // namespace recsys::pyb

// Two-stage evaluation through the Recommender (eval/two_stage.h).
#include "recsys/eval/two_stage.h"

#include <algorithm>
#include <chrono>
#include <span>

#include "absl/strings/str_cat.h"
#include <nlohmann/json.hpp>
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/eval/evaluator.h"

namespace recsys {

absl::Status TwoStageOptions::Validate() const {
  if (candidates < 1 || candidates > 100000) {
    return absl::InvalidArgumentError(
        absl::StrCat("TwoStageOptions.candidates must be in [1, 100000], got ", candidates));
  }
  RECSYS_RETURN_IF_ERROR(ValidateCutoffs(ks, candidates, "TwoStageOptions.ks (at most candidates)"));
  if (ef_search < 0) return absl::InvalidArgumentError("TwoStageOptions.ef_search must be >= 0");
  if (nprobe < 0) return absl::InvalidArgumentError("TwoStageOptions.nprobe must be >= 0");
  if (!(fetch_factor >= 0.0)) return absl::InvalidArgumentError("TwoStageOptions.fetch_factor must be >= 0");
  if (threads < 0) return absl::InvalidArgumentError("TwoStageOptions.threads must be >= 0");
  return absl::OkStatus();
}

namespace {

// Requests per RecommendBatch call; results are folded in case order.
constexpr int64_t kChunk = 1024;

}  // namespace

absl::StatusOr<TwoStageResult> EvaluateTwoStage(const Recommender& recommender, const EvalSet& cases,
                                                const TwoStageOptions& options_in) {
  const auto start = std::chrono::steady_clock::now();
  RECSYS_RETURN_IF_ERROR(options_in.Validate());
  TwoStageOptions options = options_in;
  options.ks = UniqueCutoffs(options.ks);
  const std::shared_ptr<const Pipeline> pipeline = recommender.pipeline();
  const Vocabulary& vocab = pipeline->model->item_vocab();
  const int32_t num_items = vocab.size();
  RECSYS_RETURN_IF_ERROR(CheckEvalSet(cases, num_items));

  ThreadLimit limit(options.threads);
  RecommendOptions ro;
  ro.k = options.candidates;
  ro.ann_candidates = options.candidates;
  ro.item_to_item_candidates = 0;
  ro.popularity_candidates = 0;
  ro.ann_merge = options.merge;
  ro.ef_search = options.ef_search;
  ro.nprobe = options.nprobe;
  ro.ann_scored_results = options.scored_results;
  ro.ann_fetch_factor = options.fetch_factor;
  ro.filter_seen = options.filter_seen;

  MetricsAccumulator acc(options.ks, num_items);
  // The returned list is the whole candidate set: its metrics at K = N are stage 1's.
  MetricsAccumulator stage1({options.candidates}, num_items);
  TwoStageResult result;
  result.candidates = options.candidates;
  double candidate_sum = 0.0;
  std::vector<ItemIndex> ranked;
  const int64_t n = cases.size();
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    const int64_t end = std::min(n, begin + kChunk);
    std::vector<RecommendRequest> requests(static_cast<size_t>(end - begin));
    for (int64_t c = begin; c < end; ++c) {
      RecommendRequest& r = requests[static_cast<size_t>(c - begin)];
      const HistoryView h = cases.input(c);
      r.history.reserve(h.items.size());
      for (ItemIndex item : h.items) r.history.push_back(vocab.External(item));
      r.timestamps.assign(h.timestamps.begin(), h.timestamps.end());
      r.options = ro;
    }
    const std::vector<absl::StatusOr<Recommendation>> out = recommender.RecommendBatch(requests);
    for (int64_t c = begin; c < end; ++c) {
      const absl::StatusOr<Recommendation>& rec = out[static_cast<size_t>(c - begin)];
      if (!rec.ok()) return Annotate(rec.status(), absl::StrCat("two-stage evaluation, case ", c));
      ranked.clear();
      for (const RecommendedItem& item : rec->items) ranked.push_back(item.index);
      acc.Add(ranked, cases.target(c));
      stage1.Add(ranked, cases.target(c));
      if (!cases.target(c).empty()) candidate_sum += rec->num_candidates;
    }
  }
  result.metrics = acc.Result();
  const RankingMetrics s1 = stage1.Result();
  result.stage1_recall = s1.at(options.candidates).recall;
  result.stage1_hit_rate = s1.at(options.candidates).hr;
  if (s1.cases > 0) result.mean_candidates = candidate_sum / static_cast<double>(s1.cases);
  result.unknown_input_items = cases.unknown_input_items;
  result.unknown_targets = cases.unknown_targets;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::string TwoStageResultToJson(const TwoStageResult& result) {
  EvalResult base;
  base.metrics = result.metrics;
  base.unknown_input_items = result.unknown_input_items;
  base.unknown_targets = result.unknown_targets;
  base.seconds = result.seconds;
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(EvalResultToJson(base));
  const std::string n = std::to_string(result.candidates);
  j["candidates"] = result.candidates;
  j["stage1_recall@" + n] = result.stage1_recall;
  j["stage1_hr@" + n] = result.stage1_hit_rate;
  j["mean_candidates"] = result.mean_candidates;
  return j.dump();
}

}  // namespace recsys

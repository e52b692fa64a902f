// Two-stage evaluation: the cases of Evaluate (evaluator.h), but the ranker
// may only order what stage 1 retrieved. Each case is one Recommender request
// with only the ANN generator on (ann_candidates = N; item-to-item and
// popularity off) and k = N, so the returned list is the whole stage-1
// candidate set (seen items filtered) ranked by the pipeline's model. Its
// Recall@N is stage 1's recall@N; its top K give the final metrics at K, to
// be compared with the full-catalogue Evaluate of the same model.
//
//   recsys::TwoStageOptions options;
//   options.ks = {10, 20};
//   options.candidates = 200;
//   RECSYS_ASSIGN_OR_RETURN(recsys::TwoStageResult r, recsys::EvaluateTwoStage(*recommender, cases, options));
//   std::printf("NDCG@10 %.4f, stage-1 recall@200 %.4f\n", r.metrics.at(10).ndcg, r.stage1_recall);
//
// Case indices of `cases` refer to the vocabulary of the pipeline served when
// the evaluation starts (do not swap the model during it). Requests run in
// parallel (RecommendBatch); metrics are folded in case order, so the result
// does not depend on the thread count.
//
// Thread safety: reentrant; only const Recommender methods are called.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/candidates/multi_interest.h"
#include "recsys/data/splits.h"
#include "recsys/eval/metrics.h"
#include "recsys/recommender.h"

namespace recsys {

struct TwoStageOptions {
  // Cutoffs K of the final ranking, each in [1, candidates].
  std::vector<int> ks = {10};
  // N: stage-1 candidates per case, [1, 100000].
  int candidates = 200;
  // Stage-1 search: HNSW beam and IVF lists probed (0 = the pipeline's
  // defaults), the merge of the interest queries' lists and the first-fetch
  // factor (RecommendOptions).
  int ef_search = 0;
  int nprobe = 0;
  MergeStrategy merge = MergeStrategy::kUnionQuota;
  double fetch_factor = 2.0;
  bool scored_results = false;  // RecommendOptions::ann_scored_results
  bool filter_seen = true;
  // Worker threads, 0 = all cores (the result does not depend on it).
  int threads = 0;

  absl::Status Validate() const;
};

struct TwoStageResult {
  RankingMetrics metrics;        // final ranking at each K (and at N)
  int candidates = 0;            // N
  double stage1_recall = 0.0;    // mean over cases of |targets ∩ candidates| / min(|targets|, N)
  double stage1_hit_rate = 0.0;  // fraction of cases with a target among the candidates
  double mean_candidates = 0.0;  // candidates per case after merging and filtering
  int64_t unknown_input_items = 0;
  int64_t unknown_targets = 0;
  double seconds = 0.0;
};

// InvalidArgument for bad options or out-of-range case indices; a failed
// request's error names its case.
absl::StatusOr<TwoStageResult> EvaluateTwoStage(const Recommender& recommender, const EvalSet& cases,
                                                const TwoStageOptions& options = {});

// The keys of EvalResultToJson plus "candidates", "stage1_recall@N",
// "stage1_hr@N" and "mean_candidates".
std::string TwoStageResultToJson(const TwoStageResult& result);

}  // namespace recsys

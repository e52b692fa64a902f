// Evaluator: full-catalogue evaluation of a SequentialModel on an EvalSet.
//
// Cases are scored in batches through SequentialModel::ScoreAll into a
// B × num_items block (B bounded so that all concurrently live blocks stay
// under EvalOptions::max_block_bytes), the case's input history is masked with
// -inf (unless filter_seen is false), the top max(K) items are selected with
// TopKRows (ties → smaller item index) and the metrics of eval/metrics.h are
// accumulated in case order, so the numbers are bit-identical for any thread
// count and batch size.
//
//   recsys::EvalOptions options;
//   options.ks = {10, 20};
//   RECSYS_ASSIGN_OR_RETURN(recsys::EvalResult r, recsys::Evaluate(*model, split.test, options));
//   std::printf("NDCG@10 %.4f over %lld users\n", r.metrics.at(10).ndcg, (long long)r.users());
//   std::string json = recsys::EvalResultToJson(r);   // {"users":…, "hr@10":…, …}
//
// Thread safety: Evaluate is reentrant; it only calls const model methods.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/data/splits.h"
#include "recsys/data/vocabulary.h"
#include "recsys/eval/metrics.h"
#include "recsys/models/model.h"

namespace recsys {

struct EvalOptions {
  // Cutoffs K, each in [1, 100000]; duplicates are removed, order kept.
  std::vector<int> ks = {10};
  // Mask the input history's items (-inf) before ranking (the standard
  // protocol of DESIGN.md §3). False ranks seen items too.
  bool filter_seen = true;
  // Cases per ScoreAll call (B), ≥ 1; lowered automatically to respect
  // max_block_bytes.
  int batch_size = 256;
  // Upper bound on the memory of all score blocks alive at once, bytes (≥ 1 row).
  int64_t max_block_bytes = int64_t{256} << 20;
  // Worker threads, 0 = all cores (the result does not depend on it).
  int threads = 0;

  absl::Status Validate() const;
};

struct EvalResult {
  RankingMetrics metrics;           // per-K metrics, cases, skipped, unknown targets seen
  int64_t unknown_input_items = 0;  // from the EvalSet (dropped when it was built)
  int64_t unknown_targets = 0;      // from the EvalSet
  double seconds = 0.0;             // wall time of Evaluate

  int64_t users() const { return metrics.cases; }
  int64_t skipped() const { return metrics.skipped; }
};

// Evaluates `model` on `cases`, whose item indices refer to model.item_vocab().
// InvalidArgument when an index is out of range or options are invalid.
absl::StatusOr<EvalResult> Evaluate(const SequentialModel& model, const EvalSet& cases,
                                    const EvalOptions& options = {});

// One JSON object: {"users", "skipped", "hr@K", "ndcg@K", "mrr@K", "recall@K",
// "coverage@K" for every K, "unknown_input_items", "unknown_targets",
// "seconds"}.
std::string EvalResultToJson(const EvalResult& result);

// Re-expresses an EvalSet built over vocabulary `from` in vocabulary `to`
// (e.g. a dataset's split evaluated with a model trained on other data). Input
// items unknown to `to` are dropped and counted; targets unknown to `to`
// become kNoItem and are counted (added to the set's existing counts).
EvalSet RemapEvalSet(const EvalSet& cases, const Vocabulary& from, const Vocabulary& to);

// InvalidArgument unless the offsets are consistent and every input item and
// (known) target is a dense index in [0, num_items).
absl::Status CheckEvalSet(const EvalSet& cases, int32_t num_items);

// InvalidArgument naming `field` unless ks is non-empty and every cutoff is
// in [1, max_k].
absl::Status ValidateCutoffs(const std::vector<int>& ks, int max_k, const std::string& field);

// The cutoffs with duplicates removed, first occurrences kept in order.
std::vector<int> UniqueCutoffs(const std::vector<int>& ks);

// Parses "10,20,50" into cutoffs. InvalidArgument on anything else.
absl::StatusOr<std::vector<int>> ParseCutoffs(const std::string& text);

}  // namespace recsys

// Sampling probabilities Q(j) for the logQ corrections of losses.h: exact
// from item counts, or estimated on a stream for unbounded catalogues.
//
//   std::vector<float> log_q = recsys::LogQFromCounts(item_counts);   // Q(j) = c_j / Σc
//
//   recsys::StreamingFrequencyEstimator est({.num_buckets = 1 << 20});
//   for (int64_t step = 0; ...; ++step) {
//     est.Update(batch_item_ids, step);                    // external ids (hashed)
//     double lq = est.LogQ(item_id, /*draws_per_step=*/batch_size);
//   }
//
//   recsys::CountMinSketch cms(/*width=*/1 << 20, /*depth=*/4, /*seed=*/7);
//   cms.Add(item_id);  double q = cms.Probability(item_id);
//
// Thread safety: the estimators are mutable; serialise Update/Add calls.
// Queries are const and may run concurrently with each other.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"

namespace recsys {

// log Q(j) with Q(j) = (c_j + smoothing) / (Σc + smoothing·N). Items whose
// smoothed count is 0 count as half an occurrence (log Q stays finite).
// counts: N item counts ≥ 0 with a positive sum.
std::vector<float> LogQFromCounts(std::span<const int64_t> counts, double smoothing = 0.0);

// Count-min sketch (Cormode & Muthukrishnan 2005): depth rows of width
// counters; an item's estimate is the minimum of its counters, which never
// underestimates and overestimates by ≤ e·total/width with probability
// 1 − e^{−depth}.
class CountMinSketch {
 public:
  // width ≥ 1 counters per row, depth ≥ 1 rows (hash functions).
  CountMinSketch(int64_t width, int depth, uint64_t seed = 0);

  void Add(uint64_t key, int64_t count = 1);
  int64_t Estimate(uint64_t key) const;
  int64_t total() const { return total_; }
  // Estimate / total (0 when nothing was added).
  double Probability(uint64_t key) const;

 private:
  int64_t Slot(int row, uint64_t key) const;
  int64_t width_;
  int depth_;
  uint64_t seed_;
  std::vector<int64_t> counters_;  // depth × width
  int64_t total_ = 0;
};

// Streaming frequency estimator of Yi et al. (RecSys 2019, "Sampling-bias-
// corrected neural modeling for large corpus item recommendations", Alg. 2):
// for each hashed item it tracks the last step A it was seen at and a moving
// average B of the number of steps between occurrences,
//   B[h(y)] ← (1 − α)·B[h(y)] + α·(t − A[h(y)]),   A[h(y)] ← t,
// and estimates the per-step occurrence probability as 1 / B. With several
// hash functions the largest B (least collided) is used.
struct StreamingFrequencyConfig {
  // Buckets per hash array (H in the paper); ≥ 1.
  int64_t num_buckets = 1 << 20;
  // Number of independent hash arrays; ≥ 1.
  int num_hashes = 1;
  // Moving-average rate α ∈ (0, 1].
  double alpha = 0.01;
  // Hash seed.
  uint64_t seed = 0;

  absl::Status Validate() const;
};

class StreamingFrequencyEstimator {
 public:
  explicit StreamingFrequencyEstimator(const StreamingFrequencyConfig& config);

  // Records the items of the batch at training step t (non-decreasing).
  void Update(std::span<const int64_t> items, int64_t step);
  // Estimated occurrences of `item` per step, 1 / B (the probability that it
  // occurs in a step when it occurs at most once per step; 0 if never seen).
  double StepProbability(int64_t item) const;
  // log Q per draw: log(min(1, StepProbability / draws_per_step)), floored at
  // log(1e-12) for unseen items.
  double LogQ(int64_t item, int64_t draws_per_step) const;

 private:
  int64_t Slot(int hash, int64_t item) const;
  StreamingFrequencyConfig config_;
  std::vector<double> last_step_;  // A: num_hashes × num_buckets (−1 = never)
  std::vector<double> interval_;   // B: num_hashes × num_buckets
};

}  // namespace recsys

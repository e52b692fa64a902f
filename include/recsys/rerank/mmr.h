// Maximal Marginal Relevance re-ranking (Carbonell & Goldstein, 1998) over
// item-embedding cosine similarity.
//
// From a pool of the best `pool_size` candidates, picks k items greedily:
//   next = argmax_{i ∉ S}  λ · rel(i) − (1 − λ) · max_{j ∈ S} cos(e_i, e_j)
// rel(i) is the ranker score, min-max normalised over the pool (so λ trades
// off quantities of the same scale) unless `normalize_scores` is false.
// Cost: O(k · pool · D) with the max-similarity array updated incrementally
// after each pick (one dot product per remaining item per pick).
//
//   recsys::MmrOptions options;  // lambda 0.7, pool 200
//   std::vector<int> order = recsys::MmrRerank(scores, candidate_ids, item_embeddings, 10, options).value();
//   // order[r] indexes into candidate_ids: the r-th item of the re-ranked list
//
// Thread safety: a pure function.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "recsys/core/eigen.h"
#include "recsys/core/types.h"

namespace recsys {

struct MmrOptions {
  // λ ∈ [0, 1]: 1 = pure relevance (the input order), 0 = pure diversity.
  double lambda = 0.7;
  // Only the best `pool_size` candidates by score are considered (≥ 1).
  int pool_size = 200;
  // Min-max normalise relevance over the pool before mixing with cosine.
  bool normalize_scores = true;

  absl::Status Validate() const {
    if (!(lambda >= 0.0 && lambda <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat("MmrOptions.lambda must be in [0, 1], got ", lambda));
    }
    if (pool_size < 1) {
      return absl::InvalidArgumentError(absl::StrCat("MmrOptions.pool_size must be >= 1, got ", pool_size));
    }
    return absl::OkStatus();
  }
};

// scores[c] is candidate c's relevance and items[c] its row in `embeddings`
// (num_items × D, row-major). Returns up to k positions into the candidate
// arrays, in re-ranked order. Candidates with non-finite scores or embedding
// rows are never picked; zero-norm embeddings count as dissimilar to all.
inline absl::StatusOr<std::vector<int>> MmrRerank(std::span<const float> scores,
                                                  std::span<const ItemIndex> items,
                                                  ConstMatrixRef embeddings, int k,
                                                  const MmrOptions& options = {}) {
  if (auto s = options.Validate(); !s.ok()) return s;
  if (scores.size() != items.size()) {
    return absl::InvalidArgumentError(absl::StrCat("MmrRerank: scores has ", scores.size(),
                                                   " entries but items has ", items.size()));
  }
  if (k < 0) return absl::InvalidArgumentError(absl::StrCat("MmrRerank: k must be >= 0, got ", k));
  for (ItemIndex item : items) {
    if (item < 0 || item >= embeddings.rows()) {
      return absl::OutOfRangeError(absl::StrCat("MmrRerank: item ", item, " outside the embedding table of ",
                                                embeddings.rows(), " rows"));
    }
  }
  // Pool: best candidates by score (ties by position), finite only.
  std::vector<int> pool;
  pool.reserve(scores.size());
  for (int c = 0; c < static_cast<int>(scores.size()); ++c) {
    if (std::isfinite(scores[c]) && embeddings.row(items[c]).allFinite()) pool.push_back(c);
  }
  std::stable_sort(pool.begin(), pool.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  if (static_cast<int>(pool.size()) > options.pool_size) pool.resize(static_cast<size_t>(options.pool_size));
  const int n = static_cast<int>(pool.size());
  k = std::min(k, n);
  if (k == 0) return std::vector<int>{};

  // Unit-normalised pool embeddings (zero rows stay zero: cosine 0).
  const int64_t d = embeddings.cols();
  MatrixF unit(n, d);
  for (int p = 0; p < n; ++p) {
    const auto row = embeddings.row(items[pool[p]]);
    const float norm = row.norm();
    unit.row(p) = norm > 0.0f ? (row / norm).eval() : RowVectorF::Zero(d);
  }
  float lo = scores[pool[n - 1]], hi = scores[pool[0]];
  std::vector<double> rel(static_cast<size_t>(n));
  for (int p = 0; p < n; ++p) {
    rel[p] = options.normalize_scores ? (hi > lo ? (scores[pool[p]] - lo) / static_cast<double>(hi - lo) : 1.0)
                                      : scores[pool[p]];
  }

  std::vector<double> max_sim(static_cast<size_t>(n), 0.0);
  std::vector<char> taken(static_cast<size_t>(n), 0);
  std::vector<int> order;
  order.reserve(static_cast<size_t>(k));
  for (int step = 0; step < k; ++step) {
    int best = -1;
    double best_value = 0.0;
    for (int p = 0; p < n; ++p) {
      if (taken[p]) continue;
      const double redundancy = step == 0 ? 0.0 : max_sim[p];
      const double value = options.lambda * rel[p] - (1.0 - options.lambda) * redundancy;
      if (best < 0 || value > best_value) {  // ties: earlier (higher-scored) pool entry
        best = p;
        best_value = value;
      }
    }
    taken[best] = 1;
    order.push_back(pool[best]);
    for (int p = 0; p < n; ++p) {
      if (!taken[p]) max_sim[p] = std::max(max_sim[p], static_cast<double>(unit.row(p).dot(unit.row(best))));
    }
  }
  return order;
}

}  // namespace recsys

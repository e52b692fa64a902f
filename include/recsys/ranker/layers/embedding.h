// Embedding lookup (row gather) with row-sparse gradients, learnable position
// embeddings and bucketised log time-gap (recency) embeddings.
//
// Shape legend
//   V  table rows (items, positions or buckets)     D  embedding dim
//   n  looked-up rows (B·S)                          idx  n indices in [0, V) or −1
//   table  V × D      out, dout  n × D      RowSparseGrad: r unique rows × D
//
//   Mat<float> x;  RowSparseGrad<float> g(D);
//   Embedding<float>::Forward(table, idx, &x);        // x_i = table[idx_i]; idx −1 → zero row
//   Embedding<float>::Backward(idx, dx, &g);          // g[idx_i] += dx_i (padding skipped)
//   g.AddTo(&dense_grad);  // or hand g.rows()/g.values() to a lazy optimizer
//
//   AddPositionEmbedding<float>(pos_table, B, S, &x);  // x[b·S+s] += P[s]
//   std::vector<int32_t> buckets = LogTimeGapBuckets(gaps, {.num_buckets = 32});
//
// RowSparseGrad keeps rows in order of first appearance and sums each row's
// contributions in call order, so for the same sequence of calls the result is
// bit-identical (no hashing order, no thread dependence); SortRows() gives
// ascending row order when a consumer wants it.
// Thread safety: stateless functions; a RowSparseGrad is owned by one caller.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "recsys/ranker/layers/common.h"

namespace recsys::layers {

// Gradient of an embedding table that only touched a few rows.
template <typename T>
class RowSparseGrad {
 public:
  explicit RowSparseGrad(Eigen::Index dim = 0) : dim_(dim) {}

  Eigen::Index dim() const { return dim_; }
  // Unique touched rows (first-appearance order unless SortRows() was called).
  const std::vector<int32_t>& rows() const { return rows_; }
  // values().row(k) is the gradient of table row rows()[k]; size() × dim().
  // Storage may hold spare capacity: only the first size() rows are meaningful.
  auto values() const { return values_.topRows(static_cast<Eigen::Index>(rows_.size())); }
  size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }

  // Forgets all rows, keeps the storage (no allocation on reuse).
  void Clear() {
    rows_.clear();
    slot_.clear();
  }

  // Mutable gradient row of table row `row` (created as zero on first use).
  auto Row(int32_t row) {
    auto [it, inserted] = slot_.try_emplace(row, static_cast<int64_t>(rows_.size()));
    if (inserted) {
      rows_.push_back(row);
      if (values_.rows() < static_cast<Eigen::Index>(rows_.size()) || values_.cols() != dim_) {
        Grow(static_cast<Eigen::Index>(rows_.size()));
      }
      values_.row(static_cast<Eigen::Index>(it->second)).setZero();
    }
    return values_.row(static_cast<Eigen::Index>(it->second));
  }

  // this += other (row-wise), in other's row order.
  void Add(const RowSparseGrad& other) {
    RECSYS_CHECK(other.dim_ == dim_);
    for (size_t k = 0; k < other.rows_.size(); ++k) {
      Row(other.rows_[k]) += other.values_.row(static_cast<Eigen::Index>(k));
    }
  }

  // dense += this; dense is V × dim.
  void AddTo(MatRef<T> dense) const {
    RECSYS_CHECK(dense.cols() == dim_);
    for (size_t k = 0; k < rows_.size(); ++k) {
      RECSYS_DCHECK(rows_[k] >= 0 && rows_[k] < dense.rows());
      dense.row(rows_[k]) += values_.row(static_cast<Eigen::Index>(k));
    }
  }

  // Reorders rows ascending (values follow).
  void SortRows() {
    std::vector<int64_t> order(rows_.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return rows_[a] < rows_[b]; });
    Mat<T> sorted(static_cast<Eigen::Index>(rows_.size()), dim_);
    std::vector<int32_t> sorted_rows(rows_.size());
    for (size_t k = 0; k < order.size(); ++k) {
      sorted.row(static_cast<Eigen::Index>(k)) = values_.row(static_cast<Eigen::Index>(order[k]));
      sorted_rows[k] = rows_[static_cast<size_t>(order[k])];
    }
    rows_ = std::move(sorted_rows);
    values_ = std::move(sorted);
    for (size_t k = 0; k < rows_.size(); ++k) slot_[rows_[k]] = static_cast<int64_t>(k);
  }

 private:
  void Grow(Eigen::Index needed) {
    Eigen::Index capacity = std::max<Eigen::Index>(16, values_.rows());
    while (capacity < needed) capacity *= 2;
    Mat<T> grown(capacity, dim_);
    const Eigen::Index keep = std::min(values_.rows(), needed - 1);
    if (keep > 0 && values_.cols() == dim_) grown.topRows(keep) = values_.topRows(keep);
    values_ = std::move(grown);
  }

  Eigen::Index dim_;
  std::vector<int32_t> rows_;
  Mat<T> values_;  // capacity × dim, first rows_.size() rows live
  std::unordered_map<int32_t, int64_t> slot_;
};

template <typename T>
struct Embedding {
  // out_i = table[idx_i]; idx_i == kNoItem (−1) gives a zero row (padding).
  static void Forward(const CMatRef<T>& table, std::span<const int32_t> idx, Mat<T>* out) {
    const auto n = static_cast<Eigen::Index>(idx.size());
    EnsureShape(out, n, table.cols());
    for (Eigen::Index i = 0; i < n; ++i) {
      const int32_t r = idx[static_cast<size_t>(i)];
      if (r < 0) {
        out->row(i).setZero();
      } else {
        RECSYS_DCHECK(r < table.rows());
        out->row(i) = table.row(r);
      }
    }
  }

  // grad[idx_i] += dout_i for every non-padding i (in order of i).
  static void Backward(std::span<const int32_t> idx, const CMatRef<T>& dout, RowSparseGrad<T>* grad) {
    RECSYS_CHECK(grad->dim() == dout.cols());
    for (Eigen::Index i = 0; i < dout.rows(); ++i) {
      const int32_t r = idx[static_cast<size_t>(i)];
      if (r >= 0) grad->Row(r) += dout.row(i);  // out_i = table[idx_i]
    }
  }

  // Reference / dense variant: dtable[idx_i] += dout_i; dtable is V × D.
  static void BackwardDense(std::span<const int32_t> idx, const CMatRef<T>& dout, MatRef<T> dtable) {
    for (Eigen::Index i = 0; i < dout.rows(); ++i) {
      const int32_t r = idx[static_cast<size_t>(i)];
      if (r >= 0) dtable.row(r) += dout.row(i);
    }
  }
};

// Learnable absolute positions: x[b·S + s] += P[s] for s < S (P is S_max × D,
// S ≤ S_max). Every row gets its position, padded or not; padded rows are
// zeroed downstream by the block's output mask (SASRec convention).
template <typename T>
void AddPositionEmbedding(const CMatRef<T>& positions, Eigen::Index batch, Eigen::Index seq_len,
                          Mat<T>* x) {
  RECSYS_CHECK(seq_len <= positions.rows() && x->rows() == batch * seq_len &&
               x->cols() == positions.cols());
  for (Eigen::Index b = 0; b < batch; ++b) {
    x->middleRows(b * seq_len, seq_len) += positions.topRows(seq_len);
  }
}

// dP[s] += Σ_b dx[b·S + s]  (x += P[s] passes dx through unchanged).
template <typename T>
void AddPositionEmbeddingBackward(const CMatRef<T>& dx, Eigen::Index batch, Eigen::Index seq_len,
                                  MatRef<T> dpositions) {
  RECSYS_CHECK(dx.rows() == batch * seq_len && seq_len <= dpositions.rows());
  for (Eigen::Index b = 0; b < batch; ++b) {
    dpositions.topRows(seq_len) += dx.middleRows(b * seq_len, seq_len);
  }
}

// Bucketising of time gaps for recency / time-gap embeddings.
struct TimeGapBucketConfig {
  // Number of buckets (rows of the embedding table), ≥ 2. Bucket 0 holds gaps
  // ≤ 0 and unknown gaps; the last bucket collects everything beyond range.
  int32_t num_buckets = 32;
  // Gap unit in timestamp units (e.g. 60 for minutes when timestamps are
  // seconds), > 0. Gaps shorter than one unit go to bucket 1.
  double unit = 1.0;
  // Logarithm base of the bucket widths (> 1): bucket k ≥ 1 covers
  // gap/unit ∈ [base^(k−1), base^k), with gap/unit < 1 folded into bucket 1.
  double base = 2.0;
};

// bucket(gap) = 0 if gap ≤ 0; else min(num_buckets−1, 1 + max(0, ⌊log_base(gap/unit)⌋)).
inline int32_t LogTimeGapBucket(int64_t gap, const TimeGapBucketConfig& config) {
  if (gap <= 0) return 0;
  const double units = static_cast<double>(gap) / config.unit;
  const double k = units < 1.0 ? 0.0 : std::floor(std::log(units) / std::log(config.base));
  return static_cast<int32_t>(std::min<double>(config.num_buckets - 1, 1.0 + k));
}

inline std::vector<int32_t> LogTimeGapBuckets(std::span<const int64_t> gaps,
                                              const TimeGapBucketConfig& config) {
  RECSYS_CHECK(config.num_buckets >= 2 && config.unit > 0 && config.base > 1.0);
  std::vector<int32_t> buckets(gaps.size());
  for (size_t i = 0; i < gaps.size(); ++i) buckets[i] = LogTimeGapBucket(gaps[i], config);
  return buckets;
}

// Recency gaps of a history relative to a reference time (e.g. the request
// time or the last event): gap_i = now − t_i.
inline std::vector<int64_t> RecencyGaps(std::span<const Timestamp> timestamps, Timestamp now) {
  std::vector<int64_t> gaps(timestamps.size());
  for (size_t i = 0; i < timestamps.size(); ++i) gaps[i] = now - timestamps[i];
  return gaps;
}

}  // namespace recsys::layers

// Top-k selection: a bounded heap for streams and a batch form for score
// matrices.
//
// Order: higher score first; equal scores are broken by the smaller id, so the
// result is a deterministic function of the scores. NaN scores are never
// selected. Missing entries (fewer than k candidates) are padded with id -1
// and score -inf.
//
//   recsys::TopK<int32_t> top(10);
//   for (int32_t i = 0; i < n; ++i) top.Push(scores[i], i);
//   std::vector<recsys::ScoredId<int32_t>> best = top.Extract();   // sorted
//
//   recsys::TopKRows(scores /* b × n */, 10, ids /* b × 10 */, values /* b × 10 */);
//
// Thread safety: a TopK is a value; TopKRows parallelises over rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "recsys/core/check.h"
#include "recsys/core/eigen.h"
#include "recsys/core/parallel.h"
#include "recsys/core/types.h"

namespace recsys {

template <typename Id = int32_t>
struct ScoredId {
  float score;
  Id id;
};

// True when a ranks strictly before b.
template <typename Id>
inline bool RanksBefore(float score_a, Id id_a, float score_b, Id id_b) {
  return score_a > score_b || (score_a == score_b && id_a < id_b);
}

template <typename Id = int32_t>
class TopK {
 public:
  explicit TopK(int k) : k_(std::max(0, k)) { heap_.reserve(static_cast<size_t>(k_)); }

  int k() const { return k_; }
  int size() const { return static_cast<int>(heap_.size()); }
  bool full() const { return size() == k_; }

  // Score an entry must beat to enter (-inf while not full).
  float threshold() const { return full() && k_ > 0 ? heap_.front().score : kNegInf; }

  void Push(float score, Id id) {
    if (k_ == 0 || std::isnan(score)) return;
    if (!full()) {
      heap_.push_back({score, id});
      std::push_heap(heap_.begin(), heap_.end(), WorstOnTop);
      return;
    }
    const ScoredId<Id>& worst = heap_.front();
    if (!RanksBefore(score, id, worst.score, worst.id)) return;
    std::pop_heap(heap_.begin(), heap_.end(), WorstOnTop);
    heap_.back() = {score, id};
    std::push_heap(heap_.begin(), heap_.end(), WorstOnTop);
  }

  // Returns the entries sorted best first and empties the selector.
  std::vector<ScoredId<Id>> Extract() {
    std::vector<ScoredId<Id>> out;
    out.swap(heap_);
    std::sort(out.begin(), out.end(), [](const ScoredId<Id>& a, const ScoredId<Id>& b) {
      return RanksBefore(a.score, a.id, b.score, b.id);
    });
    heap_.reserve(static_cast<size_t>(k_));
    return out;
  }

  void Clear() { heap_.clear(); }

 private:
  // Heap comparator: "a < b" means a ranks before b, so the heap top is the
  // entry that ranks last.
  static bool WorstOnTop(const ScoredId<Id>& a, const ScoredId<Id>& b) {
    return RanksBefore(a.score, a.id, b.score, b.id);
  }

  int k_;
  std::vector<ScoredId<Id>> heap_;
};

// Writes the best k entries of each row of `scores` (b × n) into ids (b × k)
// and values (b × k), sorted best first, padded with -1 / -inf.
inline void TopKRows(ConstMatrixRef scores, int k, Eigen::Ref<Matrix<int32_t>> ids,
                     MatrixRef values) {
  RECSYS_CHECK(ids.rows() == scores.rows() && ids.cols() == k);
  RECSYS_CHECK(values.rows() == scores.rows() && values.cols() == k);
  const int64_t n = scores.cols();
  ParallelFor(0, scores.rows(), 16, [&](int64_t rb, int64_t re) {
    TopK<int32_t> top(k);
    for (int64_t r = rb; r < re; ++r) {
      const float* row = scores.row(r).data();
      for (int64_t j = 0; j < n; ++j) {
        if (row[j] >= top.threshold()) top.Push(row[j], static_cast<int32_t>(j));
      }
      auto best = top.Extract();
      for (int i = 0; i < k; ++i) {
        const bool have = i < static_cast<int>(best.size());
        ids(r, i) = have ? best[static_cast<size_t>(i)].id : kNoItem;
        values(r, i) = have ? best[static_cast<size_t>(i)].score : kNegInf;
      }
    }
  });
}

}  // namespace recsys

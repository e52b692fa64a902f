// Scores of sampled candidates and their backward pass: the glue between a
// user/query encoder, an item embedding table and the sampled losses.
//
//   // queries: B × d (e.g. the last hidden state); table: arena view N × d
//   recsys::MatrixF scores;
//   recsys::ScoreCandidates(queries, arena.Value(item_emb), cand, &scores);   // B × C
//   float loss = recsys::SampledSoftmaxLoss(scores, {}, &cand.log_q, cand.valid, opt, &dscores);
//   recsys::MatrixF dqueries = recsys::MatrixF::Zero(B, d);
//   recsys::ScoreCandidatesBackward(dscores, queries, arena.Value(item_emb), cand, &dqueries,
//       [&](int32_t item) { return grads.Row(item_emb, item); });             // row-sparse
//
// Forward:  scores(b, c) = <queries(b, :), table(items(b, c), :)>   (0 for items < 0)
// Backward: dqueries(b, :)          += Σ_c dscores(b, c) · table(items(b, c), :)
//           dtable(items(b, c), :)  += dscores(b, c) · queries(b, :)
// Columns whose dscores entry is exactly 0 (masked, ignored rows) are skipped,
// so masked items are never touched in the row-sparse gradient.
//
// Thread safety: pure functions; the row-gradient callback is called from the
// calling thread only.
#pragma once

#include <cstdint>

#include "recsys/core/check.h"
#include "recsys/core/eigen.h"
#include "recsys/training/samplers.h"

namespace recsys {

// queries: B × d; table: N × d (any row-major Eigen matrix or map); scores
// resized to cand.rows × cand.cols.
template <typename Q, typename E, typename T>
void ScoreCandidates(const Eigen::MatrixBase<Q>& queries, const Eigen::MatrixBase<E>& table,
                     const CandidateSet& cand, Matrix<T>* scores) {
  RECSYS_CHECK(queries.rows() == cand.rows && queries.cols() == table.cols())
      << "ScoreCandidates: queries " << queries.rows() << " x " << queries.cols() << ", table d "
      << table.cols() << ", candidates " << cand.rows << " rows";
  scores->resize(cand.rows, cand.cols);
  for (int64_t b = 0; b < cand.rows; ++b) {
    for (int64_t c = 0; c < cand.cols; ++c) {
      const int32_t j = cand.item(b, c);
      (*scores)(b, c) = j < 0 ? T(0) : static_cast<T>(queries.row(b).dot(table.row(j)));
    }
  }
}

// dscores: B × C (gradient of the loss w.r.t. scores); dqueries: B × d,
// accumulated into; row_grad(item) returns a pointer to the d gradient
// floats/doubles of that table row, accumulated into.
template <typename T, typename Q, typename E, typename RowGrad>
void ScoreCandidatesBackward(const Matrix<T>& dscores, const Eigen::MatrixBase<Q>& queries,
                             const Eigen::MatrixBase<E>& table, const CandidateSet& cand,
                             Matrix<T>* dqueries, RowGrad&& row_grad) {
  RECSYS_CHECK(dscores.rows() == cand.rows && dscores.cols() == cand.cols)
      << "ScoreCandidatesBackward: dscores " << dscores.rows() << " x " << dscores.cols();
  RECSYS_CHECK(dqueries->rows() == queries.rows() && dqueries->cols() == queries.cols());
  const int64_t d = queries.cols();
  for (int64_t b = 0; b < cand.rows; ++b) {
    for (int64_t c = 0; c < cand.cols; ++c) {
      const T g = dscores(b, c);
      const int32_t j = cand.item(b, c);
      if (g == T(0) || j < 0) continue;
      dqueries->row(b) += g * table.row(j).template cast<T>();
      auto* dst = row_grad(j);
      for (int64_t k = 0; k < d; ++k) dst[k] += g * queries(b, k);
    }
  }
}

}  // namespace recsys

// Target-aware scorer of the multi-interest ranker (DESIGN.md §1 stage 2, step 4):
// a candidate item attends over the user's interest vectors [u_s, v_1..v_K]
// and is scored against the mixture it selected.
//
// Shape legend
//   M = K + 1 interest vectors per user     D  model dim     C  candidates
//   U  M × D (row 0 = u_s, rows 1..K = v_k)   e  one candidate embedding (1 × D)
//   cand  C × D     s  M × C (s_mc = ⟨U_m, e_c⟩)     scores  C
//
//   s_m   = ⟨U_m, e⟩
//   a     = softmax(s / τ)                 (attention of the candidate over the interests)
//   z     = Σ_m a_m U_m                    (the user vector for this candidate)
//   score = ⟨z, e⟩ = Σ_m a_m s_m           (a smooth max of the per-interest scores;
//                                           τ → 0: max_m s_m, τ → ∞: mean_m s_m)
//   ∂score/∂s_m = a_m · (1 + (s_m − score)/τ)
//
// Scoring a whole catalogue is one GEMM (M × D by D × N) plus an O(N·M) pass
// over the M rows of scores, vectorised over the candidates; ScoreAll below
// is that form.
//
//   TargetScorer<float>::Cache cache;  Eigen::VectorXf scores;
//   TargetScorer<float>::Forward(U, cand, tau, &cache, &scores);
//   TargetScorer<float>::Backward(U, cand, dscores, tau, cache, &dU /*+=*/, &dcand /*+=*/);
//
// Thread safety: stateless; one cache per caller.
#pragma once

#include <algorithm>
#include <cmath>

#include "recsys/core/check.h"
#include "recsys/ranker/layers/activations.h"
#include "recsys/ranker/layers/common.h"

namespace recsys {

template <typename T>
struct TargetScorer {
  using Mat = layers::Mat<T>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

  struct Cache {
    Mat s;   // M × C raw scores ⟨U_m, e_c⟩ (one row per interest: the row pass is vectorised over C)
    Mat a;   // M × C attention weights
    Mat ds;  // backward scratch (M × C)
    Eigen::Array<T, 1, Eigen::Dynamic> score, scratch, den;  // 1 × C
  };

  // scores (C): resized. Columns of s/a per candidate.
  static void Forward(const layers::CMatRef<T>& interests, const layers::CMatRef<T>& cand, T tau,
                      Cache* c, Vec* scores) {
    const Eigen::Index m = interests.rows(), n = cand.rows();
    layers::EnsureShape(&c->s, m, n);
    c->s.noalias() = interests * cand.transpose();  // s = U·candᵀ
    layers::EnsureShape(&c->a, m, n);
    const T inv_tau = T(1) / tau;
    // a = softmax over the M interests of s/τ, per candidate (column), max-subtracted.
    auto& mx = c->scratch;
    mx = c->s.row(0).array();
    for (Eigen::Index r = 1; r < m; ++r) mx = mx.max(c->s.row(r).array());
    auto& score = c->score;
    score.setZero(n);
    auto& den = c->den;
    den.setZero(n);
    for (Eigen::Index r = 0; r < m; ++r) {
      c->a.row(r).array() = ((c->s.row(r).array() - mx) * inv_tau).exp();
      den += c->a.row(r).array();
      score += c->a.row(r).array() * c->s.row(r).array();
    }
    den = den.inverse();
    score *= den;  // score = Σ a_m s_m
    for (Eigen::Index r = 0; r < m; ++r) c->a.row(r).array() *= den;
    scores->resize(n);
    *scores = score.transpose().matrix();
  }

  // dscores (C). dinterests (M × D) and dcand (C × D) are ACCUMULATED (+=) when
  // non-null.
  static void Backward(const layers::CMatRef<T>& interests, const layers::CMatRef<T>& cand,
                       const Eigen::Ref<const Vec>& dscores, T tau, Cache& c,
                       layers::Mat<T>* dinterests, layers::Mat<T>* dcand) {
    BackwardImpl(interests, cand, dscores, tau, c, dinterests, dcand);
  }
  // The same with dcand any row-major storage (e.g. a gradient buffer's table).
  static void Backward(const layers::CMatRef<T>& interests, const layers::CMatRef<T>& cand,
                       const Eigen::Ref<const Vec>& dscores, T tau, Cache& c,
                       layers::Mat<T>* dinterests, layers::MatRef<T>* dcand) {
    BackwardImpl(interests, cand, dscores, tau, c, dinterests, dcand);
  }

 private:
  template <typename DI, typename DC>
  static void BackwardImpl(const layers::CMatRef<T>& interests, const layers::CMatRef<T>& cand,
                           const Eigen::Ref<const Vec>& dscores, T tau, Cache& c, DI* dinterests, DC* dcand) {
    // score = Σ a_m s_m, a = softmax(s/τ)  ⇒  ds_m = dscore · a_m (1 + (s_m − score)/τ)
    const Eigen::Index m = c.s.rows();
    layers::EnsureShape(&c.ds, m, c.s.cols());
    const T inv_tau = T(1) / tau;
    const auto dsc = dscores.transpose().array();
    for (Eigen::Index r = 0; r < m; ++r) {
      c.ds.row(r).array() = dsc * c.a.row(r).array() * ((c.s.row(r).array() - c.score) * inv_tau + T(1));
    }
    // s = U·candᵀ  ⇒  dU = ds·cand, dcand = dsᵀ·U
    if (dinterests != nullptr) dinterests->noalias() += c.ds * cand;
    if (dcand != nullptr) dcand->noalias() += c.ds.transpose() * interests;
  }

 public:
  // ---- Forward / Backward for R users at once ------------------------------
  // `interests` stacks the users' M-row blocks (R·M × D, user r in rows
  // [r·M, r·M + M)); every user is scored against the same C candidates
  // (cand C × D, e.g. the whole catalogue for a full-softmax loss). One GEMM
  // (R·M × D by D × C) forward and two backward (dI = dS·cand, dcand += dSᵀ·I)
  // instead of R of each: with one user per product Eigen packs the C × D
  // operand every time, and dcand's rank-M update streams all C × D entries
  // per user. Same arithmetic per (user, candidate) as Forward / Backward.
  struct BatchCache {
    Mat s, a, ds;  // R·M × C (as Cache, the users' blocks stacked)
    Mat score;     // R × C scores (row r: user r); read it after ForwardBatch
    Eigen::Array<T, 1, Eigen::Dynamic> mx, den;
  };

  static void ForwardBatch(const layers::CMatRef<T>& interests, Eigen::Index m, const layers::CMatRef<T>& cand,
                           T tau, BatchCache* c) {
    const Eigen::Index rows = interests.rows(), n = cand.rows(), users = rows / m;
    RECSYS_CHECK(users * m == rows) << rows << " interest rows are not a multiple of M = " << m;
    layers::EnsureShape(&c->s, rows, n);
    c->s.noalias() = interests * cand.transpose();  // s = I·candᵀ
    layers::EnsureShape(&c->a, rows, n);
    layers::EnsureShape(&c->score, users, n);
    const T inv_tau = T(1) / tau;
    for (Eigen::Index u = 0; u < users; ++u) {
      const auto s = c->s.middleRows(u * m, m);
      auto a = c->a.middleRows(u * m, m);
      auto score = c->score.row(u).array();
      c->mx = s.row(0).array();
      for (Eigen::Index r = 1; r < m; ++r) c->mx = c->mx.max(s.row(r).array());
      c->den.setZero(n);
      score.setZero();
      for (Eigen::Index r = 0; r < m; ++r) {
        a.row(r).array() = ((s.row(r).array() - c->mx) * inv_tau).exp();
        c->den += a.row(r).array();
        score += a.row(r).array() * s.row(r).array();
      }
      c->den = c->den.inverse();
      score *= c->den;
      for (Eigen::Index r = 0; r < m; ++r) a.row(r).array() *= c->den;
    }
  }

  // dscores (R × C). dinterests (R·M × D) and dcand (C × D) are ACCUMULATED
  // (+=) when non-null.
  template <typename DI, typename DC>
  static void BackwardBatch(const layers::CMatRef<T>& interests, Eigen::Index m, const layers::CMatRef<T>& cand,
                            const layers::CMatRef<T>& dscores, T tau, BatchCache& c, DI* dinterests, DC* dcand) {
    const Eigen::Index rows = c.s.rows(), n = c.s.cols();
    layers::EnsureShape(&c.ds, rows, n);
    const T inv_tau = T(1) / tau;
    for (Eigen::Index u = 0; u < rows / m; ++u) {
      const auto dsc = dscores.row(u).array();
      const auto score = c.score.row(u).array();
      for (Eigen::Index r = u * m; r < u * m + m; ++r) {
        c.ds.row(r).array() = dsc * c.a.row(r).array() * ((c.s.row(r).array() - score) * inv_tau + T(1));
      }
    }
    if (dinterests != nullptr) dinterests->noalias() += c.ds * cand;               // dI = dS·cand
    if (dcand != nullptr) dcand->noalias() += c.ds.transpose() * interests;         // dcand = dSᵀ·I
  }

  // Scores of all N rows of `items` (N × D) for one user; out has N entries.
  // `s` is scratch. The same arithmetic as Forward (ScoreAllBatch, one user).
  static void ScoreAll(const layers::CMatRef<T>& interests, const layers::CMatRef<T>& items, T tau,
                       Mat* s, Eigen::Ref<Eigen::Matrix<T, 1, Eigen::Dynamic>> out) {
    Eigen::Map<Mat> row(out.data(), 1, out.size());
    ScoreAllBatch(interests, interests.rows(), items, tau, s, row);
  }

  // ScoreAll for B users at once: `interests` stacks the users' M-row blocks
  // (B·M × D, user b in rows [b·M, b·M + M)); row b of `out` (B × N) gets
  // user b's scores. The catalogue goes in tiles of `tile` items, each one
  // GEMM (B·M × D by D × tile) for the whole batch: Eigen packs an operand
  // per product, and with one user per product packing the N × D item table
  // costs as much as the M × N product itself (half of `evaluate`'s time
  // before this form). `s` is scratch (B·M × tile). Same scores as ScoreAll.
  static void ScoreAllBatch(const layers::CMatRef<T>& interests, Eigen::Index m, const layers::CMatRef<T>& items,
                            T tau, Mat* s, layers::MatRef<T> out, Eigen::Index tile = 8192) {
    const Eigen::Index rows = interests.rows(), n = items.rows();
    for (Eigen::Index j = 0; j < n; j += tile) {
      const Eigen::Index t = std::min(tile, n - j);
      layers::EnsureShape(s, rows, t);
      s->noalias() = interests * items.middleRows(j, t).transpose();
      for (Eigen::Index b = 0; b * m < rows; ++b) {
        Combine(s->middleRows(b * m, m), tau, out.row(b).segment(j, t));
      }
    }
  }

 private:
  // The smooth max over the M rows of per-interest scores s (M × C), per
  // column: out_c = Σ_m softmax(s_·c / τ)_m s_mc.
  template <typename S, typename O>
  static void Combine(const S& s, T tau, O&& out) {
    const Eigen::Index m = s.rows(), n = s.cols();
    const T inv_tau = T(1) / tau;
    Eigen::Array<T, 1, Eigen::Dynamic> mx = s.row(0).array();
    for (Eigen::Index r = 1; r < m; ++r) mx = mx.max(s.row(r).array());
    Eigen::Array<T, 1, Eigen::Dynamic> num = Eigen::Array<T, 1, Eigen::Dynamic>::Zero(n);
    Eigen::Array<T, 1, Eigen::Dynamic> den = num, w(n);
    for (Eigen::Index r = 0; r < m; ++r) {
      w = ((s.row(r).array() - mx) * inv_tau).exp();
      den += w;
      num += w * s.row(r).array();
    }
    out.array() = num * den.inverse();
  }
};

}  // namespace recsys

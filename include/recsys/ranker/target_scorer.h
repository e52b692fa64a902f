// Target-aware scorer of the multi-interest ranker (DESIGN.md §1 stage 2, step 4):
// a candidate item attends over the user's interest vectors [u_s, v_1..v_K]
// and is scored against the mixture it selected.
//
// Shape legend
//   M = K + 1 interest vectors per user     D  model dim     C  candidates
//   U  M × D (row 0 = u_s, rows 1..K = v_k)   e  one candidate embedding (1 × D)
//   cand  C × D     s  C × M (s_cm = ⟨U_m, e_c⟩)     scores  C
//
//   s_m   = ⟨U_m, e⟩
//   a     = softmax(s / τ)                 (attention of the candidate over the interests)
//   z     = Σ_m a_m U_m                    (the user vector for this candidate)
//   score = ⟨z, e⟩ = Σ_m a_m s_m           (a smooth max of the per-interest scores;
//                                           τ → 0: max_m s_m, τ → ∞: mean_m s_m)
//   ∂score/∂s_m = a_m · (1 + (s_m − score)/τ)
//
// Scoring a whole catalogue is one GEMM (N × D by D × M) plus an O(N·M) row
// pass — stays vectorised; ScoreAll below is that form.
//
//   TargetScorer<float>::Cache cache;  Eigen::VectorXf scores;
//   TargetScorer<float>::Forward(U, cand, tau, &cache, &scores);
//   TargetScorer<float>::Backward(U, cand, dscores, tau, cache, &dU /*+=*/, &dcand /*+=*/);
//
// Thread safety: stateless; one cache per caller.
#pragma once

#include <algorithm>
#include <cmath>

#include "recsys/ranker/layers/activations.h"
#include "recsys/ranker/layers/common.h"

namespace recsys {

template <typename T>
struct TargetScorer {
  using Mat = layers::Mat<T>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

  struct Cache {
    Mat s;   // C × M raw scores ⟨U_m, e_c⟩
    Mat a;   // C × M attention weights
    Mat ds;  // backward scratch
  };

  // scores (C): resized. Rows of s/a per candidate.
  static void Forward(const layers::CMatRef<T>& interests, const layers::CMatRef<T>& cand, T tau,
                      Cache* c, Vec* scores) {
    layers::EnsureShape(&c->s, cand.rows(), interests.rows());
    c->s.noalias() = cand * interests.transpose();  // s = cand·Uᵀ
    c->a = c->s / tau;
    for (Eigen::Index i = 0; i < c->a.rows(); ++i) {
      layers::Softmax<T>::RowInPlace(c->a.row(i).data(), c->a.cols());  // a = softmax(s/τ)
    }
    scores->resize(cand.rows());
    *scores = c->a.cwiseProduct(c->s).rowwise().sum();  // score = Σ a_m s_m
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
    layers::EnsureShape(&c.ds, c.s.rows(), c.s.cols());
    for (Eigen::Index i = 0; i < c.s.rows(); ++i) {
      const T score = c.a.row(i).dot(c.s.row(i));
      c.ds.row(i) = dscores(i) * c.a.row(i).cwiseProduct(
                                     ((c.s.row(i).array() - score) / tau + T(1)).matrix());
    }
    // s = cand·Uᵀ  ⇒  dU = dsᵀ·cand, dcand = ds·U
    if (dinterests != nullptr) dinterests->noalias() += c.ds.transpose() * cand;
    if (dcand != nullptr) dcand->noalias() += c.ds * interests;
  }

 public:

  // Scores of all N rows of `items` (N × D) for one user; out has N entries.
  // `s` is scratch (N × M).
  static void ScoreAll(const layers::CMatRef<T>& interests, const layers::CMatRef<T>& items, T tau,
                       Mat* s, Eigen::Ref<Eigen::Matrix<T, 1, Eigen::Dynamic>> out) {
    layers::EnsureShape(s, items.rows(), interests.rows());
    s->noalias() = items * interests.transpose();
    const Eigen::Index m = interests.rows();
    const T inv_tau = T(1) / tau;
    for (Eigen::Index i = 0; i < s->rows(); ++i) {
      const T* row = s->row(i).data();
      T mx = row[0];
      for (Eigen::Index j = 1; j < m; ++j) mx = std::max(mx, row[j]);
      T num = 0, den = 0;
      for (Eigen::Index j = 0; j < m; ++j) {
        const T w = std::exp((row[j] - mx) * inv_tau);
        num += w * row[j];
        den += w;
      }
      out(i) = num / den;
    }
  }
};

}  // namespace recsys

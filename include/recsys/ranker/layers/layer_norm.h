// Layer normalisation over the feature dimension of each row.
//
// Shape legend
//   n  rows    D  features
//   x, y  n × D      gamma, beta  1 × D      mean, rstd  n (cache)
//
//   y = (x − mean(x)) · rstd · gamma + beta,   rstd = 1 / sqrt(var(x) + eps)
//   (biased variance, as in PyTorch's nn.LayerNorm; the caller passes eps:
//   PyTorch's default is 1e-5, SASRec uses 1e-8)
//
//   LayerNorm<float>::Cache cache;  Mat<float> y, dx;
//   LayerNorm<float>::Forward(x, {gamma, beta}, 1e-5f, &cache, &y);
//   LayerNorm<float>::Backward(dy, {gamma, beta}, cache, {ggamma, gbeta}, &dx);
//
// A zero (e.g. padded) row gives y = beta and finite gradients (rstd = 1/sqrt(eps)).
// Thread safety: stateless; one cache per caller.
#pragma once

#include <cmath>

#include "recsys/ranker/layers/common.h"

namespace recsys::layers {

template <typename T>
struct LayerNorm {
  struct Params {
    CRowRef<T> gamma;  // 1 × D
    CRowRef<T> beta;   // 1 × D
  };
  struct Grads {
    RowRef<T> gamma;  // 1 × D, accumulated
    RowRef<T> beta;   // 1 × D, accumulated
  };
  struct Cache {
    Mat<T> xhat;            // n × D, (x − mean)·rstd
    std::vector<T> rstd;    // n
  };

  static void Forward(const CMatRef<T>& x, const Params& p, T eps, Cache* cache, Mat<T>* y) {
    const Eigen::Index n = x.rows(), d = x.cols();
    RECSYS_DCHECK(p.gamma.cols() == d && p.beta.cols() == d);
    EnsureShape(&cache->xhat, n, d);
    cache->rstd.resize(static_cast<size_t>(n));
    EnsureShape(y, n, d);
    for (Eigen::Index i = 0; i < n; ++i) {
      const T mean = x.row(i).mean();                                       // μ = Σx / D
      const T var = (x.row(i).array() - mean).square().sum() / T(d);         // σ² = Σ(x−μ)² / D
      const T rstd = T(1) / std::sqrt(var + eps);                           // r = 1/√(σ²+ε)
      cache->rstd[static_cast<size_t>(i)] = rstd;
      cache->xhat.row(i) = (x.row(i).array() - mean) * rstd;                // x̂ = (x−μ)·r
      y->row(i) = cache->xhat.row(i).cwiseProduct(p.gamma) + p.beta;       // y = x̂·γ + β
    }
  }

  // dy: n × D. dx (optional): n × D, overwritten.
  static void Backward(const CMatRef<T>& dy, const Params& p, const Cache& cache, Grads g,
                       Mat<T>* dx) {
    const Eigen::Index n = dy.rows(), d = dy.cols();
    // y = x̂·γ + β
    g.beta += dy.colwise().sum();
    g.gamma += dy.cwiseProduct(cache.xhat).colwise().sum();
    if (dx == nullptr) return;
    EnsureShape(dx, n, d);
    for (Eigen::Index i = 0; i < n; ++i) {
      // x̂ = (x−μ)·r  ⇒  dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))
      const auto dxhat = dy.row(i).cwiseProduct(p.gamma);
      const T mean_d = dxhat.mean();
      const T mean_dx = dxhat.cwiseProduct(cache.xhat.row(i)).mean();
      dx->row(i) = cache.rstd[static_cast<size_t>(i)] *
                   (dxhat.array() - mean_d - cache.xhat.row(i).array() * mean_dx).matrix();
    }
  }
};

}  // namespace recsys::layers

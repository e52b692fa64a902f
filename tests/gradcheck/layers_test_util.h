// Helpers for the layer gradient checks: seeded random tensors and the
// "random projection" loss L = Σ out ⊙ R, whose gradient w.r.t. out is R.
#pragma once

#include <cstdint>

#include "recsys/core/rng.h"
#include "recsys/ranker/layers/common.h"

namespace recsys::layers::testing {

inline MatrixD RandomMat(Eigen::Index rows, Eigen::Index cols, uint64_t stream, double scale = 1.0) {
  Rng rng(/*seed=*/1234, stream);
  MatrixD m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.Normal();
  return m;
}

inline RowVector<double> RandomRow(Eigen::Index cols, uint64_t stream, double scale = 1.0) {
  Rng rng(/*seed=*/4321, stream);
  RowVector<double> m(cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.Normal();
  return m;
}

inline double Project(const MatrixD& out, const MatrixD& r) { return out.cwiseProduct(r).sum(); }

// Tolerance for every double-precision check in this folder: central
// differences with h = 1e-5 on O(1) losses are accurate to ~1e-9 relative.
inline constexpr double kGradTol = 1e-6;

}  // namespace recsys::layers::testing

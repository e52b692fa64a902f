// Clustered unit vectors: embedding-like test and benchmark data for ANN
// indexes (i.i.d. Gaussian vectors are a poor ANN benchmark; see ENV.md).
//
// Row i = normalize(c_{z_i} + noise · g_i), with `clusters` Gaussian centres
// drawn from center_seed, z_i uniform, g_i standard normal from (point_seed, i).
// The same center_seed with different point_seeds gives items and queries from
// the same distribution.
//
//   recsys::MatrixF items = recsys::ClusteredUnitVectors(100000, 64, 1000, 0.5f, 1, 2);
//   recsys::MatrixF queries = recsys::ClusteredUnitVectors(1000, 64, 1000, 0.5f, 1, 3);
//
// RecallOfIds(got, truth): the recall of an ANN result against the exact
// oracle's ids (both b × k, padding -1), shared by tests and benchmarks.
//
// Thread safety: pure functions; parallel over rows, identical for any thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <set>

#include "recsys/core/eigen.h"
#include "recsys/core/parallel.h"
#include "recsys/core/rng.h"

namespace recsys {

inline MatrixF ClusteredUnitVectors(int64_t n, int d, int clusters, float noise, uint64_t center_seed,
                                    uint64_t point_seed) {
  clusters = clusters < 1 ? 1 : clusters;
  MatrixF centers(clusters, d);
  for (int c = 0; c < clusters; ++c) {
    Rng rng(center_seed, static_cast<uint64_t>(c));
    for (int j = 0; j < d; ++j) centers(c, j) = static_cast<float>(rng.Normal());
    centers.row(c).normalize();
  }
  MatrixF out(n, d);
  const float scale = noise / std::sqrt(static_cast<float>(d));
  ParallelFor(0, n, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      Rng rng(point_seed, static_cast<uint64_t>(i));
      const auto c = static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(clusters)));
      for (int j = 0; j < d; ++j) out(i, j) = centers(c, j) + scale * static_cast<float>(rng.Normal());
      const float norm = out.row(i).norm();
      if (norm > 0) out.row(i) /= norm;
    }
  });
  return out;
}

// Fraction of the oracle's ids (truth, b × k, -1 = padding) that appear in
// the same row of `got`; 1.0 when the oracle has no ids.
inline double RecallOfIds(const Matrix<int32_t>& got, const Matrix<int32_t>& truth) {
  int64_t hit = 0, total = 0;
  for (int64_t q = 0; q < truth.rows(); ++q) {
    std::set<int32_t> t;
    for (int64_t j = 0; j < truth.cols(); ++j)
      if (truth(q, j) >= 0) t.insert(truth(q, j));
    total += static_cast<int64_t>(t.size());
    for (int64_t j = 0; j < got.cols(); ++j) hit += static_cast<int64_t>(t.count(got(q, j)));
  }
  return total ? static_cast<double>(hit) / static_cast<double>(total) : 1.0;
}

}  // namespace recsys

// List-level diversity metrics for re-ranked lists: intra-list distance over
// item-embedding cosine and category shares.
//
//   double ild = recsys::IntraListDistance(list_items, item_embeddings);  // mean 1 − cos over pairs
//   auto shares = recsys::CategoryShares(list_items, item_category);      // category → share
//
// Thread safety: pure functions.
#pragma once

#include <map>
#include <span>
#include <vector>

#include "recsys/core/eigen.h"
#include "recsys/core/types.h"

namespace recsys {

// Mean pairwise cosine distance (1 − cos) of the listed items' embeddings;
// 0 for lists shorter than 2. Zero-norm rows have cosine 0 with everything.
inline double IntraListDistance(std::span<const ItemIndex> list, ConstMatrixRef embeddings) {
  const size_t n = list.size();
  if (n < 2) return 0.0;
  MatrixF unit(static_cast<int64_t>(n), embeddings.cols());
  for (size_t i = 0; i < n; ++i) {
    const auto row = embeddings.row(list[i]);
    const float norm = row.norm();
    unit.row(static_cast<int64_t>(i)) = norm > 0.0f ? (row / norm).eval() : RowVectorF::Zero(embeddings.cols());
  }
  MatrixF sims = unit * unit.transpose();
  double total = 0.0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) total += 1.0 - sims(static_cast<int64_t>(i), static_cast<int64_t>(j));
  return total / (static_cast<double>(n) * (n - 1) / 2.0);
}

// Share of each category in the list (items with category < 0 are counted
// under -1).
inline std::map<int32_t, double> CategoryShares(std::span<const ItemIndex> list,
                                                std::span<const int32_t> item_category) {
  std::map<int32_t, double> shares;
  if (list.empty()) return shares;
  for (ItemIndex item : list) {
    const int32_t c = item >= 0 && static_cast<size_t>(item) < item_category.size() ? item_category[item] : -1;
    shares[c] += 1.0;
  }
  for (auto& [c, v] : shares) v /= static_cast<double>(list.size());
  return shares;
}

}  // namespace recsys

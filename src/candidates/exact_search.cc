// Blocked exact inner-product search (see include/recsys/candidates/exact_search.h).
//
// Shape legend: b queries, n items, d dims, k results, QB = query block rows,
// T = item tile rows, S = QB × T score tile (row-major, one row per query).
#include "recsys/candidates/exact_search.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "recsys/core/check.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/core/topk.h"

namespace recsys {
namespace {

// 16 allow bits of `plan` starting at item g (g % 16 == 0).
inline uint32_t AllowBits16(const FilterPlan& plan, int64_t g) {
  return static_cast<uint32_t>((plan.allow_bits[static_cast<size_t>(g) >> 6] >> (g & 63)) & 0xFFFFu);
}

// Pushes the entries of row[0, t) (items j0 .. j0+t-1, ascending) that beat the
// heap's threshold. Because ids ascend, an equal score never displaces an
// entry already in the heap (it has a smaller id), so "strictly greater than
// the threshold" is the exact admission test.
void ScanRow(float* row, int64_t j0, int t, const FilterPlan* plan, TopK<int32_t>& top) {
  const bool use_mask = plan != nullptr && plan->kind == FilterPlan::Kind::kAllowMask;
  if (plan != nullptr && plan->kind == FilterPlan::Kind::kExcludeSorted) {
    // Seen items: -inf inside the tile (never beats any threshold).
    const auto& ex = plan->excluded;
    auto it = std::lower_bound(ex.begin(), ex.end(), static_cast<ItemIndex>(j0));
    for (; it != ex.end() && *it < j0 + t; ++it) row[*it - j0] = kNegInf;
  }
  float th = top.threshold();
  int j = 0;
#if defined(__AVX2__)
  for (; j + 16 <= t; j += 16) {
    const __m256 thv = _mm256_set1_ps(th);
    const __m256 a = _mm256_loadu_ps(row + j);
    const __m256 b = _mm256_loadu_ps(row + j + 8);
    uint32_t m = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(a, thv, _CMP_GT_OQ))) |
                 (static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(b, thv, _CMP_GT_OQ))) << 8);
    if (m == 0) continue;
    if (use_mask) m &= AllowBits16(*plan, j0 + j);
    while (m != 0) {
      const int u = __builtin_ctz(m);
      m &= m - 1;
      const float s = row[j + u];
      if (s > th) {
        top.Push(s, static_cast<int32_t>(j0 + j + u));
        th = top.threshold();
      }
    }
  }
#endif
  for (; j < t; ++j) {
    const float s = row[j];
    if (!(s > th)) continue;
    const int64_t g = j0 + j;
    if (use_mask && !((plan->allow_bits[static_cast<size_t>(g) >> 6] >> (g & 63)) & 1u)) continue;
    top.Push(s, static_cast<int32_t>(g));
    th = top.threshold();
  }
}

void WriteRow(std::vector<ScoredId<int32_t>>& best, int k, int64_t r, Eigen::Ref<Matrix<int32_t>>& ids,
              MatrixRef& scores) {
  for (int i = 0; i < k; ++i) {
    const bool have = i < static_cast<int>(best.size());
    ids(r, i) = have ? best[static_cast<size_t>(i)].id : kNoItem;
    scores(r, i) = have ? best[static_cast<size_t>(i)].score : kNegInf;
  }
}

absl::Status CheckShapes(int64_t d, ConstMatrixRef queries, int k, const Eigen::Ref<Matrix<int32_t>>& ids,
                         const MatrixRef& scores) {
  if (k <= 0) return absl::InvalidArgumentError(absl::StrCat("exact search: k must be > 0, got ", k));
  if (queries.cols() != d) {
    return absl::InvalidArgumentError(
        absl::StrCat("exact search: queries have ", queries.cols(), " columns, the items ", d));
  }
  if (ids.rows() != queries.rows() || ids.cols() != k || scores.rows() != queries.rows() || scores.cols() != k) {
    return absl::InvalidArgumentError(absl::StrCat("exact search: ids/scores must be ", queries.rows(), " × ", k,
                                                   ", got ", ids.rows(), " × ", ids.cols(), " and ",
                                                   scores.rows(), " × ", scores.cols()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ExactSearchOptions::Validate() const {
  if (item_tile < 16 || item_tile > (1 << 20) || item_tile % 16 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ExactSearchOptions.item_tile must be a multiple of 16 in [16, 2^20], got ", item_tile));
  }
  if (query_block < 1 || query_block > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("ExactSearchOptions.query_block must be in [1, 4096], got ", query_block));
  }
  if (item_shard < item_tile || item_shard % item_tile != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ExactSearchOptions.item_shard must be a positive multiple of item_tile, got ", item_shard));
  }
  return absl::OkStatus();
}

ExactSearcher::ExactSearcher(const float* items, int64_t n, int d, ExactSearchOptions options)
    : items_(items), n_(n), d_(d), options_(options) {
  RECSYS_CHECK(options_.Validate().ok()) << options_.Validate().message();
  RECSYS_CHECK(n_ >= 0 && d_ > 0 && (n_ == 0 || items_ != nullptr));
}

absl::Status ExactSearcher::Search(ConstMatrixRef queries, int k, std::span<const ItemFilter* const> filters,
                                   Eigen::Ref<Matrix<int32_t>> ids, MatrixRef scores) const {
  RECSYS_RETURN_IF_ERROR(CheckShapes(d_, queries, k, ids, scores));
  std::vector<FilterPlan> storage;
  std::vector<const FilterPlan*> plans;
  if (!CompileFilterBatch(filters, queries.rows(), static_cast<int32_t>(n_), &storage, &plans)) {
    return absl::InvalidArgumentError(absl::StrCat("exact search: ", filters.size(),
                                                   " filters for ", queries.rows(), " queries (need 0, 1 or b)"));
  }
  return SearchWithPlans(queries, k, plans, ids, scores);
}

absl::Status ExactSearcher::SearchWithPlans(ConstMatrixRef queries, int k, std::span<const FilterPlan* const> plans,
                                            Eigen::Ref<Matrix<int32_t>> ids, MatrixRef scores) const {
  RECSYS_RETURN_IF_ERROR(CheckShapes(d_, queries, k, ids, scores));
  const int64_t b = queries.rows();
  if (!plans.empty() && static_cast<int64_t>(plans.size()) != b) {
    return absl::InvalidArgumentError(absl::StrCat("exact search: ", plans.size(), " plans for ", b, " queries"));
  }
  for (const FilterPlan* p : plans) {
    if (p != nullptr && p->num_items != n_) {
      return absl::InvalidArgumentError(
          absl::StrCat("exact search: filter compiled for ", p->num_items, " items, index has ", n_));
    }
  }
  if (b == 0) return absl::OkStatus();

  const int64_t qb_rows = options_.query_block;
  const int64_t tile = options_.item_tile;
  const int64_t num_qblocks = (b + qb_rows - 1) / qb_rows;
  // Few query blocks: split the items too, so that one query still uses all
  // cores. The split depends on (b, n, options) only.
  const int64_t shard = num_qblocks >= 8 ? std::max<int64_t>(n_, 1) : options_.item_shard;
  const int64_t num_shards = std::max<int64_t>(1, (n_ + shard - 1) / shard);
  const int64_t num_tasks = num_qblocks * num_shards;
  const ConstMapMatrixF items(items_, n_, d_);

  // Partial results per (task, query in block) when items are sharded.
  std::vector<std::vector<std::vector<ScoredId<int32_t>>>> partial(
      num_shards > 1 ? static_cast<size_t>(num_tasks) : 0);

  ParallelFor(0, num_tasks, 1, [&](int64_t tb, int64_t te) {
    std::vector<float> buffer(static_cast<size_t>(qb_rows * tile));
    for (int64_t task = tb; task < te; ++task) {
      const int64_t qblock = task / num_shards;
      const int64_t s = task % num_shards;
      const int64_t q0 = qblock * qb_rows;
      const int64_t qn = std::min(b, q0 + qb_rows) - q0;
      const int64_t i0 = s * shard;
      const int64_t i1 = std::min(n_, i0 + shard);
      std::vector<TopK<int32_t>> tops(static_cast<size_t>(qn), TopK<int32_t>(k));
      const auto q_block = queries.middleRows(q0, qn);
      for (int64_t j0 = i0; j0 < i1; j0 += tile) {
        const int64_t t = std::min(i1, j0 + tile) - j0;
        MapMatrixF tile_scores(buffer.data(), qn, t);
        // S = Q_block · T_tileᵀ   (qn × t)
        tile_scores.noalias() = q_block * items.middleRows(j0, t).transpose();
        for (int64_t r = 0; r < qn; ++r) {
          const FilterPlan* plan = plans.empty() ? nullptr : plans[static_cast<size_t>(q0 + r)];
          ScanRow(buffer.data() + r * t, j0, static_cast<int>(t), plan, tops[static_cast<size_t>(r)]);
        }
      }
      if (num_shards == 1) {
        for (int64_t r = 0; r < qn; ++r) {
          auto best = tops[static_cast<size_t>(r)].Extract();
          WriteRow(best, k, q0 + r, ids, scores);
        }
      } else {
        auto& out = partial[static_cast<size_t>(task)];
        out.resize(static_cast<size_t>(qn));
        for (int64_t r = 0; r < qn; ++r) out[static_cast<size_t>(r)] = tops[static_cast<size_t>(r)].Extract();
      }
    }
  });

  if (num_shards > 1) {
    // Merge shard heaps; (score desc, id asc) is a total order, so the result
    // does not depend on the merge order.
    ParallelFor(0, b, 64, [&](int64_t rb, int64_t re) {
      TopK<int32_t> top(k);
      for (int64_t q = rb; q < re; ++q) {
        const int64_t qblock = q / qb_rows;
        const int64_t r = q - qblock * qb_rows;
        for (int64_t s = 0; s < num_shards; ++s) {
          for (const auto& e : partial[static_cast<size_t>(qblock * num_shards + s)][static_cast<size_t>(r)]) {
            top.Push(e.score, e.id);
          }
        }
        auto best = top.Extract();
        WriteRow(best, k, q, ids, scores);
      }
    });
  }
  return absl::OkStatus();
}

absl::Status ExactSearchReference(ConstMatrixRef items, ConstMatrixRef queries, int k,
                                  std::span<const ItemFilter* const> filters,
                                  Eigen::Ref<Matrix<int32_t>> ids, MatrixRef scores) {
  RECSYS_RETURN_IF_ERROR(CheckShapes(items.cols(), queries, k, ids, scores));
  std::vector<FilterPlan> storage;
  std::vector<const FilterPlan*> plans;
  if (!CompileFilterBatch(filters, queries.rows(), static_cast<int32_t>(items.rows()), &storage, &plans)) {
    return absl::InvalidArgumentError("exact search reference: filters must be 0, 1 or b");
  }
  MatrixF all = queries * items.transpose();
  const float nan = std::numeric_limits<float>::quiet_NaN();  // TopK never selects NaN
  for (int64_t q = 0; q < all.rows(); ++q) {
    const FilterPlan* p = plans[static_cast<size_t>(q)];
    if (p == nullptr) continue;
    for (int64_t j = 0; j < all.cols(); ++j) {
      if (!p->IsAllowed(static_cast<ItemIndex>(j))) all(q, j) = nan;
    }
  }
  TopKRows(all, k, ids, scores);
  return absl::OkStatus();
}

}  // namespace recsys

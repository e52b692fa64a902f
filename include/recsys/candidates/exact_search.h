// Exact maximum-inner-product search that stays on the GEMM path with filters.
//
// Shapes: n items, d dims, b queries, k results.
//   items   n × d, row-major (not owned; must outlive the searcher)
//   queries b × d, row-major
//   ids     b × k, row-major, padded with -1;  scores b × k, padded with -inf
//
// Kernel (see src/candidates/exact_search.cc): items are cut into cache-sized
// tiles of `item_tile` rows and queries into blocks of `query_block` rows;
// each (query block, tile) pair is one Eigen GEMM `S.noalias() = Q * Tᵀ`.
// Excluded items of a query are written as -inf into its row of S (sorted
// exclusion lists) or masked by its allow bitmap; each row is then scanned 16
// scores at a time against the running k-th best score, so almost every score
// is rejected by one SIMD compare and only survivors touch the bounded heap.
// There is no per-item virtual call. Work is split into (query block, item
// shard) tasks on oneTBB; the split depends only on (b, n, options), and the
// merge keeps the total order (score desc, id asc), so results are identical
// for any thread count.
//
//   recsys::ExactSearcher exact(items.data(), items.rows(), items.cols());
//   recsys::Matrix<int32_t> ids(b, k);
//   recsys::MatrixF scores(b, k);
//   auto seen = recsys::ExcludeItemsFilter(history);           // per query or shared
//   const recsys::ItemFilter* filters[] = {&seen};
//   RECSYS_RETURN_IF_ERROR(exact.Search(queries, k, filters, ids, scores));
//
// Thread safety: Search is const and may be called concurrently.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "recsys/candidates/item_filter.h"
#include "recsys/core/eigen.h"
#include "recsys/core/types.h"

namespace recsys {

struct ExactSearchOptions {
  // Items per tile (rows of the item matrix scored by one GEMM). Sized so that
  // a tile (item_tile × d floats) stays in L2. Range [16, 1<<20], multiple of 16.
  int item_tile = 512;
  // Queries per block (rows of Q in one GEMM). Range [1, 4096].
  int query_block = 128;
  // Items per shard when the batch has few query blocks: item shards are the
  // unit of parallelism for small batches. Multiple of item_tile.
  int64_t item_shard = 65536;

  absl::Status Validate() const;
};

class ExactSearcher {
 public:
  // `items` (n × d, row-major) must outlive the searcher.
  ExactSearcher(const float* items, int64_t n, int d, ExactSearchOptions options = {});

  int64_t size() const { return n_; }
  int dim() const { return d_; }
  const float* items() const { return items_; }

  // filters: empty (none), size 1 (shared by all queries) or size b (one per
  // query, null = none). k > 0; queries.cols() == dim().
  absl::Status Search(ConstMatrixRef queries, int k, std::span<const ItemFilter* const> filters,
                      Eigen::Ref<Matrix<int32_t>> ids, MatrixRef scores) const;

  // The same with compiled plans (plans.size() == b; null = none). Used by
  // callers that already compiled their filters.
  absl::Status SearchWithPlans(ConstMatrixRef queries, int k, std::span<const FilterPlan* const> plans,
                               Eigen::Ref<Matrix<int32_t>> ids, MatrixRef scores) const;

 private:
  const float* items_;
  int64_t n_;
  int d_;
  ExactSearchOptions options_;
};

// The simple reference: full score matrix, filter, TopKRows. O(b·n) memory;
// for tests and for checking the optimised kernel.
absl::Status ExactSearchReference(ConstMatrixRef items, ConstMatrixRef queries, int k,
                                  std::span<const ItemFilter* const> filters,
                                  Eigen::Ref<Matrix<int32_t>> ids, MatrixRef scores);

}  // namespace recsys

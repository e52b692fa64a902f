// Exact maximum-inner-product search, with filters at no extra cost.
//
// Shapes: n items, d dims, b queries, k results.
//   items   n × d, row-major (not owned; must outlive the searcher)
//   queries b × d, row-major
//   ids     b × k, row-major, padded with -1;  scores b × k, padded with -inf
//
// Scores. Every score is the same float for every path, batch size and thread
// count: s(q, j) = fma(q[d-1], x[d-1], ... fma(q[1], x[1], q[0]·x[0])), the
// dims summed in order with fused multiply-adds. Results are the top k by
// (score desc, id asc) among the allowed items.
//
// Kernel (see src/candidates/exact_search.cc), two paths:
//  * Batches of at least `prepass_max_batch` queries: queries are packed into
//    panels of 16 (two AVX2 lanes of 8, one query per lane) and items are read
//    in place (row-major, no packing); a 16 × 6 register micro-kernel
//    accumulates 16 queries × 6 items and compares the 12 accumulators with
//    the queries' running k-th best scores in registers, so the score tile is
//    never written to memory and only survivors (rare) touch the bounded heap
//    and the filter. Items are walked in `item_tile` rows (kept in L2 while
//    every panel of a `query_block` passes over them).
//  * Smaller batches (memory-bound: one pass over n·d floats per query): an
//    int8 pre-pass. At construction each row is quantised to int8 with its own
//    scale (4× fewer bytes to stream) and a rigorous bound r_j on the error is
//    stored: |s(q, j) − ŝ(q, j)| ≤ ‖q‖·r_j for the pre-pass score ŝ, covering
//    quantisation and float rounding of both computations. The pre-pass keeps
//    the k-th largest lower bound L and every item whose upper bound reaches
//    it; only those are re-scored exactly. Results are identical to the
//    full-precision path (the exact top k is always among the survivors).
//    Costs n·(d + 8) bytes, built on the first search that uses it (or by
//    Prepare()); `int8_prepass = false` saves them.
// Filters are applied only to items that beat the running threshold (sorted
// exclusion lists are walked with a cursor; allow masks are one bit test), so
// filtered search costs what unfiltered search costs. Work is split into
// (query block, item shard) tasks on oneTBB; every score is the same float
// whatever the split and the merge keeps the total order, so results are
// identical for any thread count.
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
#include <memory>
#include <mutex>
#include <span>

#include "absl/status/status.h"
#include "recsys/candidates/item_filter.h"
#include "recsys/core/eigen.h"
#include "recsys/core/types.h"

namespace recsys {

struct ExactSearchOptions {
  // Items per tile: every query panel of a block passes over a tile before
  // the next one, so a tile (item_tile × d floats) should stay in L2.
  // Range [16, 1<<20], multiple of 16.
  int item_tile = 512;
  // Queries per block (panels of 16 sharing the tile walk). Range [1, 4096].
  int query_block = 128;
  // Items per shard (the unit of parallelism when the batch has few query
  // blocks). 0 = auto: items are cut only as far as the available threads
  // need. Otherwise a multiple of item_tile. Results never depend on it.
  int64_t item_shard = 0;
  // Build the int8 pre-pass at construction (n·(d + 8) extra bytes) and use
  // it for batches of fewer than `prepass_max_batch` queries.
  bool int8_prepass = true;
  // Range [0, 4096]; 0 never uses the pre-pass.
  int prepass_max_batch = 8;

  absl::Status Validate() const;
};

class ExactSearcher {
 public:
  // `items` (n × d, row-major) must outlive the searcher.
  ExactSearcher(const float* items, int64_t n, int d, ExactSearchOptions options = {});

  int64_t size() const { return n_; }
  int dim() const { return d_; }
  const float* items() const { return items_; }
  // Builds the int8 pre-pass now (otherwise the first small batch does);
  // no-op without it or when built. Thread-safe.
  void Prepare() const;
  // Bytes held by the int8 pre-pass (0 when disabled); builds it if needed.
  int64_t prepass_bytes() const;

  // filters: empty (none), size 1 (shared by all queries) or size b (one per
  // query, null = none). k > 0; queries.cols() == dim().
  absl::Status Search(ConstMatrixRef queries, int k, std::span<const ItemFilter* const> filters,
                      Eigen::Ref<Matrix<int32_t>> ids, MatrixRef scores) const;

  // The same with compiled plans (plans.size() == b; null = none). Used by
  // callers that already compiled their filters.
  absl::Status SearchWithPlans(ConstMatrixRef queries, int k, std::span<const FilterPlan* const> plans,
                               Eigen::Ref<Matrix<int32_t>> ids, MatrixRef scores) const;

 private:
  struct Prepass;  // int8 codes, scales and error bounds (exact_search.cc)

  const Prepass* GetPrepass() const;  // null when disabled

  // The int8 pre-pass path. Returns false, writing nothing, when a query's
  // norm is outside the range the error bound covers (the fp32 path answers).
  bool SearchPrepass(ConstMatrixRef queries, int k, std::span<const FilterPlan* const> plans,
                     Eigen::Ref<Matrix<int32_t>>& ids, MatrixRef& scores) const;

  const float* items_;
  int64_t n_;
  int d_;
  ExactSearchOptions options_;
  mutable std::once_flag prepass_once_;
  mutable std::shared_ptr<const Prepass> prepass_;  // set once under prepass_once_
};

// The simple reference: full score matrix, filter, TopKRows. O(b·n) memory;
// for tests and for checking the optimised kernel.
absl::Status ExactSearchReference(ConstMatrixRef items, ConstMatrixRef queries, int k,
                                  std::span<const ItemFilter* const> filters,
                                  Eigen::Ref<Matrix<int32_t>> ids, MatrixRef scores);

}  // namespace recsys

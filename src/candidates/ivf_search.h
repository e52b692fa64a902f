// Internal: our search over a FAISS IVF-Flat index (inverted lists of raw
// float vectors) for inner-product queries.
//
// FAISS 1.7.3 scans each list with one scalar-dispatched inner product per
// vector, one query at a time, and filters only by over-fetching. This scans
// the same lists with:
//   - the coarse step as one small GEMV per query (nlist × d centroids);
//   - queries of a batch grouped by list, so a list probed by several of a
//     user's interest vectors is read from memory once (the scan is
//     memory-bound: a list is streamed and scored against every query that
//     probes it while it is in L1);
//   - a running k-th-score threshold per query, the filter consulted only for
//     vectors that beat it (excluded items never enter the result);
//   - nprobe per call, no shared state.
// Results are deterministic (ties by smaller id), independent of the thread
// count and of how the queries are batched.
#pragma once

#include <cstdint>
#include <span>

#include "recsys/candidates/item_filter.h"

namespace faiss {
struct IndexIVF;
}

namespace recsys::internal {

struct IvfView {
  const faiss::IndexIVF* ivf = nullptr;  // IndexIVFFlat, inner-product metric
  const float* centroids = nullptr;      // nlist × dim (the flat quantizer's vectors)
  bool centroids_l2 = false;             // quantizer assigns by L2 (else by inner product)
  std::span<const float> centroid_norms; // ‖c‖² per list (L2 quantizer only)
  int64_t nlist = 0;
  int dim = 0;
};

// Top-k of b queries (b × dim, row stride `stride` floats): ids (kNoItem
// padded) and scores, row q at ids + q·k. plans[q] may be null. found[q] gets
// the number of results of query q. nprobe is clamped to [1, nlist].
void IvfSearch(const IvfView& view, const float* queries, int64_t b, int64_t stride, int k, int nprobe,
               std::span<const FilterPlan* const> plans, int32_t* ids, float* scores, int* found);

}  // namespace recsys::internal

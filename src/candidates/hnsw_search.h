// Internal: our search over a FAISS HNSW graph with flat float storage.
//
// FAISS 1.7.3 (as Debian ships it) searches its graph with scalar distances,
// reads efSearch from a shared field (SearchParametersHNSW::efSearch is
// ignored), and can only filter by over-fetching. This walks the same graph
// (faiss::HNSW levels / offsets / neighbors, built by FAISS) with:
//   - SIMD inner products / L2 over the storage rows;
//   - software prefetch of every unvisited neighbour's vector before scoring
//     the batch (the walk is memory-bound at 10^6 items);
//   - efSearch per call (no shared state: concurrent calls never wait);
//   - the filter applied during the walk — excluded items are traversed but
//     never enter the result set — so a user's history costs no over-fetch;
//   - a per-thread visited table stamped by generation (no clear per query).
// Results are deterministic (ties broken by smaller id) and independent of
// the thread count; the search is the standard HNSW one (greedy descent on
// the upper layers, best-first beam of width max(ef, k) on layer 0).
#pragma once

#include <cstdint>

#include "recsys/candidates/item_filter.h"

namespace faiss {
struct HNSW;
}

namespace recsys::internal {

struct HnswGraphView {
  const faiss::HNSW* hnsw = nullptr;
  const float* vectors = nullptr;  // n × dim, row-major (the flat storage)
  int64_t n = 0;
  int dim = 0;
  bool inner_product = true;  // else squared L2 (smaller is better; scores are -L2)
};

// Top-k of one query: ids (kNoItem padded) and scores (inner product, or the
// negated squared L2 distance), best first. `plan` may be null. Returns the
// number of results found.
int HnswSearchOne(const HnswGraphView& g, const float* query, int k, int ef, const FilterPlan* plan, int32_t* ids,
                  float* scores);

}  // namespace recsys::internal

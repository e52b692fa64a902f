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
//   - a per-walk visited hash set (a few KiB, L1-resident);
//   - the walks of a group of queries (a user's interest vectors) advanced in
//     lock step, so that their dependent cache misses overlap.
// Results are deterministic (ties broken by smaller row) and independent of
// the thread count; the search is the standard HNSW one (greedy descent on
// the upper layers, best-first beam of width max(ef, k) on layer 0).
#pragma once

#include <cstdint>
#include <span>

#include "recsys/candidates/item_filter.h"
#include "recsys/core/eigen.h"

namespace faiss {
struct HNSW;
}

namespace recsys::internal {

struct HnswGraphView {
  const faiss::HNSW* hnsw = nullptr;
  const float* vectors = nullptr;  // n × dim, row-major (the flat storage)
  int64_t n = 0;
  int dim = 0;  // the graph's metric is inner product (the only one AnnIndex builds)
  // Row → item id when the graph is stored in another order than the ids
  // (AnnIndexConfig::locality_order); null = the rows are the ids. Filters
  // are tested on, and results reported as, item ids.
  const int32_t* external = nullptr;
};

// a·b over d floats: fixed 16-wide chunks (independent SIMD accumulators)
// when d % 16 == 0, else Eigen's dot. The one distance kernel of the graph
// walk and of the SIMD flat storage FAISS builds the graph with.
inline float InnerProduct(const float* a, const float* b, int d) {
  if (d % 16 == 0) {
    using Chunk = Eigen::Array<float, 16, 1>;
    Chunk acc = Eigen::Map<const Chunk>(a) * Eigen::Map<const Chunk>(b);
    for (int j = 16; j < d; j += 16) acc += Eigen::Map<const Chunk>(a + j) * Eigen::Map<const Chunk>(b + j);
    return acc.sum();
  }
  return Eigen::Map<const Eigen::VectorXf>(a, d).dot(Eigen::Map<const Eigen::VectorXf>(b, d));
}

// Top-k of one query: ids (kNoItem padded) and inner-product scores, best
// first. `plan` may be null. Returns the number of results found.
// scored_results = false: standard HNSW, the layer-0 beam is max(ef, k) wide
// and is the answer (cost grows with k). true: the beam stays ef wide and the
// answer is the best k of every allowed node the walk scored (the beam's
// members and the neighbours it looked at and did not keep), so k beyond ef
// costs heap operations only.
// One query of a group: its vector, filter (may be null) and k-long outputs.
struct HnswQuery {
  const float* query = nullptr;
  const FilterPlan* plan = nullptr;
  int32_t* ids = nullptr;
  float* scores = nullptr;
};

// The walks of `queries` advanced together, one expansion each per round (an
// expansion's reads are issued for every walk before any of them is used);
// each query's answer equals its HnswSearchOne answer. found[q] gets query
// q's count; returns their sum.
int HnswSearchGroup(const HnswGraphView& g, std::span<const HnswQuery> queries, int k, int ef,
                    bool scored_results, int* found);

int HnswSearchOne(const HnswGraphView& g, const float* query, int k, int ef, const FilterPlan* plan, int32_t* ids,
                  float* scores, bool scored_results = false);

}  // namespace recsys::internal

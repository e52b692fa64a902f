// AnnIndex: item embeddings behind an approximate (or exact) inner-product
// index built from a FAISS factory string ("Flat", "HNSW32", "IVF1024,PQ16").
// No FAISS type appears here; the implementation lives in src/candidates/.
//
// Shapes: n items, d dims, b queries, k results; item ids are the row numbers
// of the added matrices (in order of Add calls).
//   items   n × d, row-major      queries b × d, row-major
//   ids     b × k, padded with -1 scores  b × k, padded with -inf
//
//   recsys::AnnIndexConfig config{.factory = "HNSW32", .dim = 64};
//   RECSYS_ASSIGN_OR_RETURN(auto index, recsys::AnnIndex::Create(config));
//   RECSYS_RETURN_IF_ERROR(index->Add(item_embeddings));           // trains if needed
//   recsys::AnnSearchParams params{.ef_search = 128};
//   RECSYS_RETURN_IF_ERROR(index->Search(queries, 100, params, {&seen_filter}, ids, scores));
//   RECSYS_RETURN_IF_ERROR(index->Save("items.rsann"));
//   RECSYS_ASSIGN_OR_RETURN(auto loaded, recsys::AnnIndex::Load("items.rsann"));
//
// Exact ("Flat") indexes search with the kernel of exact_search.h (register
// panels for batches, an int8 pre-pass with exact re-scoring for single
// queries), filters included.
//
// HNSW with flat storage ("HNSW32", "HNSW16", …): FAISS builds the graph (with
// our SIMD distance computer in place of the scalar one Debian's FAISS 1.7.3
// ships), and the search is our own walk over that graph
// (src/candidates/hnsw_search.h): SIMD distances, prefetch of neighbour
// vectors, efSearch per call with no shared state, and the filter applied
// during the walk (excluded items are traversed, never returned), so a
// user's history costs no over-fetch. Rows left with fewer than
// min(k, allowed) results, and allow lists (more than half the catalogue
// excluded), are answered by exact search over the stored vectors.
// `recsys bench retrieval` prints it next to FAISS's own IndexHNSWFlat.
//
// IVF-Flat under inner product ("IVF1024,Flat"): FAISS trains the coarse
// quantizer and fills the lists; the search is our scan of those lists
// (src/candidates/ivf_search.h): one GEMV for the coarse step, a batch's
// queries grouped by list (a list probed by several interest vectors of a
// user is read once), the filter applied during the scan; rows a filter
// leaves short scan every list, which is exact.
//
// Other approximate indexes (IVF-PQ, PQ, …) go through FAISS: a filtered query
// over-fetches k + min(|excluded|, k), then k + |excluded| if still short, then
// falls back to exact search (FAISS's own filtered search where there is no
// flat storage). Per-request efSearch/nprobe: FAISS 1.7.3 ignores
// SearchParametersHNSW::efSearch, so for FAISS-searched HNSW variants the
// index keeps a "phase lock" (searches with the same efSearch run
// concurrently; a different value waits for them to drain).
//
// Thread safety: Add/Load are not thread-safe; Search and Save are const and
// safe to call concurrently (FAISS runs single-threaded inside our oneTBB tasks).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/candidates/item_filter.h"
#include "recsys/core/eigen.h"

namespace recsys {

struct AnnIndexConfig {
  // FAISS factory string ("Flat", "HNSW32", "IVF1024,PQ16", "IVF4096,Flat", …).
  std::string factory = "Flat";
  // Embedding dimension d (> 0).
  int dim = 0;
  // HNSW efConstruction (graph build beam width); 0 = FAISS default (40).
  int hnsw_ef_construction = 0;
  // Default efSearch (HNSW search beam) and nprobe (IVF lists visited) when a
  // request leaves them 0. 0 = FAISS default (16 / 1).
  int default_ef_search = 0;
  int default_nprobe = 0;
  // Filtered search on approximate indexes over-fetches k + min(|excluded|, k),
  // then k + |excluded| for queries left short, then falls back to exact
  // search. A query whose over-fetch would exceed this many results, or that
  // excludes more than half the catalogue (an allow list), goes straight to
  // exact search.
  int max_overfetch = 4096;
  // HNSW with flat storage (searched by our walk): after each Add, store the
  // graph's nodes — vectors and links — in breadth-first order of layer 0
  // from the entry point instead of insertion order, so that the neighbours a
  // walk scores after expanding a node sit in adjacent rows (fewer pages and
  // cache lines per expansion). Callers see no difference: ids stay the rows
  // of the added matrices (the index keeps the permutation and maps filters
  // and results); ties between equal scores may order differently.
  // false = insertion order. Ignored for other index types. Off by default:
  // at 10^6 items `recsys bench ranker --locality-order 1|0` (four alternating
  // pairs) measured no gain beyond noise (e2e p50 1.91 vs 1.96 ms mean).
  bool locality_order = false;
  // Move the index to a GPU after it is built (needs a build with
  // RECSYS_USE_FAISS_GPU and a visible device).
  bool use_gpu = false;
  int gpu_device = 0;

  absl::Status Validate() const;
};

struct AnnSearchParams {
  int ef_search = 0;  // HNSW beam width for this call; 0 = the index default
  int nprobe = 0;     // IVF lists visited for this call; 0 = the index default
  // HNSW (our walk) only. false: standard HNSW — the beam is max(ef_search, k)
  // wide and is the answer, so the cost grows with k. true: the beam stays
  // ef_search wide and the answer is the best k of every node the walk scored
  // (beam members and the neighbours it examined), so a large k costs heap
  // operations once the walk has scored k nodes (it keeps walking until it
  // has); recall at large k is lower than a k-wide beam's (measured by
  // `recsys bench retrieval --hnsw-scored-ef`). A row left short falls back
  // to a standard walk, then to exact search.
  bool scored_results = false;
  // HNSW (our walk) only: consecutive queries walked together by one thread,
  // in lock step (one expansion each per round), so that their cache misses
  // overlap; ≥ 1 (1 = one walk at a time). Answers do not depend on it. The
  // groups are the unit of parallelism: a batch of b queries runs on at most
  // ceil(b / walk_group) threads.
  int walk_group = 8;
};

class AnnIndex {
 public:
  // An empty index (CPU or, with config.use_gpu, GPU).
  static absl::StatusOr<std::unique_ptr<AnnIndex>> Create(const AnnIndexConfig& config);
  // Reads a file written by Save(): header, checksum and FAISS payload are
  // verified; a corrupted or truncated file gives DataLoss / InvalidArgument.
  static absl::StatusOr<std::unique_ptr<AnnIndex>> Load(const std::string& path, bool use_gpu = false,
                                                        int gpu_device = 0);

  virtual ~AnnIndex() = default;

  virtual int dim() const = 0;
  virtual int64_t size() const = 0;
  virtual const std::string& factory() const = 0;
  virtual bool is_exact() const = 0;
  virtual bool on_gpu() const = 0;
  // Whether a search's cost grows with k (a graph walk's beam is at least k;
  // with scored_results it must still score k nodes). False for scans
  // (exact, IVF lists), whose cost is set by what they read: asking them for
  // more results up front is free.
  virtual bool cost_grows_with_k() const { return true; }
  // Whether the graph is stored in locality order (AnnIndexConfig::locality_order
  // took effect: an HNSW index with flat storage on the CPU).
  virtual bool locality_ordered() const { return false; }

  // Adds items (n × d) with ids size() .. size()+n-1; trains the index on the
  // first call if it needs training (IVF, PQ).
  virtual absl::Status Add(ConstMatrixRef items) = 0;

  // filters: empty, 1 (shared) or b (per query; null = none). Every returned
  // id passes its query's filter; ids in a row are unique.
  virtual absl::Status Search(ConstMatrixRef queries, int k, const AnnSearchParams& params,
                              std::span<const ItemFilter* const> filters, Eigen::Ref<Matrix<int32_t>> ids,
                              MatrixRef scores) const = 0;

  virtual absl::Status Save(const std::string& path) const = 0;
};

// True when this build has FAISS GPU support and at least one device is visible.
bool FaissGpuAvailable();

}  // namespace recsys

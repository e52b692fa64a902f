// Our HNSW walk over a FAISS-built graph (see hnsw_search.h).
#include "hnsw_search.h"

#include <faiss/impl/HNSW.h>

#include <algorithm>
#include <vector>

#include "recsys/core/eigen.h"
#include "recsys/core/gather.h"
#include "recsys/core/types.h"

namespace recsys::internal {
namespace {

struct Node {
  float score;
  int32_t id;
};
// "a ranks before b": higher score, then smaller id (deterministic ties).
inline bool Better(const Node& a, const Node& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}
struct WorseFirst {  // min-heap on Better: top() = the worst kept result
  bool operator()(const Node& a, const Node& b) const { return Better(a, b); }
};
struct BestFirst {  // max-heap: top() = the most promising candidate
  bool operator()(const Node& a, const Node& b) const { return Better(b, a); }
};

// Per-thread visited set: one bit per node (122 KiB at 10^6 items, so it
// stays in L2 while the walk streams vectors; a 4-byte stamp per node would
// be 4 MiB), cleared after each query through the list of nodes it set.
struct Visited {
  std::vector<uint64_t> bits;
  std::vector<int32_t> touched;
  void Reset(int64_t n) {
    for (const int32_t i : touched) bits[static_cast<size_t>(i) >> 6] = 0;
    touched.clear();
    const auto words = static_cast<size_t>((n + 63) / 64);
    if (bits.size() < words) bits.assign(words, 0);
  }
  bool TestAndSet(int32_t i) {
    uint64_t& w = bits[static_cast<size_t>(i) >> 6];
    const uint64_t m = uint64_t{1} << (i & 63);
    if (w & m) return true;
    w |= m;
    touched.push_back(i);
    return false;
  }
};

struct Scratch {
  Visited visited;
  std::vector<Node> candidates, results, scored;
  std::vector<int32_t> batch;
};

}  // namespace

int HnswSearchOne(const HnswGraphView& g, const float* query, int k, int ef, const FilterPlan* plan, int32_t* ids,
                  float* scores, bool scored_results) {
  std::fill(ids, ids + k, kNoItem);
  std::fill(scores, scores + k, kNegInf);
  const faiss::HNSW& h = *g.hnsw;
  if (g.n == 0 || h.entry_point < 0 || k <= 0) return 0;
  const int d = g.dim;
  auto row = [&](int32_t i) { return g.vectors + static_cast<int64_t>(i) * d; };
  auto allowed = [&](int32_t i) { return plan == nullptr || plan->IsAllowed(i); };

  thread_local Scratch scratch;
  Scratch& s = scratch;
  s.visited.Reset(g.n);

  // Greedy descent through the upper layers.
  int32_t cur = h.entry_point;
  float cur_score = InnerProduct(query, row(cur), d);
  for (int level = h.max_level; level >= 1; --level) {
    bool moved = true;
    while (moved) {
      moved = false;
      size_t begin, end;
      h.neighbor_range(cur, level, &begin, &end);
      for (size_t j = begin; j < end; ++j) {
        const int32_t nb = h.neighbors[j];
        if (nb < 0) break;
        const float sc = InnerProduct(query, row(nb), d);
        if (sc > cur_score || (sc == cur_score && nb < cur)) {
          cur = nb;
          cur_score = sc;
          moved = true;
        }
      }
    }
  }

  // Best-first beam on layer 0; only allowed items enter `results`. Layer 0
  // links of node i: neighbors[offsets[i] + 0 .. offsets[i] + cum[1]).
  // Standard: the beam is max(ef, k) wide and is the answer. Scored results:
  // the beam stays ef wide (it decides what is expanded and when to stop)
  // and the answer is the best k of every allowed node scored on the way;
  // until k allowed nodes have been scored every scored node is queued and
  // the walk does not stop (a query far from the data would otherwise end
  // after a few expansions, short of k).
  const int level0_links = h.cum_nneighbor_per_level[1];
  const size_t width = static_cast<size_t>(scored_results ? std::max(ef, 1) : std::max(ef, k));
  const size_t kk = static_cast<size_t>(k);
  auto& cand = s.candidates;
  auto& res = s.results;
  auto& all = s.scored;  // scored mode: best k of every allowed node scored
  cand.clear();
  res.clear();
  all.clear();
  auto offer = [&](std::vector<Node>& heap, size_t cap, const Node& n) {
    if (heap.size() < cap) {
      heap.push_back(n);
      std::push_heap(heap.begin(), heap.end(), WorseFirst());
    } else if (Better(n, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), WorseFirst());
      heap.back() = n;
      std::push_heap(heap.begin(), heap.end(), WorseFirst());
    }
  };
  s.visited.TestAndSet(cur);
  cand.push_back({cur_score, cur});
  if (allowed(cur)) {
    res.push_back({cur_score, cur});
    if (scored_results) all.push_back({cur_score, cur});
  }
  while (!cand.empty()) {
    std::pop_heap(cand.begin(), cand.end(), BestFirst());
    const Node c = cand.back();
    cand.pop_back();
    // Nothing left can improve the beam; scored results also need k allowed
    // nodes scored before the walk may stop.
    if (res.size() >= width && Better(res.front(), c) && (!scored_results || all.size() >= kk)) break;
    const int32_t* nbs = h.neighbors.data() + h.offsets[static_cast<size_t>(c.id)];
    s.batch.clear();
    for (int j = 0; j < level0_links; ++j) {
      const int32_t nb = nbs[j];
      if (nb < 0) break;
      if (s.visited.TestAndSet(nb)) continue;
      s.batch.push_back(nb);
      PrefetchBytes(row(nb), d * static_cast<int64_t>(sizeof(float)));
    }
    for (const int32_t nb : s.batch) {
      const Node n{InnerProduct(query, row(nb), d), nb};
      const bool ok = allowed(nb);
      if (scored_results && ok) offer(all, kk, n);
      if (res.size() < width || Better(n, res.front()) || (scored_results && all.size() < kk)) {
        cand.push_back(n);
        std::push_heap(cand.begin(), cand.end(), BestFirst());
        if (ok) offer(res, width, n);
      }
    }
  }
  if (scored_results) res.swap(all);
  std::sort(res.begin(), res.end(), Better);
  const int found = static_cast<int>(std::min(res.size(), static_cast<size_t>(k)));
  for (int i = 0; i < found; ++i) {
    ids[i] = res[static_cast<size_t>(i)].id;
    scores[i] = res[static_cast<size_t>(i)].score;
  }
  return found;
}

}  // namespace recsys::internal

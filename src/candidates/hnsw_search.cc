// Our HNSW walk over a FAISS-built graph (see hnsw_search.h).
#include "hnsw_search.h"

#include <faiss/impl/HNSW.h>

#include <algorithm>
#include <span>
#include <vector>

#include "recsys/core/eigen.h"
#include "recsys/core/gather.h"
#include "recsys/core/types.h"

namespace recsys::internal {
namespace {

struct Node {
  float score;
  int32_t id;  // the graph row (the item id unless HnswGraphView::external maps it)
};
// "a ranks before b": higher score, then smaller row (deterministic ties).
inline bool Better(const Node& a, const Node& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}
struct WorseFirst {  // min-heap on Better: top() = the worst kept result
  bool operator()(const Node& a, const Node& b) const { return Better(a, b); }
};
struct BestFirst {  // max-heap: top() = the most promising candidate
  bool operator()(const Node& a, const Node& b) const { return Better(b, a); }
};

// Visited set of one walk: open addressing over a power-of-two table of node
// ids (a walk visits ~10^3 nodes, so the table is a few KiB and stays in L1
// next to the walk's heaps; a bitset over 10^6 nodes is 122 KiB a walk, and a
// group of walks would not fit L2). Grows at half load; cleared per query.
class VisitedSet {
 public:
  void Clear() {
    if (slots_.size() != kInitial) {
      slots_.assign(kInitial, kEmpty);
    } else if (size_ > 0) {
      std::fill(slots_.begin(), slots_.end(), kEmpty);
    }
    size_ = 0;
  }
  // True when `i` was already in the set; inserts it otherwise.
  bool TestAndSet(int32_t i) {
    const size_t mask = slots_.size() - 1;
    for (size_t h = Hash(i) & mask;; h = (h + 1) & mask) {
      if (slots_[h] == i) return true;
      if (slots_[h] == kEmpty) {
        slots_[h] = i;
        if (2 * ++size_ > slots_.size()) Grow();
        return false;
      }
    }
  }

 private:
  static constexpr int32_t kEmpty = -1;
  static constexpr size_t kInitial = 4096;
  // Fibonacci hashing; the high bits of the product spread every table size.
  static size_t Hash(int32_t i) {
    return static_cast<size_t>((static_cast<uint64_t>(static_cast<uint32_t>(i)) * 0x9E3779B97F4A7C15ull) >> 24);
  }
  void Grow() {
    std::vector<int32_t> old(slots_.size() * 2, kEmpty);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const int32_t i : old) {
      if (i == kEmpty) continue;
      size_t h = Hash(i) & mask;
      while (slots_[h] != kEmpty) h = (h + 1) & mask;
      slots_[h] = i;
    }
  }
  std::vector<int32_t> slots_ = std::vector<int32_t>(kInitial, kEmpty);
  size_t size_ = 0;
};

// One query's layer-0 walk, advanced a step at a time by HnswSearchGroup.
struct Walk {
  // request
  const float* query = nullptr;
  const FilterPlan* plan = nullptr;
  int32_t* ids = nullptr;
  float* scores = nullptr;
  // state
  VisitedSet visited;
  std::vector<Node> cand, res, all;  // beam candidates, beam results, scored-mode answer
  std::vector<int32_t> batch;        // unvisited neighbours of the node being expanded
  const int32_t* links = nullptr;    // its layer-0 links
  bool done = false;
};

struct Scratch {
  std::vector<Walk> walks;
};

}  // namespace

int HnswSearchGroup(const HnswGraphView& g, std::span<const HnswQuery> queries, int k, int ef,
                    bool scored_results, int* found) {
  const faiss::HNSW& h = *g.hnsw;
  const int d = g.dim;
  const auto nq = static_cast<int>(queries.size());
  for (int q = 0; q < nq; ++q) {
    std::fill(queries[q].ids, queries[q].ids + k, kNoItem);
    std::fill(queries[q].scores, queries[q].scores + k, kNegInf);
    found[q] = 0;
  }
  if (g.n == 0 || h.entry_point < 0 || k <= 0 || nq == 0) return 0;
  auto row = [&](int32_t i) { return g.vectors + static_cast<int64_t>(i) * d; };
  // Rows are item ids unless the graph is stored in locality order.
  auto id_of = [&](int32_t r) { return g.external != nullptr ? g.external[r] : r; };
  auto allowed = [&](const Walk& w, int32_t r) { return w.plan == nullptr || w.plan->IsAllowed(id_of(r)); };
  const int64_t row_bytes = d * static_cast<int64_t>(sizeof(float));

  thread_local Scratch scratch;
  if (scratch.walks.size() < static_cast<size_t>(nq)) scratch.walks.resize(static_cast<size_t>(nq));
  std::span<Walk> walks(scratch.walks.data(), static_cast<size_t>(nq));

  // Best-first beam on layer 0; only allowed items enter `res`. Layer 0
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

  for (int q = 0; q < nq; ++q) {
    Walk& w = walks[static_cast<size_t>(q)];
    w.query = queries[q].query;
    // A plan that excludes nothing needs no test (and no id lookup).
    const FilterPlan* plan = queries[q].plan;
    w.plan = plan != nullptr && plan->kind != FilterPlan::Kind::kAllowAll ? plan : nullptr;
    w.ids = queries[q].ids;
    w.scores = queries[q].scores;
    w.visited.Clear();
    w.cand.clear();
    w.res.clear();
    w.all.clear();
    w.done = false;
    // Greedy descent through the upper layers; each hop's neighbour vectors
    // are prefetched before they are scored.
    int32_t cur = h.entry_point;
    float cur_score = InnerProduct(w.query, row(cur), d);
    for (int level = h.max_level; level >= 1; --level) {
      bool moved = true;
      while (moved) {
        moved = false;
        size_t begin, end;
        h.neighbor_range(cur, level, &begin, &end);
        size_t stop = begin;
        while (stop < end && h.neighbors[stop] >= 0) PrefetchBytes(row(h.neighbors[stop++]), row_bytes);
        const int32_t from = cur;
        for (size_t j = begin; j < stop; ++j) {
          const int32_t nb = h.neighbors[j];
          const float sc = InnerProduct(w.query, row(nb), d);
          if (sc > cur_score || (sc == cur_score && nb < cur)) {
            cur = nb;
            cur_score = sc;
          }
        }
        moved = cur != from;
      }
    }
    w.visited.TestAndSet(cur);
    w.cand.push_back({cur_score, cur});
    if (allowed(w, cur)) {
      w.res.push_back({cur_score, cur});
      if (scored_results) w.all.push_back({cur_score, cur});
    }
    __builtin_prefetch(&h.offsets[static_cast<size_t>(cur)]);
  }

  // The walks advance in lock step, one expansion each per round, in phases
  // over all walks, so that one walk's dependent misses (its node's links,
  // then its neighbours' vectors) overlap with the other walks' instead of
  // stalling the thread one after another. Each walk takes exactly the steps
  // it would take alone: the answer equals a one-query walk.
  int active = nq;
  while (active > 0) {
    // Phase 1: pop the next node; its offsets entry was prefetched when it
    // became the best candidate. Prefetch its links.
    for (Walk& w : walks) {
      if (w.done) continue;
      w.links = nullptr;
      if (w.cand.empty()) {
        w.done = true;
        --active;
        continue;
      }
      std::pop_heap(w.cand.begin(), w.cand.end(), BestFirst());
      const Node c = w.cand.back();
      w.cand.pop_back();
      // Nothing left can improve the beam; scored results also need k
      // allowed nodes scored before the walk may stop.
      if (w.res.size() >= width && Better(w.res.front(), c) && (!scored_results || w.all.size() >= kk)) {
        w.done = true;
        --active;
        continue;
      }
      w.links = h.neighbors.data() + h.offsets[static_cast<size_t>(c.id)];
      PrefetchBytes(w.links, level0_links * static_cast<int64_t>(sizeof(int32_t)));
    }
    // Phase 2: the unvisited neighbours; prefetch their vectors.
    for (Walk& w : walks) {
      if (w.links == nullptr) continue;
      w.batch.clear();
      for (int j = 0; j < level0_links; ++j) {
        const int32_t nb = w.links[j];
        if (nb < 0) break;
        if (w.visited.TestAndSet(nb)) continue;
        w.batch.push_back(nb);
        PrefetchBytes(row(nb), row_bytes);
        if (w.plan != nullptr && g.external != nullptr) __builtin_prefetch(g.external + nb);
      }
    }
    // Phase 3: score them; prefetch the offsets entry of the next node.
    for (Walk& w : walks) {
      if (w.links == nullptr) continue;
      for (const int32_t nb : w.batch) {
        const Node n{InnerProduct(w.query, row(nb), d), nb};
        const bool ok = allowed(w, nb);
        if (scored_results && ok) offer(w.all, kk, n);
        if (w.res.size() < width || Better(n, w.res.front()) || (scored_results && w.all.size() < kk)) {
          w.cand.push_back(n);
          std::push_heap(w.cand.begin(), w.cand.end(), BestFirst());
          if (ok) offer(w.res, width, n);
        }
      }
      if (!w.cand.empty()) __builtin_prefetch(&h.offsets[static_cast<size_t>(w.cand.front().id)]);
    }
  }

  int total = 0;
  for (int q = 0; q < nq; ++q) {
    Walk& w = walks[static_cast<size_t>(q)];
    std::vector<Node>& res = scored_results ? w.all : w.res;
    std::sort(res.begin(), res.end(), Better);
    const int n = static_cast<int>(std::min(res.size(), kk));
    for (int i = 0; i < n; ++i) {
      w.ids[i] = id_of(res[static_cast<size_t>(i)].id);
      w.scores[i] = res[static_cast<size_t>(i)].score;
    }
    found[q] = n;
    total += n;
  }
  return total;
}

int HnswSearchOne(const HnswGraphView& g, const float* query, int k, int ef, const FilterPlan* plan, int32_t* ids,
                  float* scores, bool scored_results) {
  const HnswQuery q{query, plan, ids, scores};
  int found = 0;
  HnswSearchGroup(g, std::span<const HnswQuery>(&q, 1), k, ef, scored_results, &found);
  return found;
}

}  // namespace recsys::internal

// Our scan of a FAISS IVF-Flat index (see ivf_search.h).
#include "ivf_search.h"

#include <faiss/IndexIVF.h>
#include <faiss/invlists/InvertedLists.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "recsys/core/eigen.h"
#include "recsys/core/topk.h"
#include "recsys/core/types.h"

namespace recsys::internal {
namespace {

// out[j·g + i] = ⟨x_j, q_i⟩ for the `size` rows of a list and g queries. Every
// score is summed in the same order (8-lane partial sums over d, then one
// fixed reduction), whichever rows or queries share a call, so results do not
// depend on how queries are batched. Rows are taken four at a time so each
// query chunk is loaded once per four rows.
void ScoreList(const float* x, size_t size, int d, const float* const* q, int g, float* out) {
  if (d % 8 != 0) {
    for (size_t j = 0; j < size; ++j) {
      for (int i = 0; i < g; ++i) {
        float acc = 0.0f;
        for (int c = 0; c < d; ++c) acc += x[j * static_cast<size_t>(d) + static_cast<size_t>(c)] * q[i][c];
        out[j * static_cast<size_t>(g) + static_cast<size_t>(i)] = acc;
      }
    }
    return;
  }
  using P = Eigen::Array<float, 8, 1>;
  const size_t du = static_cast<size_t>(d);
  size_t j = 0;
  for (; j + 4 <= size; j += 4) {
    const float* r = x + j * du;
    for (int i = 0; i < g; ++i) {
      P a0 = P::Zero(), a1 = P::Zero(), a2 = P::Zero(), a3 = P::Zero();
      for (size_t c = 0; c < du; c += 8) {
        const P qv = Eigen::Map<const P>(q[i] + c);
        a0 += Eigen::Map<const P>(r + c) * qv;
        a1 += Eigen::Map<const P>(r + du + c) * qv;
        a2 += Eigen::Map<const P>(r + 2 * du + c) * qv;
        a3 += Eigen::Map<const P>(r + 3 * du + c) * qv;
      }
      float* o = out + j * static_cast<size_t>(g) + static_cast<size_t>(i);
      o[0] = a0.sum();
      o[g] = a1.sum();
      o[2 * g] = a2.sum();
      o[3 * g] = a3.sum();
    }
  }
  for (; j < size; ++j) {
    for (int i = 0; i < g; ++i) {
      P a = P::Zero();
      for (size_t c = 0; c < du; c += 8) a += Eigen::Map<const P>(x + j * du + c) * Eigen::Map<const P>(q[i] + c);
      out[j * static_cast<size_t>(g) + static_cast<size_t>(i)] = a.sum();
    }
  }
}

}  // namespace

void IvfSearch(const IvfView& view, const float* queries, int64_t b, int64_t stride, int k, int nprobe,
               std::span<const FilterPlan* const> plans, int32_t* ids, float* scores, int* found) {
  const int d = view.dim;
  const int64_t nlist = view.nlist;
  const int probes = static_cast<int>(std::clamp<int64_t>(nprobe, 1, std::max<int64_t>(nlist, 1)));
  const Eigen::Map<const Matrix<float>> centroids(view.centroids, nlist, d);

  // Coarse step: the `probes` best lists of every query (ties: smaller list id).
  std::vector<int32_t> probe(static_cast<size_t>(b) * static_cast<size_t>(probes));
  Eigen::VectorXf coarse(nlist);
  std::vector<int32_t> order(static_cast<size_t>(nlist));
  for (int64_t q = 0; q < b; ++q) {
    const Eigen::Map<const Eigen::VectorXf> query(queries + q * stride, d);
    coarse.noalias() = centroids * query;
    if (view.centroids_l2) {  // nearest centroid ⇔ largest 2·c·q − ‖c‖²
      coarse *= 2.0f;
      coarse -= Eigen::Map<const Eigen::VectorXf>(view.centroid_norms.data(), nlist);
    }
    std::iota(order.begin(), order.end(), 0);
    auto better = [&](int32_t x, int32_t y) { return coarse[x] > coarse[y] || (coarse[x] == coarse[y] && x < y); };
    std::partial_sort(order.begin(), order.begin() + probes, order.end(), better);
    std::copy(order.begin(), order.begin() + probes, probe.begin() + q * probes);
  }
  // Queries grouped by list; lists scanned in ascending order.
  std::vector<std::pair<int32_t, int32_t>> visits;  // (list, query)
  visits.reserve(probe.size());
  for (int64_t q = 0; q < b; ++q) {
    for (int p = 0; p < probes; ++p) visits.push_back({probe[static_cast<size_t>(q * probes + p)], static_cast<int32_t>(q)});
  }
  std::sort(visits.begin(), visits.end());

  std::vector<TopK<int32_t>> top;
  top.reserve(static_cast<size_t>(b));
  for (int64_t q = 0; q < b; ++q) top.emplace_back(k);
  const faiss::InvertedLists* lists = view.ivf->invlists;
  std::vector<int32_t> group;
  std::vector<const float*> query_ptrs;  // g
  std::vector<float> list_scores;        // size × g
  for (size_t v = 0; v < visits.size();) {
    const int32_t list = visits[v].first;
    group.clear();
    for (; v < visits.size() && visits[v].first == list; ++v) group.push_back(visits[v].second);
    const size_t size = lists->list_size(static_cast<size_t>(list));
    if (size == 0) continue;
    faiss::InvertedLists::ScopedCodes codes(lists, static_cast<size_t>(list));
    faiss::InvertedLists::ScopedIds list_ids(lists, static_cast<size_t>(list));
    const float* x = reinterpret_cast<const float*>(codes.get());
    const faiss::Index::idx_t* labels = list_ids.get();
    // Scores of the whole list against every query that probes it, while
    // the list streams through the cache.
    const auto g = static_cast<Eigen::Index>(group.size());
    query_ptrs.clear();
    for (int32_t q : group) query_ptrs.push_back(queries + q * stride);
    list_scores.resize(size * group.size());
    ScoreList(x, size, d, query_ptrs.data(), static_cast<int>(g), list_scores.data());
    for (Eigen::Index i = 0; i < g; ++i) {
      const int32_t q = group[static_cast<size_t>(i)];
      TopK<int32_t>& t = top[static_cast<size_t>(q)];
      const FilterPlan* plan = plans.empty() ? nullptr : plans[static_cast<size_t>(q)];
      for (size_t j = 0; j < size; ++j) {
        const float s = list_scores[j * static_cast<size_t>(g) + static_cast<size_t>(i)];
        if (t.full() && s < t.threshold()) continue;  // the common case: no filter lookup
        const int32_t id = static_cast<int32_t>(labels[j]);
        if (plan != nullptr && !plan->IsAllowed(id)) continue;
        t.Push(s, id);
      }
    }
  }
  for (int64_t q = 0; q < b; ++q) {
    const auto best = top[static_cast<size_t>(q)].Extract();
    int32_t* row_ids = ids + q * k;
    float* row_scores = scores + q * k;
    for (int j = 0; j < k; ++j) {
      const bool has = j < static_cast<int>(best.size());
      row_ids[j] = has ? best[static_cast<size_t>(j)].id : kNoItem;
      row_scores[j] = has ? best[static_cast<size_t>(j)].score : kNegInf;
    }
    found[q] = static_cast<int>(best.size());
  }
}

}  // namespace recsys::internal

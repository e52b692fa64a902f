// Blocked exact inner-product search (see include/recsys/candidates/exact_search.h).
//
// Shape legend: b queries, n items, d dims, k results, QB = query block rows,
// T = item tile rows, S = QB × T score tile (row-major, one row per query).
#include "recsys/candidates/exact_search.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "recsys/core/check.h"
#include "recsys/core/gather.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/core/topk.h"
#include "oneapi/tbb/global_control.h"
#include "oneapi/tbb/task_arena.h"

namespace recsys {
namespace {

constexpr int kPanel = 16;  // queries per panel: two AVX2 vectors, one query per lane
constexpr int kMicro = 6;   // items per micro-kernel step (16 × 6 = 12 accumulators)
constexpr int kGroup = 4;   // queries per pass of the int8 pre-pass

// Threads this search may use (the arena's and any global cap).
int Workers() {
  const size_t cap =
      oneapi::tbb::global_control::active_value(oneapi::tbb::global_control::max_allowed_parallelism);
  return std::max(1, static_cast<int>(std::min<size_t>(
                         static_cast<size_t>(oneapi::tbb::this_task_arena::max_concurrency()), cap)));
}

// Items per shard for `tasks_without_shards` independent tasks over n items:
// options.item_shard when set; otherwise the items are cut only as far as the
// threads need (each shard starts with an empty heap, so fewer is faster).
// Results never depend on it: every score is the same float and the merge
// keeps the total order.
int64_t ShardItems(const ExactSearchOptions& o, int64_t n, int64_t tasks_without_shards, int64_t granule) {
  if (o.item_shard > 0) return o.item_shard;
  const int64_t want = 2 * static_cast<int64_t>(Workers());
  if (tasks_without_shards >= want || Workers() == 1) return std::max<int64_t>(n, 1);
  const int64_t shards = (want + tasks_without_shards - 1) / tasks_without_shards;
  const int64_t per = (n + shards - 1) / shards;
  return std::max<int64_t>(granule, (per + granule - 1) / granule * granule);
}

// The score of every path: dims in order, fused multiply-adds (one lane of
// the vector kernels computes exactly this sequence).
inline float ExactDot(const float* q, const float* x, int d) {
  float s = 0.0f;
  for (int l = 0; l < d; ++l) s = std::fma(q[l], x[l], s);
  return s;
}

// One query's filter, consulted only for items that beat its threshold. Items
// reach it in ascending order, so a sorted exclusion list is walked with a
// cursor.
struct QueryFilter {
  const FilterPlan* plan = nullptr;
  size_t cursor = 0;

  bool Allowed(int64_t j) {
    if (plan == nullptr) return true;
    switch (plan->kind) {
      case FilterPlan::Kind::kAllowAll: return true;
      case FilterPlan::Kind::kExcludeSorted: {
        const auto& ex = plan->excluded;
        while (cursor < ex.size() && ex[cursor] < j) ++cursor;
        return cursor == ex.size() || ex[cursor] != j;
      }
      case FilterPlan::Kind::kAllowMask:
        return (plan->allow_bits[static_cast<size_t>(j) >> 6] >> (j & 63)) & 1u;
    }
    return true;
  }
};

// Up to 16 queries packed transposed (qt[l·16 + lane]); padding lanes are zero
// and have threshold +inf, so they never admit an item.
struct Panel {
  alignas(32) float th[kPanel];
  std::vector<float> qt;
  TopK<int32_t>* tops[kPanel] = {};
  QueryFilter* filters[kPanel] = {};
  int lanes = 0;

  // Pushes item j for each lane set in `mask` (scores in s[16]).
  void Admit(uint32_t mask, const float* s, int64_t j) {
    while (mask != 0) {
      const int r = __builtin_ctz(mask);
      mask &= mask - 1;
      if (!filters[r]->Allowed(j)) continue;
      tops[r]->Push(s[r], static_cast<int32_t>(j));
      th[r] = tops[r]->threshold();
    }
  }
};

#if defined(__AVX2__) && defined(__FMA__)
inline void CheckItem(Panel& p, int64_t j, __m256 lo, __m256 hi) {
  const uint32_t m =
      static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(lo, _mm256_load_ps(p.th), _CMP_GT_OQ))) |
      (static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(hi, _mm256_load_ps(p.th + 8), _CMP_GT_OQ)))
       << 8);
  if (m == 0) [[likely]] return;
  alignas(32) float s[kPanel];
  _mm256_store_ps(s, lo);
  _mm256_store_ps(s + 8, hi);
  p.Admit(m, s, j);
}

// Scores panel × items[j0, j1) and admits the survivors. Items are read in
// place: each step broadcasts one float from each of 6 item rows against the
// two query vectors of dim l.
// `prefetch`: the first panel over a tile pulls it from memory; it asks for
// the rows a few steps ahead (within the tile) so the loads overlap the FMAs.
void PanelTile(const float* items, int d, int64_t j0, int64_t j1, Panel& p, bool prefetch) {
  const float* qt = p.qt.data();
  constexpr int64_t kAhead = 4 * kMicro;
  int64_t j = j0;
  for (; j + kMicro <= j1; j += kMicro) {
    if (prefetch && j + kAhead + kMicro <= j1) PrefetchBytes(items + (j + kAhead) * d, int64_t{kMicro} * d * 4);
    const float* x0 = items + j * d;
    const float* x1 = x0 + d;
    const float* x2 = x1 + d;
    const float* x3 = x2 + d;
    const float* x4 = x3 + d;
    const float* x5 = x4 + d;
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0, a4 = a0,
           b4 = a0, a5 = a0, b5 = a0;
    for (int l = 0; l < d; ++l) {
      const __m256 qa = _mm256_loadu_ps(qt + l * kPanel);
      const __m256 qb = _mm256_loadu_ps(qt + l * kPanel + 8);
      __m256 x = _mm256_broadcast_ss(x0 + l);
      a0 = _mm256_fmadd_ps(qa, x, a0);
      b0 = _mm256_fmadd_ps(qb, x, b0);
      x = _mm256_broadcast_ss(x1 + l);
      a1 = _mm256_fmadd_ps(qa, x, a1);
      b1 = _mm256_fmadd_ps(qb, x, b1);
      x = _mm256_broadcast_ss(x2 + l);
      a2 = _mm256_fmadd_ps(qa, x, a2);
      b2 = _mm256_fmadd_ps(qb, x, b2);
      x = _mm256_broadcast_ss(x3 + l);
      a3 = _mm256_fmadd_ps(qa, x, a3);
      b3 = _mm256_fmadd_ps(qb, x, b3);
      x = _mm256_broadcast_ss(x4 + l);
      a4 = _mm256_fmadd_ps(qa, x, a4);
      b4 = _mm256_fmadd_ps(qb, x, b4);
      x = _mm256_broadcast_ss(x5 + l);
      a5 = _mm256_fmadd_ps(qa, x, a5);
      b5 = _mm256_fmadd_ps(qb, x, b5);
    }
    CheckItem(p, j, a0, b0);
    CheckItem(p, j + 1, a1, b1);
    CheckItem(p, j + 2, a2, b2);
    CheckItem(p, j + 3, a3, b3);
    CheckItem(p, j + 4, a4, b4);
    CheckItem(p, j + 5, a5, b5);
  }
  for (; j < j1; ++j) {
    const float* x0 = items + j * d;
    __m256 a0 = _mm256_setzero_ps(), b0 = a0;
    for (int l = 0; l < d; ++l) {
      const __m256 x = _mm256_broadcast_ss(x0 + l);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qt + l * kPanel), x, a0);
      b0 = _mm256_fmadd_ps(_mm256_loadu_ps(qt + l * kPanel + 8), x, b0);
    }
    CheckItem(p, j, a0, b0);
  }
}
#else
// Portable form: the same scores (ExactDot per lane), the same admissions.
void PanelTile(const float* items, int d, int64_t j0, int64_t j1, Panel& p, bool /*prefetch*/) {
  std::vector<float> q(static_cast<size_t>(d));
  float s[kPanel];
  for (int64_t j = j0; j < j1; ++j) {
    uint32_t m = 0;
    for (int r = 0; r < p.lanes; ++r) {
      for (int l = 0; l < d; ++l) q[static_cast<size_t>(l)] = p.qt[static_cast<size_t>(l * kPanel + r)];
      s[r] = ExactDot(q.data(), items + j * d, d);
      if (s[r] > p.th[r]) m |= 1u << r;
    }
    if (m != 0) p.Admit(m, s, j);
  }
}
#endif

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
  if (item_shard < 0 || (item_shard != 0 && (item_shard < item_tile || item_shard % item_tile != 0))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ExactSearchOptions.item_shard must be 0 (auto) or a positive multiple of item_tile, got ", item_shard));
  }
  if (prepass_max_batch < 0 || prepass_max_batch > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("ExactSearchOptions.prepass_max_batch must be in [0, 4096], got ", prepass_max_batch));
  }
  return absl::OkStatus();
}

// int8 codes in blocks of 8 items, dim-major inside a block
// (codes[(block·d + l)·8 + i]), one scale and one error radius per item.
struct ExactSearcher::Prepass {
  int64_t blocks = 0;
  std::vector<int8_t> codes;
  std::vector<float> scale;
  std::vector<float> radius;  // +inf: always re-scored (rows with non-finite or huge values)
};

namespace {

// Query norms outside this range (or non-finite queries) skip the pre-pass, so
// that neither the bound nor the pre-pass scores can overflow or underflow.
constexpr double kMinQueryNorm = 1e-6;
constexpr double kMaxQueryNorm = 1e15;
constexpr double kMaxItemAbs = 1e15;
constexpr double kMinRadius = 1e-30;  // absorbs underflow of products

// Per-row quantisation and bound. For a query q, the pre-pass computes
// t = fl(Σ q_l c_l) (fma chain) and ŝ = fl(scale · t); the exact score is
// s = ExactDot(q, x). With x̃ = scale·c, e = x − x̃ and γ_m = m·u/(1 − m·u):
//   |t − Σ q_l c_l| ≤ γ_d ‖q‖‖c‖,  |ŝ − q·x̃| ≤ γ_{d+2} ‖q‖‖x̃‖,
//   |q·x̃ − q·x| ≤ ‖q‖‖e‖,          |s − q·x| ≤ γ_d ‖q‖‖x‖,
// so |s − ŝ| ≤ ‖q‖ (‖e‖ + γ_{d+2}(‖x‖ + ‖x̃‖)). The stored radius doubles the
// rounding term and adds a relative 1e-6 to cover the roundings of ‖q‖, of
// the radius itself and of ŝ ± ‖q‖·r.
void QuantizeRow(const float* x, int d, int8_t* codes, float* scale, float* radius) {
  double maxabs = 0.0;
  bool finite = true;
  for (int l = 0; l < d; ++l) {
    finite = finite && std::isfinite(x[l]);
    maxabs = std::max(maxabs, std::abs(static_cast<double>(x[l])));
  }
  if (!finite || maxabs > kMaxItemAbs) {
    for (int l = 0; l < d; ++l) codes[l * 8] = 0;
    *scale = 0.0f;
    *radius = std::numeric_limits<float>::infinity();
    return;
  }
  const float sc = static_cast<float>(maxabs / 127.0);
  double e2 = 0.0, x2 = 0.0, xt2 = 0.0;
  for (int l = 0; l < d; ++l) {
    int c = 0;
    if (sc > 0.0f) c = static_cast<int>(std::clamp(std::lrint(x[l] / static_cast<double>(sc)), -127L, 127L));
    codes[l * 8] = static_cast<int8_t>(c);
    const double xt = static_cast<double>(sc) * c;
    e2 += (x[l] - xt) * (x[l] - xt);
    x2 += static_cast<double>(x[l]) * x[l];
    xt2 += xt * xt;
  }
  const double u = std::ldexp(1.0, -24);
  const double gamma = (d + 2) * u / (1.0 - (d + 2) * u);
  const double r = (std::sqrt(e2) + 2.0 * gamma * (std::sqrt(x2) + std::sqrt(xt2))) * (1.0 + 1e-6);
  *scale = sc;
  *radius = static_cast<float>(std::max(r, kMinRadius) * (1.0 + 1e-6));
}

// One query's pre-pass state within an item shard.
struct PrepassQuery {
  const float* q = nullptr;
  float norm = 0.0f;                  // ‖q‖, rounded up
  QueryFilter filter;
  TopK<int32_t> lower{0};             // k largest lower bounds (ids unused)
  std::vector<std::pair<int32_t, float>> survivors;  // (item, upper bound)
};

// Pre-pass of G queries over item blocks [b0, b1): ŝ for 8 items at a time;
// items whose upper bound reaches the query's running k-th lower bound are
// kept (and raise it).
template <int G>
void PrepassRange(const int8_t* codes, const float* scale, const float* radius, int d, int64_t n, int64_t b0,
                  int64_t b1, PrepassQuery* const* qs) {
  float lo_th[G];
  for (int g = 0; g < G; ++g) lo_th[g] = qs[g]->lower.threshold();
  constexpr int64_t kAheadBlocks = 8;
  for (int64_t blk = b0; blk < b1; ++blk) {
    const int8_t* c = codes + blk * d * 8;
    if (blk + kAheadBlocks < b1) PrefetchBytes(c + kAheadBlocks * d * 8, int64_t{d} * 8);
    float sa[G][8];
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc[G];
    for (int g = 0; g < G; ++g) acc[g] = _mm256_setzero_ps();
    for (int l = 0; l < d; ++l) {
      const __m256 x =
          _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + l * 8))));
      for (int g = 0; g < G; ++g) acc[g] = _mm256_fmadd_ps(_mm256_set1_ps(qs[g]->q[l]), x, acc[g]);
    }
    const __m256 sc = _mm256_loadu_ps(scale + blk * 8);
    const __m256 rad = _mm256_loadu_ps(radius + blk * 8);
    uint32_t any = 0;
    uint32_t masks[G];
    for (int g = 0; g < G; ++g) {
      acc[g] = _mm256_mul_ps(acc[g], sc);
      const __m256 ub = _mm256_fmadd_ps(_mm256_set1_ps(qs[g]->norm), rad, acc[g]);
      masks[g] = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(ub, _mm256_set1_ps(lo_th[g]), _CMP_GE_OQ)));
      any |= masks[g];
    }
    if (any == 0) [[likely]] continue;
    for (int g = 0; g < G; ++g) _mm256_storeu_ps(sa[g], acc[g]);
#else
    uint32_t masks[G];
    for (int g = 0; g < G; ++g) {
      masks[g] = 0;
      for (int i = 0; i < 8; ++i) {
        float t = 0.0f;
        for (int l = 0; l < d; ++l) t = std::fma(qs[g]->q[l], static_cast<float>(c[l * 8 + i]), t);
        sa[g][i] = t * scale[blk * 8 + i];
        const float ub = std::fma(qs[g]->norm, radius[blk * 8 + i], sa[g][i]);
        if (ub >= lo_th[g]) masks[g] |= 1u << i;
      }
    }
#endif
    for (int g = 0; g < G; ++g) {
      PrepassQuery& pq = *qs[g];
      for (uint32_t m = masks[g]; m != 0; m &= m - 1) {
        const int i = __builtin_ctz(m);
        const int64_t j = blk * 8 + i;
        if (j >= n || !pq.filter.Allowed(j)) continue;
        const float r = radius[blk * 8 + i];
        const float ub = std::fma(pq.norm, r, sa[g][i]);
        if (!(ub >= lo_th[g])) continue;  // the threshold rose within this block
        pq.lower.Push(std::fma(-pq.norm, r, sa[g][i]), static_cast<int32_t>(j));
        lo_th[g] = pq.lower.threshold();
        pq.survivors.push_back({static_cast<int32_t>(j), ub});
      }
    }
  }
}

}  // namespace

ExactSearcher::ExactSearcher(const float* items, int64_t n, int d, ExactSearchOptions options)
    : items_(items), n_(n), d_(d), options_(options) {
  RECSYS_CHECK(options_.Validate().ok()) << options_.Validate().message();
  RECSYS_CHECK(n_ >= 0 && d_ > 0 && (n_ == 0 || items_ != nullptr));
}

const ExactSearcher::Prepass* ExactSearcher::GetPrepass() const {
  if (!options_.int8_prepass || options_.prepass_max_batch == 0 || n_ == 0) return nullptr;
  std::call_once(prepass_once_, [this] {
    auto pp = std::make_shared<Prepass>();
    pp->blocks = (n_ + 7) / 8;
    pp->codes.assign(static_cast<size_t>(pp->blocks * d_ * 8), 0);
    pp->scale.assign(static_cast<size_t>(pp->blocks * 8), 0.0f);
    pp->radius.assign(static_cast<size_t>(pp->blocks * 8), 0.0f);
    // Isolated: while waiting for its chunks this thread must not pick up an
    // unrelated task that could re-enter call_once (a search inside a batch).
    oneapi::tbb::this_task_arena::isolate([&] {
      ParallelFor(0, n_, 4096, [&](int64_t rb, int64_t re) {
        for (int64_t j = rb; j < re; ++j) {
          QuantizeRow(items_ + j * d_, d_, pp->codes.data() + (j / 8) * d_ * 8 + (j % 8), pp->scale.data() + j,
                      pp->radius.data() + j);
        }
      });
    });
    prepass_ = std::move(pp);
  });
  return prepass_.get();
}

void ExactSearcher::Prepare() const { (void)GetPrepass(); }

int64_t ExactSearcher::prepass_bytes() const {
  const Prepass* pp = GetPrepass();
  if (pp == nullptr) return 0;
  return static_cast<int64_t>(pp->codes.size() + 4 * (pp->scale.size() + pp->radius.size()));
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

bool ExactSearcher::SearchPrepass(ConstMatrixRef queries, int k, std::span<const FilterPlan* const> plans,
                                  Eigen::Ref<Matrix<int32_t>>& ids, MatrixRef& scores) const {
  const int64_t b = queries.rows();
  const Prepass& pp = *GetPrepass();
  // Contiguous copy of the queries and their norms.
  std::vector<float> qbuf(static_cast<size_t>(b * d_));
  std::vector<float> norms(static_cast<size_t>(b));
  for (int64_t q = 0; q < b; ++q) {
    double n2 = 0.0;
    for (int l = 0; l < d_; ++l) {
      const float v = queries(q, l);
      qbuf[static_cast<size_t>(q * d_ + l)] = v;
      n2 += static_cast<double>(v) * v;
    }
    const double norm = std::sqrt(n2);
    if (!std::isfinite(norm) || norm < kMinQueryNorm || norm > kMaxQueryNorm) return false;
    norms[static_cast<size_t>(q)] = static_cast<float>(norm * (1.0 + 1e-6));
  }
  const int64_t num_groups = (b + kGroup - 1) / kGroup;
  const int64_t shard_blocks = ShardItems(options_, pp.blocks * 8, num_groups, 4096) / 8;
  const int64_t num_shards = (pp.blocks + shard_blocks - 1) / shard_blocks;
  // state[shard · b + q]
  std::vector<PrepassQuery> state(static_cast<size_t>(num_shards * b));
  ParallelFor(0, num_shards * num_groups, 1, [&](int64_t tb, int64_t te) {
    for (int64_t task = tb; task < te; ++task) {
      const int64_t s = task / num_groups;
      const int64_t g0 = (task % num_groups) * kGroup;
      const int gn = static_cast<int>(std::min<int64_t>(kGroup, b - g0));
      PrepassQuery* qs[kGroup];
      for (int g = 0; g < gn; ++g) {
        PrepassQuery& pq = state[static_cast<size_t>(s * b + g0 + g)];
        pq.q = qbuf.data() + (g0 + g) * d_;
        pq.norm = norms[static_cast<size_t>(g0 + g)];
        pq.filter.plan = plans.empty() ? nullptr : plans[static_cast<size_t>(g0 + g)];
        pq.lower = TopK<int32_t>(k);
        qs[g] = &pq;
      }
      const int64_t b0 = s * shard_blocks, b1 = std::min(pp.blocks, b0 + shard_blocks);
      const int8_t* codes = pp.codes.data();
      switch (gn) {
        case 1: PrepassRange<1>(codes, pp.scale.data(), pp.radius.data(), d_, n_, b0, b1, qs); break;
        case 2: PrepassRange<2>(codes, pp.scale.data(), pp.radius.data(), d_, n_, b0, b1, qs); break;
        case 3: PrepassRange<3>(codes, pp.scale.data(), pp.radius.data(), d_, n_, b0, b1, qs); break;
        default: PrepassRange<4>(codes, pp.scale.data(), pp.radius.data(), d_, n_, b0, b1, qs); break;
      }
    }
  });
  // Per query: the global k-th lower bound L, then exact scores of the
  // survivors whose upper bound reaches L (a superset of the exact top k).
  ParallelFor(0, b, 1, [&](int64_t qb, int64_t qe) {
    std::vector<float> lows;
    for (int64_t q = qb; q < qe; ++q) {
      lows.clear();
      for (int64_t s = 0; s < num_shards; ++s) {
        for (const auto& e : state[static_cast<size_t>(s * b + q)].lower.Extract()) lows.push_back(e.score);
      }
      float bound = kNegInf;
      if (static_cast<int64_t>(lows.size()) >= k) {
        std::nth_element(lows.begin(), lows.begin() + (k - 1), lows.end(), std::greater<float>());
        bound = lows[static_cast<size_t>(k - 1)];
      }
      const float* qv = qbuf.data() + q * d_;
      TopK<int32_t> top(k);
      for (int64_t s = 0; s < num_shards; ++s) {
        for (const auto& [j, ub] : state[static_cast<size_t>(s * b + q)].survivors) {
          if (!(ub >= bound)) continue;
          const float sc = ExactDot(qv, items_ + static_cast<int64_t>(j) * d_, d_);
          if (sc > kNegInf) top.Push(sc, j);
        }
      }
      auto best = top.Extract();
      WriteRow(best, k, q, ids, scores);
    }
  });
  return true;
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

  // Queries outside the bound's norm range take the full-precision path
  // (same results, full cost).
  if (b < options_.prepass_max_batch && GetPrepass() != nullptr && SearchPrepass(queries, k, plans, ids, scores)) {
    return absl::OkStatus();
  }

  const int64_t qb_rows = options_.query_block;
  const int64_t tile = options_.item_tile;
  const int64_t num_qblocks = (b + qb_rows - 1) / qb_rows;
  // Few query blocks: split the items too, so that one query still uses all
  // cores.
  const int64_t shard = ShardItems(options_, n_, num_qblocks, tile);
  const int64_t num_shards = std::max<int64_t>(1, (n_ + shard - 1) / shard);
  const int64_t num_tasks = num_qblocks * num_shards;

  // Partial results per (task, query in block) when items are sharded.
  std::vector<std::vector<std::vector<ScoredId<int32_t>>>> partial(
      num_shards > 1 ? static_cast<size_t>(num_tasks) : 0);

  ParallelFor(0, num_tasks, 1, [&](int64_t tb, int64_t te) {
    for (int64_t task = tb; task < te; ++task) {
      const int64_t qblock = task / num_shards;
      const int64_t s = task % num_shards;
      const int64_t q0 = qblock * qb_rows;
      const int64_t qn = std::min(b, q0 + qb_rows) - q0;
      const int64_t i0 = s * shard;
      const int64_t i1 = std::min(n_, i0 + shard);
      std::vector<TopK<int32_t>> tops(static_cast<size_t>(qn), TopK<int32_t>(k));
      std::vector<QueryFilter> filters(static_cast<size_t>(qn));
      const int64_t num_panels = (qn + kPanel - 1) / kPanel;
      std::vector<Panel> panels(static_cast<size_t>(num_panels));
      for (int64_t pi = 0; pi < num_panels; ++pi) {
        Panel& p = panels[static_cast<size_t>(pi)];
        p.lanes = static_cast<int>(std::min<int64_t>(kPanel, qn - pi * kPanel));
        p.qt.assign(static_cast<size_t>(d_ * kPanel), 0.0f);
        for (int r = 0; r < kPanel; ++r) {
          if (r >= p.lanes) {
            p.th[r] = std::numeric_limits<float>::infinity();
            continue;
          }
          const int64_t row = pi * kPanel + r;
          for (int l = 0; l < d_; ++l) p.qt[static_cast<size_t>(l * kPanel + r)] = queries(q0 + row, l);
          filters[static_cast<size_t>(row)].plan = plans.empty() ? nullptr : plans[static_cast<size_t>(q0 + row)];
          p.tops[r] = &tops[static_cast<size_t>(row)];
          p.filters[r] = &filters[static_cast<size_t>(row)];
          p.th[r] = kNegInf;
        }
      }
      for (int64_t j0 = i0; j0 < i1; j0 += tile) {
        const int64_t j1 = std::min(i1, j0 + tile);
        for (size_t pi = 0; pi < panels.size(); ++pi) PanelTile(items_, d_, j0, j1, panels[pi], pi == 0);
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

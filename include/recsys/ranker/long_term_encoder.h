// Long-term encoder of the multi-interest ranker (DESIGN.md §1 stage 2, step 3):
// K interest queries derived from the short-term interest u_s cross-attend over
// the user's WHOLE history (jagged, no padding) and give K long-term interests.
//
// Shape legend
//   B  users in the batch     K  interests per user     D  model dim
//   N  items                  R  recency buckets        L_b  history length of user b
//   u_s         B × D                 (short-term interest, one row per user)
//   Wi          D × (K·D), bi 1 × (K·D)   (the K query maps W_k stacked: q_k = u_s·W_k + p_k)
//   queries     (B·K) × D             (u_s·Wi + bi is B × (K·D) row-major = (B·K) × D)
//   items, buckets  ΣL_b entries      (user b's events in [offsets[b], offsets[b+1]))
//   memory      (ΣL_b) × D            m_j = E[item_j] + Rec[bucket_j]
//   out         (B·K) × D             v_{b,k} = CrossAttn(q_{b,k}, memory of b)
//
//   queries = u_s·Wi + bi
//   memory  = E[items] + Rec[buckets]
//   out     = MultiHeadAttention::Cross(queries, memory)   (keys/values = memory·Wk/Wv + b)
//
// Cost: O(ΣL_b · D²) for the key/value projections and O(ΣL_b · K · D) for the
// attention, linear in the history length. At inference the projections move
// to the query side (q·(E_j·Wk)ᵀ = (q·Wkᵀ)·E_j, Σ p_j·E_j·Wv = (Σ p_j·E_j)·Wv),
// so InferForward gathers only the history's rows of E (no item-side key/value
// tables, no per-event D × D products): O(ΣL_b · H·K · D). Tests check it
// equals Forward.
//
//   LongTermEncoder<float>::Cache cache;  Mat<float> v, du;
//   LongTermEncoder<float>::Forward(u_s, E, items, buckets, offsets, params, options, &cache, &v);
//   LongTermEncoder<float>::Backward(u_s, E, dv, params, cache, grads, &du, dE);  // dE dense N × D, +=
//   LongTermEncoder<float>::ItemProjections proj;
//   LongTermEncoder<float>::Precompute(params, &proj);         // recency terms, once per model
//   LongTermEncoder<float>::InferForward(u_s, E, proj, items, buckets, offsets, params, options, &cache, &v);
//
// Recency buckets: RecencyBuckets() maps a history to bucket ids — by time gap
// to the last event when timestamps are known and requested, else by position
// from the end (0 = most recent) — with the log buckets of embedding.h.
//
// Thread safety: stateless functions; one cache per caller.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "recsys/core/gather.h"
#include "recsys/core/types.h"
#include "recsys/ranker/layers/activations.h"
#include "recsys/ranker/layers/attention.h"
#include "recsys/ranker/layers/common.h"
#include "recsys/ranker/layers/embedding.h"
#include "recsys/ranker/layers/linear.h"

namespace recsys {

struct LongTermOptions {
  // K, number of long-term interests (≥ 1).
  int num_interests = 4;
  // H, heads of the cross-attention (D % H == 0).
  int heads = 1;
};

// Recency bucket ids of the last `items.size()` events of a history (oldest
// first). use_time and timestamps non-empty: gap_j = t_last − t_j in units of
// `time.unit`; otherwise gap_j = events from the end (L − 1 − j) with unit 1.
// Bucketised with layers::LogTimeGapBucket; out has items.size() entries.
inline void RecencyBuckets(std::span<const Timestamp> timestamps, size_t length, bool use_time,
                           const layers::TimeGapBucketConfig& time,
                           const layers::TimeGapBucketConfig& position, std::vector<int32_t>* out) {
  const size_t start = out->size();
  out->resize(start + length);
  const bool by_time = use_time && timestamps.size() >= length && length > 0;
  const size_t ts_begin = timestamps.size() - (by_time ? length : 0);
  for (size_t j = 0; j < length; ++j) {
    int32_t bucket;
    if (by_time) {
      const int64_t gap = timestamps.back() - timestamps[ts_begin + j];
      // A gap of 0 (same second as the last event) still is a real event: bucket ≥ 1.
      bucket = gap <= 0 ? 1 : layers::LogTimeGapBucket(gap, time);
    } else {
      bucket = layers::LogTimeGapBucket(static_cast<int64_t>(length - 1 - j) + 1, position);
    }
    (*out)[start + j] = bucket;
  }
}

// Dense long-term targets (LongTermEncoder::BandForward): W windows, each
// with one shared memory (its history's items) and several long rows (query
// sources). Long row r of window w reads the band [lo[r], hi[r]) of `items`
// (inside w's memory) with its own recency buckets (the gap to the row's own
// last event), `buckets[bucket_offsets[r] + j]` for band entry j.
struct LongBandView {
  std::span<const int32_t> items;           // Σ_w L_w memory items, oldest first per window
  std::span<const int64_t> offsets;         // W + 1: window w's memory is [offsets[w], offsets[w+1])
  std::span<const int64_t> row_offsets;     // W + 1: window w's long rows are [row_offsets[w], row_offsets[w+1])
  std::span<const int64_t> lo, hi;          // B': band of each long row, indices into items
  std::span<const int64_t> bucket_offsets;  // B' + 1
  std::span<const int32_t> buckets;         // Σ_r (hi[r] − lo[r])
};

template <typename T>
struct LongTermEncoder {
  using Mat = layers::Mat<T>;
  using Attn = layers::MultiHeadAttention<T>;

  struct Params {
    layers::CMatRef<T> interest_w;   // D × (K·D)
    layers::CRowRef<T> interest_b;   // 1 × (K·D)
    layers::CMatRef<T> recency;      // R × D
    typename Attn::Params attn;      // D × D projections + biases
  };
  struct Grads {
    layers::MatRef<T> interest_w;
    layers::RowRef<T> interest_b;
    layers::MatRef<T> recency;
    typename Attn::Grads attn;
  };
  struct Cache {
    std::vector<int32_t> items, buckets;   // ΣL_b
    std::vector<int64_t> offsets;          // B + 1
    Mat queries;                           // (B·K) × D
    Mat memory;                            // (ΣL_b) × D
    typename Attn::Cache attn;
    Mat dqueries, dmemory;                 // backward scratch
    Mat infer_qt, infer_rec_logits, infer_logits, infer_bucket_mass, infer_mix;  // InferForward scratch
  };
  // BandForward's cache: memory rows hold E[item] only and recency enters
  // through RK = Rec·Wk, RV = Rec·Wv (k_j = E_j·Wk + bk + RK[b_rj]).
  struct BandCache {
    std::vector<int32_t> items, buckets;
    std::vector<int64_t> offsets, row_offsets, lo, hi, bucket_offsets;
    Mat queries, q, mem, kmem, vmem, rk, rv, ctx;  // (B'·K)×D, ΣL×D, R×D
    Mat mass;                                      // (B'·K) × (H·R): Σ of P over each bucket, per head
    std::vector<T> probs;                          // per window and head: (P_w·K) × L_w
    std::vector<int64_t> prob_offset;              // per window
    Mat dctx, dq, dkmem, dvmem, drk, drv, dmem, dp, dpr, dbucket, rec_logits;  // scratch
  };
  // Recency-side projections for inference (see InferForward).
  struct ItemProjections {
    Mat recency_keys;    // R × D: Rec·Wk + bk
    Mat recency_values;  // R × D: Rec·Wv + bv
  };

  // queries = u_s·Wi + bi, viewed as (B·K) × D.
  static void Queries(const layers::CMatRef<T>& u_s, const Params& p, int k, Mat* queries) {
    const Eigen::Index d = u_s.cols(), b = u_s.rows();
    RECSYS_CHECK(p.interest_w.rows() == d && p.interest_w.cols() == k * d)
        << "interest_w is " << p.interest_w.rows() << " × " << p.interest_w.cols() << ", expected " << d
        << " × " << k * d;
    layers::EnsureShape(queries, b * k, d);
    Eigen::Map<Mat> flat(queries->data(), b, k * d);
    flat.noalias() = u_s * p.interest_w;  // q = u_s·Wi
    flat.rowwise() += p.interest_b;       //   + bi
  }

  static void Forward(const layers::CMatRef<T>& u_s, const layers::CMatRef<T>& item_table,
                      std::span<const int32_t> items, std::span<const int32_t> buckets,
                      std::span<const int64_t> offsets, const Params& p, const LongTermOptions& o,
                      Cache* c, Mat* out) {
    RECSYS_CHECK(items.size() == buckets.size() && !offsets.empty() &&
                 offsets.back() == static_cast<int64_t>(items.size()) &&
                 static_cast<Eigen::Index>(offsets.size()) == u_s.rows() + 1);
    c->items.assign(items.begin(), items.end());
    c->buckets.assign(buckets.begin(), buckets.end());
    c->offsets.assign(offsets.begin(), offsets.end());
    Queries(u_s, p, o.num_interests, &c->queries);
    const Eigen::Index n = static_cast<Eigen::Index>(items.size()), d = u_s.cols();
    layers::EnsureShape(&c->memory, n, d);
    for (Eigen::Index j = 0; j < n; ++j) {
      c->memory.row(j) = item_table.row(items[static_cast<size_t>(j)]) +      // m_j = E[item_j]
                         p.recency.row(buckets[static_cast<size_t>(j)]);      //     + Rec[bucket_j]
    }
    Attn::CrossForward(c->queries, c->memory, c->offsets, o.num_interests, p.attn,
                       {.heads = o.heads, .causal = false}, &c->attn, out);
  }

  // dout: (B·K) × D. du_s (optional): B × D, overwritten. ditem_table: N × D,
  // accumulated (rows of the history items only).
  static void Backward(const layers::CMatRef<T>& u_s, const layers::CMatRef<T>& dout, const Params& p,
                       Cache& c, Grads g, Mat* du_s, layers::MatRef<T> ditem_table) {
    const Eigen::Index d = u_s.cols(), b = u_s.rows();
    const int k = static_cast<int>(c.queries.rows() / std::max<Eigen::Index>(1, b));
    // out = CrossAttn(queries, memory)
    Attn::CrossBackward(c.queries, c.memory, dout, p.attn, c.attn, g.attn, &c.dqueries, &c.dmemory);
    // m_j = E[item_j] + Rec[bucket_j]
    for (Eigen::Index j = 0; j < c.dmemory.rows(); ++j) {
      ditem_table.row(c.items[static_cast<size_t>(j)]) += c.dmemory.row(j);
      g.recency.row(c.buckets[static_cast<size_t>(j)]) += c.dmemory.row(j);
    }
    // q = u_s·Wi + bi
    Eigen::Map<const Mat> dflat(c.dqueries.data(), b, k * d);
    g.interest_b += dflat.colwise().sum();
    g.interest_w.noalias() += u_s.transpose() * dflat;
    if (du_s != nullptr) {
      layers::EnsureShape(du_s, b, d);
      du_s->noalias() = dflat * p.interest_w.transpose();
    }
  }

  // Dense form: B' long rows (u: B' × D, one query source per row) in W
  // windows that share a memory; out (B'·K) × D. Row r's K queries attend
  // only over its band, with recency buckets relative to its own last event.
  // Equal to Forward when every window has one long row whose band is the
  // whole memory (test LongShortDense.OneRowPerWindowEqualsClassicForm).
  static void BandForward(const layers::CMatRef<T>& u, const layers::CMatRef<T>& item_table,
                          const LongBandView& band, const Params& p, const LongTermOptions& o, BandCache* c,
                          Mat* out) {
    const Eigen::Index d = u.cols(), rows = u.rows();
    const int k = o.num_interests, heads = o.heads;
    RECSYS_CHECK(heads > 0 && d % heads == 0) << "D = " << d << " not divisible by H = " << heads;
    RECSYS_CHECK(!band.offsets.empty() && band.offsets.size() == band.row_offsets.size() &&
                 band.offsets.back() == static_cast<int64_t>(band.items.size()) &&
                 band.row_offsets.back() == rows && band.lo.size() == static_cast<size_t>(rows) &&
                 band.hi.size() == static_cast<size_t>(rows) &&
                 band.bucket_offsets.size() == static_cast<size_t>(rows) + 1 &&
                 band.bucket_offsets.back() == static_cast<int64_t>(band.buckets.size()))
        << "inconsistent LongBandView";
    c->items.assign(band.items.begin(), band.items.end());
    c->buckets.assign(band.buckets.begin(), band.buckets.end());
    c->offsets.assign(band.offsets.begin(), band.offsets.end());
    c->row_offsets.assign(band.row_offsets.begin(), band.row_offsets.end());
    c->lo.assign(band.lo.begin(), band.lo.end());
    c->hi.assign(band.hi.begin(), band.hi.end());
    c->bucket_offsets.assign(band.bucket_offsets.begin(), band.bucket_offsets.end());
    const Eigen::Index dh = d / heads, nb = p.recency.rows();
    const T scale = T(1) / std::sqrt(T(dh));
    Queries(u, p, k, &c->queries);
    layers::Linear<T>::Forward(c->queries, {p.attn.wq, p.attn.bq}, &c->q);  // q = queries·Wq + bq
    const Eigen::Index n = static_cast<Eigen::Index>(c->items.size());
    layers::EnsureShape(&c->mem, n, d);
    for (Eigen::Index j = 0; j < n; ++j) c->mem.row(j) = item_table.row(c->items[static_cast<size_t>(j)]);
    layers::Linear<T>::Forward(c->mem, {p.attn.wk, p.attn.bk}, &c->kmem);  // E_j·Wk + bk
    layers::Linear<T>::Forward(c->mem, {p.attn.wv, p.attn.bv}, &c->vmem);  // E_j·Wv + bv
    c->rk.noalias() = p.recency * p.attn.wk;                                // RK = Rec·Wk
    c->rv.noalias() = p.recency * p.attn.wv;                                // RV = Rec·Wv
    const size_t windows = c->offsets.size() - 1;
    c->prob_offset.resize(windows);
    int64_t total = 0;
    for (size_t w = 0; w < windows; ++w) {
      c->prob_offset[w] = total;
      total += int64_t{heads} * k * (c->row_offsets[w + 1] - c->row_offsets[w]) * (c->offsets[w + 1] - c->offsets[w]);
    }
    c->probs.resize(static_cast<size_t>(total));  // every entry written below
    layers::EnsureShape(&c->ctx, rows * k, d);
    layers::EnsureShape(&c->mass, rows * k, heads * nb);
    c->mass.setZero();
    for (size_t w = 0; w < windows; ++w) {
      const Eigen::Index r0 = c->row_offsets[w], nr = c->row_offsets[w + 1] - r0;
      const Eigen::Index m0 = c->offsets[w], len = c->offsets[w + 1] - m0, nq = nr * k;
      if (nq == 0) continue;
      for (int h = 0; h < heads; ++h) {
        const auto q_h = c->q.block(r0 * k, h * dh, nq, dh);
        Eigen::Map<Mat> prob(c->probs.data() + c->prob_offset[w] + h * nq * len, nq, len);
        prob.noalias() = scale * q_h * c->kmem.block(m0, h * dh, len, dh).transpose();
        c->rec_logits.noalias() = scale * q_h * c->rk.middleCols(h * dh, dh).transpose();  // nq × R
        for (Eigen::Index i = 0; i < nq; ++i) {
          const size_t r = static_cast<size_t>(r0 + i / k);
          const Eigen::Index lo = c->lo[r] - m0, hi = c->hi[r] - m0;
          RECSYS_CHECK(lo >= 0 && lo <= hi && hi <= len) << "long row " << r << " band outside its window";
          const int32_t* bucket = c->buckets.data() + c->bucket_offsets[r];
          T* row = prob.row(i).data();
          for (Eigen::Index j = 0; j < lo; ++j) row[j] = -std::numeric_limits<T>::infinity();
          for (Eigen::Index j = hi; j < len; ++j) row[j] = -std::numeric_limits<T>::infinity();
          for (Eigen::Index j = lo; j < hi; ++j) row[j] += c->rec_logits(i, bucket[j - lo]);
          layers::Softmax<T>::RowInPlace(row, len);
          T* mass = c->mass.row(r0 * k + i).data() + h * nb;
          for (Eigen::Index j = lo; j < hi; ++j) mass[bucket[j - lo]] += row[j];
        }
        // ctx_h = P·Vmem_h + mass_h·RV_h
        auto ctx_h = c->ctx.block(r0 * k, h * dh, nq, dh);
        ctx_h.noalias() = prob * c->vmem.block(m0, h * dh, len, dh);
        ctx_h.noalias() += c->mass.block(r0 * k, h * nb, nq, nb) * c->rv.middleCols(h * dh, dh);
      }
    }
    layers::Linear<T>::Forward(c->ctx, {p.attn.wo, p.attn.bo}, out);  // out = ctx·Wo + bo
  }

  // dout: (B'·K) × D. du (optional): B' × D, overwritten. ditem_table: N × D,
  // accumulated (rows of the memory items only).
  static void BandBackward(const layers::CMatRef<T>& u, const layers::CMatRef<T>& dout, const Params& p,
                           const LongTermOptions& o, BandCache& c, Grads g, Mat* du,
                           layers::MatRef<T> ditem_table) {
    const Eigen::Index d = u.cols(), rows = u.rows();
    const int k = o.num_interests, heads = o.heads;
    const Eigen::Index dh = d / heads, nb = p.recency.rows();
    const T scale = T(1) / std::sqrt(T(dh));
    // out = ctx·Wo + bo
    layers::Linear<T>::Backward(c.ctx, dout, {p.attn.wo, p.attn.bo}, {g.attn.wo, g.attn.bo}, &c.dctx);
    layers::EnsureShape(&c.dq, rows * k, d);
    c.dq.setZero();
    layers::EnsureShape(&c.dkmem, c.kmem.rows(), d);
    c.dkmem.setZero();
    layers::EnsureShape(&c.dvmem, c.vmem.rows(), d);
    c.dvmem.setZero();
    layers::EnsureShape(&c.drk, nb, d);
    c.drk.setZero();
    layers::EnsureShape(&c.drv, nb, d);
    c.drv.setZero();
    const size_t windows = c.offsets.size() - 1;
    for (size_t w = 0; w < windows; ++w) {
      const Eigen::Index r0 = c.row_offsets[w], nr = c.row_offsets[w + 1] - r0;
      const Eigen::Index m0 = c.offsets[w], len = c.offsets[w + 1] - m0, nq = nr * k;
      if (nq == 0) continue;
      for (int h = 0; h < heads; ++h) {
        const auto q_h = c.q.block(r0 * k, h * dh, nq, dh);
        const auto dctx_h = c.dctx.block(r0 * k, h * dh, nq, dh);
        const auto mass_h = c.mass.block(r0 * k, h * nb, nq, nb);
        Eigen::Map<const Mat> prob(c.probs.data() + c.prob_offset[w] + h * nq * len, nq, len);
        // ctx_h = P·Vmem_h + mass_h·RV_h
        c.dvmem.block(m0, h * dh, len, dh).noalias() += prob.transpose() * dctx_h;
        c.drv.middleCols(h * dh, dh).noalias() += mass_h.transpose() * dctx_h;
        c.dp.noalias() = dctx_h * c.vmem.block(m0, h * dh, len, dh).transpose();  // dP, nq × L
        c.dpr.noalias() = dctx_h * c.rv.middleCols(h * dh, dh).transpose();         // nq × R
        layers::EnsureShape(&c.dbucket, nq, nb);
        c.dbucket.setZero();
        for (Eigen::Index i = 0; i < nq; ++i) {
          const size_t r = static_cast<size_t>(r0 + i / k);
          const Eigen::Index lo = c.lo[r] - m0, hi = c.hi[r] - m0;
          const int32_t* bucket = c.buckets.data() + c.bucket_offsets[r];
          T* dp = c.dp.row(i).data();
          const T* pr = prob.row(i).data();
          T dot = 0;
          for (Eigen::Index j = lo; j < hi; ++j) {
            dp[j] += c.dpr(i, bucket[j - lo]);  // P's share of mass_h
            dot += pr[j] * dp[j];
          }
          // softmax backward on the band; the masked entries have no gradient
          for (Eigen::Index j = 0; j < lo; ++j) dp[j] = T(0);
          for (Eigen::Index j = hi; j < len; ++j) dp[j] = T(0);
          for (Eigen::Index j = lo; j < hi; ++j) {
            dp[j] = pr[j] * (dp[j] - dot);
            c.dbucket(i, bucket[j - lo]) += dp[j];
          }
        }
        // logits = scale·(q_h·Kmem_hᵀ + q_h·RK_h[b]ᵀ)
        auto dq_h = c.dq.block(r0 * k, h * dh, nq, dh);
        dq_h.noalias() += scale * c.dp * c.kmem.block(m0, h * dh, len, dh);
        dq_h.noalias() += scale * c.dbucket * c.rk.middleCols(h * dh, dh);
        c.dkmem.block(m0, h * dh, len, dh).noalias() += scale * c.dp.transpose() * q_h;
        c.drk.middleCols(h * dh, dh).noalias() += scale * c.dbucket.transpose() * q_h;
      }
    }
    // q = queries·Wq + bq
    Mat dqueries;
    layers::Linear<T>::Backward(c.queries, c.dq, {p.attn.wq, p.attn.bq}, {g.attn.wq, g.attn.bq}, &dqueries);
    // Kmem = mem·Wk + bk, Vmem = mem·Wv + bv
    layers::Linear<T>::Backward(c.mem, c.dkmem, {p.attn.wk, p.attn.bk}, {g.attn.wk, g.attn.bk}, &c.dmem);
    layers::Linear<T>::Backward(c.mem, c.dvmem, {p.attn.wv, p.attn.bv}, {g.attn.wv, g.attn.bv}, nullptr);
    c.dmem.noalias() += c.dvmem * p.attn.wv.transpose();
    // RK = Rec·Wk, RV = Rec·Wv
    g.attn.wk.noalias() += p.recency.transpose() * c.drk;
    g.attn.wv.noalias() += p.recency.transpose() * c.drv;
    g.recency.noalias() += c.drk * p.attn.wk.transpose();
    g.recency.noalias() += c.drv * p.attn.wv.transpose();
    for (Eigen::Index j = 0; j < c.dmem.rows(); ++j) ditem_table.row(c.items[static_cast<size_t>(j)]) += c.dmem.row(j);
    // queries = u·Wi + bi
    Eigen::Map<const Mat> dflat(dqueries.data(), rows, k * d);
    g.interest_b += dflat.colwise().sum();
    g.interest_w.noalias() += u.transpose() * dflat;
    if (du != nullptr) {
      layers::EnsureShape(du, rows, d);
      du->noalias() = dflat * p.interest_w.transpose();
    }
  }

  static void Precompute(const Params& p, ItemProjections* proj) {
    proj->recency_keys.noalias() = p.recency * p.attn.wk;
    proj->recency_keys.rowwise() += p.attn.bk;
    proj->recency_values.noalias() = p.recency * p.attn.wv;
    proj->recency_values.rowwise() += p.attn.bv;
  }

  // Inference: the same result as Forward (up to float rounding) without any
  // per-event D × D product and without item-side key/value tables. Per head
  // h, with m_j = E[item_j] + Rec[bucket_j] and k_j = m_j·Wk + bk:
  //   scale·q_h·k_{j,h} = q̃_h·E[item_j] + scale·q_h·RK[bucket_j, h]   q̃_h = scale·q_h·Wk_hᵀ (1 × D)
  //   Σ_j p_j·v_{j,h}    = (Σ_j p_j·E[item_j])·Wv_h + Σ_b w_b·RV[b, h]   w_b = Σ_{bucket_j = b} p_j
  // (RK = Rec·Wk + bk, RV = Rec·Wv + bv from Precompute). So a request only
  // gathers the L history rows of E once — the same table the candidates
  // come from — and does two (H·K) × L × D products.
  static void InferForward(const layers::CMatRef<T>& u_s, const layers::CMatRef<T>& item_table,
                           const ItemProjections& proj, std::span<const int32_t> items,
                           std::span<const int32_t> buckets, std::span<const int64_t> offsets, const Params& p,
                           const LongTermOptions& o, Cache* c, Mat* out) {
    RECSYS_CHECK(items.size() == buckets.size() && !offsets.empty() &&
                 offsets.back() == static_cast<int64_t>(items.size()) &&
                 static_cast<Eigen::Index>(offsets.size()) == u_s.rows() + 1);
    const Eigen::Index d = u_s.cols(), batch = u_s.rows();
    const int k = o.num_interests, heads = o.heads;
    RECSYS_CHECK(heads > 0 && d % heads == 0) << "D = " << d << " not divisible by H = " << heads;
    const Eigen::Index dh = d / heads, hk = Eigen::Index{heads} * k, buckets_n = proj.recency_keys.rows();
    const T scale = T(1) / std::sqrt(T(dh));
    Queries(u_s, p, k, &c->queries);
    auto& a = c->attn;
    layers::Linear<T>::Forward(c->queries, {p.attn.wq, p.attn.bq}, &a.q);  // (B·K) × D
    layers::EnsureShape(&a.ctx, batch * k, d);
    // Rows of a large catalogue are DRAM misses: prefetch a few events ahead.
    constexpr Eigen::Index kAhead = 12;
    const int64_t row_bytes = d * static_cast<int64_t>(sizeof(T));
    Mat& qt = c->infer_qt;            // (H·K) × D, row h·K + i
    Mat& rec = c->infer_rec_logits;   // (H·K) × R
    Mat& logits = c->infer_logits;    // (H·K) × L → probabilities in place
    Mat& mass = c->infer_bucket_mass; // (H·K) × R
    Mat& mix = c->infer_mix;          // (H·K) × D: Σ_j p_j·E[item_j]
    Mat& hist = c->memory;            // L × D gathered rows of E
    layers::EnsureShape(&qt, hk, d);
    layers::EnsureShape(&rec, hk, buckets_n);
    for (Eigen::Index b = 0; b < batch; ++b) {
      const int64_t begin = offsets[static_cast<size_t>(b)], end = offsets[static_cast<size_t>(b) + 1];
      const Eigen::Index len = static_cast<Eigen::Index>(end - begin);
      if (len == 0) {  // no history: ctx = 0 (as Attend)
        a.ctx.middleRows(b * k, k).setZero();
        continue;
      }
      auto prefetch = [&](Eigen::Index j) {
        PrefetchBytes(item_table.row(items[static_cast<size_t>(begin + j)]).data(), row_bytes);
      };
      for (Eigen::Index j = 0; j < std::min(len, kAhead); ++j) prefetch(j);
      for (int h = 0; h < heads; ++h) {
        const auto q_h = a.q.block(b * k, h * dh, k, dh);
        qt.middleRows(h * k, k).noalias() = scale * q_h * p.attn.wk.middleCols(h * dh, dh).transpose();
        rec.middleRows(h * k, k).noalias() = scale * q_h * proj.recency_keys.middleCols(h * dh, dh).transpose();
      }
      layers::EnsureShape(&hist, len, d);
      for (Eigen::Index j = 0; j < len; ++j) {
        if (j + kAhead < len) prefetch(j + kAhead);
        hist.row(j) = item_table.row(items[static_cast<size_t>(begin + j)]);
      }
      layers::EnsureShape(&logits, hk, len);
      logits.noalias() = qt * hist.transpose();
      layers::EnsureShape(&mass, hk, buckets_n);
      mass.setZero();
      const int32_t* bucket = buckets.data() + begin;
      for (Eigen::Index r = 0; r < hk; ++r) {
        T* row = logits.row(r).data();
        const T* rec_row = rec.row(r).data();
        for (Eigen::Index j = 0; j < len; ++j) row[j] += rec_row[bucket[j]];
        layers::Softmax<T>::RowInPlace(row, len);
        T* mass_row = mass.row(r).data();
        for (Eigen::Index j = 0; j < len; ++j) mass_row[bucket[j]] += row[j];
      }
      layers::EnsureShape(&mix, hk, d);
      mix.noalias() = logits * hist;
      for (int h = 0; h < heads; ++h) {
        auto ctx_h = a.ctx.block(b * k, h * dh, k, dh);
        ctx_h.noalias() = mix.middleRows(h * k, k) * p.attn.wv.middleCols(h * dh, dh);
        ctx_h.noalias() += mass.middleRows(h * k, k) * proj.recency_values.middleCols(h * dh, dh);
      }
    }
    layers::Linear<T>::Forward(a.ctx, {p.attn.wo, p.attn.bo}, out);
  }
};

}  // namespace recsys

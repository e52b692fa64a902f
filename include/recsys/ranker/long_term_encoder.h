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

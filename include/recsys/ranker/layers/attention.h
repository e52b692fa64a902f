// Multi-head scaled dot-product attention: causal self-attention over padded
// batches and cross-attention of a fixed query set over jagged sequences.
//
// Shape legend
//   B  sequences (users)   S  padded length (self)   D  model dim   H  heads
//   dh = D / H (head dim; D must be divisible by H)  scale = 1/√dh
//   Self:  x  (B·S) × D, sequence b in rows [b·S, (b+1)·S); valid (B·S) 0/1
//   Cross: queries (B·Q) × D (Q query vectors per user, rows [b·Q, (b+1)·Q));
//          memory (ΣL_b) × D, user b's keys/values in rows [off_b, off_{b+1});
//          offsets B+1 entries, off_0 = 0, off_B = memory rows (jagged; L_b may be 0)
//   Wq, Wk, Wv, Wo  D × D (x·W convention, see linear.h)   bq.. bo  1 × D
//   P (per segment, per head)  n_q × n_k attention probabilities (cached)
//
//   q = xq·Wq + bq,  k = xk·Wk + bk,  v = xk·Wv + bv
//   per segment, head h:  P = softmax(scale · q_h·k_hᵀ + mask),  ctx_h = P·v_h
//   out = ctx·Wo + bo
//
// Masks (self-attention): key j is visible to query i iff j ≤ i (causal) and
// valid_j. A padded query row (valid_i = 0), and any row with no visible key,
// gets P = 0, so ctx = 0 and out = bo there: padded positions neither receive
// nor send gradient, and nothing is ever NaN. Cross-attention: every query sees
// all L_b keys of its user; L_b = 0 gives ctx = 0.
//
// Cost: per segment and head two GEMMs forward (n_q·n_k·dh each) and four
// backward; cross-attention is linear in L_b with no padding work.
//
//   MultiHeadAttention<float>::Cache cache;  Mat<float> out, dx;
//   MultiHeadAttention<float>::SelfForward(x, p, {.heads = 2, .causal = true}, B, S, valid,
//                                          &cache, &out);
//   MultiHeadAttention<float>::SelfBackward(x, dout, p, cache, grads, &dx);
//   MultiHeadAttention<float>::CrossForward(queries, memory, offsets, Q, p, {.heads = 2},
//                                           &cache, &out);
//   MultiHeadAttention<float>::CrossBackward(queries, memory, dout, p, cache, grads,
//                                            &dqueries, &dmemory);
//
// ReferenceSelfAttention() beside it is the plain-loop version tests compare to.
// Thread safety: stateless; one cache per caller.
#pragma once

#include <cmath>
#include <limits>

#include "recsys/ranker/layers/activations.h"
#include "recsys/ranker/layers/common.h"
#include "recsys/ranker/layers/linear.h"

namespace recsys::layers {

struct AttentionOptions {
  // H, number of heads; D % H == 0.
  int heads = 1;
  // Self-attention only: query i sees keys j ≤ i.
  bool causal = true;
  // Causal self-attention computes logits in query tiles of this many rows,
  // each against only the keys it can see ([0, tile end)): about half the
  // S × S work at S = 200. ≥ 1; tests use tiny tiles to exercise the tiling.
  Eigen::Index causal_tile = 32;
};

template <typename T>
struct MultiHeadAttention {
  struct Params {
    CMatRef<T> wq, wk, wv, wo;  // D × D each
    CRowRef<T> bq, bk, bv, bo;  // 1 × D each
  };
  struct Grads {
    MatRef<T> wq, wk, wv, wo;  // accumulated
    RowRef<T> bq, bk, bv, bo;  // accumulated
  };
  // One attention problem: query rows [q_begin, q_begin+q_len) attend to key
  // rows [k_begin, k_begin+k_len).
  struct Segment {
    Eigen::Index q_begin = 0, q_len = 0, k_begin = 0, k_len = 0;
  };
  struct Cache {
    AttentionOptions options;
    std::vector<Segment> segments;
    bool is_self = true;                // SelfForward (true) or CrossForward (false)
    std::vector<uint8_t> valid;         // self-attention mask copy (empty = all valid)
    Mat<T> q, k, v;                     // projected, n_q × D, n_k × D, n_k × D
    Mat<T> ctx;                         // n_q × D
    std::vector<T> probs;               // Σ_segments H·q_len·k_len
    std::vector<int64_t> prob_offset;   // per segment
    // Backward scratch (kept to avoid reallocation).
    Mat<T> dq, dk, dv, dctx, dp, tmp;
  };

  // ---- self-attention ---------------------------------------------------
  static void SelfForward(const CMatRef<T>& x, const Params& p, const AttentionOptions& options,
                          Eigen::Index batch, Eigen::Index seq_len, std::span<const uint8_t> valid,
                          Cache* cache, Mat<T>* out) {
    RECSYS_CHECK(x.rows() == batch * seq_len) << "x has " << x.rows() << " rows, B·S = " << batch * seq_len;
    RECSYS_CHECK(valid.empty() || static_cast<Eigen::Index>(valid.size()) == x.rows());
    cache->options = options;
    cache->is_self = true;
    cache->valid.assign(valid.begin(), valid.end());
    cache->segments.resize(static_cast<size_t>(batch));
    for (Eigen::Index b = 0; b < batch; ++b) {
      cache->segments[static_cast<size_t>(b)] = Segment{b * seq_len, seq_len, b * seq_len, seq_len};
    }
    Linear<T>::Forward(x, {p.wq, p.bq}, &cache->q);  // q = x·Wq + bq
    Linear<T>::Forward(x, {p.wk, p.bk}, &cache->k);  // k = x·Wk + bk
    Linear<T>::Forward(x, {p.wv, p.bv}, &cache->v);  // v = x·Wv + bv
    Attend(cache, /*self=*/true);
    Linear<T>::Forward(cache->ctx, {p.wo, p.bo}, out);  // out = ctx·Wo + bo
  }

  static void SelfBackward(const CMatRef<T>& x, const CMatRef<T>& dout, const Params& p, Cache& cache,
                           Grads g, Mat<T>* dx) {
    // out = ctx·Wo + bo
    Linear<T>::Backward(cache.ctx, dout, {p.wo, p.bo}, {g.wo, g.bo}, &cache.dctx);
    AttendBackward(&cache);
    // q, k, v = x·W + b (three uses of x: gradients add)
    Linear<T>::Backward(x, cache.dq, {p.wq, p.bq}, {g.wq, g.bq}, dx);
    Linear<T>::Backward(x, cache.dk, {p.wk, p.bk}, {g.wk, g.bk}, nullptr);
    Linear<T>::Backward(x, cache.dv, {p.wv, p.bv}, {g.wv, g.bv}, nullptr);
    if (dx != nullptr) {
      dx->noalias() += cache.dk * p.wk.transpose();
      dx->noalias() += cache.dv * p.wv.transpose();
    }
  }

  // ---- cross-attention over jagged sequences ------------------------------
  static void CrossForward(const CMatRef<T>& queries, const CMatRef<T>& memory,
                           std::span<const int64_t> offsets, Eigen::Index queries_per_user,
                           const Params& p, const AttentionOptions& options, Cache* cache,
                           Mat<T>* out) {
    RECSYS_CHECK(!offsets.empty() && offsets.front() == 0 && offsets.back() == memory.rows())
        << "offsets must start at 0 and end at memory rows " << memory.rows();
    const auto batch = static_cast<Eigen::Index>(offsets.size()) - 1;
    RECSYS_CHECK(queries.rows() == batch * queries_per_user)
        << "queries have " << queries.rows() << " rows, B·Q = " << batch * queries_per_user;
    cache->options = options;
    cache->options.causal = false;
    cache->is_self = false;
    cache->valid.clear();
    cache->segments.resize(static_cast<size_t>(batch));
    for (Eigen::Index b = 0; b < batch; ++b) {
      const int64_t begin = offsets[static_cast<size_t>(b)], end = offsets[static_cast<size_t>(b) + 1];
      RECSYS_CHECK(end >= begin) << "offsets not monotone at user " << b;
      cache->segments[static_cast<size_t>(b)] =
          Segment{b * queries_per_user, queries_per_user, begin, end - begin};
    }
    Linear<T>::Forward(queries, {p.wq, p.bq}, &cache->q);  // q = queries·Wq + bq
    Linear<T>::Forward(memory, {p.wk, p.bk}, &cache->k);   // k = memory·Wk + bk
    Linear<T>::Forward(memory, {p.wv, p.bv}, &cache->v);   // v = memory·Wv + bv
    Attend(cache, /*self=*/false);
    Linear<T>::Forward(cache->ctx, {p.wo, p.bo}, out);     // out = ctx·Wo + bo
  }

  static void CrossBackward(const CMatRef<T>& queries, const CMatRef<T>& memory, const CMatRef<T>& dout,
                            const Params& p, Cache& cache, Grads g, Mat<T>* dqueries,
                            Mat<T>* dmemory) {
    // out = ctx·Wo + bo
    Linear<T>::Backward(cache.ctx, dout, {p.wo, p.bo}, {g.wo, g.bo}, &cache.dctx);
    AttendBackward(&cache);
    // q = queries·Wq + bq
    Linear<T>::Backward(queries, cache.dq, {p.wq, p.bq}, {g.wq, g.bq}, dqueries);
    // k = memory·Wk + bk,  v = memory·Wv + bv
    Linear<T>::Backward(memory, cache.dk, {p.wk, p.bk}, {g.wk, g.bk}, dmemory);
    Linear<T>::Backward(memory, cache.dv, {p.wv, p.bv}, {g.wv, g.bv}, nullptr);
    if (dmemory != nullptr) dmemory->noalias() += cache.dv * p.wv.transpose();
  }

  // ---- the attention core on projected q, k, v ----------------------------
  // Query tiles of a segment: rows [i0, i1) see keys [0, kv) with kv = i1
  // (causal self-attention) or kv = k_len. P is stored n_q × n_k per segment
  // and head; entries outside a tile's key range are zero.
  static Eigen::Index TileRows(const Cache& c, bool causal, const Segment& seg) {
    return causal ? std::max<Eigen::Index>(1, c.options.causal_tile) : std::max<Eigen::Index>(1, seg.q_len);
  }

  // Fills cache->probs and cache->ctx from cache->q/k/v and cache->segments.
  static void Attend(Cache* cache, bool self) {
    const int heads = cache->options.heads;
    const Eigen::Index d = cache->q.cols();
    RECSYS_CHECK(heads > 0 && d % heads == 0) << "D = " << d << " not divisible by H = " << heads;
    const Eigen::Index dh = d / heads;
    const T scale = T(1) / std::sqrt(T(dh));
    int64_t total = 0;
    cache->prob_offset.resize(cache->segments.size());
    for (size_t s = 0; s < cache->segments.size(); ++s) {
      cache->prob_offset[s] = total;
      total += int64_t{heads} * cache->segments[s].q_len * cache->segments[s].k_len;
    }
    cache->probs.resize(static_cast<size_t>(total));
    EnsureShape(&cache->ctx, cache->q.rows(), d);
    cache->is_self = self;
    const bool causal = self && cache->options.causal;
    const uint8_t* valid = cache->valid.empty() ? nullptr : cache->valid.data();
    for (size_t s = 0; s < cache->segments.size(); ++s) {
      const Segment& seg = cache->segments[s];
      const Eigen::Index tile = TileRows(*cache, causal, seg);
      for (int h = 0; h < heads; ++h) {
        if (seg.k_len == 0) {
          cache->ctx.block(seg.q_begin, h * dh, seg.q_len, dh).setZero();
          continue;
        }
        const auto q_h = cache->q.block(seg.q_begin, h * dh, seg.q_len, dh);
        const auto k_h = cache->k.block(seg.k_begin, h * dh, seg.k_len, dh);
        const auto v_h = cache->v.block(seg.k_begin, h * dh, seg.k_len, dh);
        Eigen::Map<Mat<T>> prob(cache->probs.data() + cache->prob_offset[s] + h * seg.q_len * seg.k_len,
                                seg.q_len, seg.k_len);
        for (Eigen::Index i0 = 0; i0 < seg.q_len; i0 += tile) {
          const Eigen::Index rows = std::min(tile, seg.q_len - i0);
          const Eigen::Index kv = causal ? std::min(i0 + rows, seg.k_len) : seg.k_len;
          auto p_tile = prob.block(i0, 0, rows, kv);
          p_tile.noalias() = q_h.middleRows(i0, rows) * k_h.topRows(kv).transpose();  // logits = q_h·k_hᵀ
          if (kv < seg.k_len) prob.block(i0, kv, rows, seg.k_len - kv).setZero();
          for (Eigen::Index r = 0; r < rows; ++r) {
            const Eigen::Index i = i0 + r;
            T* row = prob.row(i).data();
            const bool query_ok = valid == nullptr || valid[seg.q_begin + i];
            const Eigen::Index visible = !query_ok ? 0 : causal ? std::min(i + 1, kv) : kv;
            for (Eigen::Index j = 0; j < visible; ++j) {
              const bool key_ok = valid == nullptr || valid[seg.k_begin + j];
              row[j] = key_ok ? row[j] * scale : -std::numeric_limits<T>::infinity();
            }
            Softmax<T>::RowInPlace(row, visible);  // P = softmax(scale·logits + mask)
            for (Eigen::Index j = visible; j < kv; ++j) row[j] = T(0);
          }
          // ctx_h = P·v_h
          cache->ctx.block(seg.q_begin + i0, h * dh, rows, dh).noalias() = p_tile * v_h.topRows(kv);
        }
      }
    }
  }

  // From cache->dctx: writes cache->dq, dk, dv (overwritten).
  static void AttendBackward(Cache* cache) {
    const int heads = cache->options.heads;
    const Eigen::Index d = cache->q.cols(), dh = d / heads;
    const T scale = T(1) / std::sqrt(T(dh));
    const bool causal = cache->is_self && cache->options.causal;  // as in Attend
    EnsureShape(&cache->dq, cache->q.rows(), d);
    EnsureShape(&cache->dk, cache->k.rows(), d);
    EnsureShape(&cache->dv, cache->v.rows(), d);
    cache->dq.setZero();
    cache->dk.setZero();  // key rows outside every segment keep a zero gradient
    cache->dv.setZero();
    for (size_t s = 0; s < cache->segments.size(); ++s) {
      const Segment& seg = cache->segments[s];
      if (seg.k_len == 0) continue;  // ctx_h = 0: no gradient anywhere
      const Eigen::Index tile = TileRows(*cache, causal, seg);
      for (int h = 0; h < heads; ++h) {
        const auto q_h = cache->q.block(seg.q_begin, h * dh, seg.q_len, dh);
        const auto k_h = cache->k.block(seg.k_begin, h * dh, seg.k_len, dh);
        const auto v_h = cache->v.block(seg.k_begin, h * dh, seg.k_len, dh);
        auto dq_h = cache->dq.block(seg.q_begin, h * dh, seg.q_len, dh);
        auto dk_h = cache->dk.block(seg.k_begin, h * dh, seg.k_len, dh);
        auto dv_h = cache->dv.block(seg.k_begin, h * dh, seg.k_len, dh);
        Eigen::Map<const Mat<T>> prob(
            cache->probs.data() + cache->prob_offset[s] + h * seg.q_len * seg.k_len, seg.q_len, seg.k_len);
        for (Eigen::Index i0 = 0; i0 < seg.q_len; i0 += tile) {
          const Eigen::Index rows = std::min(tile, seg.q_len - i0);
          const Eigen::Index kv = causal ? std::min(i0 + rows, seg.k_len) : seg.k_len;
          const auto p_tile = prob.block(i0, 0, rows, kv);
          const auto dctx_t = cache->dctx.block(seg.q_begin + i0, h * dh, rows, dh);
          // ctx_h = P·v_h  ⇒  dP = dctx_h·v_hᵀ,  dv_h += Pᵀ·dctx_h
          EnsureShape(&cache->dp, rows, kv);
          cache->dp.noalias() = dctx_t * v_h.topRows(kv).transpose();
          dv_h.topRows(kv).noalias() += p_tile.transpose() * dctx_t;
          // P = softmax(z)  ⇒  dz = P ⊙ (dP − rowsum(P ⊙ dP)); masked entries have P = 0.
          for (Eigen::Index r = 0; r < rows; ++r) {
            const T dot = p_tile.row(r).dot(cache->dp.row(r));
            cache->dp.row(r) = p_tile.row(r).cwiseProduct((cache->dp.row(r).array() - dot).matrix());
          }
          // z = scale·q_h·k_hᵀ  ⇒  dq_h = scale·dz·k_h,  dk_h = scale·dzᵀ·q_h
          dq_h.middleRows(i0, rows).noalias() += scale * cache->dp * k_h.topRows(kv);
          dk_h.topRows(kv).noalias() += scale * cache->dp.transpose() * q_h.middleRows(i0, rows);
        }
      }
    }
  }
};

// Plain-loop reference of MultiHeadAttention::Attend for self-attention (no
// GEMMs, no caches): ctx from projected q, k, v ((B·S) × D each). Tests compare
// the optimised path against it.
template <typename T>
Mat<T> ReferenceSelfAttention(const Mat<T>& q, const Mat<T>& k, const Mat<T>& v, int heads,
                              Eigen::Index batch, Eigen::Index seq_len, bool causal,
                              std::span<const uint8_t> valid) {
  const Eigen::Index d = q.cols(), dh = d / heads;
  const T scale = T(1) / std::sqrt(T(dh));
  Mat<T> ctx = Mat<T>::Zero(q.rows(), d);
  std::vector<T> w(static_cast<size_t>(seq_len));
  auto ok = [&](Eigen::Index r) { return valid.empty() || valid[static_cast<size_t>(r)] != 0; };
  for (Eigen::Index b = 0; b < batch; ++b) {
    for (int h = 0; h < heads; ++h) {
      for (Eigen::Index i = 0; i < seq_len; ++i) {
        const Eigen::Index qi = b * seq_len + i;
        if (!ok(qi)) continue;
        T max = -std::numeric_limits<T>::infinity();
        for (Eigen::Index j = 0; j < seq_len; ++j) {
          const Eigen::Index kj = b * seq_len + j;
          w[static_cast<size_t>(j)] = -std::numeric_limits<T>::infinity();
          if ((causal && j > i) || !ok(kj)) continue;
          T dot = 0;
          for (Eigen::Index c = h * dh; c < (h + 1) * dh; ++c) dot += q(qi, c) * k(kj, c);
          w[static_cast<size_t>(j)] = dot * scale;
          max = std::max(max, w[static_cast<size_t>(j)]);
        }
        if (max == -std::numeric_limits<T>::infinity()) continue;
        T sum = 0;
        for (auto& x : w) sum += (x = std::exp(x - max));
        for (Eigen::Index j = 0; j < seq_len; ++j) {
          const T pj = w[static_cast<size_t>(j)] / sum;
          for (Eigen::Index c = h * dh; c < (h + 1) * dh; ++c) ctx(qi, c) += pj * v(b * seq_len + j, c);
        }
      }
    }
  }
  return ctx;
}

}  // namespace recsys::layers

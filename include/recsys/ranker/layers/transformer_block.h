// Pre-norm transformer block (SASRec-style) over a padded batch of sequences.
//
// Shape legend
//   B sequences   S padded length   D model dim   H heads   F FFN hidden dim
//   x, out  (B·S) × D (sequence b in rows [b·S, (b+1)·S))    valid  B·S flags (1 = real event)
//
//   h1 = LN1(x)
//   a  = SelfAttn(h1)                (causal, key padding; attention.h)
//   y  = x + drop_a(a)
//   h2 = LN2(y)
//   f  = FFN(h2)                     (Linear → act → dropout → Linear; feed_forward.h)
//   z  = y + drop_f(f)
//   out = z ⊙ valid                  (padded rows zeroed, as SASRec's timeline mask)
//
// Padded rows get zero output and zero input gradient; nothing is NaN even for
// fully padded sequences.
//
//   TransformerBlock<float>::Cache cache;  Mat<float> out, dx;
//   BlockOptions opt{.attention = {.heads = 2}, .ffn = {.dropout = 0.2}, .dropout = 0.2};
//   TransformerBlock<float>::Forward(x, p, opt, B, S, valid, /*training=*/true, &rng, &cache, &out);
//   TransformerBlock<float>::Backward(x, dout, p, cache, grads, &dx);   // grads accumulate
//
// Random draws (training): drop_a's mask, then the FFN's hidden mask, then
// drop_f's mask, each one Uniform() per element from `rng`.
// Thread safety: stateless; one cache per caller.
#pragma once

#include "recsys/core/rng.h"
#include "recsys/ranker/layers/attention.h"
#include "recsys/ranker/layers/common.h"
#include "recsys/ranker/layers/dropout.h"
#include "recsys/ranker/layers/feed_forward.h"
#include "recsys/ranker/layers/layer_norm.h"

namespace recsys::layers {

struct BlockOptions {
  AttentionOptions attention;   // heads H, causal
  FeedForwardOptions ffn;       // activation, hidden dropout
  double dropout = 0.0;         // residual-branch dropout (drop_a, drop_f), in [0, 1)
  double layer_norm_eps = 1e-8; // LayerNorm ε (SASRec uses 1e-8)
};

template <typename T>
struct TransformerBlock {
  struct Params {
    typename LayerNorm<T>::Params ln1;
    typename MultiHeadAttention<T>::Params attn;
    typename LayerNorm<T>::Params ln2;
    typename FeedForward<T>::Params ffn;
  };
  struct Grads {
    typename LayerNorm<T>::Grads ln1;
    typename MultiHeadAttention<T>::Grads attn;
    typename LayerNorm<T>::Grads ln2;
    typename FeedForward<T>::Grads ffn;
  };
  struct Cache {
    std::vector<uint8_t> valid;
    typename LayerNorm<T>::Cache ln1, ln2;
    typename MultiHeadAttention<T>::Cache attn;
    typename FeedForward<T>::Cache ffn;
    typename Dropout<T>::Mask mask_a, mask_f;
    Mat<T> h1, a, a_d, y, h2, f, f_d;       // (B·S) × D
    Mat<T> dz, dbranch, dh, dy;             // backward scratch
  };

  static void Forward(const CMatRef<T>& x, const Params& p, const BlockOptions& options,
                      Eigen::Index batch, Eigen::Index seq_len, std::span<const uint8_t> valid,
                      bool training, Rng* rng, Cache* c, Mat<T>* out) {
    Dropout<T>::MakeMask(x.rows(), x.cols(), options.dropout, training, rng, &c->mask_a);
    // The FFN hidden mask is drawn inside FeedForward::Forward (between the two).
    ForwardImpl(x, p, options, batch, seq_len, valid, training, rng, /*fixed_masks=*/false, c, out);
  }

  // Forward with the masks already in the cache (gradient checks, replay).
  static void ForwardWithMasks(const CMatRef<T>& x, const Params& p, const BlockOptions& options,
                               Eigen::Index batch, Eigen::Index seq_len,
                               std::span<const uint8_t> valid, Cache* c, Mat<T>* out) {
    ForwardImpl(x, p, options, batch, seq_len, valid, false, nullptr, /*fixed_masks=*/true, c, out);
  }

  static void Backward(const CMatRef<T>& x, const CMatRef<T>& dout, const Params& p, Cache& c,
                       Grads g, Mat<T>* dx) {
    const Eigen::Index n = dout.rows(), d = dout.cols();
    // out = z ⊙ valid
    EnsureShape(&c.dz, n, d);
    c.dz = dout;
    if (!c.valid.empty()) {
      for (Eigen::Index i = 0; i < n; ++i) {
        if (!c.valid[static_cast<size_t>(i)]) c.dz.row(i).setZero();
      }
    }
    // z = y + drop_f(f)       (dy starts as dz; the branch gets dz ⊙ m_f)
    Dropout<T>::Backward(c.dz, c.mask_f, &c.dbranch);
    // f = FFN(h2)
    FeedForward<T>::Backward(c.h2, c.dbranch, p.ffn, c.ffn, g.ffn, &c.dh);
    // h2 = LN2(y)
    LayerNorm<T>::Backward(c.dh, p.ln2, c.ln2, g.ln2, &c.dy);
    c.dy += c.dz;
    // y = x + drop_a(a)
    Dropout<T>::Backward(c.dy, c.mask_a, &c.dbranch);
    // a = SelfAttn(h1)
    MultiHeadAttention<T>::SelfBackward(c.h1, c.dbranch, p.attn, c.attn, g.attn, &c.dh);
    // h1 = LN1(x)
    if (dx != nullptr) {
      LayerNorm<T>::Backward(c.dh, p.ln1, c.ln1, g.ln1, dx);
      *dx += c.dy;
    } else {
      LayerNorm<T>::Backward(c.dh, p.ln1, c.ln1, g.ln1, nullptr);
    }
  }

 private:
  static void ForwardImpl(const CMatRef<T>& x, const Params& p, const BlockOptions& options,
                          Eigen::Index batch, Eigen::Index seq_len, std::span<const uint8_t> valid,
                          bool training, Rng* rng, bool fixed_masks, Cache* c, Mat<T>* out) {
    const T eps = static_cast<T>(options.layer_norm_eps);
    c->valid.assign(valid.begin(), valid.end());
    LayerNorm<T>::Forward(x, p.ln1, eps, &c->ln1, &c->h1);                              // h1 = LN1(x)
    MultiHeadAttention<T>::SelfForward(c->h1, p.attn, options.attention, batch, seq_len, valid,
                                       &c->attn, &c->a);                                 // a = SelfAttn(h1)
    Dropout<T>::Apply(c->a, c->mask_a, &c->a_d);
    EnsureShape(&c->y, x.rows(), x.cols());
    c->y = x + c->a_d;                                                                   // y = x + drop_a(a)
    LayerNorm<T>::Forward(c->y, p.ln2, eps, &c->ln2, &c->h2);                           // h2 = LN2(y)
    if (fixed_masks) {
      FeedForward<T>::ForwardWithMask(c->h2, p.ffn, &c->ffn, &c->f);                     // f = FFN(h2)
    } else {
      FeedForward<T>::Forward(c->h2, p.ffn, options.ffn, training, rng, &c->ffn, &c->f);
      Dropout<T>::MakeMask(x.rows(), x.cols(), options.dropout, training, rng, &c->mask_f);
    }
    Dropout<T>::Apply(c->f, c->mask_f, &c->f_d);
    EnsureShape(out, x.rows(), x.cols());
    *out = c->y + c->f_d;                                                                // z = y + drop_f(f)
    if (!c->valid.empty()) {
      for (Eigen::Index i = 0; i < out->rows(); ++i) {
        if (!c->valid[static_cast<size_t>(i)]) out->row(i).setZero();                    // out = z ⊙ valid
      }
    }
  }
};

}  // namespace recsys::layers

// Point-wise feed-forward block: Linear → ReLU/GELU → Dropout → Linear.
//
// Shape legend
//   n  rows   D  model dim   F  hidden dim (SASRec: F = D; Transformers: 4D)
//   x, out  n × D     W1  D × F   b1  1 × F     W2  F × D   b2  1 × D
//   h (pre-activation), a (activation), a_d (after dropout)  n × F (cached)
//
//   h = x·W1 + b1;  a = act(h);  a_d = dropout(a);  out = a_d·W2 + b2
//
//   FeedForward<float>::Cache cache;  Mat<float> out, dx;
//   FeedForward<float>::Forward(x, p, {.activation = Activation::kGelu, .dropout = 0.2},
//                               /*training=*/true, &rng, &cache, &out);
//   FeedForward<float>::Backward(x, dout, p, cache, grads, &dx);
//
// Thread safety: stateless; one cache per caller.
#pragma once

#include "recsys/core/rng.h"
#include "recsys/ranker/layers/activations.h"
#include "recsys/ranker/layers/common.h"
#include "recsys/ranker/layers/dropout.h"
#include "recsys/ranker/layers/linear.h"

namespace recsys::layers {

enum class Activation { kRelu, kGelu };

struct FeedForwardOptions {
  Activation activation = Activation::kRelu;
  double dropout = 0.0;  // probability of zeroing a hidden unit, in [0, 1)
};

template <typename T>
struct FeedForward {
  struct Params {
    typename Linear<T>::Params l1;  // W1 D × F, b1 1 × F
    typename Linear<T>::Params l2;  // W2 F × D, b2 1 × D
  };
  struct Grads {
    typename Linear<T>::Grads l1;
    typename Linear<T>::Grads l2;
  };
  struct Cache {
    Activation activation = Activation::kRelu;
    Mat<T> h, a, a_d;                    // n × F
    typename Dropout<T>::Mask mask;      // n × F or empty
    Mat<T> da_d, da, dh;                 // backward scratch, n × F
  };

  static void Forward(const CMatRef<T>& x, const Params& p, const FeedForwardOptions& options,
                      bool training, Rng* rng, Cache* cache, Mat<T>* out) {
    cache->activation = options.activation;
    Linear<T>::Forward(x, p.l1, &cache->h);                        // h = x·W1 + b1
    if (options.activation == Activation::kRelu) {
      Relu<T>::Forward(cache->h, &cache->a);                        // a = relu(h)
    } else {
      Gelu<T>::Forward(cache->h, &cache->a);                        // a = gelu(h)
    }
    Dropout<T>::Forward(cache->a, options.dropout, training, rng, &cache->mask, &cache->a_d);  // a_d = drop(a)
    Linear<T>::Forward(cache->a_d, p.l2, out);                      // out = a_d·W2 + b2
  }

  // Re-applies the cached dropout mask (for gradient checks with a fixed mask).
  static void ForwardWithMask(const CMatRef<T>& x, const Params& p, Cache* cache, Mat<T>* out) {
    Linear<T>::Forward(x, p.l1, &cache->h);
    if (cache->activation == Activation::kRelu) {
      Relu<T>::Forward(cache->h, &cache->a);
    } else {
      Gelu<T>::Forward(cache->h, &cache->a);
    }
    Dropout<T>::Apply(cache->a, cache->mask, &cache->a_d);
    Linear<T>::Forward(cache->a_d, p.l2, out);
  }

  static void Backward(const CMatRef<T>& x, const CMatRef<T>& dout, const Params& p, Cache& cache,
                       Grads g, Mat<T>* dx) {
    // out = a_d·W2 + b2
    Linear<T>::Backward(cache.a_d, dout, p.l2, g.l2, &cache.da_d);
    // a_d = drop(a)
    Dropout<T>::Backward(cache.da_d, cache.mask, &cache.da);
    // a = act(h)
    if (cache.activation == Activation::kRelu) {
      Relu<T>::Backward(cache.h, cache.da, &cache.dh);
    } else {
      Gelu<T>::Backward(cache.h, cache.da, &cache.dh);
    }
    // h = x·W1 + b1
    Linear<T>::Backward(x, cache.dh, p.l1, g.l1, dx);
  }
};

}  // namespace recsys::layers

// Linear (fully connected) layer: y = x·W + b.
//
// Shape legend
//   n      rows (tokens: B·S, or any batch)
//   d_in   input features     d_out  output features
//   x  n × d_in     W  d_in × d_out (row-major; NOTE x·W, not PyTorch's x·Wᵀ)
//   b  1 × d_out    y  n × d_out
//
//   Mat<float> y, dx;
//   Linear<float>::Forward(x, {w, b}, &y);
//   Linear<float>::Backward(x, dy, {w, b}, {gw, gb}, &dx);   // gw += xᵀ·dy, gb += Σ rows dy
//
// The convention x·W keeps both the forward product and the weight gradient
// xᵀ·dy plain row-major GEMMs. A PyTorch weight (d_out × d_in) maps as W = Wᵀ.
// Thread safety: stateless.
#pragma once

#include "recsys/ranker/layers/common.h"

namespace recsys::layers {

template <typename T>
struct Linear {
  struct Params {
    CMatRef<T> w;  // d_in × d_out
    CRowRef<T> b;  // 1 × d_out
  };
  struct Grads {
    MatRef<T> w;  // d_in × d_out, accumulated
    RowRef<T> b;  // 1 × d_out, accumulated
  };

  static void Forward(const CMatRef<T>& x, const Params& p, Mat<T>* y) {
    RECSYS_DCHECK(x.cols() == p.w.rows() && p.b.cols() == p.w.cols());
    EnsureShape(y, x.rows(), p.w.cols());
    y->noalias() = x * p.w;          // y = x·W
    y->rowwise() += p.b;             //   + b
  }

  // dy: n × d_out. dx (optional): n × d_in, overwritten.
  static void Backward(const CMatRef<T>& x, const CMatRef<T>& dy, const Params& p, Grads g,
                       Mat<T>* dx) {
    RECSYS_DCHECK(dy.rows() == x.rows() && dy.cols() == p.w.cols());
    // y = x·W + b
    g.b += dy.colwise().sum();               // db = Σ_rows dy
    g.w.noalias() += x.transpose() * dy;     // dW = xᵀ·dy
    if (dx != nullptr) {
      EnsureShape(dx, x.rows(), x.cols());
      dx->noalias() = dy * p.w.transpose();  // dx = dy·Wᵀ
    }
  }
};

}  // namespace recsys::layers

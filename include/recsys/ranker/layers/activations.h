// Element-wise activations (ReLU, GELU) and the row softmax.
//
// Shape legend: x, y, dy, dx  n × d (any shape; element-wise), softmax per row.
//
//   GELU uses the tanh approximation (as GPT-2 / PyTorch approximate="tanh"):
//     gelu(x) = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
//
//   Mat<float> y, dx;
//   Relu<float>::Forward(x, &y);       Relu<float>::Backward(x, dy, &dx);
//   Gelu<float>::Forward(x, &y);       Gelu<float>::Backward(x, dy, &dx);
//   Softmax<float>::Forward(x, &p);    Softmax<float>::Backward(p, dp, &dx);  // from the output p
//
// Softmax is stable (max-subtracted); a row of all −inf gives a zero row (and
// zero gradient), never NaN.
// Thread safety: stateless.
#pragma once

#include <cmath>
#include <limits>

#include "recsys/ranker/layers/common.h"

namespace recsys::layers {

template <typename T>
struct Relu {
  static void Forward(const CMatRef<T>& x, Mat<T>* y) {
    EnsureShape(y, x.rows(), x.cols());
    y->array() = x.array().max(T(0));  // y = max(x, 0)
  }
  // dx overwritten; x is the forward input (the output works too).
  static void Backward(const CMatRef<T>& x, const CMatRef<T>& dy, Mat<T>* dx) {
    EnsureShape(dx, x.rows(), x.cols());
    // y = max(x, 0)  ⇒  dx = dy·[x > 0]
    dx->array() = (x.array() > T(0)).select(dy.array(), T(0));
  }
};

template <typename T>
struct Gelu {
  static constexpr T kSqrt2OverPi = T(0.7978845608028654);
  static constexpr T kCubic = T(0.044715);

  static void Forward(const CMatRef<T>& x, Mat<T>* y) {
    EnsureShape(y, x.rows(), x.cols());
    y->array() = x.array().unaryExpr([](T v) {
      return T(0.5) * v * (T(1) + std::tanh(kSqrt2OverPi * (v + kCubic * v * v * v)));
    });
  }
  static void Backward(const CMatRef<T>& x, const CMatRef<T>& dy, Mat<T>* dx) {
    EnsureShape(dx, x.rows(), x.cols());
    // y = ½x(1 + tanh u), u = c(x + k x³)
    //   ⇒ dy/dx = ½(1 + tanh u) + ½x(1 − tanh² u)·c(1 + 3k x²)
    dx->array() = x.array().binaryExpr(dy.array(), [](T v, T g) {
      const T u = kSqrt2OverPi * (v + kCubic * v * v * v);
      const T t = std::tanh(u);
      const T local = T(0.5) * (T(1) + t) +
                      T(0.5) * v * (T(1) - t * t) * kSqrt2OverPi * (T(1) + T(3) * kCubic * v * v);
      return g * local;
    });
  }
};

template <typename T>
struct Softmax {
  // In place over one row (length n, contiguous); −inf entries get 0; a row of
  // all −inf becomes all 0.
  static void RowInPlace(T* row, Eigen::Index n) {
    T max = -std::numeric_limits<T>::infinity();
    for (Eigen::Index j = 0; j < n; ++j) max = std::max(max, row[j]);
    if (max == -std::numeric_limits<T>::infinity()) {
      for (Eigen::Index j = 0; j < n; ++j) row[j] = T(0);
      return;
    }
    T sum = 0;
    for (Eigen::Index j = 0; j < n; ++j) {
      row[j] = std::exp(row[j] - max);  // p ∝ exp(x − max x)
      sum += row[j];
    }
    const T inv = T(1) / sum;
    for (Eigen::Index j = 0; j < n; ++j) row[j] *= inv;
  }

  // p = softmax(x) per row.
  static void Forward(const CMatRef<T>& x, Mat<T>* p) {
    EnsureShape(p, x.rows(), x.cols());
    *p = x;
    for (Eigen::Index i = 0; i < p->rows(); ++i) RowInPlace(p->row(i).data(), p->cols());
  }
  // From the forward OUTPUT p: dx = p ⊙ (dp − ⟨dp, p⟩) per row. dx overwritten.
  static void Backward(const CMatRef<T>& p, const CMatRef<T>& dp, Mat<T>* dx) {
    EnsureShape(dx, p.rows(), p.cols());
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
      const T dot = p.row(i).dot(dp.row(i));
      dx->row(i) = p.row(i).cwiseProduct((dp.row(i).array() - dot).matrix());
    }
  }
};

}  // namespace recsys::layers

// Inverted dropout: y = x ⊙ m, m_ij = [u_ij ≥ p] / (1 − p), u_ij ~ U[0,1) from a Rng.
//
// Shape legend: x, y, mask  n × d.
//
//   Dropout<float>::Mask mask;                         // reusable
//   Dropout<float>::Forward(x, p, /*training=*/true, &rng, &mask, &y);
//   Dropout<float>::Backward(dy, mask, &dx);           // same mask: dx = dy ⊙ m
//
// When not training, or p == 0, the mask is left EMPTY and the layer is the
// identity (forward and backward): no random numbers are drawn. For gradient
// checks a mask can be set by hand (values 0 or 1/(1−p)).
// Random draws: one Uniform() per element in row-major order from `rng`, so the
// mask is a function of (rng state, shape) only.
// Thread safety: stateless; rng and mask per caller.
#pragma once

#include "recsys/core/rng.h"
#include "recsys/ranker/layers/common.h"

namespace recsys::layers {

template <typename T>
struct Dropout {
  struct Mask {
    Mat<T> scale;  // n × d, 0 or 1/(1−p); empty = identity
    bool Identity() const { return scale.size() == 0; }
  };

  // Draws a fresh mask (or clears it) for an n × d input.
  static void MakeMask(Eigen::Index n, Eigen::Index d, double p, bool training, Rng* rng,
                       Mask* mask) {
    RECSYS_CHECK(p >= 0.0 && p < 1.0) << "dropout probability " << p << " not in [0, 1)";
    if (!training || p == 0.0) {
      mask->scale.resize(0, 0);
      return;
    }
    RECSYS_CHECK(rng != nullptr) << "training dropout needs a Rng";
    EnsureShape(&mask->scale, n, d);
    const T keep_scale = T(1.0 / (1.0 - p));
    T* m = mask->scale.data();
    for (Eigen::Index i = 0; i < n * d; ++i) m[i] = rng->Uniform() >= p ? keep_scale : T(0);
  }

  // Applies an existing mask (identity when empty).
  static void Apply(const CMatRef<T>& x, const Mask& mask, Mat<T>* y) {
    EnsureShape(y, x.rows(), x.cols());
    if (mask.Identity()) {
      *y = x;
    } else {
      RECSYS_DCHECK(mask.scale.rows() == x.rows() && mask.scale.cols() == x.cols());
      y->array() = x.array() * mask.scale.array();  // y = x ⊙ m
    }
  }

  static void Forward(const CMatRef<T>& x, double p, bool training, Rng* rng, Mask* mask,
                      Mat<T>* y) {
    MakeMask(x.rows(), x.cols(), p, training, rng, mask);
    Apply(x, *mask, y);
  }

  // dx = dy ⊙ m (overwritten).
  static void Backward(const CMatRef<T>& dy, const Mask& mask, Mat<T>* dx) {
    // y = x ⊙ m  ⇒  dx = dy ⊙ m
    Apply(dy, mask, dx);
  }
};

}  // namespace recsys::layers

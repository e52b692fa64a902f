// Shared vocabulary of the neural layers: scalar-templated row-major matrix
// aliases and the views layers take for inputs, parameters and gradients.
//
// Every layer is a forward/backward pair on row-major Eigen matrices (STYLE
// §6, after llm.c `train_gpt2.c`), templated on the scalar: float for training,
// double for gradient checks.
//
//   using namespace recsys::layers;
//   Mat<float> y;                                     // outputs are resized by the layer
//   Linear<float>::Forward(x, {w, b}, &y);            // params bind any matrix/map/block
//   Linear<float>::Backward(x, dy, {w, b}, {gw, gb}, &dx);   // gw/gb accumulate (+=)
//
// Conventions shared by all layers:
//  * Inputs are `CMatRef<T>` (bind Matrix, Map or a contiguous-row block
//    without copying). Parameter views are structs of `Eigen::Ref<const …>`;
//    gradient views are structs of `Eigen::Ref<…>` passed by value.
//  * Outputs are `Mat<T>*`, resized by the layer (a no-op, hence no
//    allocation, when the caller reuses the same matrix/cache each step).
//  * Backward ACCUMULATES into parameter gradients (+=, so micro-batches sum)
//    and OVERWRITES input gradients. A null input-gradient pointer means "not
//    needed" and skips that work.
//  * Batches of sequences are stacked: B sequences of length S form a
//    (B·S) × D matrix, sequence b occupying rows [b·S, (b+1)·S).
//
// Thread safety: layers are stateless functions; caches are per caller. Layers
// never spawn threads: parallelism comes from the trainer's shards.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "recsys/core/check.h"
#include "recsys/core/eigen.h"
#include "recsys/core/types.h"

namespace recsys::layers {

template <typename T>
using Mat = ::recsys::Matrix<T>;  // rows × cols, row-major
template <typename T>
using Row = ::recsys::RowVector<T>;  // 1 × n
template <typename T>
using CMatRef = Eigen::Ref<const Mat<T>>;
template <typename T>
using MatRef = Eigen::Ref<Mat<T>>;
template <typename T>
using CRowRef = Eigen::Ref<const Row<T>>;
template <typename T>
using RowRef = Eigen::Ref<Row<T>>;

// Resizes without touching the allocation when the shape already matches.
template <typename T>
inline void EnsureShape(Mat<T>* m, Eigen::Index rows, Eigen::Index cols) {
  if (m->rows() != rows || m->cols() != cols) m->resize(rows, cols);
}

}  // namespace recsys::layers

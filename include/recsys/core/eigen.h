// Eigen aliases: row-major at the edges, views instead of copies.
//
//   recsys::MatrixF table(n, d);                  // owns n × d, row-major
//   recsys::MapMatrixF view(ptr, n, d);           // view over arena/numpy memory
//   void Project(recsys::ConstRef<MatrixF> x, recsys::MatrixRef out) {
//     out.noalias() = x * w;                      // GEMM into existing storage
//   }
//
// The library is built with EIGEN_DONT_PARALLELIZE: oneTBB is the only
// scheduler; Eigen's own products run single-threaded inside our tasks.
// Thread safety: plain value types.
#pragma once

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif
#include <Eigen/Core>

namespace recsys {

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using RowVector = Eigen::Matrix<T, 1, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ColVector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

using MatrixF = Matrix<float>;
using MatrixD = Matrix<double>;
using VectorF = ColVector<float>;
using VectorD = ColVector<double>;
using RowVectorF = RowVector<float>;

using MapMatrixF = Eigen::Map<MatrixF>;
using ConstMapMatrixF = Eigen::Map<const MatrixF>;
using MapVectorF = Eigen::Map<VectorF>;
using ConstMapVectorF = Eigen::Map<const VectorF>;

// Function arguments: Ref binds to matrices, maps and contiguous blocks without
// copying (row-major, inner stride 1).
template <typename M>
using Ref = Eigen::Ref<M>;
template <typename M>
using ConstRef = const Eigen::Ref<const M>&;
using MatrixRef = Eigen::Ref<MatrixF>;
using ConstMatrixRef = const Eigen::Ref<const MatrixF>&;

}  // namespace recsys

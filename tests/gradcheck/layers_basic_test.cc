// Finite-difference checks of the element-wise and row-wise layers (double).
// Tolerance: max relative error < 1e-6 (layers_test_util.h kGradTol).
#include <vector>

#include "gtest/gtest.h"
#include "gradcheck/layers_test_util.h"
#include "recsys/ranker/layers/layers.h"
#include "recsys/training/grad_check.h"

namespace recsys::layers {
namespace {

using testing::kGradTol;
using testing::Project;
using testing::RandomMat;
using testing::RandomRow;

TEST(LayersGradCheck, Linear) {
  MatrixD x = RandomMat(5, 4, 1), w = RandomMat(4, 3, 2), r = RandomMat(5, 3, 3);
  RowVector<double> b = RandomRow(3, 4);
  MatrixD gw = MatrixD::Zero(4, 3), y, dx;
  RowVector<double> gb = RowVector<double>::Zero(3);
  auto loss = [&] {
    Linear<double>::Forward(x, {w, b}, &y);
    return Project(y, r);
  };
  loss();
  Linear<double>::Backward(x, r, {w, b}, {gw, gb}, &dx);
  auto res = CheckGradients(loss, {GradTensor("x", x, dx), GradTensor("w", w, gw), GradTensor("b", b, gb)});
  EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();
  EXPECT_EQ(res.elements_checked, 5 * 4 + 4 * 3 + 3);
}

TEST(LayersGradCheck, LinearAccumulatesParameterGradients) {
  MatrixD x = RandomMat(3, 2, 5), w = RandomMat(2, 2, 6), dy = RandomMat(3, 2, 7);
  RowVector<double> b = RandomRow(2, 8);
  MatrixD gw = MatrixD::Zero(2, 2);
  RowVector<double> gb = RowVector<double>::Zero(2);
  Linear<double>::Backward(x, dy, {w, b}, {gw, gb}, nullptr);
  const MatrixD once = gw;
  Linear<double>::Backward(x, dy, {w, b}, {gw, gb}, nullptr);
  EXPECT_TRUE(gw.isApprox(2.0 * once, 1e-14));
}

TEST(LayersGradCheck, LayerNorm) {
  MatrixD x = RandomMat(6, 8, 10, 2.0), r = RandomMat(6, 8, 11);
  x.row(3).setConstant(0.5);  // constant row: var = 0 → rstd = 1/√ε
  RowVector<double> gamma = RandomRow(8, 12), beta = RandomRow(8, 13);
  RowVector<double> gg = RowVector<double>::Zero(8), gbeta = RowVector<double>::Zero(8);
  LayerNorm<double>::Cache cache;
  MatrixD y, dx;
  const double eps = 1e-3;  // large enough that the constant row is well-conditioned for FD
  auto loss = [&] {
    LayerNorm<double>::Forward(x, {gamma, beta}, eps, &cache, &y);
    return Project(y, r);
  };
  loss();
  LayerNorm<double>::Backward(r, {gamma, beta}, cache, {gg, gbeta}, &dx);
  EXPECT_TRUE(dx.allFinite());
  auto res = CheckGradients(loss, {GradTensor("x", x, dx), GradTensor("gamma", gamma, gg),
                                   GradTensor("beta", beta, gbeta)});
  EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();
}

TEST(LayersGradCheck, ReluAndGelu) {
  MatrixD x = RandomMat(4, 7, 20, 2.0), r = RandomMat(4, 7, 21), y, dx;
  // Keep ReLU inputs away from the kink at 0, where FD is meaningless.
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    if (std::abs(x.data()[i]) < 1e-2) x.data()[i] = 0.5;
  }
  auto relu_loss = [&] { Relu<double>::Forward(x, &y); return Project(y, r); };
  Relu<double>::Backward(x, r, &dx);
  auto res = CheckGradients(relu_loss, {GradTensor("x", x, dx)});
  EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();

  auto gelu_loss = [&] { Gelu<double>::Forward(x, &y); return Project(y, r); };
  Gelu<double>::Backward(x, r, &dx);
  res = CheckGradients(gelu_loss, {GradTensor("x", x, dx)});
  EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();
}

TEST(LayersGradCheck, GeluMatchesTanhFormulaValues) {
  MatrixD x(1, 3);
  x << -1.0, 0.0, 2.0;
  MatrixD y;
  Gelu<double>::Forward(x, &y);
  // ½x(1 + tanh(√(2/π)(x + 0.044715x³))) evaluated independently.
  EXPECT_NEAR(y(0, 0), -0.15880800939172324, 1e-12);
  EXPECT_EQ(y(0, 1), 0.0);
  EXPECT_NEAR(y(0, 2), 1.9545976940877752, 1e-12);
}

TEST(LayersGradCheck, Softmax) {
  MatrixD x = RandomMat(3, 5, 30, 3.0), r = RandomMat(3, 5, 31), p, dx;
  auto loss = [&] { Softmax<double>::Forward(x, &p); return Project(p, r); };
  loss();
  Softmax<double>::Backward(p, r, &dx);
  auto res = CheckGradients(loss, {GradTensor("x", x, dx)});
  EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();
  EXPECT_NEAR(p.row(0).sum(), 1.0, 1e-14);
}

TEST(LayersGradCheck, SoftmaxAllMaskedRowIsZeroNotNaN) {
  MatrixD x(1, 3);
  x.setConstant(-std::numeric_limits<double>::infinity());
  MatrixD p, dx;
  Softmax<double>::Forward(x, &p);
  EXPECT_TRUE(p.isZero());
  Softmax<double>::Backward(p, MatrixD::Ones(1, 3), &dx);
  EXPECT_TRUE(dx.isZero());
}

TEST(LayersGradCheck, DropoutWithFixedMask) {
  MatrixD x = RandomMat(6, 5, 40), r = RandomMat(6, 5, 41), y, dx;
  Dropout<double>::Mask mask;
  Rng rng(7, 0);
  Dropout<double>::MakeMask(6, 5, 0.3, /*training=*/true, &rng, &mask);
  int zeros = 0;
  for (Eigen::Index i = 0; i < mask.scale.size(); ++i) {
    const double m = mask.scale.data()[i];
    ASSERT_TRUE(m == 0.0 || std::abs(m - 1.0 / 0.7) < 1e-12) << m;
    zeros += m == 0.0;
  }
  EXPECT_GT(zeros, 0);
  EXPECT_LT(zeros, 30);
  auto loss = [&] { Dropout<double>::Apply(x, mask, &y); return Project(y, r); };
  Dropout<double>::Backward(r, mask, &dx);
  auto res = CheckGradients(loss, {GradTensor("x", x, dx)});
  EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();
}

TEST(LayersGradCheck, EmbeddingWithPaddingAndRepeats) {
  MatrixD table = RandomMat(6, 3, 50);
  const std::vector<int32_t> idx = {2, -1, 5, 2, 0, 2};
  MatrixD r = RandomMat(6, 3, 51), out;
  auto loss = [&] { Embedding<double>::Forward(table, idx, &out); return Project(out, r); };
  loss();
  EXPECT_TRUE(out.row(1).isZero());
  RowSparseGrad<double> sparse(3);
  Embedding<double>::Backward(idx, r, &sparse);
  EXPECT_EQ(sparse.rows(), (std::vector<int32_t>{2, 5, 0}));
  MatrixD dense = MatrixD::Zero(6, 3);
  sparse.AddTo(dense);
  MatrixD dense_ref = MatrixD::Zero(6, 3);
  Embedding<double>::BackwardDense(idx, r, dense_ref);
  EXPECT_TRUE(dense.isApprox(dense_ref, 1e-15));
  auto res = CheckGradients(loss, {GradTensor("table", table, dense)});
  EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();
}

TEST(LayersGradCheck, PositionEmbedding) {
  const Eigen::Index batch = 3, seq = 4, dim = 2;
  MatrixD base = RandomMat(batch * seq, dim, 60), pos = RandomMat(6, dim, 61), r = RandomMat(batch * seq, dim, 62);
  MatrixD x;
  auto loss = [&] {
    x = base;
    AddPositionEmbedding<double>(pos, batch, seq, &x);
    return Project(x, r);
  };
  MatrixD gpos = MatrixD::Zero(6, dim);
  AddPositionEmbeddingBackward<double>(r, batch, seq, gpos);
  EXPECT_TRUE(gpos.bottomRows(2).isZero());  // positions beyond S untouched
  auto res = CheckGradients(loss, {GradTensor("positions", pos, gpos)});
  EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();
}

TEST(LayersGradCheck, FeedForwardReluAndGeluWithFixedDropoutMask) {
  for (Activation act : {Activation::kRelu, Activation::kGelu}) {
    const Eigen::Index n = 5, d = 4, f = 6;
    MatrixD x = RandomMat(n, d, 70), w1 = RandomMat(d, f, 71, 0.5), w2 = RandomMat(f, d, 72, 0.5);
    RowVector<double> b1 = RandomRow(f, 73, 0.1), b2 = RandomRow(d, 74);
    MatrixD r = RandomMat(n, d, 75), out, dx;
    MatrixD gw1 = MatrixD::Zero(d, f), gw2 = MatrixD::Zero(f, d);
    RowVector<double> gb1 = RowVector<double>::Zero(f), gb2 = RowVector<double>::Zero(d);
    FeedForward<double>::Params p{{w1, b1}, {w2, b2}};
    FeedForward<double>::Cache cache;
    Rng rng(3, 1);
    FeedForward<double>::Forward(x, p, {.activation = act, .dropout = 0.25}, true, &rng, &cache, &out);
    ASSERT_FALSE(cache.mask.Identity());
    auto loss = [&] { FeedForward<double>::ForwardWithMask(x, p, &cache, &out); return Project(out, r); };
    loss();
    FeedForward<double>::Backward(x, r, p, cache, {{gw1, gb1}, {gw2, gb2}}, &dx);
    auto res = CheckGradients(loss, {GradTensor("x", x, dx), GradTensor("w1", w1, gw1),
                                     GradTensor("b1", b1, gb1), GradTensor("w2", w2, gw2),
                                     GradTensor("b2", b2, gb2)});
    EXPECT_LT(res.max_rel_error, kGradTol) << (act == Activation::kRelu ? "relu " : "gelu ") << res.Summary();
  }
}

}  // namespace
}  // namespace recsys::layers

// Layer behaviour beyond gradients: optimised attention vs the plain-loop
// reference, float instantiations, dropout statistics and determinism,
// RowSparseGrad order/merging, time-gap buckets, cache reuse.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/core/rng.h"
#include "recsys/ranker/layers/layers.h"
#include "recsys/ranker/target_scorer.h"

namespace recsys::layers {

// Every public template is instantiated once in float and double (STYLE §10).
template struct Linear<float>;
template struct Linear<double>;
template struct LayerNorm<float>;
template struct LayerNorm<double>;
template struct Relu<float>;
template struct Gelu<float>;
template struct Softmax<float>;
template struct Dropout<float>;
template struct Embedding<float>;
template class RowSparseGrad<float>;
template struct MultiHeadAttention<float>;
template struct MultiHeadAttention<double>;
template struct FeedForward<float>;
template struct TransformerBlock<float>;
template struct TransformerBlock<double>;

namespace {

template <typename T>
Mat<T> Random(Eigen::Index rows, Eigen::Index cols, uint64_t stream, double scale = 1.0) {
  Rng rng(99, stream);
  Mat<T> m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(scale * rng.Normal());
  return m;
}

TEST(Attention, GemmPathMatchesPlainLoopReference) {
  const Eigen::Index batch = 3, seq = 7, d = 8;
  std::vector<uint8_t> valid(batch * seq, 1);
  for (int i = 0; i < 3; ++i) valid[i] = 0;                  // left padding
  for (int i = 0; i < seq; ++i) valid[2 * seq + i] = 0;      // fully padded sequence
  for (bool causal : {true, false}) {
    for (int heads : {1, 2, 4}) {
     for (Eigen::Index tile : {1, 3, 32}) {
      MultiHeadAttention<double>::Cache cache;
      cache.q = Random<double>(batch * seq, d, 1);
      cache.k = Random<double>(batch * seq, d, 2);
      cache.v = Random<double>(batch * seq, d, 3);
      cache.options = {.heads = heads, .causal = causal, .causal_tile = tile};
      cache.valid = valid;
      for (Eigen::Index b = 0; b < batch; ++b) cache.segments.push_back({b * seq, seq, b * seq, seq});
      MultiHeadAttention<double>::Attend(&cache, /*self=*/true);
      const MatrixD ref =
          ReferenceSelfAttention<double>(cache.q, cache.k, cache.v, heads, batch, seq, causal, valid);
      EXPECT_TRUE(cache.ctx.isApprox(ref, 1e-12)) << "causal " << causal << " heads " << heads;
      EXPECT_TRUE(cache.ctx.middleRows(2 * seq, seq).isZero());
     }
    }
  }
}

TEST(Attention, FloatMatchesDoubleAtTrainingSize) {
  const Eigen::Index batch = 2, seq = 50, d = 64;
  MatrixD x = Random<double>(batch * seq, d, 4);
  MatrixD w[4];
  RowVector<double> b[4];
  for (int i = 0; i < 4; ++i) {
    w[i] = Random<double>(d, d, 10 + i, 1.0 / 8.0);
    b[i] = Random<double>(1, d, 20 + i, 0.1);
  }
  MatrixD out_d;
  MultiHeadAttention<double>::Cache cd;
  MultiHeadAttention<double>::SelfForward(x, {w[0], w[1], w[2], w[3], b[0], b[1], b[2], b[3]},
                                          {.heads = 2}, batch, seq, {}, &cd, &out_d);
  MatrixF xf = x.cast<float>(), out_f;
  MatrixF wf[4];
  RowVector<float> bf[4];
  for (int i = 0; i < 4; ++i) {
    wf[i] = w[i].cast<float>();
    bf[i] = b[i].cast<float>();
  }
  MultiHeadAttention<float>::Cache cf;
  MultiHeadAttention<float>::SelfForward(xf, {wf[0], wf[1], wf[2], wf[3], bf[0], bf[1], bf[2], bf[3]},
                                         {.heads = 2}, batch, seq, {}, &cf, &out_f);
  EXPECT_LT((out_f.cast<double>() - out_d).cwiseAbs().maxCoeff(), 1e-4);
}

TEST(Dropout, KeepsExpectationAndIsDeterministicPerStream) {
  Dropout<float>::Mask m1, m2, m3;
  Rng r1(5, 17), r2(5, 17), r3(5, 18);
  Dropout<float>::MakeMask(200, 100, 0.2, true, &r1, &m1);
  Dropout<float>::MakeMask(200, 100, 0.2, true, &r2, &m2);
  Dropout<float>::MakeMask(200, 100, 0.2, true, &r3, &m3);
  EXPECT_EQ(m1.scale, m2.scale);
  EXPECT_NE(m1.scale, m3.scale);
  const double dropped = (m1.scale.array() == 0.0f).cast<double>().mean();
  EXPECT_NEAR(dropped, 0.2, 0.01);               // 20000 draws: sd ≈ 0.003
  EXPECT_NEAR(m1.scale.mean(), 1.0, 0.02);        // inverted dropout keeps E[y] = x
  Dropout<float>::MakeMask(200, 100, 0.2, /*training=*/false, &r1, &m1);
  EXPECT_TRUE(m1.Identity());
  MatrixF x = Random<float>(3, 3, 5), y;
  Dropout<float>::Apply(x, m1, &y);
  EXPECT_EQ(x, y);
}

TEST(RowSparseGrad, FirstAppearanceOrderSortAndMerge) {
  RowSparseGrad<float> g(2);
  const std::vector<int32_t> idx = {7, 3, 7, -1, 100};
  MatrixF dout(5, 2);
  dout << 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
  Embedding<float>::Backward(idx, dout, &g);
  ASSERT_EQ(g.rows(), (std::vector<int32_t>{7, 3, 100}));
  EXPECT_EQ(g.values().row(0), RowVector<float>({{6, 8}}));
  g.SortRows();
  ASSERT_EQ(g.rows(), (std::vector<int32_t>{3, 7, 100}));
  EXPECT_EQ(g.values().row(1), RowVector<float>({{6, 8}}));
  RowSparseGrad<float> other(2);
  other.Row(3) += RowVector<float>({{1, 1}});
  other.Row(5) += RowVector<float>({{2, 2}});
  g.Add(other);
  ASSERT_EQ(g.rows(), (std::vector<int32_t>{3, 7, 100, 5}));
  EXPECT_EQ(g.values().row(0), RowVector<float>({{4, 5}}));
  MatrixF dense = MatrixF::Zero(101, 2);
  g.AddTo(dense);
  EXPECT_EQ(dense.row(5), RowVector<float>({{2, 2}}));
  EXPECT_FLOAT_EQ(dense.sum(), 4 + 5 + 6 + 8 + 9 + 10 + 4);
  g.Clear();
  EXPECT_TRUE(g.empty());
  // Many rows force storage growth; values survive it.
  for (int32_t r = 0; r < 1000; ++r) g.Row(r).setConstant(static_cast<float>(r));
  EXPECT_EQ(g.size(), 1000u);
  EXPECT_EQ(g.values()(999, 1), 999.0f);
  EXPECT_EQ(g.values()(17, 0), 17.0f);
}

TEST(TimeGap, LogBuckets) {
  const TimeGapBucketConfig c{.num_buckets = 6, .unit = 60.0, .base = 2.0};
  const std::vector<int64_t> gaps = {-5, 0, 30, 60, 119, 120, 240, 100000};
  EXPECT_EQ(LogTimeGapBuckets(gaps, c), (std::vector<int32_t>{0, 0, 1, 1, 1, 2, 3, 5}));
  const std::vector<Timestamp> ts = {100, 160, 400};
  EXPECT_EQ(RecencyGaps(ts, 400), (std::vector<int64_t>{300, 240, 0}));
}

TEST(TransformerBlock, FloatRunsAtTrainingShapeWithoutNaNAndReusesCache) {
  const Eigen::Index batch = 4, seq = 20, d = 16, f = 16;
  auto mk = [](Eigen::Index r, Eigen::Index c, uint64_t s, double sc) { return Random<float>(r, c, s, sc); };
  MatrixF w[4], w1 = mk(d, f, 40, 0.25), w2 = mk(f, d, 41, 0.25);
  RowVector<float> bz = RowVector<float>::Zero(d), ones = RowVector<float>::Ones(d), b1 = RowVector<float>::Zero(f);
  for (int i = 0; i < 4; ++i) w[i] = mk(d, d, 30 + i, 0.25);
  TransformerBlock<float>::Params p{{ones, bz}, {w[0], w[1], w[2], w[3], bz, bz, bz, bz}, {ones, bz}, {{w1, b1}, {w2, bz}}};
  std::vector<uint8_t> valid(batch * seq, 1);
  for (int i = 0; i < seq; ++i) valid[i] = 0;  // one fully padded sequence
  MatrixF x = mk(batch * seq, d, 50, 1.0), out1, out2;
  TransformerBlock<float>::Cache cache;
  BlockOptions opt{.attention = {.heads = 4}, .ffn = {.dropout = 0.2}, .dropout = 0.2};
  Rng rng1(1, 0), rng2(1, 0);
  TransformerBlock<float>::Forward(x, p, opt, batch, seq, valid, true, &rng1, &cache, &out1);
  const float* h1_storage = cache.h1.data();
  TransformerBlock<float>::Forward(x, p, opt, batch, seq, valid, true, &rng2, &cache, &out2);
  EXPECT_EQ(out1, out2);                       // same rng stream → same masks → same output
  EXPECT_EQ(h1_storage, cache.h1.data());      // cache reused, not reallocated
  EXPECT_TRUE(out1.allFinite());
  EXPECT_TRUE(out1.topRows(seq).isZero());
  // Inference: no dropout, deterministic without a Rng.
  TransformerBlock<float>::Forward(x, p, opt, batch, seq, valid, false, nullptr, &cache, &out2);
  EXPECT_TRUE(cache.mask_a.Identity() && cache.mask_f.Identity() && cache.ffn.mask.Identity());
  EXPECT_TRUE(out2.allFinite());
}

// The batched catalogue scorer (one GEMM per item tile for all users) gives
// every user the scores of the single-user form and of Forward, including a
// last tile shorter than the others.
TEST(TargetScorer, ScoreAllBatchMatchesPerUserScoring) {
  const Eigen::Index users = 3, m = 5, d = 8, n = 23;
  const Mat<float> interests = Random<float>(users * m, d, 60);
  const Mat<float> items = Random<float>(n, d, 61);
  const float tau = 0.7f;
  Mat<float> s, batch(users, n);
  TargetScorer<float>::ScoreAllBatch(interests, m, items, tau, &s, batch, /*tile=*/7);
  for (Eigen::Index u = 0; u < users; ++u) {
    Eigen::Matrix<float, 1, Eigen::Dynamic> one(n);
    TargetScorer<float>::ScoreAll(interests.middleRows(u * m, m), items, tau, &s, one);
    TargetScorer<float>::Cache cache;
    Eigen::VectorXf forward;
    TargetScorer<float>::Forward(interests.middleRows(u * m, m), items, tau, &cache, &forward);
    for (Eigen::Index c = 0; c < n; ++c) {
      EXPECT_NEAR(batch(u, c), one(c), 1e-5f) << "user " << u << " item " << c;
      EXPECT_NEAR(batch(u, c), forward(c), 1e-5f) << "user " << u << " item " << c;
    }
  }
}

// The batched forward / backward (the full-softmax L_long's form) gives the
// per-user Forward / Backward's scores and gradients (double, to rounding).
TEST(TargetScorer, BatchForwardBackwardMatchesPerUser) {
  const Eigen::Index users = 6, m = 3, d = 5, n = 19;
  const Mat<double> interests = Random<double>(users * m, d, 62);
  const Mat<double> items = Random<double>(n, d, 63);
  const Mat<double> dscores = Random<double>(users, n, 64);
  const double tau = 0.6;
  TargetScorer<double>::BatchCache batch;
  TargetScorer<double>::ForwardBatch(interests, m, items, tau, &batch);
  Mat<double> dint_batch = Mat<double>::Constant(users * m, d, 0.5), ditems_batch = Mat<double>::Constant(n, d, -1.0);
  TargetScorer<double>::BackwardBatch(interests, m, items, dscores, tau, batch, &dint_batch, &ditems_batch);
  Mat<double> dint = Mat<double>::Constant(users * m, d, 0.5), ditems = Mat<double>::Constant(n, d, -1.0);
  for (Eigen::Index u = 0; u < users; ++u) {
    TargetScorer<double>::Cache cache;
    Eigen::VectorXd scores;
    TargetScorer<double>::Forward(interests.middleRows(u * m, m), items, tau, &cache, &scores);
    for (Eigen::Index c = 0; c < n; ++c) EXPECT_NEAR(batch.score(u, c), scores(c), 1e-12) << u << " " << c;
    Mat<double> du = Mat<double>::Zero(m, d);
    TargetScorer<double>::Backward(interests.middleRows(u * m, m), items, dscores.row(u).transpose(), tau, cache,
                                   &du, &ditems);
    dint.middleRows(u * m, m) += du;
  }
  EXPECT_LT((dint_batch - dint).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((ditems_batch - ditems).cwiseAbs().maxCoeff(), 1e-12);
}

}  // namespace
}  // namespace recsys::layers

// Finite-difference checks (double) of every loss and logQ correction.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/core/rng.h"
#include "recsys/training/grad_check.h"
#include "recsys/training/losses.h"

namespace recsys {
namespace {

MatrixD RandomScores(int64_t rows, int64_t cols, uint64_t seed, double scale = 2.0) {
  Rng rng(seed, 1);
  MatrixD m(rows, cols);
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.Normal();
  return m;
}

MatrixD RandomLogQ(int64_t rows, int64_t cols, uint64_t seed) {
  Rng rng(seed, 2);
  MatrixD m(rows, cols);
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = std::log(0.001 + 0.2 * rng.UniformDouble());
  return m;
}

// Mask with some negatives off (never the positive column 0... nor whole rows).
std::vector<uint8_t> RandomMask(int64_t rows, int64_t cols, uint64_t seed) {
  Rng rng(seed, 3);
  std::vector<uint8_t> v(static_cast<size_t>(rows * cols), 1);
  for (int64_t b = 0; b < rows; ++b)
    for (int64_t c = 2; c < cols; ++c) v[static_cast<size_t>(b * cols + c)] = rng.Bernoulli(0.7);
  return v;
}

class SampledSoftmaxGradTest : public ::testing::TestWithParam<LogQCorrection> {};

TEST_P(SampledSoftmaxGradTest, MatchesFiniteDifferences) {
  const int64_t rows = 5, cols = 7;
  MatrixD s = RandomScores(rows, cols, 11);
  const MatrixD lq = RandomLogQ(rows, cols, 12);
  const std::vector<uint8_t> valid = RandomMask(rows, cols, 13);
  const std::vector<int32_t> pos = {0, 3, 6, -1, 1};  // any column; row 3 ignored
  for (auto reduction : {LossReduction::kMean, LossReduction::kSum}) {
    SampledSoftmaxOptions opt{.correction = GetParam(), .reduction = reduction};
    MatrixD grad;
    SampledSoftmaxLoss(s, pos, &lq, valid, opt, &grad);
    auto loss = [&] {
      if (GetParam() != LogQCorrection::kRefined) return SampledSoftmaxLoss(s, pos, &lq, valid, opt);
      // Refined: the weight 1 − p̂ carries no gradient, so compare against the
      // loss with the weights frozen at the unperturbed point.
      return 0.0;
    };
    if (GetParam() == LogQCorrection::kRefined) {
      // Frozen weights: w_b from the unperturbed scores; loss = Σ w_b · raw_b.
      std::vector<double> w(rows, 0.0);
      for (int64_t b = 0; b < rows; ++b) {
        const int p = pos[static_cast<size_t>(b)];
        if (p < 0) continue;
        const double log1m = std::log(-std::expm1(lq(b, p)));
        double sum = 0;
        int n = 0;
        for (int64_t c = 0; c < cols; ++c) {
          if (c == p || !valid[static_cast<size_t>(b * cols + c)]) continue;
          sum += std::exp(s(b, c) - lq(b, c) + log1m);
          ++n;
        }
        w[b] = 1.0 - std::exp(s(b, p)) / (std::exp(s(b, p)) + sum / n);
      }
      auto frozen = [&] {
        double total = 0;
        int rows_used = 0;
        for (int64_t b = 0; b < rows; ++b) {
          const int p = pos[static_cast<size_t>(b)];
          if (p < 0) continue;
          ++rows_used;
          double sum = 0;
          for (int64_t c = 0; c < cols; ++c) {
            if (c == p || !valid[static_cast<size_t>(b * cols + c)]) continue;
            sum += std::exp(s(b, c) - lq(b, c) + std::log(-std::expm1(lq(b, p))));
          }
          total += w[b] * (std::log(sum) - s(b, p));
        }
        return reduction == LossReduction::kMean ? total / rows_used : total;
      };
      // The frozen form reproduces the loss value itself.
      EXPECT_NEAR(frozen(), SampledSoftmaxLoss(s, pos, &lq, valid, opt), 1e-12);
      const GradCheckResult r = CheckGradients(frozen, {GradTensor("scores", s, grad)});
      EXPECT_LT(r.max_rel_error, 1e-6) << r.Summary();
      // The library's frozen-weights option gives the same check.
      std::vector<double> weights;
      SampledSoftmaxOptions capture = opt;
      capture.weights_out = &weights;
      SampledSoftmaxLoss(s, pos, &lq, valid, capture);
      for (int64_t b = 0; b < rows; ++b) EXPECT_NEAR(weights[static_cast<size_t>(b)], w[static_cast<size_t>(b)], 1e-12);
      SampledSoftmaxOptions fixed = opt;
      fixed.frozen_weights = &weights;
      auto library_frozen = [&] { return SampledSoftmaxLoss(s, pos, &lq, valid, fixed); };
      const GradCheckResult r2 = CheckGradients(library_frozen, {GradTensor("scores", s, grad)});
      EXPECT_LT(r2.max_rel_error, 1e-6) << r2.Summary();
    } else {
      const GradCheckResult r = CheckGradients(loss, {GradTensor("scores", s, grad)});
      EXPECT_LT(r.max_rel_error, 1e-6) << r.Summary();
    }
    // Masked and ignored entries get exactly zero gradient.
    for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(grad(3, c), 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Corrections, SampledSoftmaxGradTest,
                         ::testing::Values(LogQCorrection::kNone, LogQCorrection::kStandard,
                                           LogQCorrection::kRefined));

TEST(LossGradCheck, FullSoftmaxCrossEntropy) {
  MatrixD logits = RandomScores(4, 9, 21, 3.0);
  const std::vector<int32_t> targets = {3, 0, -1, 8};
  MatrixD grad;
  SoftmaxCrossEntropy(logits, targets, &grad);
  auto loss = [&] { return SoftmaxCrossEntropy(logits, targets); };
  const GradCheckResult r = CheckGradients(loss, {GradTensor("logits", logits, grad)});
  EXPECT_LT(r.max_rel_error, 1e-6) << r.Summary();
}

TEST(LossGradCheck, BceAndGbce) {
  MatrixD s = RandomScores(4, 6, 31);
  const std::vector<uint8_t> valid = RandomMask(4, 6, 32);
  const std::vector<int32_t> pos = {0, 5, 2, -1};
  for (double beta : {1.0, GbceBeta(5, 3416, 0.75)}) {
    for (auto reduction : {LossReduction::kMean, LossReduction::kSum}) {
      MatrixD grad;
      BinaryCrossEntropy(s, pos, valid, beta, &grad, reduction);
      auto loss = [&] { return BinaryCrossEntropy(s, pos, valid, beta, nullptr, reduction); };
      const GradCheckResult r = CheckGradients(loss, {GradTensor("scores", s, grad)});
      EXPECT_LT(r.max_rel_error, 1e-6) << "beta " << beta << ": " << r.Summary();
    }
  }
}

}  // namespace
}  // namespace recsys

// Loss values against independently computed check values, stability at
// extreme scores, float/double agreement and masking.
#include "recsys/training/losses.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/training/logq.h"

namespace recsys {

// Public templates are instantiated once here (STYLE §10).
template float loss_internal::SampledSoftmaxImpl<float>(const MatrixF&, std::span<const int32_t>,
                                                        const MatrixF*, std::span<const uint8_t>,
                                                        const SampledSoftmaxOptions&, MatrixF*);
template double loss_internal::BinaryCrossEntropyImpl<double>(const MatrixD&, std::span<const int32_t>,
                                                              std::span<const uint8_t>, double,
                                                              LossReduction, MatrixD*);

namespace {

// s_pos = 2, negatives [1, 0.5, −1]; counts pos 10, negatives [30, 5, 1], total 100.
struct CheckCase {
  MatrixD scores{1, 4};
  MatrixD log_q{1, 4};
  CheckCase() {
    scores << 2.0, 1.0, 0.5, -1.0;
    log_q << std::log(0.10), std::log(0.30), std::log(0.05), std::log(0.01);
  }
};

double Sampled(const CheckCase& c, LogQCorrection correction) {
  SampledSoftmaxOptions opt;
  opt.correction = correction;
  return SampledSoftmaxLoss(c.scores, {}, &c.log_q, {}, opt);
}

TEST(LossesTest, RefinedLogQMatchesCheckValue) {
  CheckCase c;
  EXPECT_NEAR(Sampled(c, LogQCorrection::kRefined), 1.723348, 1e-6);
  // raw 2.261848 and weight 0.761920 multiply to the loss; the gradient of the
  // positive is −weight (weight treated as a constant).
  MatrixD grad;
  SampledSoftmaxOptions opt{.correction = LogQCorrection::kRefined};
  SampledSoftmaxLoss(c.scores, {}, &c.log_q, {}, opt, &grad);
  EXPECT_NEAR(grad(0, 0), -0.761920, 1e-6);
  EXPECT_NEAR(grad.sum(), 0.0, 1e-12);  // weight·(Σ softmax − 1) = 0
  EXPECT_NEAR(1.723348 / 0.761920, 2.261848, 1e-5);
}

TEST(LossesTest, StandardAndPlainSampledSoftmaxMatchCheckValues) {
  CheckCase c;
  EXPECT_NEAR(Sampled(c, LogQCorrection::kStandard), 0.725981, 1e-6);
  EXPECT_NEAR(Sampled(c, LogQCorrection::kNone), 0.495182, 1e-6);
  // kNone ignores log_q entirely.
  SampledSoftmaxOptions none;
  EXPECT_NEAR(SampledSoftmaxLoss(c.scores, {}, nullptr, {}, none), 0.495182, 1e-6);
}

TEST(LossesTest, LogQFromCountsGivesCheckValues) {
  const std::vector<int64_t> counts = {10, 30, 5, 1, 54};  // total 100
  const std::vector<float> lq = LogQFromCounts(counts);
  EXPECT_NEAR(lq[0], std::log(0.10), 1e-6);
  EXPECT_NEAR(lq[3], std::log(0.01), 1e-6);
}

TEST(LossesTest, GbceMatchesCheckValue) {
  CheckCase c;
  const double beta = GbceBeta(3, 3416, 0.75);
  EXPECT_NEAR(beta, 0.2506589, 1e-7);
  EXPECT_NEAR(BinaryCrossEntropy(c.scores, {}, {}, beta), 0.6581040, 1e-7);
  // β = 1 is plain BCE: mean of softplus(−s_p), softplus(s_j).
  auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  const double bce = (softplus(-2.0) + softplus(1.0) + softplus(0.5) + softplus(-1.0)) / 4.0;
  EXPECT_NEAR(BinaryCrossEntropy(c.scores, {}, {}, 1.0), bce, 1e-12);
}

TEST(LossesTest, FullSoftmaxMatchesDirectFormula) {
  MatrixD logits(2, 3);
  logits << 1.0, 2.0, 3.0, -1.0, 0.0, 4.0;
  const std::vector<int32_t> targets = {0, 2};
  auto ce = [](std::vector<double> z, int t) {
    double s = 0;
    for (double v : z) s += std::exp(v);
    return std::log(s) - z[static_cast<size_t>(t)];
  };
  const double expected = (ce({1, 2, 3}, 0) + ce({-1, 0, 4}, 2)) / 2.0;
  EXPECT_NEAR(SoftmaxCrossEntropy(logits, targets), expected, 1e-12);
  EXPECT_NEAR(SoftmaxCrossEntropy(logits, targets, nullptr, LossReduction::kSum), 2 * expected, 1e-12);
  // An ignored row (target −1) drops out of the mean.
  const std::vector<int32_t> one = {0, -1};
  EXPECT_NEAR(SoftmaxCrossEntropy(logits, one), ce({1, 2, 3}, 0), 1e-12);
}

TEST(LossesTest, StableAtExtremeScores) {
  // Scores ±100 overflow a naive exp() in float.
  MatrixF s(2, 4);
  s << 100.0f, -100.0f, 100.0f, -100.0f,
      -100.0f, 100.0f, 100.0f, -100.0f;
  MatrixF lq = MatrixF::Constant(2, 4, std::log(0.01f));
  for (auto correction : {LogQCorrection::kNone, LogQCorrection::kStandard, LogQCorrection::kRefined}) {
    MatrixF g;
    SampledSoftmaxOptions opt{.correction = correction};
    const float loss = SampledSoftmaxLoss(s, {}, &lq, {}, opt, &g);
    EXPECT_TRUE(std::isfinite(loss)) << static_cast<int>(correction);
    EXPECT_TRUE(g.allFinite()) << static_cast<int>(correction);
  }
  // Row 0: positive 100 ties with one negative at 100 → log 2 for kNone;
  // row 1: positive −100 vs two negatives at 100 → ≈ 200 + log 2.
  SampledSoftmaxOptions none;
  EXPECT_NEAR(SampledSoftmaxLoss(s, {}, nullptr, {}, none), (std::log(2.0) + 200.0 + std::log(2.0)) / 2.0, 1e-3);
  MatrixF g;
  const float full = SoftmaxCrossEntropy(s, std::vector<int32_t>{0, 0}, &g);
  EXPECT_TRUE(std::isfinite(full) && g.allFinite());
  const float bce = BinaryCrossEntropy(s, {}, {}, 1.0, &g);
  EXPECT_TRUE(std::isfinite(bce) && g.allFinite());
  // Row 0: one negative at 100 costs 100; row 1: the positive at −100 and two
  // negatives at 100 cost 100 each; 8 terms.
  EXPECT_NEAR(bce, 400.0 / 8.0, 1e-3);
}

TEST(LossesTest, FloatAgreesWithDouble) {
  CheckCase c;
  const MatrixF sf = c.scores.cast<float>(), lf = c.log_q.cast<float>();
  for (auto correction : {LogQCorrection::kNone, LogQCorrection::kStandard, LogQCorrection::kRefined}) {
    SampledSoftmaxOptions opt{.correction = correction};
    EXPECT_NEAR(SampledSoftmaxLoss(sf, {}, &lf, {}, opt), SampledSoftmaxLoss(c.scores, {}, &c.log_q, {}, opt),
                1e-5);
  }
}

TEST(LossesTest, MaskedNegativesAreIgnored) {
  // A masked accidental hit must not change the loss: compare with the matrix
  // where that column is removed.
  MatrixD s(1, 5);
  s << 2.0, 1.0, 7.0, 0.5, -1.0;
  MatrixD lq(1, 5);
  lq << std::log(0.1), std::log(0.3), std::log(0.1), std::log(0.05), std::log(0.01);
  const std::vector<uint8_t> valid = {1, 1, 0, 1, 1};
  CheckCase c;
  for (auto correction : {LogQCorrection::kNone, LogQCorrection::kStandard, LogQCorrection::kRefined}) {
    SampledSoftmaxOptions opt{.correction = correction};
    MatrixD g;
    EXPECT_NEAR(SampledSoftmaxLoss(s, {}, &lq, valid, opt, &g), Sampled(c, correction), 1e-12);
    EXPECT_EQ(g(0, 2), 0.0);
  }
  EXPECT_NEAR(BinaryCrossEntropy(s, {}, valid, GbceBeta(3, 3416, 0.75)), 0.6581040, 1e-7);
  // The positive may sit in any column.
  MatrixD moved(1, 4);
  moved << 1.0, 0.5, 2.0, -1.0;
  MatrixD moved_lq(1, 4);
  moved_lq << std::log(0.3), std::log(0.05), std::log(0.1), std::log(0.01);
  const std::vector<int32_t> pos = {2};
  SampledSoftmaxOptions refined{.correction = LogQCorrection::kRefined};
  EXPECT_NEAR(SampledSoftmaxLoss(moved, pos, &moved_lq, {}, refined), 1.723348, 1e-6);
}

}  // namespace
}  // namespace recsys

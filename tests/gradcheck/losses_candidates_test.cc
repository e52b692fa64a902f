// Gradient check of candidate scoring + refined-logQ sampled softmax end to
// end (queries and item table), as a model would use them.
#include <vector>

#include "gtest/gtest.h"
#include "recsys/training/candidate_scores.h"
#include "recsys/training/grad_check.h"
#include "recsys/training/losses.h"
#include "recsys/training/samplers.h"

namespace recsys {
namespace {

TEST(LossGradCheck, CandidateScoresWithSampledSoftmax) {
  const int64_t batch = 4, d = 3, n = 12;
  Rng rng(3, 0);
  MatrixD q(batch, d), table(n, d);
  for (int64_t i = 0; i < q.size(); ++i) q.data()[i] = rng.Normal();
  for (int64_t i = 0; i < table.size(); ++i) table.data()[i] = rng.Normal();
  std::vector<int64_t> counts(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) counts[static_cast<size_t>(j)] = 1 + j;
  NegativeSamplerConfig cfg{.kind = SamplerKind::kMixed, .num_negatives = 5};
  auto sampler = NegativeSampler::Create(cfg, counts);
  ASSERT_TRUE(sampler.ok());
  CandidateSet cand;
  const std::vector<int32_t> positives = {1, 7, 1, 11};  // duplicate → masked hits
  (*sampler)->Sample(positives, rng, &cand);
  const MatrixD log_q = cand.log_q.cast<double>();
  for (auto correction : {LogQCorrection::kNone, LogQCorrection::kStandard}) {
    SampledSoftmaxOptions opt{.correction = correction};
    auto loss = [&] {
      MatrixD s;
      ScoreCandidates(q, table, cand, &s);
      return SampledSoftmaxLoss(s, {}, &log_q, cand.valid, opt);
    };
    MatrixD s, ds;
    ScoreCandidates(q, table, cand, &s);
    SampledSoftmaxLoss(s, {}, &log_q, cand.valid, opt, &ds);
    MatrixD dq = MatrixD::Zero(batch, d), dtable = MatrixD::Zero(n, d);
    ScoreCandidatesBackward(ds, q, table, cand, &dq, [&](int32_t j) { return dtable.row(j).data(); });
    const GradCheckResult r = CheckGradients(loss, {GradTensor("queries", q, dq), GradTensor("table", table, dtable)});
    EXPECT_LT(r.max_rel_error, 1e-6) << r.Summary();
  }
}

}  // namespace
}  // namespace recsys

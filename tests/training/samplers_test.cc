// Negative samplers and frequency estimators.
#include "recsys/training/samplers.h"

#include <cmath>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/training/logq.h"

namespace recsys {
namespace {

std::vector<int64_t> Counts() { return {50, 25, 12, 8, 4, 1, 0, 0}; }  // total 100

TEST(AliasTableTest, FrequenciesMatchWeights) {
  const std::vector<double> w = {5, 0, 1, 3, 1};
  AliasTable table(w);
  Rng rng(7, 0);
  std::vector<int64_t> hits(w.size(), 0);
  const int draws = 200000;
  for (int i = 0; i < draws; ++i) ++hits[static_cast<size_t>(table.Sample(rng))];
  EXPECT_EQ(hits[1], 0);
  for (size_t j = 0; j < w.size(); ++j) {
    const double p = w[j] / 10.0;
    const double sd = std::sqrt(draws * p * (1 - p)) + 1;
    EXPECT_NEAR(static_cast<double>(hits[j]), draws * p, 5 * sd) << "item " << j;
    EXPECT_NEAR(table.Probability(static_cast<int32_t>(j)), p, 1e-12);
  }
}

TEST(NegativeSamplerTest, UniformShapesLogQAndDeterminism) {
  NegativeSamplerConfig cfg{.kind = SamplerKind::kUniform, .num_negatives = 5};
  auto sampler = NegativeSampler::Create(cfg, Counts());
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  const std::vector<int32_t> pos = {0, 3, -1};
  CandidateSet a, b, c;
  Rng r1(1, 9), r2(1, 9), r3(1, 10);
  (*sampler)->Sample(pos, r1, &a);
  (*sampler)->Sample(pos, r2, &b);
  (*sampler)->Sample(pos, r3, &c);
  EXPECT_EQ(a.rows, 3);
  EXPECT_EQ(a.cols, 6);
  EXPECT_EQ(a.items, b.items);      // same (seed, stream)
  EXPECT_NE(a.items, c.items);      // another stream
  EXPECT_EQ(a.item(1, 0), 3);
  for (int64_t col = 0; col < 6; ++col) EXPECT_EQ(a.valid[static_cast<size_t>(2 * 6 + col)], 0);  // padding row
  EXPECT_NEAR(a.log_q(0, 1), -std::log(8.0), 1e-6);
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t col = 1; col < 6; ++col)
      EXPECT_EQ(a.valid[static_cast<size_t>(r * 6 + col)], a.item(r, col) != pos[static_cast<size_t>(r)]);
}

TEST(NegativeSamplerTest, PopularityMasksOrResamplesAccidentalHits) {
  NegativeSamplerConfig cfg{.kind = SamplerKind::kPopularity, .num_negatives = 200};
  auto masked = NegativeSampler::Create(cfg, Counts());
  cfg.resample_accidental_hits = true;
  auto resampled = NegativeSampler::Create(cfg, Counts());
  ASSERT_TRUE(masked.ok() && resampled.ok());
  const std::vector<int32_t> pos = {0};  // the most popular item: many hits
  CandidateSet m, r;
  Rng rng1(3, 0), rng2(3, 0);
  (*masked)->Sample(pos, rng1, &m);
  (*resampled)->Sample(pos, rng2, &r);
  int hits = 0, zero_count_items = 0;
  for (int64_t col = 1; col < m.cols; ++col) {
    if (m.item(0, col) == 0) {
      ++hits;
      EXPECT_EQ(m.valid[static_cast<size_t>(col)], 0);
    }
    zero_count_items += m.item(0, col) >= 6;  // counts 0: never drawn
    EXPECT_NE(r.item(0, col), 0);
    EXPECT_NEAR(m.log_q(0, col), std::log(Counts()[static_cast<size_t>(m.item(0, col))] / 100.0), 1e-5);
  }
  EXPECT_GT(hits, 50);  // Q(0) = 0.5
  EXPECT_EQ(zero_count_items, 0);
}

TEST(NegativeSamplerTest, InBatchAndMixed) {
  const std::vector<int32_t> pos = {1, 2, 1, 4};
  NegativeSamplerConfig cfg{.kind = SamplerKind::kInBatch};
  auto in_batch = NegativeSampler::Create(cfg, Counts());
  ASSERT_TRUE(in_batch.ok());
  CandidateSet c;
  Rng rng(5, 0);
  (*in_batch)->Sample(pos, rng, &c);
  ASSERT_EQ(c.cols, 4);
  // Row 0: [1 | 2, 1, 4]; the second 1 is an accidental hit.
  EXPECT_EQ((std::vector<int32_t>{c.item(0, 0), c.item(0, 1), c.item(0, 2), c.item(0, 3)}),
            (std::vector<int32_t>{1, 2, 1, 4}));
  EXPECT_EQ((std::vector<uint8_t>(c.valid.begin(), c.valid.begin() + 4)), (std::vector<uint8_t>{1, 1, 0, 1}));
  EXPECT_NEAR(c.log_q(0, 1), std::log(0.12), 1e-6);

  cfg.kind = SamplerKind::kMixed;
  cfg.num_negatives = 3;
  auto mixed = NegativeSampler::Create(cfg, Counts());
  ASSERT_TRUE(mixed.ok());
  (*mixed)->Sample(pos, rng, &c);
  ASSERT_EQ(c.cols, 1 + 3 + 3);
  // Mixture probability: (3 · 0.12 + 3 / 8) / 6 for item 2.
  EXPECT_NEAR(c.log_q(0, 1), std::log((3 * 0.12 + 3.0 / 8.0) / 6.0), 1e-6);
}

TEST(NegativeSamplerTest, RejectsBadConfig) {
  NegativeSamplerConfig cfg{.kind = SamplerKind::kUniform, .num_negatives = 0};
  EXPECT_EQ(NegativeSampler::Create(cfg, Counts()).status().code(), absl::StatusCode::kInvalidArgument);
  cfg = {.kind = SamplerKind::kPopularity, .num_negatives = 4};
  const std::vector<int64_t> zeros(5, 0);
  EXPECT_EQ(NegativeSampler::Create(cfg, zeros).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NegativeSampler::Create(cfg, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FrequencyEstimatorTest, StreamingEstimateTracksFrequencies) {
  // Item 1 in every step, item 2 every 4th step, item 3 every 10th step.
  StreamingFrequencyEstimator est({.num_buckets = 1024, .num_hashes = 2, .alpha = 0.05, .seed = 1});
  for (int64_t t = 0; t < 2000; ++t) {
    std::vector<int64_t> items = {1};
    if (t % 4 == 0) items.push_back(2);
    if (t % 10 == 0) items.push_back(3);
    est.Update(items, t);
  }
  EXPECT_NEAR(est.StepProbability(1), 1.0, 0.05);
  EXPECT_NEAR(est.StepProbability(2), 0.25, 0.03);
  EXPECT_NEAR(est.StepProbability(3), 0.10, 0.015);
  EXPECT_EQ(est.StepProbability(999), 0.0);
  EXPECT_NEAR(est.LogQ(2, 4), std::log(0.25 / 4), 0.15);
}

TEST(FrequencyEstimatorTest, CountMinNeverUnderestimates) {
  CountMinSketch cms(64, 4, 3);
  Rng rng(1, 0);
  std::vector<int64_t> truth(500, 0);
  for (int i = 0; i < 20000; ++i) {
    // Skewed: item = floor(500 · u³).
    const double u = rng.UniformDouble();
    const int64_t item = static_cast<int64_t>(500 * u * u * u);
    ++truth[static_cast<size_t>(item)];
    cms.Add(static_cast<uint64_t>(item));
  }
  EXPECT_EQ(cms.total(), 20000);
  for (int64_t j = 0; j < 500; ++j) {
    EXPECT_GE(cms.Estimate(static_cast<uint64_t>(j)), truth[static_cast<size_t>(j)]);
  }
  // The heavy hitter is estimated within e·total/width w.h.p.
  EXPECT_LE(cms.Estimate(0) - truth[0], static_cast<int64_t>(2.72 * 20000 / 64));
  EXPECT_NEAR(cms.Probability(0), truth[0] / 20000.0, 0.05);
}

}  // namespace
}  // namespace recsys

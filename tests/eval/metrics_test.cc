#include "recsys/eval/metrics.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace recsys {
namespace {

double D(int rank) { return 1.0 / std::log2(rank + 1.0); }  // discount of 1-based rank

TEST(CaseMetricsTest, SingleTargetAtRankThree) {
  const std::vector<ItemIndex> ranked = {5, 7, 2, 9, 1};
  const std::vector<ItemIndex> targets = {2};
  CaseMetrics m = ComputeCaseMetrics(ranked, targets, 5);
  EXPECT_DOUBLE_EQ(m.hr, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 1.0);
  EXPECT_DOUBLE_EQ(m.ndcg, 0.5);  // 1/log2(4)
  EXPECT_DOUBLE_EQ(m.mrr, 1.0 / 3.0);
  CaseMetrics m2 = ComputeCaseMetrics(ranked, targets, 2);
  EXPECT_DOUBLE_EQ(m2.hr, 0.0);
  EXPECT_DOUBLE_EQ(m2.ndcg, 0.0);
  EXPECT_DOUBLE_EQ(m2.mrr, 0.0);
  EXPECT_DOUBLE_EQ(m2.recall, 0.0);
}

TEST(CaseMetricsTest, MultipleTargetsIdealDcgUsesMinOfTargetsAndK) {
  const std::vector<ItemIndex> ranked = {1, 2, 3, 4};
  std::vector<ItemIndex> targets = {4, 2, 9};  // hits at ranks 2 and 4; 9 missed
  NormalizeTargets(targets);
  CaseMetrics m = ComputeCaseMetrics(ranked, targets, 4);
  EXPECT_DOUBLE_EQ(m.hr, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.ndcg, (D(2) + D(4)) / (D(1) + D(2) + D(3)));
  EXPECT_DOUBLE_EQ(m.mrr, 0.5);
  // K = 2 < |T| = 3: recall divides by K, IDCG has 2 terms.
  CaseMetrics m2 = ComputeCaseMetrics(ranked, targets, 2);
  EXPECT_DOUBLE_EQ(m2.recall, 0.5);
  EXPECT_DOUBLE_EQ(m2.ndcg, D(2) / (D(1) + D(2)));
}

TEST(CaseMetricsTest, PaddingAndUnknownTargetNeverMatch) {
  const std::vector<ItemIndex> ranked = {3, kNoItem, kNoItem};
  std::vector<ItemIndex> targets = {kNoItem};
  EXPECT_EQ(NormalizeTargets(targets), 1);
  CaseMetrics m = ComputeCaseMetrics(ranked, targets, 3);
  EXPECT_DOUBLE_EQ(m.hr, 0.0);
  EXPECT_DOUBLE_EQ(m.ndcg, 0.0);
}

TEST(NormalizeTargetsTest, DeduplicatesKnownKeepsUnknown) {
  std::vector<ItemIndex> t = {4, kNoItem, 4, 1, kNoItem};
  EXPECT_EQ(NormalizeTargets(t), 2);
  EXPECT_EQ(t, (std::vector<ItemIndex>{kNoItem, kNoItem, 1, 4}));
}

TEST(MetricsAccumulatorTest, AveragesSkipsEmptyAndComputesCoverage) {
  MetricsAccumulator acc({1, 3}, /*num_items=*/10);
  const std::vector<ItemIndex> r1 = {0, 1, 2};
  const std::vector<ItemIndex> r2 = {0, 3, 4};
  const std::vector<ItemIndex> t1 = {1};
  const std::vector<ItemIndex> t2 = {0};
  acc.Add(r1, t1);                          // hit at rank 2
  acc.Add(r2, t2);                          // hit at rank 1
  acc.Add(r2, std::vector<ItemIndex>{});    // skipped
  const std::vector<ItemIndex> unknown = {kNoItem};
  acc.Add(r1, unknown);                     // miss
  RankingMetrics m = acc.Result();
  EXPECT_EQ(m.cases, 3);
  EXPECT_EQ(m.skipped, 1);
  EXPECT_EQ(m.unknown_targets, 1);
  EXPECT_DOUBLE_EQ(m.at(1).hr, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.at(3).hr, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.at(3).ndcg, (D(2) + 1.0) / 3.0);
  EXPECT_DOUBLE_EQ(m.at(3).mrr, (0.5 + 1.0) / 3.0);
  EXPECT_DOUBLE_EQ(m.at(1).coverage, 1.0 / 10.0);  // item 0 is every list's first
  EXPECT_DOUBLE_EQ(m.at(3).coverage, 5.0 / 10.0);  // {0,1,2,3,4}
}

TEST(MetricsAccumulatorTest, MergeEqualsSequentialAdds) {
  const std::vector<ItemIndex> r1 = {0, 1, 2};
  const std::vector<ItemIndex> r2 = {5, 3, 4};
  const std::vector<ItemIndex> t1 = {2};
  const std::vector<ItemIndex> t2 = {4, 5};
  MetricsAccumulator all({2, 3}, 6), a({2, 3}, 6), b({2, 3}, 6);
  all.Add(r1, t1);
  all.Add(r2, t2);
  a.Add(r1, t1);
  b.Add(r2, t2);
  a.Merge(b);
  RankingMetrics x = all.Result(), y = a.Result();
  for (int k : {2, 3}) {
    EXPECT_EQ(x.at(k).ndcg, y.at(k).ndcg);
    EXPECT_EQ(x.at(k).recall, y.at(k).recall);
    EXPECT_EQ(x.at(k).coverage, y.at(k).coverage);
  }
  EXPECT_DOUBLE_EQ(x.at(3).recall, 1.0);
  EXPECT_DOUBLE_EQ(x.at(2).recall, 0.25);
}

TEST(MetricsAccumulatorTest, KLargerThanList) {
  MetricsAccumulator acc({50}, 3);
  const std::vector<ItemIndex> ranked = {2, 0, 1};  // whole catalogue
  const std::vector<ItemIndex> target = {1};
  acc.Add(ranked, target);
  RankingMetrics m = acc.Result();
  EXPECT_DOUBLE_EQ(m.at(50).hr, 1.0);
  EXPECT_DOUBLE_EQ(m.at(50).ndcg, D(3));
  EXPECT_DOUBLE_EQ(m.at(50).coverage, 1.0);
}

}  // namespace
}  // namespace recsys

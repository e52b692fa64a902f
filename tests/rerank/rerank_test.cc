#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/rerank/diversity.h"
#include "recsys/rerank/mmr.h"
#include "recsys/rerank/quotas.h"

namespace recsys {
namespace {

// Items 0,1 are near-duplicates along x; item 2 points along y.
MatrixF ThreeItems() {
  MatrixF e(3, 2);
  e << 1.0f, 0.0f, 0.99f, 0.01f, 0.0f, 1.0f;
  return e;
}

TEST(Mmr, LambdaOneKeepsScoreOrder) {
  const MatrixF e = ThreeItems();
  std::vector<float> scores = {0.9f, 0.8f, 0.1f};
  std::vector<ItemIndex> items = {0, 1, 2};
  MmrOptions opt;
  opt.lambda = 1.0;
  auto order = MmrRerank(scores, items, e, 3, opt).value();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(Mmr, DiversityPromotesDissimilarItem) {
  const MatrixF e = ThreeItems();
  std::vector<float> scores = {0.9f, 0.8f, 0.1f};
  std::vector<ItemIndex> items = {0, 1, 2};
  MmrOptions opt;
  opt.lambda = 0.5;
  // Step 2: item1: 0.5*0.875 - 0.5*0.99995 < item2: 0.5*0 - 0.5*0 = 0.
  auto order = MmrRerank(scores, items, e, 2, opt).value();
  EXPECT_EQ(order, (std::vector<int>{0, 2}));
}

TEST(Mmr, RejectsBadInputAndSkipsNonFinite) {
  const MatrixF e = ThreeItems();
  std::vector<float> scores = {0.9f, NAN, 0.1f};
  std::vector<ItemIndex> items = {0, 1, 2};
  auto order = MmrRerank(scores, items, e, 5).value();
  EXPECT_EQ(order.size(), 2u);
  std::vector<ItemIndex> bad = {0, 1, 7};
  EXPECT_EQ(MmrRerank(scores, bad, e, 2).status().code(), absl::StatusCode::kOutOfRange);
  MmrOptions opt;
  opt.lambda = 2.0;
  EXPECT_EQ(MmrRerank(scores, items, e, 2, opt).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Quotas, LargestRemainderSumsToK) {
  // 10 slots, shares 0.45 / 0.35 / free 0.2 → 4.5, 3.5, 2 → floors 4,3,2 + one by remainder (ties: first).
  auto slots = ApportionSlots({0.45, 0.35}, 10);
  EXPECT_EQ(slots, (std::vector<int>{5, 3, 2}));
  auto thirds = ApportionSlots({1.0 / 3, 1.0 / 3, 1.0 / 3}, 10);
  EXPECT_EQ(std::accumulate(thirds.begin(), thirds.end(), 0), 10);
}

TEST(Quotas, FillsByScoreWithinQuotaAndReportsUnmet) {
  // Candidates by descending score: categories 0,0,0,0,1,2
  std::vector<float> scores = {6, 5, 4, 3, 2, 1};
  std::vector<int32_t> cats = {0, 0, 0, 0, 1, 2};
  QuotaTargets targets = {{0, 0.5}, {1, 0.5}};
  auto r = ApplyQuotas(scores, cats, 4, targets).value();
  // quota 2 for cat 0 (pos 0,1), 2 for cat 1 but only one item (pos 4): unmet;
  // the free slot goes to the best remaining (pos 2).
  EXPECT_EQ(r.order, (std::vector<int>{0, 1, 2, 4}));
  ASSERT_EQ(r.report.size(), 2u);
  EXPECT_EQ(r.report[0].quota, 2);
  EXPECT_EQ(r.report[0].filled, 3);
  EXPECT_EQ(r.report[1].quota, 2);
  EXPECT_EQ(r.report[1].filled, 1);
  EXPECT_FALSE(r.report[1].met);
  EXPECT_FALSE(r.all_met);
}

TEST(Quotas, ShareAboveOneIsRejected) {
  std::vector<float> scores = {1};
  std::vector<int32_t> cats = {0};
  EXPECT_FALSE(ApplyQuotas(scores, cats, 1, {{0, 0.7}, {1, 0.7}}).ok());
  EXPECT_FALSE(ApplyQuotas(scores, std::vector<int32_t>{0, 1}, 1, {{0, 0.5}}).ok());
}

TEST(Diversity, IntraListDistanceAndShares) {
  const MatrixF e = ThreeItems();
  std::vector<ItemIndex> orthogonal = {0, 2};
  EXPECT_NEAR(IntraListDistance(orthogonal, e), 1.0, 1e-6);
  std::vector<ItemIndex> same = {0, 0};
  EXPECT_NEAR(IntraListDistance(same, e), 0.0, 1e-6);
  std::vector<int32_t> cats = {5, 5, 7};
  std::vector<ItemIndex> list = {0, 1, 2, 2};
  auto shares = CategoryShares(list, cats);
  EXPECT_DOUBLE_EQ(shares[5], 0.5);
  EXPECT_DOUBLE_EQ(shares[7], 0.5);
}

}  // namespace
}  // namespace recsys

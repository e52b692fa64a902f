// Two-stage evaluation (eval/two_stage.h): with an exact index and every item
// as a candidate it equals the full-catalogue evaluation; with N < catalogue
// its stage-1 recall is the candidate set's, its final metrics can only be
// lower or equal at K ≤ N relative to stage-1 recall, and it does not depend
// on the thread count.
#include "recsys/eval/two_stage.h"

#include "gtest/gtest.h"
#include "recommender_test_util.h"
#include "recsys/eval/evaluator.h"

namespace recsys {
namespace {

constexpr int32_t kItems = 300;

EvalSet RandomCases(int n, Rng& rng) {
  EvalSet cases;
  cases.input_offsets = {0};
  cases.target_offsets = {0};
  for (int c = 0; c < n; ++c) {
    std::vector<ItemIndex> h;
    const int len = 2 + static_cast<int>(rng.UniformInt(40));
    for (int i = 0; i < len; ++i) h.push_back(static_cast<ItemIndex>(rng.UniformInt(kItems)));
    const ItemIndex target = static_cast<ItemIndex>(rng.UniformInt(kItems));
    cases.Add(c, h, {}, std::span<const ItemIndex>(&target, 1));
  }
  return cases;
}

std::unique_ptr<Recommender> MakeRec(const std::string& factory) {
  auto rec = Recommender::Create({}, testing::MakePipeline(kItems, 5, "two-stage", factory));
  EXPECT_TRUE(rec.ok()) << rec.status();
  return std::move(*rec);
}

TEST(TwoStageTest, EveryItemAsCandidateEqualsFullCatalogue) {
  auto rec = MakeRec("Flat");
  Rng rng(3, 0);
  const EvalSet cases = RandomCases(120, rng);
  EvalOptions full;
  full.ks = {1, 10, 50, kItems};
  auto f = Evaluate(*rec->pipeline()->model, cases, full);
  ASSERT_TRUE(f.ok()) << f.status();
  TwoStageOptions two;
  two.ks = full.ks;
  two.candidates = kItems;
  auto t = EvaluateTwoStage(*rec, cases, two);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->metrics.cases, 120);
  // Every unseen item is a candidate: stage 1 misses only targets in the history.
  EXPECT_NEAR(t->stage1_recall, f->metrics.at(kItems).recall, 1e-12);
  EXPECT_GT(t->stage1_recall, 0.8);
  for (int k : full.ks) {
    EXPECT_NEAR(t->metrics.at(k).ndcg, f->metrics.at(k).ndcg, 1e-12) << "K " << k;
    EXPECT_NEAR(t->metrics.at(k).hr, f->metrics.at(k).hr, 1e-12) << "K " << k;
  }
}

TEST(TwoStageTest, StageOneRecallBoundsFinalMetricsAndIgnoresThreads) {
  auto rec = MakeRec("HNSW16");
  Rng rng(4, 0);
  const EvalSet cases = RandomCases(200, rng);
  TwoStageOptions o;
  o.ks = {10, 30};
  o.candidates = 30;
  o.threads = 1;
  auto one = EvaluateTwoStage(*rec, cases, o);
  ASSERT_TRUE(one.ok()) << one.status();
  o.threads = 2;
  auto two = EvaluateTwoStage(*rec, cases, o);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(one->stage1_recall, two->stage1_recall);
  EXPECT_EQ(one->metrics.at(10).ndcg, two->metrics.at(10).ndcg);
  // The final list at K = N is the candidate set itself.
  EXPECT_DOUBLE_EQ(one->metrics.at(30).recall, one->stage1_recall);
  EXPECT_LE(one->metrics.at(10).hr, one->stage1_hit_rate);
  EXPECT_GT(one->stage1_recall, 0.0);
  EXPECT_LT(one->stage1_recall, 0.5);  // 30 of ~280 unseen random items
  EXPECT_GT(one->mean_candidates, 25.0);
  EXPECT_LE(one->mean_candidates, 30.0);
}

TEST(TwoStageTest, BadOptionsAndCasesAreErrors) {
  auto rec = MakeRec("Flat");
  Rng rng(5, 0);
  EvalSet cases = RandomCases(4, rng);
  TwoStageOptions o;
  o.candidates = 5;
  o.ks = {10};
  auto r = EvaluateTwoStage(*rec, cases, o);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("cutoff 10"), std::string::npos) << r.status();
  o.ks = {5};
  cases.targets[0] = kItems + 3;
  r = EvaluateTwoStage(*rec, cases, o);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("targets[0]"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace recsys

#include "recsys/eval/evaluator.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "recsys/data/readers.h"
#include "recsys/models/mostpop.h"
#include "test_util.h"

namespace recsys {
namespace {

// Scores item i of a history h as a hash of (last item of h, i), quantised
// to a few levels so that ties are frequent; constant scores when `flat`.
class FakeModel final : public SequentialModel {
 public:
  FakeModel(int32_t n, bool flat) : flat_(flat) {
    std::vector<ExternalId> ids(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = 1000 + i;
    vocab_ = Vocabulary::FromExternals(ids);
  }
  std::string type() const override { return "fake"; }
  std::string config_json() const override { return "{}"; }
  const Vocabulary& item_vocab() const override { return vocab_; }
  absl::Status ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const override {
    for (size_t r = 0; r < histories.size(); ++r) {
      const uint64_t last = histories[r].items.empty() ? 7 : static_cast<uint64_t>(histories[r].items.back());
      for (int32_t i = 0; i < num_items(); ++i) {
        uint64_t h = (last * 0x9E3779B97F4A7C15ull) ^ (static_cast<uint64_t>(i) * 0xC2B2AE3D27D4EB4Full);
        h ^= h >> 29;
        out(static_cast<int64_t>(r), i) = flat_ ? 1.0f : static_cast<float>(h % 8);
      }
    }
    return absl::OkStatus();
  }
  absl::Status Save(const std::string&) const override { return absl::UnimplementedError("fake"); }

 private:
  bool flat_;
  Vocabulary vocab_;
};

TEST(EvaluatorTest, TiesBrokenBySmallerIndexAndSeenFiltered) {
  FakeModel model(6, /*flat=*/true);
  EvalSet set;
  // All scores equal: ranking is 0,1,2,...; history {0,1} is masked, so with
  // filtering the list is 2,3,4,...
  const std::vector<ItemIndex> hist = {0, 1};
  const std::vector<ItemIndex> target = {3};
  set.Add(0, hist, {}, target);
  EvalOptions options;
  options.ks = {1, 2};
  auto r = Evaluate(model, set, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->users(), 1);
  EXPECT_DOUBLE_EQ(r->metrics.at(1).hr, 0.0);
  EXPECT_DOUBLE_EQ(r->metrics.at(2).hr, 1.0);
  EXPECT_DOUBLE_EQ(r->metrics.at(2).ndcg, 1.0 / std::log2(3.0));
  EXPECT_DOUBLE_EQ(r->metrics.at(2).coverage, 2.0 / 6.0);

  options.filter_seen = false;  // ranking 0,1,2,3: target at rank 4
  r = Evaluate(model, set, options);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->metrics.at(2).hr, 0.0);
  options.ks = {4};
  r = Evaluate(model, set, options);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->metrics.at(4).mrr, 0.25);
}

TEST(EvaluatorTest, SeenTargetCannotBeHitWhenFiltered) {
  FakeModel model(4, /*flat=*/true);
  EvalSet set;
  const std::vector<ItemIndex> hist = {0, 1, 2};
  const std::vector<ItemIndex> target = {1};
  set.Add(0, hist, {}, target);
  EvalOptions options;
  options.ks = {10};  // K > catalogue: only item 3 is left
  auto r = Evaluate(model, set, options);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->metrics.at(10).hr, 0.0);
  EXPECT_DOUBLE_EQ(r->metrics.at(10).coverage, 1.0 / 4.0);
}

TEST(EvaluatorTest, EmptyAndUnknownTargets) {
  FakeModel model(5, /*flat=*/true);
  EvalSet set;
  const std::vector<ItemIndex> hist = {4};
  set.Add(0, hist, {}, std::vector<ItemIndex>{});
  set.Add(1, hist, {}, std::vector<ItemIndex>{kNoItem});
  set.Add(2, hist, {}, std::vector<ItemIndex>{0});
  set.unknown_targets = 1;
  set.unknown_input_items = 3;
  auto r = Evaluate(model, set);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->users(), 2);
  EXPECT_EQ(r->skipped(), 1);
  EXPECT_DOUBLE_EQ(r->metrics.at(10).hr, 0.5);
  auto j = nlohmann::json::parse(EvalResultToJson(*r));
  EXPECT_EQ(j["users"], 2);
  EXPECT_EQ(j["unknown_targets"], 1);
  EXPECT_EQ(j["unknown_input_items"], 3);
  for (const char* key : {"hr@10", "ndcg@10", "mrr@10", "recall@10", "coverage@10", "seconds", "skipped"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
}

TEST(EvaluatorTest, RejectsOutOfRangeIndicesAndBadOptions) {
  FakeModel model(3, false);
  EvalSet set;
  const std::vector<ItemIndex> hist = {5};
  set.Add(0, hist, {}, std::vector<ItemIndex>{0});
  EXPECT_EQ(Evaluate(model, set).status().code(), absl::StatusCode::kInvalidArgument);
  EvalSet ok;
  ok.Add(0, std::vector<ItemIndex>{1}, {}, std::vector<ItemIndex>{0});
  EvalOptions options;
  options.ks = {0};
  EXPECT_EQ(Evaluate(model, ok, options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EvaluatorTest, IdenticalForAnyThreadCountAndBatchSize) {
  const int32_t n = 300;
  FakeModel model(n, /*flat=*/false);
  EvalSet set;
  for (int c = 0; c < 700; ++c) {
    std::vector<ItemIndex> hist;
    for (int j = 0; j < 1 + c % 9; ++j) hist.push_back((c * 31 + j * 17) % n);
    std::vector<ItemIndex> targets = {(c * 13) % n};
    if (c % 5 == 0) targets.push_back((c * 7 + 1) % n);
    set.Add(c, hist, {}, targets);
  }
  EvalOptions base;
  base.ks = {5, 10, 20};
  base.threads = 1;
  base.batch_size = 256;
  auto ref = Evaluate(model, set, base);
  ASSERT_TRUE(ref.ok());
  EXPECT_GT(ref->metrics.at(20).hr, 0.0);  // the check below must compare something
  for (int threads : {1, 2, 4}) {
    for (int batch : {1, 7, 64, 1000}) {
      EvalOptions o = base;
      o.threads = threads;
      o.batch_size = batch;
      o.max_block_bytes = batch == 64 ? 3 * n * 4 : o.max_block_bytes;  // also force tiny blocks
      auto r = Evaluate(model, set, o);
      ASSERT_TRUE(r.ok());
      for (int k : base.ks) {
        EXPECT_EQ(r->metrics.at(k).hr, ref->metrics.at(k).hr) << threads << " " << batch;
        EXPECT_EQ(r->metrics.at(k).ndcg, ref->metrics.at(k).ndcg) << threads << " " << batch;
        EXPECT_EQ(r->metrics.at(k).mrr, ref->metrics.at(k).mrr);
        EXPECT_EQ(r->metrics.at(k).recall, ref->metrics.at(k).recall);
        EXPECT_EQ(r->metrics.at(k).coverage, ref->metrics.at(k).coverage);
      }
    }
  }
}

TEST(EvaluatorTest, RemapEvalSetDropsAndCountsUnknowns) {
  Vocabulary from = Vocabulary::FromExternals({10, 20, 30});
  Vocabulary to = Vocabulary::FromExternals({30, 10});
  EvalSet set;
  set.Add(0, std::vector<ItemIndex>{0, 1, 2}, {}, std::vector<ItemIndex>{1});
  set.Add(1, std::vector<ItemIndex>{2}, {}, std::vector<ItemIndex>{0});
  EvalSet out = RemapEvalSet(set, from, to);
  ASSERT_EQ(out.size(), 2);
  EXPECT_EQ(std::vector<ItemIndex>(out.input(0).items.begin(), out.input(0).items.end()),
            (std::vector<ItemIndex>{1, 0}));
  EXPECT_EQ(out.target(0)[0], kNoItem);
  EXPECT_EQ(out.target(1)[0], 1);
  EXPECT_EQ(out.unknown_input_items, 1);
  EXPECT_EQ(out.unknown_targets, 1);
}

// Reference values from an independent numpy computation (popularity order,
// ties by first appearance, seen items removed) on the 512 validation users.
TEST(EvaluatorTest, MostPopOnMl1mValidationMatchesIndependentComputation) {
  RECSYS_REQUIRE_DATA(dir);
  auto train = LoadDataset(dir + "/ml1m/train/input.txt", InputFormat::kSeq);
  ASSERT_TRUE(train.ok()) << train.status();
  auto model = MostPopModel::Train({}, *train);
  ASSERT_TRUE(model.ok());
  auto cases = ReadEvalSet(dir + "/ml1m/val/input.txt", dir + "/ml1m/val/output.txt", train->item_vocab());
  ASSERT_TRUE(cases.ok()) << cases.status();
  auto r = Evaluate(**model, *cases);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->users(), 512);
  EXPECT_NEAR(r->metrics.at(10).hr, 17.0 / 512.0, 1e-12);
  EXPECT_NEAR(r->metrics.at(10).ndcg, 0.017853390095911574, 1e-9);
}

TEST(EvaluatorTest, ParseCutoffs) {
  auto ks = ParseCutoffs("10,20, 5");
  ASSERT_TRUE(ks.ok());
  EXPECT_EQ(*ks, (std::vector<int>{10, 20, 5}));
  EXPECT_FALSE(ParseCutoffs("10,x").ok());
  EXPECT_FALSE(ParseCutoffs("0").ok());
  EXPECT_FALSE(ParseCutoffs("").ok());
}

}  // namespace
}  // namespace recsys

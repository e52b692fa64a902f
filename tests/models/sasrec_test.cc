// SASRec model: config parsing, save/load, learning planted sequential
// structure, and reproducibility across thread counts.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "models/sasrec_test_util.h"
#include "recsys/eval/evaluator.h"
#include "recsys/io/tensor_file.h"
#include "recsys/models/mostpop.h"
#include "recsys/models/sasrec.h"

namespace recsys {
namespace {

TEST(SasRecConfig, JsonRoundTripAndStrictness) {
  auto c = SasRecConfig::FromJson(R"({"dim": 32, "loss": "gbce", "num_negatives": 16, "gbce_t": 0.5,
                                      "negatives": "uniform", "negative_sharing": "position", "dropout": 0.5})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->encoder.dim, 32);
  EXPECT_EQ(c->loss, SasRecLoss::kGbce);
  EXPECT_EQ(c->negative_sharing, NegativeSharing::kPosition);
  auto again = SasRecConfig::FromJson(c->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToJson(), c->ToJson());

  auto unknown = SasRecConfig::FromJson(R"({"dimension": 32})");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("dimension"), std::string::npos);
  EXPECT_FALSE(SasRecConfig::FromJson(R"({"loss": "hinge"})").ok());
  EXPECT_FALSE(SasRecConfig::FromJson(R"({"dim": "64"})").ok());
  EXPECT_FALSE(SasRecConfig::FromJson(R"({"dim": 30, "num_heads": 4})").ok());
  EXPECT_FALSE(SasRecConfig::FromJson(R"({"dropout": 1.0})").ok());
  EXPECT_FALSE(SasRecConfig::FromJson(R"({"lr_decay": "exponential"})").ok());
  EXPECT_FALSE(SasRecConfig::FromJson(R"({"min_lr_ratio": -0.1})").ok());
  EXPECT_FALSE(SasRecConfig::FromJson(R"({"lr_decay": "cosine", "epochs": 0, "max_minutes": 5})").ok());
  auto sched = SasRecConfig::FromJson(R"({"lr_decay": "cosine", "min_lr_ratio": 0.05, "decay_embeddings": true})");
  ASSERT_TRUE(sched.ok()) << sched.status();
  EXPECT_EQ(SasRecConfig::FromJson(sched->ToJson())->ToJson(), sched->ToJson());
  EXPECT_FALSE(SasRecConfig::FromJson(R"({"loss": "ce", "logq": "standard"})").ok());
  EXPECT_FALSE(SasRecConfig::FromJson(R"({"loss": "bce", "negatives": "in_batch", "negative_sharing": "position"})").ok());
}

SasRecConfig TinyConfig() {
  SasRecConfig c;
  c.encoder.dim = 16;
  c.encoder.num_blocks = 1;
  c.encoder.max_len = 8;
  c.encoder.dropout = 0.1;
  c.batch_size = 32;
  c.num_shards = 4;
  c.epochs = 1;
  c.learning_rate = 5e-3;
  return c;
}

TEST(SasRecModel, SaveLoadRoundTrip) {
  auto data = testing::MakeMarkovData(40, 12, 30, 0.8, 1);
  SasRecConfig cfg = TinyConfig();
  cfg.tied_embeddings = false;
  TrainContext ctx;
  ctx.train = &data.train;
  ctx.threads = 1;
  auto model = SasRecModel::Train(cfg, ctx);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string path = (std::filesystem::temp_directory_path() / "sasrec_roundtrip_test.rsm").string();
  ASSERT_TRUE((*model)->Save(path).ok());
  auto loaded = LoadModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->type(), "sasrec");
  EXPECT_TRUE((*loaded)->has_embeddings());
  std::vector<HistoryView> hs;
  for (int64_t c = 0; c < 5; ++c) hs.push_back(data.test.input(c));
  hs.push_back(HistoryView{});  // empty history still scores
  MatrixF a(hs.size(), 30), b(hs.size(), 30);
  ASSERT_TRUE((*model)->ScoreAll(hs, a).ok());
  ASSERT_TRUE((*loaded)->ScoreAll(hs, b).ok());
  EXPECT_TRUE(a.allFinite());
  EXPECT_EQ(a, b);
  MatrixF wrong(2, 30);
  EXPECT_EQ((*model)->ScoreAll(hs, wrong).code(), absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
}

// Scores for a batch must not depend on the other histories in the batch
// (windows are trimmed to the longest history of a batch).
TEST(SasRecModel, ScoresIndependentOfBatchComposition) {
  auto data = testing::MakeMarkovData(20, 12, 30, 0.8, 2);
  SasRecConfig cfg = TinyConfig();
  auto model = SasRecModel::Create(cfg, data.train.item_vocab(), data.train.ItemCounts(), 5);
  ASSERT_TRUE(model.ok());
  std::vector<ItemIndex> short_h = {3, 4}, long_h = {1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 4};
  MatrixF alone(1, 30), mixed(2, 30);
  std::vector<HistoryView> one = {HistoryView{short_h, {}}};
  std::vector<HistoryView> two = {HistoryView{short_h, {}}, HistoryView{long_h, {}}};
  ASSERT_TRUE((*model)->ScoreAll(one, alone).ok());
  ASSERT_TRUE((*model)->ScoreAll(two, mixed).ok());
  EXPECT_LT((alone.row(0) - mixed.row(0)).cwiseAbs().maxCoeff(), 1e-5);
}

double HitRate(const SequentialModel& model, const EvalSet& set) {
  EvalOptions o;
  o.ks = {10};
  o.threads = 1;
  auto r = Evaluate(model, set, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r->metrics.at(10).hr;
}

// Planted structure: item i is followed by i + 1 with probability 0.8. A
// popularity ranking hits ≈ 10/N; SASRec must find the chain with every loss.
// The BCE family learns it too but needs more epochs on this tiny problem
// (64 negatives of 200 items: most of each step's gradient pushes negatives
// down), so it gets 150 epochs to CE's 20.
TEST(SasRecModel, LearnsMarkovChainFarAbovePopularity) {
  // 200 items: the true next item is rarely already in the (filtered) history.
  const int32_t kItems = 200;
  auto data = testing::MakeMarkovData(400, 16, kItems, 0.8, 3);
  auto pop = MostPopModel::Train(MostPopConfig{}, data.train);
  ASSERT_TRUE(pop.ok());
  const double hr_pop = HitRate(**pop, data.test);
  EXPECT_LT(hr_pop, 0.2);
  struct Case {
    const char* json;
    int epochs;
  };
  for (const Case& c : {Case{R"({"loss": "ce"})", 20},
                        Case{R"({"loss": "sampled_softmax", "num_negatives": 64})", 20},
                        Case{R"({"loss": "bce", "num_negatives": 64})", 150},
                        Case{R"({"loss": "gbce", "num_negatives": 64, "negative_sharing": "position"})", 150},
                        Case{R"({"loss": "gbce", "num_negatives": 64, "negative_sharing": "batch"})", 150}}) {
    auto parsed = SasRecConfig::FromJson(c.json);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    SasRecConfig cfg = TinyConfig();
    cfg.loss = parsed->loss;
    cfg.num_negatives = parsed->num_negatives;
    cfg.negative_sharing = parsed->negative_sharing;
    cfg.epochs = c.epochs;
    TrainContext ctx;
    ctx.train = &data.train;
    ctx.threads = 2;
    auto model = SasRecModel::Train(cfg, ctx);
    ASSERT_TRUE(model.ok()) << model.status();
    const double hr = HitRate(**model, data.test);
    EXPECT_GT(hr, 0.5) << c.json << ": popularity " << hr_pop;
    EXPECT_GT(hr, 4 * hr_pop) << c.json;
  }
}

TEST(SasRecModel, TrainingIsReproducibleAcrossThreadCounts) {
  auto data = testing::MakeMarkovData(64, 12, 30, 0.8, 4);
  for (const char* json : {R"({"loss": "ce"})", R"({"loss": "sampled_softmax", "negatives": "mixed",
                             "num_negatives": 8, "logq": "refined"})"}) {
    auto parsed = SasRecConfig::FromJson(json);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    SasRecConfig cfg = TinyConfig();
    cfg.loss = parsed->loss;
    cfg.negatives = parsed->negatives;
    cfg.num_negatives = parsed->num_negatives;
    cfg.logq = parsed->logq;
    cfg.epochs = 2;
    std::vector<std::vector<float>> params;
    for (int threads : {1, 2}) {
      TrainContext ctx;
      ctx.train = &data.train;
      ctx.threads = threads;
      ctx.seed = 9;
      auto model = SasRecModel::Train(cfg, ctx);
      ASSERT_TRUE(model.ok()) << model.status();
      const ParameterArena& a = (*model)->params();
      params.emplace_back(a.data(), a.data() + a.size());
    }
    EXPECT_EQ(params[0], params[1]) << json;
  }
}

}  // namespace
}  // namespace recsys

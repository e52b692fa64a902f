#include <cmath>
#include <filesystem>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/core/parallel.h"
#include "recsys/models/itemknn.h"
#include "recsys/models/model.h"
#include "recsys/models/mostpop.h"
#include "test_util.h"

namespace recsys {
namespace {

// Users (external ids 1..) with item sequences; timestamps = 10 × position + user.
SequenceDataset MakeDataset(const std::vector<std::vector<ExternalId>>& seqs) {
  EventLog log;
  for (size_t u = 0; u < seqs.size(); ++u) {
    for (size_t p = 0; p < seqs[u].size(); ++p) {
      log.Append(static_cast<ExternalId>(u + 1), seqs[u][p], static_cast<Timestamp>(10 * p + u));
    }
  }
  auto ds = SequenceDataset::FromEventLog(log);
  EXPECT_TRUE(ds.ok()) << ds.status();
  return *std::move(ds);
}

MatrixF Score(const SequentialModel& model, const std::vector<std::vector<ItemIndex>>& histories) {
  std::vector<HistoryView> views;
  for (const auto& h : histories) views.push_back({h, {}});
  MatrixF out(static_cast<int64_t>(histories.size()), model.num_items());
  EXPECT_TRUE(model.ScoreAll(views, out).ok());
  return out;
}

TEST(MostPopTest, CountsAndDecay) {
  // Items 10, 20, 30 → indices 0, 1, 2.
  SequenceDataset ds = MakeDataset({{10, 20, 10}, {10, 30}, {20}});
  auto model = MostPopModel::Train({}, ds);
  ASSERT_TRUE(model.ok());
  MatrixF s = Score(**model, {{}, {0, 1}});
  EXPECT_EQ(s(0, 0), 3.0f);
  EXPECT_EQ(s(0, 1), 2.0f);
  EXPECT_EQ(s(0, 2), 1.0f);
  EXPECT_EQ(s.row(1), s.row(0));

  // Half-life 10: timestamps 10p+u: item 10 at t = 0, 20, 1; item 20 at 10, 2;
  // item 30 at 11; t_max = 20.
  MostPopConfig c;
  c.half_life = 10.0;
  auto decayed = MostPopModel::Train(c, ds);
  ASSERT_TRUE(decayed.ok());
  MatrixF d = Score(**decayed, {{}});
  auto w = [](double t) { return std::exp2(-(20.0 - t) / 10.0); };
  EXPECT_NEAR(d(0, 0), w(0) + w(20) + w(1), 1e-6);
  EXPECT_NEAR(d(0, 1), w(10) + w(2), 1e-6);
  EXPECT_NEAR(d(0, 2), w(11), 1e-6);
}

TEST(MostPopTest, ConfigParsing) {
  EXPECT_TRUE(MostPopConfig::FromJson("{}").ok());
  EXPECT_EQ(MostPopConfig::FromJson(R"({"half_life": 5})")->half_life, 5.0);
  auto unknown = MostPopConfig::FromJson(R"({"halflife": 5})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(std::string(unknown.status().message()).find("halflife"), std::string::npos);
  EXPECT_FALSE(MostPopConfig::FromJson(R"({"half_life": "5"})").ok());
  EXPECT_FALSE(MostPopConfig::FromJson(R"({"half_life": -1})").ok());
  EXPECT_FALSE(MostPopConfig::FromJson("[1]").ok());
}

TEST(ItemKnnTest, NeighboursOfTinyCase) {
  // Items 1, 2, 3 → indices 0, 1, 2; counts 2, 3, 2.
  SequenceDataset ds = MakeDataset({{1, 2, 3}, {1, 2}, {2, 3}});
  ItemKnnConfig c;
  c.window = 0;  // whole history
  c.popularity_weight = 0.0;
  auto model = ItemKnnModel::Train(c, ds);
  ASSERT_TRUE(model.ok());
  const float s12 = static_cast<float>(2.0 / std::sqrt(6.0));  // c=2, n=2,3
  {
    auto [ids, sims] = (*model)->Neighbors(0);
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_EQ(ids[0], 1);
    EXPECT_FLOAT_EQ(sims[0], s12);
    EXPECT_EQ(ids[1], 2);
    EXPECT_FLOAT_EQ(sims[1], 0.5f);  // c=1, n=2,2
  }
  {
    auto [ids, sims] = (*model)->Neighbors(1);  // tie 0 and 2 → smaller first
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_EQ(ids[0], 0);
    EXPECT_EQ(ids[1], 2);
    EXPECT_FLOAT_EQ(sims[1], s12);
  }
  MatrixF s = Score(**model, {{0}, {0, 2}});
  EXPECT_FLOAT_EQ(s(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(s(0, 1), s12);
  EXPECT_FLOAT_EQ(s(0, 2), 0.5f);
  EXPECT_FLOAT_EQ(s(1, 1), 2 * s12);

  // Window 1: items 1 and 3 never adjacent; top-1 keeps one neighbour.
  c.window = 1;
  c.neighbors = 1;
  auto w1 = ItemKnnModel::Train(c, ds);
  ASSERT_TRUE(w1.ok());
  auto [ids, sims] = (*w1)->Neighbors(0);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ((*w1)->Neighbors(2).first.size(), 1u);
  EXPECT_EQ((*w1)->Neighbors(2).first[0], 1);
}

TEST(ItemKnnTest, HistoryDecayAndLength) {
  SequenceDataset ds = MakeDataset({{1, 2, 3}, {1, 2}, {2, 3}});
  ItemKnnConfig c;
  c.window = 0;
  c.popularity_weight = 0.0;
  c.history_half_life = 1.0;
  auto model = ItemKnnModel::Train(c, ds);
  ASSERT_TRUE(model.ok());
  // History [0, 2]: item 2 weighs 1, item 0 weighs 0.5.
  MatrixF s = Score(**model, {{0, 2}});
  const float s12 = static_cast<float>(2.0 / std::sqrt(6.0));
  EXPECT_FLOAT_EQ(s(0, 1), 0.5f * s12 + s12);
  EXPECT_FLOAT_EQ(s(0, 0), 0.5f);        // from item 2 (weight 1), sim(3,1) = 0.5
  EXPECT_FLOAT_EQ(s(0, 2), 0.5f * 0.5f);  // from item 0 (weight 0.5)
  c.history_length = 1;
  auto last_only = ItemKnnModel::Train(c, ds);
  MatrixF t = Score(**last_only, {{0, 2}});
  EXPECT_FLOAT_EQ(t(0, 2), 0.0f);
}

TEST(ItemKnnTest, ConfigAndThreadIndependence) {
  EXPECT_FALSE(ItemKnnConfig::FromJson(R"({"neighbours": 5})").ok());
  EXPECT_FALSE(ItemKnnConfig::FromJson(R"({"neighbors": 0})").ok());
  EXPECT_FALSE(ItemKnnConfig::FromJson(R"({"neighbors": 1.5})").ok());
  EXPECT_EQ(ItemKnnConfig::FromJson(R"({"window": 3})")->window, 3);
  std::vector<std::vector<ExternalId>> seqs;
  for (int u = 0; u < 60; ++u) {
    std::vector<ExternalId> s;
    for (int j = 0; j < 5 + u % 7; ++j) s.push_back((u * 7 + j * j * 3) % 41);
    seqs.push_back(s);
  }
  SequenceDataset ds = MakeDataset(seqs);
  ItemKnnConfig c;
  c.neighbors = 5;
  std::unique_ptr<ItemKnnModel> one, two;
  {
    ThreadLimit limit(1);
    one = *ItemKnnModel::Train(c, ds);
  }
  {
    ThreadLimit limit(2);
    two = *ItemKnnModel::Train(c, ds);
  }
  int nonempty = 0;
  for (ItemIndex i = 0; i < ds.num_items(); ++i) {
    auto a = one->Neighbors(i);
    auto b = two->Neighbors(i);
    ASSERT_EQ(a.first.size(), b.first.size());
    nonempty += !a.first.empty();
    for (size_t k = 0; k < a.first.size(); ++k) {
      EXPECT_EQ(a.first[k], b.first[k]);
      EXPECT_EQ(a.second[k], b.second[k]);
    }
  }
  EXPECT_GT(nonempty, 10);
}

TEST(RegistryTest, TrainSaveLoadRoundTrip) {
  SequenceDataset ds = MakeDataset({{1, 2, 3}, {1, 2}, {2, 3, 4}, {4, 1}});
  TrainContext ctx;
  ctx.train = &ds;
  const std::string dir = testing::TempDir("registry");
  const std::vector<std::vector<ItemIndex>> hist = {{0}, {1, 2}, {}};
  for (const std::string type : {"mostpop", "itemknn"}) {
    auto model = TrainModel(type, "{}", ctx);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ((*model)->type(), type);
    const std::string path = dir + "/" + type + ".rsm";
    ASSERT_TRUE((*model)->Save(path).ok());
    auto loaded = LoadModel(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->type(), type);
    EXPECT_EQ((*loaded)->config_json(), (*model)->config_json());
    EXPECT_EQ((*loaded)->item_vocab().externals(), (*model)->item_vocab().externals());
    MatrixF a = Score(**model, hist);
    MatrixF b = Score(**loaded, hist);
    EXPECT_EQ(a, b);
  }
  EXPECT_EQ(TrainModel("nope", "{}", ctx).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TrainModel("itemknn", R"({"bogus": 1})", ctx).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<std::string> types = ModelTypes();
  EXPECT_NE(std::find(types.begin(), types.end(), "itemknn"), types.end());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace recsys

// Tests of the `longshort` model: config parsing, fast inference path ==
// training path, ScoreCandidates == ScoreAll, save → load → identical scores,
// content-initialised cold items, thread-count independence and the planted
// long-term-interest structure that a short-window model cannot recover.
#include "recsys/models/longshort.h"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/eval/evaluator.h"
#include "recsys/io/tensor_file.h"
#include "recsys/models/model.h"
#include "test_util.h"

namespace recsys {
namespace {

Vocabulary Identity(int32_t n) {
  std::vector<ExternalId> ids(static_cast<size_t>(n));
  std::iota(ids.begin(), ids.end(), ExternalId{0});
  return Vocabulary::FromExternals(std::move(ids));
}

SequenceDataset MakeDataset(const std::vector<std::vector<ItemIndex>>& seqs, int32_t num_items) {
  SequenceDataset::Columns c;
  c.offsets.push_back(0);
  for (const auto& s : seqs) {
    for (size_t p = 0; p < s.size(); ++p) {
      c.items.push_back(s[p]);
      c.timestamps.push_back(static_cast<Timestamp>(1000 + 60 * p));
      c.types.push_back(EventType{});
      c.weights.push_back(1.0f);
      c.organic.push_back(1);
    }
    c.offsets.push_back(static_cast<int64_t>(c.items.size()));
  }
  auto ds = SequenceDataset::FromColumns(std::move(c), Identity(static_cast<int32_t>(seqs.size())),
                                         Identity(num_items));
  EXPECT_TRUE(ds.ok()) << ds.status();
  return *std::move(ds);
}

LongShortConfig SmallConfig() {
  LongShortConfig c;
  c.dim = 16;
  c.num_blocks = 1;
  c.num_heads = 2;
  c.max_len = 4;
  c.dropout = 0.0;
  c.num_interests = 3;
  c.long_heads = 2;
  c.max_history = 64;
  c.recency_buckets = 8;
  c.epochs = 1;
  c.log_losses = false;
  return c;
}

std::vector<std::vector<ItemIndex>> RandomHistories(int n, int32_t items, uint64_t seed) {
  Rng rng(seed, 0);
  std::vector<std::vector<ItemIndex>> out(static_cast<size_t>(n));
  for (int u = 0; u < n; ++u) {
    const int len = u == 0 ? 0 : static_cast<int>(rng.UniformInt(40));  // includes empty and > S
    for (int p = 0; p < len; ++p) out[u].push_back(static_cast<ItemIndex>(rng.UniformInt(items)));
  }
  return out;
}

// RandomHistories' sequences long enough to train on (≥ 2 events).
SequenceDataset TrainingSet(int n, int32_t items, uint64_t seed) {
  std::vector<std::vector<ItemIndex>> train;
  for (auto& s : RandomHistories(n, items, seed)) {
    if (s.size() >= 2) train.push_back(std::move(s));
  }
  return MakeDataset(train, items);
}

MatrixF ScoreAll(const SequentialModel& model, const std::vector<std::vector<ItemIndex>>& hist) {
  std::vector<HistoryView> views;
  for (const auto& h : hist) views.push_back({h, {}});
  MatrixF out(static_cast<Eigen::Index>(hist.size()), model.num_items());
  const absl::Status st = model.ScoreAll(views, out);
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

TEST(LongShortConfigTest, JsonRoundTripAndErrors) {
  auto c = LongShortConfig::FromJson(R"({"dim": 32, "num_interests": 2, "long_loss": "sampled", "logq": "refined"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dim, 32);
  auto again = LongShortConfig::FromJson(c->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToJson(), c->ToJson());
  EXPECT_EQ(LongShortConfig::FromJson(R"({"bogus": 1})").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LongShortConfig::FromJson(R"({"dim": "x"})").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LongShortConfig::FromJson(R"({"short_loss": "hinge"})").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LongShortConfig::FromJson(R"({"dim": 10, "num_heads": 3})").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LongShortConfig::FromJson(R"({"short_loss": "sampled", "sampler": "inbatch"})").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LongShortConfig::FromJson(R"({"tau": 0})").status().code(), absl::StatusCode::kInvalidArgument);
  // Learning-rate schedule and embedding decay.
  auto sched = LongShortConfig::FromJson(
      R"({"lr_decay": "cosine", "min_lr_ratio": 0.1, "warmup_steps": 5, "decay_embeddings": true})");
  ASSERT_TRUE(sched.ok()) << sched.status();
  EXPECT_EQ(sched->lr_decay, "cosine");
  EXPECT_TRUE(sched->decay_embeddings);
  EXPECT_EQ(LongShortConfig::FromJson(sched->ToJson())->ToJson(), sched->ToJson());
  EXPECT_FALSE(LongShortConfig::FromJson(R"({"lr_decay": "step"})").ok());
  EXPECT_FALSE(LongShortConfig::FromJson(R"({"min_lr_ratio": 1.5})").ok());
  EXPECT_FALSE(LongShortConfig::FromJson(R"({"warmup_steps": -1})").ok());
  // A decay needs a step budget (epochs or max_steps), not only minutes.
  EXPECT_FALSE(LongShortConfig::FromJson(R"({"lr_decay": "linear", "epochs": 0, "max_minutes": 1})").ok());
  EXPECT_TRUE(LongShortConfig::FromJson(R"({"lr_decay": "linear", "epochs": 0, "max_steps": 10})").ok());
}

// The schedule and embedding-decay fields reach the optimizer: a linear decay
// with floor 1 is the constant schedule (bit-identical), with floor 0 it is
// not; decay_embeddings changes a model trained with weight decay.
TEST(LongShortModelTest, ScheduleAndEmbeddingDecayReachTheOptimizer) {
  SequenceDataset ds = TrainingSet(50, 30, 23);
  const auto hist = RandomHistories(5, 30, 4);
  auto scores = [&](const LongShortConfig& c) {
    TrainContext ctx;
    ctx.train = &ds;
    auto model = LongShortModel::Train(c, ctx);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? ScoreAll(**model, hist) : MatrixF();
  };
  LongShortConfig c = SmallConfig();
  c.dim = 8;
  c.epochs = 3;
  c.batch_size = 8;
  const MatrixF constant = scores(c);
  c.lr_decay = "linear";
  c.min_lr_ratio = 1.0;
  EXPECT_EQ(scores(c), constant);
  c.min_lr_ratio = 0.0;
  EXPECT_GT((scores(c) - constant).cwiseAbs().maxCoeff(), 1e-4f);
  c.lr_decay = "constant";
  c.weight_decay = 0.5;
  const MatrixF decayed = scores(c);
  c.decay_embeddings = true;
  EXPECT_GT((scores(c) - decayed).cwiseAbs().maxCoeff(), 1e-4f);
}

TEST(LongShortModelTest, FastInferencePathEqualsTrainingPath) {
  for (bool by_time : {false, true}) {
    LongShortConfig c = SmallConfig();
    c.recency_by_time = by_time;
    c.recency_time_unit = 60;
    auto model = LongShortModel::Create(c, Identity(50), nullptr, 3);
    ASSERT_TRUE(model.ok()) << model.status();
    const auto hist = RandomHistories(12, 50, 4);
    std::vector<std::vector<Timestamp>> ts(hist.size());
    std::vector<HistoryView> views;
    for (size_t u = 0; u < hist.size(); ++u) {
      for (size_t p = 0; p < hist[u].size(); ++p) ts[u].push_back(static_cast<Timestamp>(p * p * 37));
      views.push_back({hist[u], ts[u]});
    }
    MatrixF fast, ref;
    (*model)->EncodeUsers(views, &fast);
    (*model)->EncodeUsersReference(views, &ref);
    ASSERT_EQ(fast.rows(), 12 * 4);
    ASSERT_EQ(fast.cols(), 16);
    EXPECT_LT((fast - ref).cwiseAbs().maxCoeff(), 1e-5f * std::max(1.0f, ref.cwiseAbs().maxCoeff()));
    // The K long-term interests differ from each other and from u_s.
    EXPECT_GT((fast.row(4 + 1) - fast.row(4 + 2)).norm(), 1e-3f);
    // Single-user form and candidate scoring agree with ScoreAll.
    const MatrixF one = (*model)->EncodeUser(views[3]);
    EXPECT_LT((one - fast.middleRows(3 * 4, 4)).cwiseAbs().maxCoeff(), 1e-6f);
    MatrixF all(static_cast<Eigen::Index>(views.size()), 50);
    ASSERT_TRUE((*model)->ScoreAll(views, all).ok());
    const std::vector<ItemIndex> cand = {7, 0, 49, 7};
    auto scores = (*model)->ScoreCandidates(views[3], cand);
    ASSERT_TRUE(scores.ok()) << scores.status();
    for (size_t i = 0; i < cand.size(); ++i) EXPECT_NEAR((*scores)[i], all(3, cand[i]), 1e-5f);
    EXPECT_FALSE((*model)->ScoreCandidates(views[3], std::vector<ItemIndex>{50}).ok());
  }
}

TEST(LongShortModelTest, ScoreAllRejectsBadShapesAndItems) {
  auto model = LongShortModel::Create(SmallConfig(), Identity(10));
  ASSERT_TRUE(model.ok());
  std::vector<ItemIndex> h = {1, 2, 11};
  std::vector<HistoryView> views = {{h, {}}};
  MatrixF out(1, 10);
  EXPECT_EQ((*model)->ScoreAll(views, out).code(), absl::StatusCode::kInvalidArgument);
  MatrixF wrong(2, 10);
  h.pop_back();
  EXPECT_EQ((*model)->ScoreAll(views, wrong).code(), absl::StatusCode::kInvalidArgument);
}

TEST(LongShortModelTest, TrainSaveLoadIdenticalScoresThroughRegistry) {
  SequenceDataset ds = TrainingSet(40, 30, 9);
  TrainContext ctx;
  ctx.train = &ds;
  ctx.threads = 1;
  for (const std::string json :
       {std::string(R"({"dim": 8, "max_len": 5, "num_interests": 2, "epochs": 2, "batch_size": 8, "log_losses": false})"),
        std::string(R"({"dim": 8, "max_len": 5, "num_interests": 2, "epochs": 2, "batch_size": 8, "log_losses": false,)"
                    R"( "short_loss": "gbce", "long_loss": "sampled", "logq": "refined", "num_negatives": 5})")}) {
    auto model = TrainModel("longshort", json, ctx);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ((*model)->type(), "longshort");
    const std::string dir = testing::TempDir("longshort_io");
    const std::string path = dir + "/m.rsm";
    ASSERT_TRUE((*model)->Save(path).ok());
    auto loaded = LoadModel(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->config_json(), (*model)->config_json());
    const auto hist = RandomHistories(6, 30, 2);
    const MatrixF a = ScoreAll(**model, hist);
    const MatrixF b = ScoreAll(**loaded, hist);
    EXPECT_TRUE(a.allFinite());
    EXPECT_EQ(a, b);
    std::filesystem::remove_all(dir);
  }
}

TEST(LongShortModelTest, TrainingIsIndependentOfThreadCount) {
  SequenceDataset ds = TrainingSet(50, 30, 21);
  LongShortConfig c = SmallConfig();
  c.dim = 8;
  c.dropout = 0.1;
  c.epochs = 2;
  c.batch_size = 16;
  const auto hist = RandomHistories(5, 30, 3);
  for (int long_stride : {0, 1}) {  // classic and dense long-term targets
    c.long_stride = long_stride;
    MatrixF first;
    for (int threads : {1, 2}) {
      TrainContext ctx;
      ctx.train = &ds;
      ctx.threads = threads;
      auto model = LongShortModel::Train(c, ctx);
      ASSERT_TRUE(model.ok()) << model.status();
      const MatrixF s = ScoreAll(**model, hist);
      EXPECT_TRUE(s.allFinite());
      if (threads == 1) {
        first = s;
      } else {
        EXPECT_EQ(first, s) << "long_stride " << long_stride;
      }
    }
  }
}

TEST(LongShortModelTest, TrainingWindowsTileEachSequence) {
  // Lengths 2, 9, 10 with S = 4: windows end at {1}, {8, 4}, {9, 5, 1}.
  std::vector<std::vector<ItemIndex>> seqs = {{1, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}};
  SequenceDataset ds = MakeDataset(seqs, 10);
  auto windows = [&](int stride, int max_per_user) {
    LongShortConfig c = SmallConfig();
    c.window_stride = stride;
    c.max_windows_per_user = max_per_user;
    c.max_steps = 1;
    TrainContext ctx;
    ctx.train = &ds;
    auto model = LongShortModel::Train(c, ctx);
    EXPECT_TRUE(model.ok()) << model.status();
    std::vector<int64_t> ids(static_cast<size_t>((*model)->num_examples()));
    std::iota(ids.begin(), ids.end(), int64_t{0});
    return std::pair<int64_t, int64_t>((*model)->num_examples(), (*model)->NumEvents(ids));
  };
  // Tiling (stride S): every event but each user's first is a short-term target once.
  EXPECT_EQ(windows(0, 0), std::make_pair(int64_t{6}, int64_t{1 + 8 + 9}));
  EXPECT_EQ(windows(4, 0), windows(0, 0));
  // Stride 1: one window per target position (overlapping windows).
  EXPECT_EQ(windows(1, 0).first, 1 + 8 + 9);
  // One window per user: the last one (the pre-window behaviour).
  EXPECT_EQ(windows(0, 1), std::make_pair(int64_t{3}, int64_t{1 + 4 + 4}));
  EXPECT_EQ(windows(0, 2).first, 5);
  EXPECT_FALSE(LongShortConfig::FromJson(R"({"window_stride": -1})").ok());
  EXPECT_FALSE(LongShortConfig::FromJson(R"({"max_windows_per_user": -2})").ok());
  EXPECT_FALSE(LongShortConfig::FromJson(R"({"long_stride": -1})").ok());
}

// Dense long-term targets: one long row per g-th window slot holding an event.
TEST(LongShortModelTest, DenseLongRowsPerWindow) {
  EXPECT_EQ(DenseLongRows(9, 4, 1), 4);
  EXPECT_EQ(DenseLongRows(2, 4, 1), 2);
  EXPECT_EQ(DenseLongRows(9, 4, 2), 2);   // slots 3, 1
  EXPECT_EQ(DenseLongRows(9, 4, 3), 2);   // slots 3, 0
  EXPECT_EQ(DenseLongRows(9, 4, 4), 1);
  EXPECT_EQ(DenseLongRows(1, 4, 2), 1);
  // The batch: a 6-event prefix, S = 4, max_history 3, stride 1 → slots 0..3
  // hold events 2..5; slot p's history is events [max(0, p + 3 − 3 + 1), p + 3).
  LongShortNetConfig cfg;
  cfg.encoder.max_len = 4;
  cfg.max_history = 3;
  cfg.recency_buckets = 8;
  LongShortBatch batch;
  const std::vector<ItemIndex> prefix = {10, 11, 12, 13, 14, 15};
  AppendDenseExample(prefix, {}, 16, cfg, 1, &batch);
  EXPECT_EQ(batch.long_rows, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(batch.long_targets, (std::vector<int32_t>{13, 14, 15, 16}));
  // Memory starts at the first row's first history event: event 0 (history end 3).
  EXPECT_EQ(batch.long_items, (std::vector<int32_t>{10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(batch.long_lo, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(batch.long_hi, (std::vector<int64_t>{3, 4, 5, 6}));
  // Recency by position from each row's own last event: most recent = bucket 1.
  EXPECT_EQ(batch.long_bucket_offsets, (std::vector<int64_t>{0, 3, 6, 9, 12}));
  for (int r = 0; r < 4; ++r) EXPECT_EQ(batch.long_buckets[static_cast<size_t>(3 * r + 2)], 1);
}

TEST(LongShortModelTest, ContentInitialisedColdItemsGetScores) {
  // 40 items; items 30..39 never occur in training. Content = one-hot of the
  // item's group (4 groups of 10), so cold items share their group's content.
  const int32_t n = 40;
  MatrixF content = MatrixF::Zero(n, 4);
  for (int32_t i = 0; i < n; ++i) content(i, i % 4) = 1.0f;
  Rng rng(5, 0);
  std::vector<std::vector<ItemIndex>> train;
  for (int u = 0; u < 200; ++u) {
    const int g = u % 4;
    std::vector<ItemIndex> s;
    for (int p = 0; p < 8; ++p) s.push_back(static_cast<ItemIndex>(4 * rng.UniformInt(7) + g));  // items < 28
    train.push_back(s);
  }
  SequenceDataset ds = MakeDataset(train, n);
  LongShortConfig c = SmallConfig();
  c.epochs = 15;
  c.batch_size = 32;
  c.learning_rate = 5e-3;
  TrainContext ctx;
  ctx.train = &ds;
  auto model = LongShortModel::Train(c, ctx, &content);
  ASSERT_TRUE(model.ok()) << model.status();
  // A group-1 user: cold items of group 1 (33, 37) outscore cold items of other groups.
  const std::vector<std::vector<ItemIndex>> hist = {{1, 5, 9, 13, 17, 21}};
  const MatrixF s = ScoreAll(**model, hist);
  ASSERT_TRUE(s.allFinite());
  const float same = std::min(s(0, 33), s(0, 37));
  const float other = std::max({s(0, 32), s(0, 34), s(0, 35), s(0, 36), s(0, 38), s(0, 39)});
  EXPECT_GT(same, other);
  // Deltas respect the norm cap.
  const ParameterArena& arena = (*model)->params();
  const ConstMapMatrixF delta = arena.Value(*arena.Find("item_delta"));
  EXPECT_LE(delta.rowwise().norm().maxCoeff(), c.delta_max_norm + 1e-5);
  // Save → load keeps the content matrix.
  const std::string dir = testing::TempDir("longshort_content");
  ASSERT_TRUE((*model)->Save(dir + "/m.rsm").ok());
  auto loaded = LoadModel(dir + "/m.rsm");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(ScoreAll(**loaded, hist), s);
  std::filesystem::remove_all(dir);
}

// Planted structure: every user has a long-term cluster A (the first 20
// events) and then a session of 8 events in another cluster B; the next item
// returns to A. A short window of S = 4 sees only B, so a short-term model
// (the same network with K = 0, i.e. SASRec on the window) cannot tell A;
// the long-term encoder reads the whole history and can.
struct Planted {
  SequenceDataset train;
  EvalSet test;
};

Planted MakePlanted() {
  constexpr int kClusters = 20, kPerCluster = 10, kTrainUsers = 1500, kTestUsers = 300;
  Rng rng(77, 0);
  auto draw = [&](int cluster) { return static_cast<ItemIndex>(cluster * kPerCluster + rng.UniformInt(kPerCluster)); };
  auto user = [&](std::vector<ItemIndex>* seq) {
    const int a = static_cast<int>(rng.UniformInt(kClusters));
    int b = static_cast<int>(rng.UniformInt(kClusters - 1));
    if (b >= a) ++b;
    for (int p = 0; p < 20; ++p) seq->push_back(draw(a));
    for (int p = 0; p < 8; ++p) seq->push_back(draw(b));
    return draw(a);
  };
  std::vector<std::vector<ItemIndex>> train;
  for (int u = 0; u < kTrainUsers; ++u) {
    std::vector<ItemIndex> s;
    const ItemIndex target = user(&s);
    s.push_back(target);
    train.push_back(std::move(s));
  }
  Planted out{MakeDataset(train, kClusters * kPerCluster), {}};
  for (int u = 0; u < kTestUsers; ++u) {
    std::vector<ItemIndex> h;
    const ItemIndex target = user(&h);
    out.test.Add(u, h, {}, std::span<const ItemIndex>(&target, 1));
  }
  return out;
}

TEST(LongShortModelTest, RecoversLongTermInterestThatShortWindowCannot) {
  const Planted data = MakePlanted();
  // The generator's sanity: target cluster absent from the window, present in history.
  ASSERT_EQ(data.train.length(0), 29);
  LongShortConfig c;
  c.dim = 32;
  c.num_blocks = 1;
  c.num_heads = 1;
  c.max_len = 4;
  c.dropout = 0.0;
  c.num_interests = 2;
  c.max_history = 64;
  c.recency_buckets = 8;
  c.epochs = 12;
  c.batch_size = 64;
  c.learning_rate = 3e-3;
  c.max_windows_per_user = 1;  // the planted structure is at each user's last position
  c.log_losses = false;
  EvalOptions eo;
  eo.ks = {10};
  eo.filter_seen = false;  // the target's cluster is (by construction) in the history
  double hr[2] = {0, 0};
  for (int k : {0, 2}) {
    LongShortConfig ck = c;
    ck.num_interests = k;
    TrainContext ctx;
    ctx.train = &data.train;
    ctx.seed = 5;
    auto model = LongShortModel::Train(ck, ctx);
    ASSERT_TRUE(model.ok()) << model.status();
    auto r = Evaluate(**model, data.test, eo);
    ASSERT_TRUE(r.ok()) << r.status();
    hr[k > 0] = r->metrics.at(10).hr;
  }
  std::printf("planted HR@10: longshort %.4f, short-window only (K = 0) %.4f\n", hr[1], hr[0]);
  ::testing::Test::RecordProperty("hr10_longshort", std::to_string(hr[1]));
  ::testing::Test::RecordProperty("hr10_short_only", std::to_string(hr[0]));
  // Chance for the short model is ≈ 10/190 ≈ 0.05; the long-term cluster has 10
  // items, so a perfect long-term model reaches 1.
  EXPECT_LT(hr[0], 0.2) << "short-window model should not see cluster A";
  EXPECT_GT(hr[1] - hr[0], 0.4) << "longshort HR@10 " << hr[1] << " vs short-only " << hr[0];
}

}  // namespace
}  // namespace recsys

// Recommender facade: correctness against the model's full-catalogue scores,
// filters, provenance, re-rankers, limits, invalid requests, latency budget,
// model swap lifetime.
#include "recsys/recommender.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "gtest/gtest.h"
#include "recommender_test_util.h"
#include "recsys/core/topk.h"

namespace recsys {
namespace {

using testing::kFirstExternal;
using testing::MakePipeline;

constexpr int32_t kItems = 300;

std::unique_ptr<Recommender> MakeRec(Pipeline p) {
  auto rec = Recommender::Create({}, std::move(p));
  EXPECT_TRUE(rec.ok()) << rec.status();
  return std::move(*rec);
}

std::vector<ItemIndex> Dense(const Vocabulary& v, const std::vector<ExternalId>& ids) {
  std::vector<ItemIndex> out;
  for (ExternalId id : ids) out.push_back(v.Find(id));
  return out;
}

TEST(RecommenderTest, ExhaustiveCandidatesEqualFullCatalogueRanking) {
  Pipeline p = MakePipeline(kItems, 7, "A");
  auto model = p.model;
  auto rec = MakeRec(std::move(p));
  Rng rng(11, 0);
  for (int trial = 0; trial < 5; ++trial) {
    RecommendRequest req;
    req.history = testing::RandomHistory(kItems, 3 + 7 * trial, rng);
    req.options.k = 15;
    req.options.ann_candidates = kItems;  // exact index + every item: stage 1 loses nothing
    auto r = rec->Recommend(req);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->items.size(), 15u);
    // Reference: ScoreAll over the whole catalogue, seen items removed.
    const std::vector<ItemIndex> hist = Dense(model->item_vocab(), req.history);
    MatrixF all(1, kItems);
    HistoryView view{hist, {}};
    ASSERT_TRUE(model->ScoreAll({&view, 1}, all).ok());
    const std::set<ItemIndex> seen(hist.begin(), hist.end());
    TopK<int32_t> top(15);
    for (int32_t i = 0; i < kItems; ++i) {
      if (!seen.count(i)) top.Push(all(0, i), i);
    }
    const auto best = top.Extract();
    for (size_t j = 0; j < best.size(); ++j) {
      EXPECT_EQ(r->items[j].index, best[j].id) << "trial " << trial << " rank " << j;
      EXPECT_NEAR(r->items[j].score, best[j].score, 1e-4f);
      EXPECT_EQ(r->items[j].item, model->item_vocab().External(best[j].id));
    }
  }
}

TEST(RecommenderTest, ProvenanceAndFilters) {
  auto rec = MakeRec(MakePipeline(kItems, 3, "A"));
  RecommendRequest req;
  req.history = {kFirstExternal, kFirstExternal + 7, kFirstExternal + 14};
  req.options.k = 40;
  req.options.ann_candidates = 30;
  req.options.popularity_candidates = 10;
  req.options.exclude = {kFirstExternal + 21, kFirstExternal + 28, 5 /* unknown: ignored */};
  auto r = rec->Recommend(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->pipeline, "A");
  std::set<ExternalId> got;
  bool any_pop = false;
  for (const RecommendedItem& it : r->items) {
    EXPECT_TRUE(got.insert(it.item).second) << "duplicate " << it.item;
    for (ExternalId bad : {kFirstExternal, kFirstExternal + 7, kFirstExternal + 14, kFirstExternal + 21,
                           kFirstExternal + 28}) {
      EXPECT_NE(it.item, bad);
    }
    ASSERT_FALSE(it.sources.empty());
    for (const CandidateSource& s : it.sources) {
      ASSERT_TRUE(s.generator == 0 || s.generator == 2) << s.generator;
      if (s.generator == 0) {
        EXPECT_GE(s.query, 0);
        EXPECT_LE(s.query, 2);  // K + 1 = 3 interest vectors
      }
      any_pop |= s.generator == 2;
    }
  }
  EXPECT_TRUE(any_pop);
  EXPECT_STREQ(GeneratorName(0), "ann");
  EXPECT_STREQ(GeneratorName(2), "popularity");
  // Scores are non-increasing.
  for (size_t j = 1; j < r->items.size(); ++j) EXPECT_GE(r->items[j - 1].score, r->items[j].score);

  // Allow list: only those come back (the seen one among them is still filtered).
  req.options.exclude.clear();
  req.options.allow = std::vector<ExternalId>{kFirstExternal, kFirstExternal + 70, kFirstExternal + 77, 99};
  req.options.ann_candidates = kItems;
  r = rec->Recommend(req);
  ASSERT_TRUE(r.ok()) << r.status();
  std::set<ExternalId> allowed;
  for (const auto& it : r->items) allowed.insert(it.item);
  EXPECT_EQ(allowed, (std::set<ExternalId>{kFirstExternal + 70, kFirstExternal + 77}));
}

TEST(RecommenderTest, RerankersAndBudget) {
  auto rec = MakeRec(MakePipeline(kItems, 5, "A"));
  RecommendRequest req;
  req.history = {kFirstExternal + 70, kFirstExternal + 700};
  req.options.k = 12;
  req.options.reranker = RerankerKind::kMmr;
  req.options.mmr.lambda = 0.3;
  auto mmr = rec->Recommend(req);
  ASSERT_TRUE(mmr.ok()) << mmr.status();
  EXPECT_EQ(mmr->items.size(), 12u);
  req.options.reranker = RerankerKind::kQuotas;
  req.options.quotas = {{0, 0.5}, {1, 0.25}};
  auto q = rec->Recommend(req);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_EQ(q->items.size(), 12u);
  int cat0 = 0;
  for (const auto& it : q->items) cat0 += it.index % 3 == 0;
  EXPECT_GE(cat0, 6);
  EXPECT_EQ(q->quota_report.size(), 2u);
  // A budget nobody meets: ranking and re-ranking are skipped, stage-1 order remains.
  req.options.latency_budget_ms = 1e-9;
  auto b = rec->Recommend(req);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->skipped_stages, (std::vector<std::string>{"rank", "rerank"}));
  EXPECT_EQ(b->items.size(), 12u);
}

TEST(RecommenderTest, InvalidRequestsAreErrors) {
  auto rec = MakeRec(MakePipeline(50, 5, "A"));
  auto expect_code = [&](const RecommendRequest& req, absl::StatusCode code) {
    auto r = rec->Recommend(req);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status();
  };
  RecommendRequest req;
  req.options.k = 0;
  expect_code(req, absl::StatusCode::kInvalidArgument);
  req.options.k = 10001;
  expect_code(req, absl::StatusCode::kInvalidArgument);
  req.options.k = 5;
  req.options.ann_candidates = -1;
  expect_code(req, absl::StatusCode::kInvalidArgument);
  req.options.ann_candidates = 10;
  req.options.latency_budget_ms = std::numeric_limits<double>::quiet_NaN();
  expect_code(req, absl::StatusCode::kInvalidArgument);
  req.options.latency_budget_ms = 0;
  req.history = {kFirstExternal};
  req.timestamps = {1, 2};
  expect_code(req, absl::StatusCode::kInvalidArgument);
  req.timestamps.clear();
  req.options.reranker = RerankerKind::kMmr;
  req.options.mmr.lambda = 2.0;
  expect_code(req, absl::StatusCode::kInvalidArgument);
  req.options.reranker = RerankerKind::kNone;
  req.history.clear();
  req.user_id = 3;
  expect_code(req, absl::StatusCode::kFailedPrecondition);  // pipeline has no users
  req.user_id.reset();
  EXPECT_TRUE(rec->Recommend(req).ok());  // empty history is valid (cold user)
}

TEST(RecommenderTest, LimitsKAboveCatalogueAndHugeHistory) {
  constexpr int32_t n = 40;
  auto rec = MakeRec(MakePipeline(n, 9, "A"));
  RecommendRequest req;
  req.history = {kFirstExternal, kFirstExternal + 7, 424242 /* unknown */};
  req.options.k = 1000;  // > catalogue
  auto r = rec->Recommend(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->items.size(), static_cast<size_t>(n - 2));
  EXPECT_EQ(r->unknown_history_items, 1);

  // 10^6 events: the model reads its last max_history, the filter all of them.
  Rng rng(1, 2);
  req.history.clear();
  for (int i = 0; i < 1000000; ++i) {
    req.history.push_back(kFirstExternal + 7 * static_cast<ExternalId>(rng.UniformInt(n - 5)));
  }
  req.options.k = 10;
  r = rec->Recommend(req);
  ASSERT_TRUE(r.ok()) << r.status();
  std::set<ExternalId> got;
  for (const auto& it : r->items) got.insert(it.item);
  // Only the 5 items never in the history remain.
  std::set<ExternalId> expected;
  for (int32_t i = n - 5; i < n; ++i) expected.insert(kFirstExternal + 7 * i);
  EXPECT_EQ(got, expected);
}

// A generic (non-embedding) model: score = -item, NaN for item 3.
class FakeModel final : public SequentialModel {
 public:
  explicit FakeModel(int32_t n) : vocab_(testing::SmallVocab(n)) {}
  std::string type() const override { return "fake"; }
  std::string config_json() const override { return "{}"; }
  const Vocabulary& item_vocab() const override { return vocab_; }
  absl::Status ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const override {
    for (size_t r = 0; r < histories.size(); ++r) {
      for (int32_t i = 0; i < num_items(); ++i) out(r, i) = i == 3 ? std::nanf("") : -static_cast<float>(i);
    }
    return absl::OkStatus();
  }
  absl::Status Save(const std::string&) const override { return absl::UnimplementedError("fake"); }

 private:
  Vocabulary vocab_;
};

TEST(RecommenderTest, GenericModelMasksNonFiniteScores) {
  Pipeline p;
  p.model = std::make_shared<FakeModel>(20);
  auto rec = MakeRec(std::move(p));
  RecommendRequest req;
  req.history = {kFirstExternal + 7};  // item 1
  req.options.k = 4;
  auto r = rec->Recommend(req);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<ItemIndex> got;
  for (const auto& it : r->items) {
    got.push_back(it.index);
    ASSERT_EQ(it.sources.size(), 1u);
    EXPECT_EQ(it.sources[0].generator, static_cast<int16_t>(GeneratorKind::kModel));
  }
  EXPECT_EQ(got, (std::vector<ItemIndex>{0, 2, 4, 5}));  // 1 seen, 3 NaN
}

TEST(RecommenderTest, RefusesEmptyCatalogueAndNonFiniteEmbeddings) {
  Pipeline empty;
  empty.model = std::make_shared<FakeModel>(0);
  auto r0 = Recommender::Create({}, std::move(empty));
  EXPECT_EQ(r0.status().code(), absl::StatusCode::kInvalidArgument) << r0.status();

  Pipeline p = MakePipeline(30, 1, "A");
  auto rec = MakeRec(p);
  Pipeline bad_pop = p;
  bad_pop.popularity[4] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(rec->SwapModel(bad_pop).code(), absl::StatusCode::kFailedPrecondition);

  auto model = testing::MakeLongShort(30, 2);
  const int id = *model->params().Find("item_emb");
  model->params().Row(id, 17)[2] = std::nanf("");
  model->RefreshInference();
  Pipeline bad;
  bad.model = model;
  const absl::Status s = rec->SwapModel(std::move(bad));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("row 17"), std::string::npos) << s;
  EXPECT_EQ(rec->pipeline()->name, "A");  // the failed swap kept the old pipeline
}

TEST(RecommenderTest, SwapFreesOldPipelineWhenLastRequestEnds) {
  Pipeline a = MakePipeline(30, 1, "A");
  std::weak_ptr<const SequentialModel> old_model = a.model;
  auto rec = MakeRec(std::move(a));
  std::shared_ptr<const Pipeline> held = rec->pipeline();  // like an in-flight request
  ASSERT_TRUE(rec->SwapModel(MakePipeline(30, 2, "B")).ok());
  EXPECT_FALSE(old_model.expired());
  RecommendRequest req;
  auto r = rec->Recommend(req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pipeline, "B");
  held.reset();
  EXPECT_TRUE(old_model.expired());
}

TEST(RecommenderTest, BatchEqualsSingle) {
  auto rec = MakeRec(MakePipeline(kItems, 4, "A", "HNSW32"));
  Rng rng(5, 5);
  std::vector<RecommendRequest> reqs(20);
  for (size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].history = testing::RandomHistory(kItems, static_cast<int>(i) * 3, rng);
    reqs[i].options.k = 10;
  }
  reqs[7].options.k = -1;
  auto batch = rec->RecommendBatch(reqs);
  ASSERT_EQ(batch.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto single = rec->Recommend(reqs[i]);
    ASSERT_EQ(single.ok(), batch[i].ok()) << i;
    if (!single.ok()) continue;
    ASSERT_EQ(single->items.size(), batch[i]->items.size());
    for (size_t j = 0; j < single->items.size(); ++j) EXPECT_EQ(single->items[j].item, batch[i]->items[j].item);
  }
  EXPECT_FALSE(batch[7].ok());
}

}  // namespace
}  // namespace recsys

// Multi-query merge strategies, generators and the merger on hand-made cases.
#include <algorithm>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/candidates/ann_index.h"
#include "recsys/candidates/item_to_item.h"
#include "recsys/candidates/merger.h"
#include "recsys/candidates/multi_interest.h"
#include "recsys/candidates/synthetic_vectors.h"

namespace recsys {
namespace {

std::vector<ItemIndex> Items(const CandidateList& l) { return {l.items().begin(), l.items().end()}; }

struct TwoLists {
  std::vector<int32_t> ids0 = {1, 2, 3, 4}, ids1 = {5, 2, 6, -1};
  std::vector<float> s0 = {0.9f, 0.8f, 0.7f, 0.6f}, s1 = {0.95f, 0.85f, 0.5f, kNegInf};
  std::vector<std::span<const int32_t>> ids = {ids0, ids1};
  std::vector<std::span<const float>> scores = {s0, s1};
  CandidateList Merge(MergeStrategy st, int k, std::vector<float> w = {}) {
    CandidateList out;
    MergeQueryLists(ids, scores, st, w, k, /*generator_id=*/7, &out);
    return out;
  }
};

TEST(MergeQueryLists, MaxScore) {
  TwoLists t;
  CandidateList l = t.Merge(MergeStrategy::kMaxScore, 4);
  EXPECT_EQ(Items(l), (std::vector<ItemIndex>{5, 1, 2, 3}));
  EXPECT_FLOAT_EQ(l.score(2), 0.85f);  // best of 0.8 (query 0) and 0.85 (query 1)
  auto src = l.sources(2);
  ASSERT_EQ(src.size(), 2u);
  EXPECT_EQ(src[0].query, 0);
  EXPECT_EQ(src[0].rank, 1);
  EXPECT_FLOAT_EQ(src[0].score, 0.8f);
  EXPECT_EQ(src[1].query, 1);
  EXPECT_EQ(src[1].generator, 7);
  ASSERT_EQ(l.sources(0).size(), 1u);
  EXPECT_EQ(l.sources(0)[0].query, 1);
}

TEST(MergeQueryLists, RoundRobin) {
  TwoLists t;
  EXPECT_EQ(Items(t.Merge(MergeStrategy::kRoundRobin, 5)), (std::vector<ItemIndex>{1, 5, 2, 3, 6}));
  EXPECT_EQ(Items(t.Merge(MergeStrategy::kRoundRobin, 2)), (std::vector<ItemIndex>{1, 5}));
  // Fewer unique items than k: no padding, no duplicates.
  EXPECT_EQ(Items(t.Merge(MergeStrategy::kRoundRobin, 50)), (std::vector<ItemIndex>{1, 5, 2, 3, 6, 4}));
}

TEST(MergeQueryLists, UnionWithQuotas) {
  TwoLists t;
  // Weights 3:1 of 4 slots -> quotas 3 and 1; output best first.
  EXPECT_EQ(Items(t.Merge(MergeStrategy::kUnionQuota, 4, {3, 1})), (std::vector<ItemIndex>{5, 1, 2, 3}));
  // Equal weights, 3 slots: quotas 2 (remainder to the first) and 1.
  EXPECT_EQ(Items(t.Merge(MergeStrategy::kUnionQuota, 3)), (std::vector<ItemIndex>{5, 1, 2}));
  // Query 0 gets no quota: both slots from query 1.
  EXPECT_EQ(Items(t.Merge(MergeStrategy::kUnionQuota, 2, {0, 1})), (std::vector<ItemIndex>{5, 2}));
  // Query 1's duplicate (2) does not use its quota: it takes 5 and 6.
  EXPECT_EQ(Items(t.Merge(MergeStrategy::kUnionQuota, 4, {1, 1})), (std::vector<ItemIndex>{5, 1, 2, 6}));
}

// Returns a fixed list (respecting k and the request filter).
class FixedGenerator : public CandidateGenerator {
 public:
  FixedGenerator(std::string name, std::vector<ItemIndex> items) : name_(std::move(name)), items_(std::move(items)) {}
  std::string name() const override { return name_; }
  absl::Status Generate(std::span<const CandidateRequest> requests, int k, std::span<CandidateList> out) const override {
    for (size_t i = 0; i < requests.size(); ++i) {
      out[i].Clear();
      for (size_t r = 0; r < items_.size() && out[i].size() < k; ++r) {
        if (requests[i].filter && !requests[i].filter->IsAllowed(items_[r])) continue;
        const float s = 1.0f - 0.1f * static_cast<float>(r);
        out[i].Add(items_[r], s, CandidateSource{0, -1, static_cast<int32_t>(r), s});
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string name_;
  std::vector<ItemIndex> items_;
};

TEST(CandidateMerger, QuotasFillAndProvenance) {
  auto a = std::make_shared<FixedGenerator>("a", std::vector<ItemIndex>{10, 11, 12, 13});
  auto b = std::make_shared<FixedGenerator>("b", std::vector<ItemIndex>{11, 20, 21});
  CandidateMergerConfig config;
  config.sources = {{a, 2}, {b, 2}};
  config.total = 5;
  auto merger = CandidateMerger::Create(config);
  ASSERT_TRUE(merger.ok());
  EXPECT_EQ((*merger)->generator_names(), (std::vector<std::string>{"a", "b"}));
  CandidateRequest req;
  std::vector<CandidateList> out(1);
  ASSERT_TRUE((*merger)->Generate({&req, 1}, 100, out).ok());
  // Quota pass: a -> 10, 11; b -> (11 taken, free) 20, 21; fill: a's next, 12.
  EXPECT_EQ(Items(out[0]), (std::vector<ItemIndex>{10, 11, 20, 21, 12}));
  auto src = out[0].sources(1);  // item 11: both generators
  ASSERT_EQ(src.size(), 2u);
  EXPECT_EQ(src[0].generator, 0);
  EXPECT_EQ(src[0].rank, 1);
  EXPECT_EQ(src[1].generator, 1);
  EXPECT_EQ(src[1].rank, 0);
  ASSERT_EQ(out[0].sources(2).size(), 1u);
  EXPECT_EQ(out[0].sources(2)[0].generator, 1);

  // k caps the total.
  ASSERT_TRUE((*merger)->Generate({&req, 1}, 3, out).ok());
  EXPECT_EQ(Items(out[0]), (std::vector<ItemIndex>{10, 11, 20}));

  // Without fill, unused quota stays empty; a filter applies to every generator.
  config.fill = false;
  config.total = 0;  // = sum of quotas
  auto strict = CandidateMerger::Create(config);
  ASSERT_TRUE(strict.ok());
  ExcludeItemsFilter seen(std::vector<ItemIndex>{10, 21});
  req.filter = &seen;
  ASSERT_TRUE((*strict)->Generate({&req, 1}, 100, out).ok());
  EXPECT_EQ(Items(out[0]), (std::vector<ItemIndex>{11, 12, 20}));

  config.sources[0].generator = nullptr;
  EXPECT_EQ(CandidateMerger::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

SequenceDataset MakeDataset(const std::vector<std::vector<ItemIndex>>& users,
                            const std::vector<std::vector<Timestamp>>& times, int32_t num_items) {
  SequenceDataset::Columns c;
  c.offsets.push_back(0);
  for (size_t u = 0; u < users.size(); ++u) {
    for (size_t i = 0; i < users[u].size(); ++i) {
      c.items.push_back(users[u][i]);
      c.timestamps.push_back(times.empty() ? static_cast<Timestamp>(i) : times[u][i]);
      c.types.push_back(0);
      c.weights.push_back(1.0f);
      c.organic.push_back(1);
    }
    c.offsets.push_back(static_cast<int64_t>(c.items.size()));
  }
  std::vector<ExternalId> uids(users.size()), iids(static_cast<size_t>(num_items));
  for (size_t i = 0; i < uids.size(); ++i) uids[i] = static_cast<ExternalId>(i);
  for (size_t i = 0; i < iids.size(); ++i) iids[i] = static_cast<ExternalId>(i);
  auto ds = SequenceDataset::FromColumns(std::move(c), Vocabulary::FromExternals(uids), Vocabulary::FromExternals(iids));
  EXPECT_TRUE(ds.ok()) << ds.status();
  return *std::move(ds);
}

TEST(ItemToItem, CoOccurrenceNeighboursAndRecency) {
  SequenceDataset ds = MakeDataset({{0, 1, 2}, {0, 1, 3}, {1, 2}, {4, 5}, {4, 5}}, {}, 6);
  ItemToItemConfig config;
  config.window = 1;
  config.generator_id = 2;
  auto i2i = ItemToItemGenerator::Build(ds, config);
  ASSERT_TRUE(i2i.ok()) << i2i.status();
  // 0 co-occurs with 1 only (window 1).
  EXPECT_EQ(std::vector<ItemIndex>((*i2i)->neighbors(0).begin(), (*i2i)->neighbors(0).end()),
            (std::vector<ItemIndex>{1}));
  // sim(4,5) = 2 / sqrt(2·2) = 1.
  ASSERT_EQ((*i2i)->neighbors(4).size(), 1u);
  EXPECT_FLOAT_EQ((*i2i)->similarities(4)[0], 1.0f);

  const std::vector<ItemIndex> hist = {4, 0};  // latest: 0
  CandidateRequest req;
  req.history_items = hist;
  std::vector<CandidateList> out(1);
  ASSERT_TRUE((*i2i)->Generate({&req, 1}, 10, out).ok());
  // Neighbours of 0 (recent r=0, weight 1) and of 4 (r=1, weight 0.8).
  ASSERT_GE(out[0].size(), 2);
  std::set<ItemIndex> got(out[0].items().begin(), out[0].items().end());
  EXPECT_TRUE(got.count(1) && got.count(5));
  for (int i = 0; i < out[0].size(); ++i) {
    const auto s = out[0].sources(i)[0];
    EXPECT_EQ(s.generator, 2);
    EXPECT_EQ(s.query, out[0].item(i) == 5 ? 1 : 0);
  }
  ExcludeItemsFilter seen(std::vector<ItemIndex>{1});
  req.filter = &seen;
  ASSERT_TRUE((*i2i)->Generate({&req, 1}, 10, out).ok());
  for (ItemIndex i : out[0].items()) EXPECT_NE(i, 1);
  EXPECT_FALSE(ItemToItemGenerator::Build(ds, {.window = 0}).ok());
}

TEST(Popularity, TimeDecayFavoursRecentItems) {
  // Item 0: 3 old events (t = 0); item 1: 2 recent events (t = 100).
  SequenceDataset ds = MakeDataset({{0, 1}, {0, 1}, {0}}, {{0, 100}, {0, 100}, {0}}, 3);
  auto counts = PopularityGenerator::Build(ds, {});
  auto decayed = PopularityGenerator::Build(ds, {.half_life = 10.0, .generator_id = 3});
  ASSERT_TRUE(counts.ok() && decayed.ok());
  CandidateRequest req;
  std::vector<CandidateList> out(1);
  ASSERT_TRUE((*counts)->Generate({&req, 1}, 2, out).ok());
  EXPECT_EQ(Items(out[0]), (std::vector<ItemIndex>{0, 1}));
  ASSERT_TRUE((*decayed)->Generate({&req, 1}, 5, out).ok());
  EXPECT_EQ(Items(out[0]), (std::vector<ItemIndex>{1, 0, 2}));  // 2: no events, score 0
  EXPECT_FLOAT_EQ(out[0].score(0), 2.0f);
  EXPECT_EQ(out[0].sources(0)[0].generator, 3);
  ExcludeItemsFilter seen(std::vector<ItemIndex>{1});
  req.filter = &seen;
  ASSERT_TRUE((*decayed)->Generate({&req, 1}, 5, out).ok());
  EXPECT_EQ(Items(out[0]), (std::vector<ItemIndex>{0, 2}));
  EXPECT_FALSE(PopularityGenerator::Build(ds, {.half_life = -1}).ok());
}

TEST(MultiInterest, BatchedQueriesMatchPerQuerySearchAndRecordQuery) {
  MatrixF items = ClusteredUnitVectors(3000, 16, 30, 0.5f, 71, 72);
  AnnIndexConfig config{.factory = "Flat", .dim = 16};
  auto created = AnnIndex::Create(config);
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE((*created)->Add(items).ok());
  std::shared_ptr<const AnnIndex> index = std::move(*created);
  MatrixF q0 = ClusteredUnitVectors(3, 16, 30, 0.5f, 71, 73), q1 = ClusteredUnitVectors(2, 16, 30, 0.5f, 71, 74);
  std::vector<ItemIndex> seen_items = {1, 2, 3, 4, 5};
  ExcludeItemsFilter seen(seen_items);
  std::vector<CandidateRequest> reqs(2);
  reqs[0].queries = q0.data();
  reqs[0].num_queries = 3;
  reqs[0].query_dim = 16;
  reqs[0].filter = &seen;
  reqs[1].queries = q1.data();
  reqs[1].num_queries = 2;
  reqs[1].query_dim = 16;
  for (MergeStrategy st : {MergeStrategy::kUnionQuota, MergeStrategy::kMaxScore, MergeStrategy::kRoundRobin}) {
    MultiInterestConfig mc;
    mc.strategy = st;
    mc.generator_id = 4;
    auto gen = MultiInterestGenerator::Create(index, mc);
    ASSERT_TRUE(gen.ok());
    std::vector<CandidateList> out(2);
    ASSERT_TRUE((*gen)->Generate(reqs, 40, out).ok());
    for (int u = 0; u < 2; ++u) {
      const MatrixF& q = u == 0 ? q0 : q1;
      Matrix<int32_t> ids(q.rows(), 40);
      MatrixF scores(q.rows(), 40);
      std::vector<const ItemFilter*> f(u == 0 ? 1 : 0, &seen);
      ASSERT_TRUE(index->Search(q, 40, {}, f, ids, scores).ok());
      std::vector<std::span<const int32_t>> il;
      std::vector<std::span<const float>> sl;
      for (int r = 0; r < q.rows(); ++r) {
        il.emplace_back(ids.row(r).data(), 40);
        sl.emplace_back(scores.row(r).data(), 40);
      }
      CandidateList want;
      MergeQueryLists(il, sl, st, {}, 40, 4, &want);
      EXPECT_EQ(Items(out[u]), Items(want));
      EXPECT_EQ(out[u].size(), 40);
      std::set<ItemIndex> unique(out[u].items().begin(), out[u].items().end());
      EXPECT_EQ(unique.size(), 40u);
      for (int i = 0; i < out[u].size(); ++i) {
        if (u == 0) EXPECT_TRUE(seen.IsAllowed(out[u].item(i)));
        for (const auto& s : out[u].sources(i)) {
          EXPECT_EQ(s.generator, 4);
          ASSERT_GE(s.query, 0);
          ASSERT_LT(s.query, q.rows());
          EXPECT_EQ(ids(s.query, s.rank), out[u].item(i));  // provenance points at the producing query
        }
      }
    }
  }
  // Wrong query dimension is a caller error naming the request.
  reqs[1].query_dim = 8;
  MultiInterestConfig bad;
  bad.fetch_factor = -1.0;
  EXPECT_EQ(MultiInterestGenerator::Create(index, bad).status().code(), absl::StatusCode::kInvalidArgument);
  auto gen = MultiInterestGenerator::Create(index, {});
  std::vector<CandidateList> out(2);
  auto st = (*gen)->Generate(reqs, 10, out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("request 1"), std::string::npos);
}

// fetch_factor: queries first fetch ceil(f·k/Q); users left short are
// searched again with k per query, so the list is always full.
TEST(MultiInterest, FetchFactorRefetchesShortUsersAndKeepsQuotas) {
  MatrixF items = ClusteredUnitVectors(3000, 16, 30, 0.5f, 81, 82);
  auto created = AnnIndex::Create({.factory = "Flat", .dim = 16});
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE((*created)->Add(items).ok());
  std::shared_ptr<const AnnIndex> index = std::move(*created);
  const MatrixF distinct = ClusteredUnitVectors(4, 16, 30, 0.5f, 81, 83);
  MatrixF same(4, 16);  // four copies of one query: every list overlaps fully
  for (int r = 0; r < 4; ++r) same.row(r) = distinct.row(0);
  std::vector<CandidateRequest> reqs(2);
  for (int u = 0; u < 2; ++u) {
    reqs[static_cast<size_t>(u)].queries = (u == 0 ? distinct : same).data();
    reqs[static_cast<size_t>(u)].num_queries = 4;
    reqs[static_cast<size_t>(u)].query_dim = 16;
  }
  MultiInterestConfig full, staged;
  staged.fetch_factor = 1.5;  // 15 per query for k = 40
  auto gen_full = MultiInterestGenerator::Create(index, full);
  auto gen_staged = MultiInterestGenerator::Create(index, staged);
  ASSERT_TRUE(gen_full.ok() && gen_staged.ok());
  std::vector<CandidateList> want(2), got(2);
  ASSERT_TRUE((*gen_full)->Generate(reqs, 40, want).ok());
  ASSERT_TRUE((*gen_staged)->Generate(reqs, 40, got).ok());
  for (int u = 0; u < 2; ++u) {
    EXPECT_EQ(got[static_cast<size_t>(u)].size(), 40) << u;
    std::set<ItemIndex> unique(got[static_cast<size_t>(u)].items().begin(), got[static_cast<size_t>(u)].items().end());
    EXPECT_EQ(unique.size(), 40u);
  }
  // The identical-query user came up short after the first fetch (15 unique
  // items) and was searched again with k: exactly the full-fetch result.
  EXPECT_EQ(Items(got[1]), Items(want[1]));
  // Distinct queries: each query's quota (10) is its own top 10 either way.
  const std::vector<ItemIndex> got0 = Items(got[0]);
  const std::set<ItemIndex> a(got0.begin(), got0.end());
  for (int q = 0; q < 4; ++q) {
    Matrix<int32_t> ids(1, 10);
    MatrixF scores(1, 10);
    ASSERT_TRUE(index->Search(distinct.middleRows(q, 1), 10, {}, {}, ids, scores).ok());
    for (int j = 0; j < 10; ++j) EXPECT_TRUE(a.count(ids(0, j))) << "query " << q << " rank " << j;
  }
}

// A user whose queries overlap comes up short after the first fetch; the
// refetch grows the per-query fetch by the shortfall (not straight to k) and
// the list ends full. Scored-results HNSW walks serve the same way.
TEST(MultiInterest, RefetchGrowsByShortfall) {
  MatrixF items = ClusteredUnitVectors(3000, 16, 30, 0.5f, 81, 82);
  auto created = AnnIndex::Create({.factory = "HNSW16", .dim = 16, .hnsw_ef_construction = 40});
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE((*created)->Add(items).ok());
  std::shared_ptr<const AnnIndex> index = std::move(*created);
  const MatrixF base = ClusteredUnitVectors(2, 16, 30, 0.5f, 81, 83);
  MatrixF queries(4, 16);  // two pairs of near-identical queries: ~half of each fetch overlaps
  for (int r = 0; r < 4; ++r) queries.row(r) = base.row(r / 2) * (1.0f + 0.001f * static_cast<float>(r));
  CandidateRequest req;
  req.queries = queries.data();
  req.num_queries = 4;
  req.query_dim = 16;
  for (const bool scored : {false, true}) {
    MultiInterestConfig staged;
    staged.fetch_factor = 1.5;  // 30 per query for k = 80: ~60 unique < 80
    staged.search = {.ef_search = 16, .scored_results = scored};
    auto gen = MultiInterestGenerator::Create(index, staged);
    ASSERT_TRUE(gen.ok());
    std::vector<CandidateList> got(1);
    ASSERT_TRUE((*gen)->Generate({&req, 1}, 80, got).ok());
    EXPECT_EQ(got[0].size(), 80) << "scored " << scored;
    const std::vector<ItemIndex> items_got = Items(got[0]);
    EXPECT_EQ(std::set<ItemIndex>(items_got.begin(), items_got.end()).size(), 80u);
    int deepest = 0;
    for (int i = 0; i < got[0].size(); ++i) {
      for (const CandidateSource& src : got[0].sources(i)) deepest = std::max(deepest, static_cast<int>(src.rank));
    }
    // The first fetch (30) fell short; the refetch went past it but not to k.
    EXPECT_GE(deepest, 30) << "scored " << scored;
    EXPECT_LT(deepest, 79) << "scored " << scored;
  }
}

}  // namespace
}  // namespace recsys

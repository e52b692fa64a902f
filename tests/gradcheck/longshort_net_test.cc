// Finite-difference check of the whole long/short-term ranker network
// (ranker/longshort.h) in double: short-term encoder, long-term encoder over
// jagged histories, target-aware scorer, both losses, every parameter tensor
// and the item table (plain or content-initialised). Tolerance: max relative
// error < 1e-5 (central differences, h = 1e-5, on O(1) losses; a few
// parameters go through two softmaxes and two LayerNorms, so the bound is a
// decade looser than the single-layer checks).
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/ranker/longshort.h"
#include "recsys/training/grad_check.h"
#include "recsys/training/samplers.h"

namespace recsys {
namespace {

constexpr double kTol = 1e-5;

struct Case {
  RankLossSpec short_loss;
  RankLossSpec long_loss;
  int num_interests = 2;
  int content_dim = 0;
  bool recency_by_time = false;
  // > 0: dense long-term targets (AppendDenseExample with this stride).
  int dense_stride = 0;
  // Extra users so the long rows span more than one chunk of the
  // full-softmax L_long (LongShortNet::kLongChunk). Their summed loss is
  // scaled by 1/4 so the central differences' rounding (which grows with the
  // loss) stays below the tolerance on parameters whose true gradient is 0.
  bool many_users = false;
};

LongShortNetConfig TinyConfig(const Case& c) {
  LongShortNetConfig cfg;
  cfg.encoder.dim = 4;
  cfg.encoder.num_blocks = 1;
  cfg.encoder.num_heads = 2;
  cfg.encoder.max_len = 3;
  cfg.encoder.dropout = 0.0;
  cfg.encoder.layer_norm_eps = 1e-5;
  cfg.long_term.num_interests = c.num_interests;
  cfg.long_term.heads = 2;
  cfg.max_history = 5;
  cfg.recency_buckets = 4;
  cfg.recency_by_time = c.recency_by_time;
  cfg.recency_time_unit = 10;
  cfg.tau = 0.7;
  cfg.short_loss = c.short_loss;
  cfg.long_loss = c.long_loss;
  cfg.short_weight = c.many_users ? 0.2 : 0.8;
  cfg.long_weight = c.many_users ? 0.325 : 1.3;
  return cfg;
}

void RunCase(const Case& c) {
  const int32_t n = 7;
  const LongShortNetConfig cfg = TinyConfig(c);
  ASSERT_TRUE(cfg.Validate().ok()) << cfg.Validate();
  ParameterArena arena;
  const LongShortLayout layout = LongShortLayout::Register(&arena, cfg, n, c.content_dim);
  arena.Allocate();
  Rng rng(11, 0);
  layout.Init(&arena, rng);
  // Double mirror of the arena; a random content matrix and a non-zero δ so
  // every path has gradient.
  std::vector<double> values(static_cast<size_t>(arena.size()));
  for (int64_t i = 0; i < arena.size(); ++i) values[i] = arena.data()[i];
  for (int id = 0; id < arena.num_tensors(); ++id) {
    const ParamTensor& t = arena.tensor(id);
    for (int64_t i = 0; i < t.size(); ++i) values[t.offset + i] += 0.3 * rng.Normal();
  }
  MatrixD content(n, std::max(1, c.content_dim));
  for (int64_t i = 0; i < content.size(); ++i) content.data()[i] = rng.Normal();

  // Three users: the one with 7 events has a long history longer than the
  // window (and than max_history); one has a single event.
  LongShortBatch batch;
  std::vector<std::vector<ItemIndex>> prefixes = {{1, 4, 2, 6, 0, 3, 5}, {2}, {6, 1, 3}};
  std::vector<std::vector<Timestamp>> times = {{0, 5, 9, 40, 41, 300, 301}, {7}, {1, 2, 100}};
  std::vector<ItemIndex> next = {2, 5, 0};
  for (int u = 0; c.many_users && u < 6; ++u) {
    prefixes.push_back({static_cast<ItemIndex>(u % n), static_cast<ItemIndex>((u + 3) % n),
                        static_cast<ItemIndex>((2 * u + 1) % n), static_cast<ItemIndex>((u + 5) % n)});
    times.push_back({10 * u, 10 * u + 4, 10 * u + 50, 10 * u + 51});
    next.push_back(static_cast<ItemIndex>((3 * u + 2) % n));
  }
  for (size_t u = 0; u < prefixes.size(); ++u) {
    if (c.dense_stride > 0) {
      AppendDenseExample(prefixes[u], times[u], next[u], cfg, c.dense_stride, &batch);
    } else {
      AppendExample(prefixes[u], times[u], next[u], cfg, &batch);
    }
  }
  int64_t long_rows = 0;
  for (const auto& prefix : prefixes) {
    long_rows += c.dense_stride > 0 ? DenseLongRows(static_cast<int64_t>(prefix.size()), cfg.encoder.max_len,
                                                    c.dense_stride)
                                    : 1;
  }

  std::vector<int64_t> counts = {3, 1, 4, 1, 5, 9, 2};
  auto sampler = NegativeSampler::Create({.kind = SamplerKind::kPopularity, .num_negatives = 3}, counts);
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  CandidateSet short_cand, long_cand;
  Rng srng(5, 1);
  (*sampler)->Sample(batch.short_targets, srng, &short_cand);
  (*sampler)->Sample(batch.long_targets, srng, &long_cand);
  const CandidateSet* sc = cfg.short_loss.sampled() ? &short_cand : nullptr;
  const CandidateSet* lc = cfg.long_loss.sampled() ? &long_cand : nullptr;

  const ParamTensor& emb = arena.tensor(layout.item_emb);
  auto item_table = [&](MatrixD* e) {
    Eigen::Map<const MatrixD> table(values.data() + emb.offset, n, cfg.dim());
    if (c.content_dim > 0) {
      const ParamTensor& pr = arena.tensor(layout.content_proj);
      LongShortNet<double>::ItemTable(content, Eigen::Map<const MatrixD>(values.data() + pr.offset, pr.rows, pr.cols),
                                      table, e);
    } else {
      *e = table;
    }
  };
  LongShortNet<double>::Workspace ws;
  const double long_scale = 1.7;
  auto loss = [&] {
    MatrixD e;
    item_table(&e);
    const auto p = layout.BindParams<double>(values.data(), arena);
    return LongShortNet<double>::Run(e, p, cfg, batch, sc, lc, false, nullptr, &ws, nullptr, nullptr, long_scale)
        .total;
  };

  std::vector<double> grads(values.size(), 0.0);
  MatrixD e;
  item_table(&e);
  MatrixD d_items = MatrixD::Zero(n, cfg.dim());
  layers::MatRef<double> d_ref(d_items);
  auto g = layout.BindGrads<double>(grads.data(), arena);
  const LossParts parts = LongShortNet<double>::Run(e, layout.BindParams<double>(values.data(), arena), cfg, batch,
                                                    sc, lc, false, nullptr, &ws, &g, &d_ref, long_scale);
  EXPECT_GT(parts.short_count, 0);
  EXPECT_EQ(parts.long_count, long_rows);
  if (c.many_users) EXPECT_GT(long_rows, LongShortNet<double>::kLongChunk);
  EXPECT_NEAR(parts.total, loss(), 1e-12);
  Eigen::Map<MatrixD>(grads.data() + emb.offset, n, cfg.dim()) += d_items;
  if (c.content_dim > 0) {
    const ParamTensor& pr = arena.tensor(layout.content_proj);
    LongShortNet<double>::ItemTableBackward(content, d_items,
                                            Eigen::Map<MatrixD>(grads.data() + pr.offset, pr.rows, pr.cols));
  }

  std::vector<GradCheckTensor> tensors;
  for (const ParamTensor& t : arena.tensors()) {
    tensors.push_back({t.name, values.data() + t.offset, grads.data() + t.offset, t.size()});
  }
  const GradCheckResult res = CheckGradients(loss, tensors);
  EXPECT_LT(res.max_rel_error, kTol) << res.Summary();
  int64_t total = 0;
  for (const ParamTensor& t : arena.tensors()) total += t.size();
  EXPECT_EQ(res.elements_checked, total);
  ::testing::Test::RecordProperty("max_rel_error", std::to_string(res.max_rel_error));
  // Every tensor receives gradient (nothing silently disconnected).
  for (const ParamTensor& t : arena.tensors()) {
    double norm = 0;
    for (int64_t i = 0; i < t.size(); ++i) norm += std::abs(grads[t.offset + i]);
    EXPECT_GT(norm, 0.0) << t.name << " has no gradient";
  }
}

TEST(LongShortGradCheck, FullSoftmaxBothLosses) {
  RunCase({.short_loss = {.kind = RankLossKind::kSoftmaxCE}, .long_loss = {.kind = RankLossKind::kSoftmaxCE}});
}

// (The refined logQ correction treats its weight as a constant, so its
// gradient is by design not the finite difference of its value.)
TEST(LongShortGradCheck, SampledSoftmaxStandardLogQAndGbce) {
  RunCase({.short_loss = {.kind = RankLossKind::kGbce, .gbce_t = 0.75},
           .long_loss = {.kind = RankLossKind::kSampledSoftmax, .correction = LogQCorrection::kStandard}});
}

TEST(LongShortGradCheck, ContentInitialisedItemsBceAndSampledSoftmax) {
  RunCase({.short_loss = {.kind = RankLossKind::kSampledSoftmax, .correction = LogQCorrection::kNone},
           .long_loss = {.kind = RankLossKind::kBce},
           .content_dim = 3,
           .recency_by_time = true});
}

TEST(LongShortGradCheck, ShortOnlyHasNoLongTermTensors) {
  RunCase({.short_loss = {.kind = RankLossKind::kSoftmaxCE},
           .long_loss = {.kind = RankLossKind::kSoftmaxCE},
           .num_interests = 0});
}

// Dense long-term targets: every window slot (stride 1; the 7-event user's
// first rows see a band that starts later than the last row's, max_history
// being 5) and every other slot, with time buckets and a sampled long loss.
TEST(LongShortGradCheck, DenseLongTargetsEverySlot) {
  RunCase({.short_loss = {.kind = RankLossKind::kSoftmaxCE},
           .long_loss = {.kind = RankLossKind::kSoftmaxCE},
           .dense_stride = 1});
}

// 3 + 1 + 3 + 6·3 = 25 long rows: two chunks of the full-softmax L_long.
TEST(LongShortGradCheck, DenseLongTargetsAcrossScorerChunks) {
  RunCase({.short_loss = {.kind = RankLossKind::kSoftmaxCE},
           .long_loss = {.kind = RankLossKind::kSoftmaxCE},
           .dense_stride = 1,
           .many_users = true});
}

TEST(LongShortGradCheck, DenseLongTargetsStrideTwoTimeBucketsSampled) {
  RunCase({.short_loss = {.kind = RankLossKind::kSoftmaxCE},
           .long_loss = {.kind = RankLossKind::kSampledSoftmax, .correction = LogQCorrection::kStandard},
           .recency_by_time = true,
           .dense_stride = 2});
}

// With a stride of at least S each window has one long row (its last slot)
// whose band is the whole history: the dense form (shared memory, recency
// through Rec·Wk / Rec·Wv) must give the classic form's loss and gradients.
TEST(LongShortDense, OneRowPerWindowEqualsClassicForm) {
  Case c{.short_loss = {.kind = RankLossKind::kSoftmaxCE}, .long_loss = {.kind = RankLossKind::kSoftmaxCE}};
  for (bool by_time : {false, true}) {
    c.recency_by_time = by_time;
    const int32_t n = 7;
    const LongShortNetConfig cfg = TinyConfig(c);
    ParameterArena arena;
    const LongShortLayout layout = LongShortLayout::Register(&arena, cfg, n, 0);
    arena.Allocate();
    Rng rng(3, 0);
    layout.Init(&arena, rng);
    std::vector<double> values(static_cast<size_t>(arena.size()));
    for (int64_t i = 0; i < arena.size(); ++i) values[i] = arena.data()[i] + 0.3 * rng.Normal();
    const std::vector<std::vector<ItemIndex>> prefixes = {{1, 4, 2, 6, 0, 3, 5}, {2}, {6, 1, 3}};
    const std::vector<std::vector<Timestamp>> times = {{0, 5, 9, 40, 41, 300, 301}, {7}, {1, 2, 100}};
    const std::vector<ItemIndex> next = {2, 5, 0};
    LongShortBatch classic, dense;
    for (size_t u = 0; u < prefixes.size(); ++u) {
      AppendExample(prefixes[u], times[u], next[u], cfg, &classic);
      AppendDenseExample(prefixes[u], times[u], next[u], cfg, cfg.encoder.max_len, &dense);
    }
    ASSERT_TRUE(dense.dense());
    ASSERT_EQ(dense.long_targets, classic.long_targets);
    const ParamTensor& emb = arena.tensor(layout.item_emb);
    Eigen::Map<const MatrixD> e(values.data() + emb.offset, n, cfg.dim());
    auto run = [&](const LongShortBatch& batch, std::vector<double>* grads, MatrixD* d_items) {
      grads->assign(values.size(), 0.0);
      *d_items = MatrixD::Zero(n, cfg.dim());
      layers::MatRef<double> d_ref(*d_items);
      auto g = layout.BindGrads<double>(grads->data(), arena);
      LongShortNet<double>::Workspace ws;
      return LongShortNet<double>::Run(e, layout.BindParams<double>(values.data(), arena), cfg, batch, nullptr,
                                       nullptr, false, nullptr, &ws, &g, &d_ref, 1.4);
    };
    std::vector<double> g1, g2;
    MatrixD d1, d2;
    const LossParts a = run(classic, &g1, &d1), b = run(dense, &g2, &d2);
    EXPECT_NEAR(a.total, b.total, 1e-12);
    EXPECT_EQ(a.long_count, b.long_count);
    for (size_t i = 0; i < g1.size(); ++i) ASSERT_NEAR(g1[i], g2[i], 1e-12) << "parameter element " << i;
    EXPECT_LT((d1 - d2).cwiseAbs().maxCoeff(), 1e-12);
  }
}

}  // namespace
}  // namespace recsys

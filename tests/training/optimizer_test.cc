// Parameter arena, gradient buffers, AdamW (dense and lazy), clipping, schedules.
#include "recsys/training/optimizer.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/training/arena.h"
#include "recsys/training/schedule.h"

namespace recsys {
namespace {

TEST(ArenaTest, OneAllocationWithAlignedNamedViews) {
  ParameterArena arena;
  const int a = arena.Add("a", 3, 5);
  const int e = arena.Add("emb", 10, 4, ParamKind::kEmbedding);
  arena.Allocate();
  EXPECT_EQ(arena.tensor(a).offset, 0);
  EXPECT_EQ(arena.tensor(e).offset % 16, 0);
  EXPECT_EQ(arena.Find("emb"), e);
  EXPECT_FALSE(arena.Find("nope").has_value());
  arena.Value(e)(2, 3) = 7.0f;
  EXPECT_EQ(arena.Row(e, 2)[3], 7.0f);
  EXPECT_EQ(arena.data()[arena.tensor(e).offset + 2 * 4 + 3], 7.0f);
  ParameterArena other;
  other.Add("a", 3, 5);
  other.Add("emb", 10, 4, ParamKind::kEmbedding);
  EXPECT_EQ(other.LayoutHash(), arena.LayoutHash());
  ParameterArena different;
  different.Add("a", 3, 5);
  different.Add("emb", 10, 5, ParamKind::kEmbedding);
  EXPECT_NE(different.LayoutHash(), arena.LayoutHash());
}

TEST(GradBufferTest, RowSparseBookkeeping) {
  ParameterArena arena;
  const int d = arena.Add("dense", 2, 2);
  const int e = arena.Add("emb", 6, 3, ParamKind::kEmbedding);
  arena.Allocate();
  GradBuffer g(arena), h(arena);
  g.Dense(d).setConstant(1.0f);
  g.Row(e, 4)[0] = 2.0f;
  g.Row(e, 1)[2] = 3.0f;
  g.Row(e, 4)[1] = 1.0f;
  EXPECT_EQ(g.TouchedRows(e), (std::vector<int64_t>{4, 1}));
  EXPECT_NEAR(g.SquaredNorm(), 4 * 1 + 4 + 9 + 1, 1e-12);
  h.Row(e, 5)[0] = 1.0f;
  h.Row(e, 4)[0] = 1.0f;
  g.AddFrom(h);
  EXPECT_EQ(g.TouchedRows(e), (std::vector<int64_t>{4, 1, 5}));
  EXPECT_EQ(g.Row(e, 4)[0], 3.0f);
  g.Scale(2.0f);
  EXPECT_EQ(g.Row(e, 5)[0], 2.0f);
  g.Zero();
  EXPECT_TRUE(g.TouchedRows(e).empty());
  EXPECT_EQ(g.SquaredNorm(), 0.0);
  for (int64_t i = 0; i < g.size(); ++i) ASSERT_EQ(g.data()[i], 0.0f);
  // Dense() on an embedding table touches every row.
  g.Dense(e)(0, 0) = 1.0f;
  EXPECT_TRUE(g.AllRowsTouched(e));
  EXPECT_TRUE(g.IsTouched(e, 3));
}

// Reference Adam(W) on one float in double precision.
struct RefAdam {
  double theta, m = 0, v = 0;
  void Step(double g, int t, const AdamWConfig& c, double lr, double decay) {
    m = c.beta1 * m + (1 - c.beta1) * g;
    v = c.beta2 * v + (1 - c.beta2) * g * g;
    const double mh = m / (1 - std::pow(c.beta1, t)), vh = v / (1 - std::pow(c.beta2, t));
    theta -= lr * (mh / (std::sqrt(vh) + c.epsilon) + decay * theta);
  }
};

TEST(AdamWTest, DenseMatchesReferenceAndLazyFreezesUntouchedRows) {
  ParameterArena arena;
  const int w = arena.Add("w", 1, 3);
  const int e = arena.Add("emb", 4, 2, ParamKind::kEmbedding);
  arena.Allocate();
  Rng rng(1, 0);
  arena.FillNormal(w, 1.0f, rng);
  arena.FillNormal(e, 1.0f, rng);
  const ParameterArena initial = arena;
  AdamWConfig cfg{.learning_rate = 0.1, .weight_decay = 0.01};
  auto opt = AdamW::Create(cfg, arena);
  ASSERT_TRUE(opt.ok());
  GradBuffer g(arena);
  std::vector<RefAdam> ref_w, ref_row2;
  for (int j = 0; j < 3; ++j) ref_w.push_back({initial.Value(w)(0, j)});
  for (int j = 0; j < 2; ++j) ref_row2.push_back({initial.Value(e)(2, j)});
  for (int t = 1; t <= 5; ++t) {
    g.Zero();
    for (int j = 0; j < 3; ++j) g.Dense(w)(0, j) = 0.3f * j - 0.2f * t;
    const bool touch = t == 1 || t == 4;  // row 2 touched at steps 1 and 4 only
    if (touch) {
      g.Row(e, 2)[0] = 0.5f;
      g.Row(e, 2)[1] = -1.0f;
    }
    (*opt)->Step(arena, g, /*lr_multiplier=*/0.5);
    for (int j = 0; j < 3; ++j) ref_w[j].Step(0.3 * j - 0.2 * t, t, cfg, 0.05, 0.01);
    if (touch) {
      // Lazy: the row's moments only move when touched; bias correction uses
      // the global step t; embeddings are not decayed by default.
      ref_row2[0].Step(0.5, t, cfg, 0.05, 0.0);
      ref_row2[1].Step(-1.0, t, cfg, 0.05, 0.0);
    }
  }
  EXPECT_EQ((*opt)->step(), 5);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(arena.Value(w)(0, j), ref_w[j].theta, 1e-5);
  for (int j = 0; j < 2; ++j) EXPECT_NEAR(arena.Value(e)(2, j), ref_row2[j].theta, 1e-5);
  // Never-touched rows: parameters and moments untouched.
  for (int r : {0, 1, 3}) {
    for (int j = 0; j < 2; ++j) {
      EXPECT_EQ(arena.Value(e)(r, j), initial.Value(e)(r, j));
      EXPECT_EQ((*opt)->first_moment()[arena.tensor(e).offset + r * 2 + j], 0.0f);
    }
  }
}

TEST(AdamWTest, NonLazyMovesUntouchedRowsWithMomentum) {
  ParameterArena arena;
  const int e = arena.Add("emb", 2, 1, ParamKind::kEmbedding);
  arena.Allocate();
  AdamWConfig cfg{.learning_rate = 0.1, .lazy_embeddings = false};
  auto opt = AdamW::Create(cfg, arena);
  GradBuffer g(arena);
  g.Row(e, 0)[0] = 1.0f;
  g.Row(e, 1)[0] = 1.0f;
  (*opt)->Step(arena, g);
  g.Zero();
  g.Row(e, 0)[0] = 1.0f;  // row 1 untouched at step 2
  const float before = arena.Value(e)(1, 0);
  (*opt)->Step(arena, g);
  EXPECT_LT(arena.Value(e)(1, 0), before);  // momentum keeps moving it
}

TEST(AdamWTest, ValidatesConfig) {
  ParameterArena arena;
  arena.Add("w", 1, 1);
  arena.Allocate();
  EXPECT_EQ(AdamW::Create({.learning_rate = 0}, arena).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AdamW::Create({.beta2 = 1.0}, arena).status().code(), absl::StatusCode::kInvalidArgument);
  ParameterArena unallocated;
  EXPECT_EQ(AdamW::Create({}, unallocated).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ClipTest, ClipsToMaxNorm) {
  ParameterArena arena;
  const int w = arena.Add("w", 1, 2);
  const int e = arena.Add("emb", 5, 2, ParamKind::kEmbedding);
  arena.Allocate();
  GradBuffer g(arena);
  g.Dense(w) << 3.0f, 0.0f;
  g.Row(e, 3)[1] = 4.0f;
  EXPECT_NEAR(ClipGradNorm(g, 10.0), 5.0, 1e-9);  // no-op
  EXPECT_NEAR(std::sqrt(g.SquaredNorm()), 5.0, 1e-6);
  EXPECT_NEAR(ClipGradNorm(g, 1.0), 5.0, 1e-9);
  EXPECT_NEAR(std::sqrt(g.SquaredNorm()), 1.0, 1e-6);
  EXPECT_NEAR(g.Row(e, 3)[1], 0.8f, 1e-6);
}

TEST(ScheduleTest, WarmupThenDecay) {
  LrScheduleConfig c{.warmup_steps = 10, .total_steps = 110, .decay = LrDecay::kCosine, .min_ratio = 0.1};
  ASSERT_TRUE(c.Validate().ok());
  EXPECT_NEAR(LrMultiplier(c, 0), 0.1, 1e-12);
  EXPECT_NEAR(LrMultiplier(c, 9), 1.0, 1e-12);
  EXPECT_NEAR(LrMultiplier(c, 10), 1.0, 1e-12);
  EXPECT_NEAR(LrMultiplier(c, 60), 0.55, 1e-12);   // cosine midpoint
  EXPECT_NEAR(LrMultiplier(c, 500), 0.1, 1e-12);   // floor
  c.decay = LrDecay::kLinear;
  EXPECT_NEAR(LrMultiplier(c, 35), 0.1 + 0.9 * 0.75, 1e-12);
  c.decay = LrDecay::kConstant;
  EXPECT_EQ(LrMultiplier(c, 100), 1.0);
  EXPECT_FALSE((LrScheduleConfig{.warmup_steps = 10, .total_steps = 5}).Validate().ok());
  EXPECT_FALSE((LrScheduleConfig{.min_ratio = 2}).Validate().ok());
}

}  // namespace
}  // namespace recsys

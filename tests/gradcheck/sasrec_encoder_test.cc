// Finite-difference check of the SASRec short-term encoder (double): item
// embedding rows, positions and every block/LayerNorm parameter, on a tiny
// left-padded batch (one fully padded sequence included).
#include <vector>

#include "gtest/gtest.h"
#include "gradcheck/layers_test_util.h"
#include "recsys/ranker/short_term_encoder.h"
#include "recsys/training/grad_check.h"

namespace recsys {
namespace {

TEST(SasRecEncoderGradCheck, AllParameters) {
  ShortTermEncoderConfig cfg;
  cfg.dim = 4;
  cfg.num_blocks = 2;
  cfg.num_heads = 2;
  cfg.max_len = 6;
  cfg.ffn_dim = 6;
  cfg.dropout = 0.0;
  cfg.layer_norm_eps = 1e-5;
  ASSERT_TRUE(cfg.Validate().ok());
  const int num_items = 7;
  ParameterArena arena;
  const int emb = arena.Add("item_emb", num_items, cfg.dim, ParamKind::kEmbedding);
  ShortTermEncoderLayout layout = ShortTermEncoderLayout::Register(&arena, cfg, "enc.");
  arena.Allocate();
  Rng rng(3, 0);
  arena.FillNormal(emb, 0.5f, rng);
  layout.Init(&arena, rng);
  // Double mirror; perturb LayerNorm gains/biases away from 1/0 so their
  // gradients are generic.
  std::vector<double> theta(arena.data(), arena.data() + arena.size());
  for (double& v : theta) v += 0.1 * rng.Normal();
  std::vector<double> grad(theta.size(), 0.0);

  const Eigen::Index batch = 3, seq_len = 5;
  const std::vector<int32_t> items = {-1, -1, 2, 5, 1,   //
                                      3, 0, 6, 6, 4,     //
                                      -1, -1, -1, -1, -1};
  const MatrixD r = layers::testing::RandomMat(batch * seq_len, cfg.dim, 99);
  using Enc = ShortTermEncoder<double>;
  Enc::Cache cache;
  MatrixD states, d_rows;
  auto table = [&] {
    const ParamTensor& t = arena.tensor(emb);
    return Eigen::Map<const MatrixD>(theta.data() + t.offset, t.rows, t.cols);
  };
  auto loss = [&] {
    Enc::Forward(table(), items, batch, layout.BindParams<double>(theta.data(), arena), cfg, false, nullptr,
                 &cache, &states);
    double l = 0;
    for (Eigen::Index i = 0; i < states.rows(); ++i) {
      if (items[static_cast<size_t>(i)] >= 0) l += states.row(i).dot(r.row(i));
    }
    return l;
  };
  loss();
  MatrixD dstates = r;
  for (Eigen::Index i = 0; i < states.rows(); ++i) {
    if (items[static_cast<size_t>(i)] < 0) dstates.row(i).setZero();
  }
  Enc::Backward(dstates, layout.BindParams<double>(theta.data(), arena), cfg, cache,
                layout.BindGrads<double>(grad.data(), arena), &d_rows);
  const ParamTensor& te = arena.tensor(emb);
  for (Eigen::Index i = 0; i < d_rows.rows(); ++i) {
    const int32_t it = items[static_cast<size_t>(i)];
    if (it < 0) {
      EXPECT_EQ(d_rows.row(i).squaredNorm(), 0.0);
      continue;
    }
    for (int k = 0; k < cfg.dim; ++k) grad[static_cast<size_t>(te.offset + it * cfg.dim + k)] += d_rows(i, k);
  }
  std::vector<GradCheckTensor> tensors;
  for (const ParamTensor& t : arena.tensors()) {
    tensors.push_back({t.name, theta.data() + t.offset, grad.data() + t.offset, t.size()});
  }
  const GradCheckResult res = CheckGradients(loss, tensors);
  EXPECT_LT(res.max_rel_error, 1e-5) << res.Summary();
  EXPECT_GT(res.elements_checked, 300);
}

TEST(SasRecEncoder, LeftPaddedWindow) {
  std::vector<ItemIndex> h = {1, 2, 3};
  std::vector<int32_t> w(5);
  FillLeftPaddedWindow(h, 5, w.data());
  EXPECT_EQ(w, (std::vector<int32_t>{-1, -1, 1, 2, 3}));
  FillLeftPaddedWindow(h, 2, w.data());
  EXPECT_EQ(w[0], 2);
  EXPECT_EQ(w[1], 3);
}

}  // namespace
}  // namespace recsys

// Finite-difference checks of multi-head attention (self with causal and
// key-padding masks, fully padded sequences; cross over jagged sequences with
// L = 0, 1 and longer) and of the pre-norm transformer block (double).
// Tolerance: max relative error < 1e-6 (kGradTol).
#include <vector>

#include "gtest/gtest.h"
#include "gradcheck/layers_test_util.h"
#include "recsys/ranker/layers/layers.h"
#include "recsys/training/grad_check.h"

namespace recsys::layers {
namespace {

using testing::kGradTol;
using testing::Project;
using testing::RandomMat;
using testing::RandomRow;

// dL/dbk is identically zero (adding a constant to every key shifts each
// logit row by q·bk, and softmax ignores shifts), so its finite differences are
// pure round-off (~1e-10): a denominator floor of 1e-3 keeps that from reading
// as a relative error while every other gradient here is O(0.1..10).
const GradCheckOptions kAttnCheck{.denominator_floor = 1e-3};

// Attention parameters and their gradient buffers (D × D, 1 × D).
struct AttnWeights {
  explicit AttnWeights(Eigen::Index d, uint64_t stream) {
    for (int i = 0; i < 4; ++i) {
      w[i] = RandomMat(d, d, stream + i, 0.6);
      b[i] = RandomRow(d, stream + 10 + i, 0.1);
      gw[i] = MatrixD::Zero(d, d);
      gb[i] = RowVector<double>::Zero(d);
    }
  }
  MultiHeadAttention<double>::Params params() const {
    return {w[0], w[1], w[2], w[3], b[0], b[1], b[2], b[3]};
  }
  MultiHeadAttention<double>::Grads grads() { return {gw[0], gw[1], gw[2], gw[3], gb[0], gb[1], gb[2], gb[3]}; }
  void AddTensors(std::vector<GradCheckTensor>* t) {
    const char* names[4] = {"wq", "wk", "wv", "wo"};
    const char* bnames[4] = {"bq", "bk", "bv", "bo"};
    for (int i = 0; i < 4; ++i) {
      t->push_back(GradTensor(names[i], w[i], gw[i]));
      t->push_back(GradTensor(bnames[i], b[i], gb[i]));
    }
  }
  MatrixD w[4], gw[4];
  RowVector<double> b[4], gb[4];
};

struct SelfCase {
  const char* name;
  bool causal;
  int heads;
  std::vector<uint8_t> valid;  // empty = all valid
  Eigen::Index tile = 32;      // causal query tile (S = 4: 32 means one tile)
};

TEST(LayersGradCheck, SelfAttentionMasks) {
  const Eigen::Index batch = 3, seq = 4, d = 6;
  const std::vector<SelfCase> cases = {
      {"causal, no padding", true, 2, {}},
      {"causal, tiles of 1 row", true, 2, {}, 1},
      {"causal + padding, tiles of 3 rows", true, 2, {0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, 3},
      {"bidirectional, 3 heads", false, 3, {}},
      // sequence 0 left-padded, sequence 1 right-padded, sequence 2 fully padded
      {"causal + padding + fully padded row", true, 2, {0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}},
      {"bidirectional + padding", false, 1, {0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0}},
  };
  for (const SelfCase& c : cases) {
    SCOPED_TRACE(c.name);
    AttnWeights wts(d, 100);
    MatrixD x = RandomMat(batch * seq, d, 90), r = RandomMat(batch * seq, d, 91), out, dx;
    MultiHeadAttention<double>::Cache cache;
    const AttentionOptions opt{.heads = c.heads, .causal = c.causal, .causal_tile = c.tile};
    auto loss = [&] {
      MultiHeadAttention<double>::SelfForward(x, wts.params(), opt, batch, seq, c.valid, &cache, &out);
      return Project(out, r);
    };
    loss();
    ASSERT_TRUE(out.allFinite());
    MultiHeadAttention<double>::SelfBackward(x, r, wts.params(), cache, wts.grads(), &dx);
    ASSERT_TRUE(dx.allFinite());
    for (size_t i = 0; i < c.valid.size(); ++i) {
      if (!c.valid[i]) {
        EXPECT_TRUE(dx.row(static_cast<Eigen::Index>(i)).isZero()) << "padded row " << i;
        EXPECT_TRUE(out.row(static_cast<Eigen::Index>(i)).isApprox(wts.b[3])) << "padded row " << i;
      }
    }
    EXPECT_LT(wts.gb[1].cwiseAbs().maxCoeff(), 1e-12);  // dL/dbk ≡ 0 (softmax shift invariance)
    std::vector<GradCheckTensor> tensors = {GradTensor("x", x, dx)};
    wts.AddTensors(&tensors);
    auto res = CheckGradients(loss, tensors, kAttnCheck);
    EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();
  }
}

TEST(LayersGradCheck, SelfAttentionCausalityHolds) {
  // Output at position i must not change when a later position changes.
  const Eigen::Index seq = 5, d = 4;
  AttnWeights wts(d, 200);
  MatrixD x = RandomMat(seq, d, 92), out1, out2;
  MultiHeadAttention<double>::Cache cache;
  MultiHeadAttention<double>::SelfForward(x, wts.params(), {.heads = 2}, 1, seq, {}, &cache, &out1);
  x.row(3).array() += 1.0;
  MultiHeadAttention<double>::SelfForward(x, wts.params(), {.heads = 2}, 1, seq, {}, &cache, &out2);
  EXPECT_TRUE(out1.topRows(3).isApprox(out2.topRows(3), 1e-14));
  EXPECT_FALSE(out1.row(3).isApprox(out2.row(3), 1e-6));
}

TEST(LayersGradCheck, CrossAttentionJagged) {
  const Eigen::Index d = 4, q_per_user = 3;
  // Users with L = 2, 1, 0, 4 (L = 0: no keys, output = bo, no gradient).
  const std::vector<int64_t> offsets = {0, 2, 3, 3, 7};
  const Eigen::Index batch = 4;
  for (int heads : {1, 2}) {
    SCOPED_TRACE(heads);
    AttnWeights wts(d, 300);
    MatrixD queries = RandomMat(batch * q_per_user, d, 93), memory = RandomMat(7, d, 94);
    MatrixD r = RandomMat(batch * q_per_user, d, 95), out, dq, dm;
    MultiHeadAttention<double>::Cache cache;
    auto loss = [&] {
      MultiHeadAttention<double>::CrossForward(queries, memory, offsets, q_per_user, wts.params(),
                                               {.heads = heads}, &cache, &out);
      return Project(out, r);
    };
    loss();
    ASSERT_TRUE(out.allFinite());
    MultiHeadAttention<double>::CrossBackward(queries, memory, r, wts.params(), cache, wts.grads(), &dq, &dm);
    EXPECT_TRUE(dq.middleRows(2 * q_per_user, q_per_user).isZero());  // L = 0 user
    std::vector<GradCheckTensor> tensors = {GradTensor("queries", queries, dq), GradTensor("memory", memory, dm)};
    wts.AddTensors(&tensors);
    auto res = CheckGradients(loss, tensors, kAttnCheck);
    EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();
  }
}

TEST(LayersGradCheck, CrossAttentionSingleKeyCopiesValue) {
  // L = 1: softmax over one key is 1, so ctx = v and out = (m·Wv + bv)·Wo + bo.
  const Eigen::Index d = 4;
  AttnWeights wts(d, 400);
  MatrixD queries = RandomMat(2, d, 96), memory = RandomMat(1, d, 97), out;
  MultiHeadAttention<double>::Cache cache;
  const std::vector<int64_t> offsets = {0, 1};
  MultiHeadAttention<double>::CrossForward(queries, memory, offsets, 2, wts.params(), {.heads = 2}, &cache, &out);
  const RowVector<double> expect = (memory * wts.w[2] + wts.b[2]) * wts.w[3] + wts.b[3];
  EXPECT_TRUE(out.row(0).isApprox(expect, 1e-12));
  EXPECT_TRUE(out.row(1).isApprox(expect, 1e-12));
}

struct BlockWeights {
  BlockWeights(Eigen::Index d, Eigen::Index f, uint64_t s) : attn(d, s) {
    ln1g = RowVector<double>::Ones(d) + RandomRow(d, s + 50, 0.1);
    ln1b = RandomRow(d, s + 51, 0.1);
    ln2g = RowVector<double>::Ones(d) + RandomRow(d, s + 52, 0.1);
    ln2b = RandomRow(d, s + 53, 0.1);
    w1 = RandomMat(d, f, s + 54, 0.5);
    b1 = RandomRow(f, s + 55, 0.1);
    w2 = RandomMat(f, d, s + 56, 0.5);
    b2 = RandomRow(d, s + 57, 0.1);
    for (auto* g : {&gln1g, &gln1b, &gln2g, &gln2b, &gb2}) *g = RowVector<double>::Zero(d);
    gb1 = RowVector<double>::Zero(f);
    gw1 = MatrixD::Zero(d, f);
    gw2 = MatrixD::Zero(f, d);
  }
  TransformerBlock<double>::Params params() const {
    return {{ln1g, ln1b}, attn.params(), {ln2g, ln2b}, {{w1, b1}, {w2, b2}}};
  }
  TransformerBlock<double>::Grads grads() {
    return {{gln1g, gln1b}, attn.grads(), {gln2g, gln2b}, {{gw1, gb1}, {gw2, gb2}}};
  }
  void AddTensors(std::vector<GradCheckTensor>* t) {
    t->push_back(GradTensor("ln1.gamma", ln1g, gln1g));
    t->push_back(GradTensor("ln1.beta", ln1b, gln1b));
    attn.AddTensors(t);
    t->push_back(GradTensor("ln2.gamma", ln2g, gln2g));
    t->push_back(GradTensor("ln2.beta", ln2b, gln2b));
    t->push_back(GradTensor("ffn.w1", w1, gw1));
    t->push_back(GradTensor("ffn.b1", b1, gb1));
    t->push_back(GradTensor("ffn.w2", w2, gw2));
    t->push_back(GradTensor("ffn.b2", b2, gb2));
  }
  AttnWeights attn;
  RowVector<double> ln1g, ln1b, ln2g, ln2b, b1, b2, gln1g, gln1b, gln2g, gln2b, gb1, gb2;
  MatrixD w1, w2, gw1, gw2;
};

TEST(LayersGradCheck, PreNormBlockWithPaddingAndFixedDropoutMasks) {
  const Eigen::Index batch = 3, seq = 4, d = 4, f = 8;
  // Left padding, no padding, full padding.
  const std::vector<uint8_t> valid = {0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  for (Activation act : {Activation::kRelu, Activation::kGelu}) {
    SCOPED_TRACE(act == Activation::kRelu ? "relu" : "gelu");
    BlockWeights wts(d, f, 500);
    MatrixD x = RandomMat(batch * seq, d, 98), r = RandomMat(batch * seq, d, 99), out, dx;
    BlockOptions opt{.attention = {.heads = 2, .causal_tile = 3}, .ffn = {.activation = act, .dropout = 0.2},
                     .dropout = 0.3, .layer_norm_eps = 1e-5};
    TransformerBlock<double>::Cache cache;
    Rng rng(11, 2);
    TransformerBlock<double>::Forward(x, wts.params(), opt, batch, seq, valid, /*training=*/true, &rng,
                                      &cache, &out);
    ASSERT_FALSE(cache.mask_a.Identity());
    ASSERT_FALSE(cache.mask_f.Identity());
    ASSERT_FALSE(cache.ffn.mask.Identity());
    auto loss = [&] {
      TransformerBlock<double>::ForwardWithMasks(x, wts.params(), opt, batch, seq, valid, &cache, &out);
      return Project(out, r);
    };
    loss();
    TransformerBlock<double>::Backward(x, r, wts.params(), cache, wts.grads(), &dx);
    ASSERT_TRUE(out.allFinite() && dx.allFinite());
    for (size_t i = 0; i < valid.size(); ++i) {
      if (!valid[i]) {
        EXPECT_TRUE(out.row(static_cast<Eigen::Index>(i)).isZero()) << i;
        EXPECT_TRUE(dx.row(static_cast<Eigen::Index>(i)).isZero()) << i;
      }
    }
    std::vector<GradCheckTensor> tensors = {GradTensor("x", x, dx)};
    wts.AddTensors(&tensors);
    auto res = CheckGradients(loss, tensors, kAttnCheck);
    EXPECT_LT(res.max_rel_error, kGradTol) << res.Summary();
  }
}

}  // namespace
}  // namespace recsys::layers

// Micro-benchmarks of the neural-core layers (single thread: the trainer
// parallelises over shards, each running these kernels on its micro-batch).
//
//   build-*/benchmarks/layers_bench --benchmark_filter=BM_TransformerBlock
//
// items/s counts sequence positions (events) processed, B·S per iteration
// (cross-attention: Σ L_b memory rows).
#include <algorithm>
#include <span>
#include <vector>

#include <benchmark/benchmark.h>

#include "recsys/core/rng.h"
#include "recsys/ranker/layers/layers.h"
#include "recsys/ranker/target_scorer.h"
#include "recsys/training/losses.h"

namespace recsys::layers {
namespace {

MatrixF Random(Eigen::Index rows, Eigen::Index cols, uint64_t stream, float scale) {
  Rng rng(7, stream);
  MatrixF m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = scale * static_cast<float>(rng.Normal());
  return m;
}

struct Weights {
  Weights(Eigen::Index d, Eigen::Index f) {
    const float s = 1.0f / std::sqrt(static_cast<float>(d));
    for (int i = 0; i < 4; ++i) {
      w[i] = Random(d, d, i, s);
      gw[i] = MatrixF::Zero(d, d);
      b[i] = gb[i] = RowVectorF::Zero(d);
    }
    ones = RowVectorF::Ones(d);
    zeros = RowVectorF::Zero(d);
    for (auto* g : {&g1, &g2, &g3, &g4, &gb2}) *g = RowVectorF::Zero(d);
    w1 = Random(d, f, 10, s);
    w2 = Random(f, d, 11, 1.0f / std::sqrt(static_cast<float>(f)));
    gw1 = MatrixF::Zero(d, f);
    gw2 = MatrixF::Zero(f, d);
    b1 = gb1 = RowVectorF::Zero(f);
  }
  MultiHeadAttention<float>::Params attn() const { return {w[0], w[1], w[2], w[3], b[0], b[1], b[2], b[3]}; }
  MultiHeadAttention<float>::Grads attn_grads() { return {gw[0], gw[1], gw[2], gw[3], gb[0], gb[1], gb[2], gb[3]}; }
  TransformerBlock<float>::Params block() const {
    return {{ones, zeros}, attn(), {ones, zeros}, {{w1, b1}, {w2, zeros}}};
  }
  TransformerBlock<float>::Grads block_grads() {
    return {{g1, g2}, attn_grads(), {g3, g4}, {{gw1, gb1}, {gw2, gb2}}};
  }
  MatrixF w[4], gw[4], w1, w2, gw1, gw2;
  RowVectorF b[4], gb[4], ones, zeros, g1, g2, g3, g4, b1, gb1, gb2;
};

// Left-padded batch: sequence lengths spread over [S/4, S].
std::vector<uint8_t> Valid(Eigen::Index batch, Eigen::Index seq) {
  std::vector<uint8_t> valid(static_cast<size_t>(batch * seq), 0);
  for (Eigen::Index b = 0; b < batch; ++b) {
    const Eigen::Index len = seq / 4 + (b * 7919) % (seq - seq / 4 + 1);
    for (Eigen::Index s = seq - len; s < seq; ++s) valid[static_cast<size_t>(b * seq + s)] = 1;
  }
  return valid;
}

// Args: B, S, D, H. FFN hidden = D (SASRec), ReLU, dropout 0.2 (training).
void BM_TransformerBlock_ForwardBackward(benchmark::State& state) {
  const Eigen::Index batch = state.range(0), seq = state.range(1), d = state.range(2);
  const int heads = static_cast<int>(state.range(3));
  Weights wts(d, d);
  const MatrixF x = Random(batch * seq, d, 20, 1.0f), dout = Random(batch * seq, d, 21, 1.0f);
  const std::vector<uint8_t> valid = Valid(batch, seq);
  TransformerBlock<float>::Cache cache;
  MatrixF out, dx;
  BlockOptions opt{.attention = {.heads = heads}, .ffn = {.dropout = 0.2}, .dropout = 0.2};
  Rng rng(1, 0);
  for (auto _ : state) {
    TransformerBlock<float>::Forward(x, wts.block(), opt, batch, seq, valid, true, &rng, &cache, &out);
    TransformerBlock<float>::Backward(x, dout, wts.block(), cache, wts.block_grads(), &dx);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetItemsProcessed(state.iterations() * batch * seq);
}
BENCHMARK(BM_TransformerBlock_ForwardBackward)
    ->Args({128, 200, 64, 2})
    ->Args({128, 200, 128, 2})
    ->Args({128, 50, 64, 2})
    ->Unit(benchmark::kMillisecond);

void BM_TransformerBlock_Forward(benchmark::State& state) {
  const Eigen::Index batch = state.range(0), seq = state.range(1), d = state.range(2);
  Weights wts(d, d);
  const MatrixF x = Random(batch * seq, d, 20, 1.0f);
  const std::vector<uint8_t> valid = Valid(batch, seq);
  TransformerBlock<float>::Cache cache;
  MatrixF out;
  BlockOptions opt{.attention = {.heads = static_cast<int>(state.range(3))}};
  for (auto _ : state) {
    TransformerBlock<float>::Forward(x, wts.block(), opt, batch, seq, valid, false, nullptr, &cache, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * batch * seq);
}
BENCHMARK(BM_TransformerBlock_Forward)->Args({128, 200, 64, 2})->Unit(benchmark::kMillisecond);

// Attention core alone (projected q, k, v given): forward + backward.
void BM_SelfAttention_CoreForwardBackward(benchmark::State& state) {
  const Eigen::Index batch = state.range(0), seq = state.range(1), d = state.range(2);
  MultiHeadAttention<float>::Cache cache;
  cache.q = Random(batch * seq, d, 1, 0.3f);
  cache.k = Random(batch * seq, d, 2, 0.3f);
  cache.v = Random(batch * seq, d, 3, 1.0f);
  cache.dctx = Random(batch * seq, d, 4, 1.0f);
  cache.options = {.heads = static_cast<int>(state.range(3)), .causal = true};
  for (Eigen::Index b = 0; b < batch; ++b) cache.segments.push_back({b * seq, seq, b * seq, seq});
  for (auto _ : state) {
    MultiHeadAttention<float>::Attend(&cache, true);
    MultiHeadAttention<float>::AttendBackward(&cache);
    benchmark::DoNotOptimize(cache.dq.data());
  }
  state.SetItemsProcessed(state.iterations() * batch * seq);
}
BENCHMARK(BM_SelfAttention_CoreForwardBackward)->Args({128, 200, 64, 2})->Unit(benchmark::kMillisecond);

// Cross-attention: B users, Q = 4 interest queries, L memory rows each.
// Time per memory row should stay flat as L grows (linear cost).
void BM_CrossAttention_ForwardBackward(benchmark::State& state) {
  const Eigen::Index batch = state.range(0), len = state.range(1), d = 64, q = 4;
  Weights wts(d, d);
  std::vector<int64_t> offsets(static_cast<size_t>(batch) + 1);
  for (Eigen::Index b = 0; b <= batch; ++b) offsets[static_cast<size_t>(b)] = b * len;
  const MatrixF queries = Random(batch * q, d, 30, 1.0f), memory = Random(batch * len, d, 31, 1.0f);
  const MatrixF dout = Random(batch * q, d, 32, 1.0f);
  MultiHeadAttention<float>::Cache cache;
  MatrixF out, dq, dm;
  for (auto _ : state) {
    MultiHeadAttention<float>::CrossForward(queries, memory, offsets, q, wts.attn(), {.heads = 2}, &cache, &out);
    MultiHeadAttention<float>::CrossBackward(queries, memory, dout, wts.attn(), cache, wts.attn_grads(), &dq, &dm);
    benchmark::DoNotOptimize(dm.data());
  }
  state.SetItemsProcessed(state.iterations() * batch * len);
}
BENCHMARK(BM_CrossAttention_ForwardBackward)->Args({32, 250})->Args({32, 1000})->Args({32, 4000})
    ->Unit(benchmark::kMillisecond);

void BM_Linear_ForwardBackward(benchmark::State& state) {
  const Eigen::Index n = state.range(0), d = state.range(1);
  const MatrixF x = Random(n, d, 40, 1.0f), w = Random(d, d, 41, 0.1f), dy = Random(n, d, 42, 1.0f);
  const RowVectorF b = RowVectorF::Zero(d);
  MatrixF gw = MatrixF::Zero(d, d), y, dx;
  RowVectorF gb = RowVectorF::Zero(d);
  for (auto _ : state) {
    Linear<float>::Forward(x, {w, b}, &y);
    Linear<float>::Backward(x, dy, {w, b}, {gw, gb}, &dx);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Linear_ForwardBackward)->Args({25600, 64})->Unit(benchmark::kMillisecond);

// Full-softmax L_long of the long/short ranker: R long rows (users), each
// M = 5 interests scored against all N items by the target-aware scorer, CE
// against one target, backward into the interests and the item table.
// PerRow is the form the ranker used before (one Forward / Backward per row,
// the reference); Batched is TargetScorer::ForwardBatch / BackwardBatch over
// chunks of `chunk` rows (the ranker's kLongChunk). items/s counts rows.
// ML-1M: N = 3706, D = 64; a 2-thread shard of the dense config holds a few
// thousand long rows.
struct FullCeInputs {
  FullCeInputs(Eigen::Index rows, Eigen::Index n, Eigen::Index m, Eigen::Index d)
      : interests(Random(rows * m, d, 50, 0.3f)), items(Random(n, d, 51, 0.3f)),
        dint(MatrixF::Zero(rows * m, d)), ditems(MatrixF::Zero(n, d)) {
    for (Eigen::Index r = 0; r < rows; ++r) targets.push_back(static_cast<int32_t>((r * 7919) % n));
  }
  MatrixF interests, items, dint, ditems;
  std::vector<int32_t> targets;
};

void BM_TargetScorer_FullCE_PerRow(benchmark::State& state) {
  const Eigen::Index rows = state.range(0), n = state.range(1), m = 5, d = 64;
  FullCeInputs in(rows, n, m, d);
  std::vector<TargetScorer<float>::Cache> caches(static_cast<size_t>(rows));
  Eigen::VectorXf scores, dscores;
  MatrixF logits(rows, n), dlogits, dint;
  MatRef<float> ditems(in.ditems);
  for (auto _ : state) {
    for (Eigen::Index i = 0; i < rows; ++i) {
      TargetScorer<float>::Forward(in.interests.middleRows(i * m, m), in.items, 1.0f, &caches[i], &scores);
      logits.row(i) = scores.transpose();
    }
    benchmark::DoNotOptimize(SoftmaxCrossEntropy(logits, in.targets, &dlogits, LossReduction::kSum));
    for (Eigen::Index i = 0; i < rows; ++i) {
      dscores = dlogits.row(i).transpose();
      dint.setZero(m, d);
      TargetScorer<float>::Backward(in.interests.middleRows(i * m, m), in.items, dscores, 1.0f, caches[i], &dint,
                                    &ditems);
      in.dint.middleRows(i * m, m) += dint;
    }
    benchmark::DoNotOptimize(in.ditems.data());
  }
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_TargetScorer_FullCE_PerRow)->Args({1024, 3706})->Args({1024, 12000})->Unit(benchmark::kMillisecond);

void BM_TargetScorer_FullCE_Batched(benchmark::State& state) {
  const Eigen::Index rows = state.range(0), n = state.range(1), chunk = state.range(2), m = 5, d = 64;
  FullCeInputs in(rows, n, m, d);
  TargetScorer<float>::BatchCache cache;
  MatrixF dlogits;
  MatRef<float> ditems(in.ditems);
  const std::span<const int32_t> targets(in.targets);
  for (auto _ : state) {
    for (Eigen::Index i0 = 0; i0 < rows; i0 += chunk) {
      const Eigen::Index c = std::min(chunk, rows - i0);
      const auto block = in.interests.middleRows(i0 * m, c * m);
      TargetScorer<float>::ForwardBatch(block, m, in.items, 1.0f, &cache);
      benchmark::DoNotOptimize(
          SoftmaxCrossEntropy(cache.score, targets.subspan(i0, c), &dlogits, LossReduction::kSum));
      auto dint = in.dint.middleRows(i0 * m, c * m);
      TargetScorer<float>::BackwardBatch(block, m, in.items, dlogits, 1.0f, cache, &dint, &ditems);
    }
    benchmark::DoNotOptimize(in.ditems.data());
  }
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_TargetScorer_FullCE_Batched)
    ->ArgsProduct({{1024}, {3706}, {8, 16, 32, 64, 256}})
    ->Args({1024, 12000, 16})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace recsys::layers

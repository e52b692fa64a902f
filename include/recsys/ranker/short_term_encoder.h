// Short-term encoder (SASRec, Kang & McAuley 2018; DESIGN.md §1 stage 2.2):
// the last S items of a history → item embedding (·√D) + learnable position
// → dropout → N pre-norm causal self-attention blocks → final LayerNorm →
// one state per position. The last state is the short-term interest u_s.
// Used by the `sasrec` model and reused by the long/short-term ranker.
//
// Shape legend
//   B  sequences     S  window length (≤ max_len, left-padded)    D  model dim
//   V  item-table rows    n = B·S rows, sequence b in rows [b·S, (b+1)·S)
//   items      n item indices in [0, V) or −1 (padding; padding is on the left)
//   item_emb   V × D (owned by the caller: shared with the output layer)
//   positions  max_len × D; a window of length S uses its LAST S rows (slot s
//              gets row max_len − S + s), so the most recent item always gets
//              row max_len − 1 and a batch can be trimmed to its longest
//              history without changing any valid row's output
//   states     n × D, row-major; u_s of sequence b = states.row(b·S + S−1)
//
//   x0 = drop_e(E[items]·√D + P[max_len−S..]) ⊙ valid         (valid = items ≥ 0)
//   x_{l+1} = Block_l(x_l)                         (layers/transformer_block.h)
//   states = LN_f(x_N)
//
// Usage (float training through a ParameterArena; double for gradient checks):
//   recsys::ParameterArena arena;
//   int emb = arena.Add("item_emb", num_items, cfg.dim, recsys::ParamKind::kEmbedding);
//   auto layout = recsys::ShortTermEncoderLayout::Register(&arena, cfg, "enc.");
//   arena.Allocate();  layout.Init(&arena, rng);
//   using Enc = recsys::ShortTermEncoder<float>;
//   Enc::Cache cache;  recsys::MatrixF states, d_rows;
//   std::vector<int32_t> window(B * S);  recsys::FillLeftPaddedWindow(history, S, window.data());
//   Enc::Forward(arena.Value(emb), window, B, layout.BindParams(arena.data(), arena), cfg,
//                /*training=*/true, &rng, &cache, &states);
//   Enc::Backward(dstates, layout.BindParams(...), cfg, cache,
//                 layout.BindGrads(grads.data(), arena), &d_rows);   // grads accumulate
//   // d_rows.row(i) is dL/dE[window[i]] for every i with window[i] ≥ 0: scatter it.
//
// Random draws (training): the embedding-dropout mask (one Uniform() per
// element of x0), then each block's masks in block order. Nothing is drawn
// when training is false or dropout is 0.
// Thread safety: stateless functions; one Cache per caller. Params only read.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "recsys/core/check.h"
#include "recsys/core/rng.h"
#include "recsys/ranker/layers/layers.h"
#include "recsys/training/arena.h"

namespace recsys {

struct ShortTermEncoderConfig {
  // D: model (and item-embedding) dimension, ≥ 1; divisible by num_heads.
  int dim = 64;
  // N: number of self-attention blocks, ≥ 1 (SASRec: 2).
  int num_blocks = 2;
  // H: attention heads per block, ≥ 1 (SASRec: 1).
  int num_heads = 1;
  // S_max: longest window (rows of the position table), ≥ 1 (SASRec ML-1M: 200).
  int max_len = 200;
  // F: hidden width of the point-wise FFN; 0 = D (SASRec).
  int ffn_dim = 0;
  // Dropout probability of the embedding, both residual branches and the FFN
  // hidden layer, in [0, 1) (SASRec ML-1M: 0.2; gSASRec: 0.5).
  double dropout = 0.2;
  // ε of every LayerNorm, > 0 (SASRec: 1e-8).
  double layer_norm_eps = 1e-8;
  // Multiply item embeddings by √D before adding positions (SASRec).
  bool scale_embeddings = true;
  // FFN activation (SASRec: ReLU).
  layers::Activation activation = layers::Activation::kRelu;

  int ffn_width() const { return ffn_dim > 0 ? ffn_dim : dim; }

  absl::Status Validate() const {
    auto bad = [](const std::string& field, const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat("short-term encoder config: ", field, " ", why));
    };
    if (dim < 1) return bad("dim", absl::StrCat("must be >= 1, got ", dim));
    if (num_blocks < 1) return bad("num_blocks", absl::StrCat("must be >= 1, got ", num_blocks));
    if (num_heads < 1 || dim % num_heads != 0) {
      return bad("num_heads", absl::StrCat("must be >= 1 and divide dim ", dim, ", got ", num_heads));
    }
    if (max_len < 1) return bad("max_len", absl::StrCat("must be >= 1, got ", max_len));
    if (ffn_dim < 0) return bad("ffn_dim", absl::StrCat("must be >= 0, got ", ffn_dim));
    if (!(dropout >= 0.0 && dropout < 1.0)) return bad("dropout", absl::StrCat("must be in [0, 1), got ", dropout));
    if (!(layer_norm_eps > 0.0)) return bad("layer_norm_eps", absl::StrCat("must be > 0, got ", layer_norm_eps));
    return absl::OkStatus();
  }

  layers::BlockOptions block_options() const {
    layers::BlockOptions o;
    o.attention.heads = num_heads;
    o.attention.causal = true;
    o.ffn.activation = activation;
    o.ffn.dropout = dropout;
    o.dropout = dropout;
    o.layer_norm_eps = layer_norm_eps;
    return o;
  }
};

// Writes the last min(S, |history|) items of `history` into out[0..S), right
// aligned, with −1 in the slots before them (left padding).
inline void FillLeftPaddedWindow(std::span<const ItemIndex> history, int64_t seq_len, int32_t* out) {
  const int64_t take = std::min<int64_t>(seq_len, static_cast<int64_t>(history.size()));
  const int64_t pad = seq_len - take;
  for (int64_t s = 0; s < pad; ++s) out[s] = kNoItem;
  for (int64_t s = 0; s < take; ++s) out[pad + s] = history[history.size() - static_cast<size_t>(take) + s];
}

template <typename T>
struct ShortTermEncoder {
  using Block = layers::TransformerBlock<T>;

  struct Params {
    layers::CMatRef<T> positions;  // max_len × D
    std::vector<typename Block::Params> blocks;
    layers::CRowRef<T> final_gamma, final_beta;  // 1 × D
  };
  struct Grads {
    layers::MatRef<T> positions;  // accumulated
    std::vector<typename Block::Grads> blocks;
    layers::RowRef<T> final_gamma, final_beta;
  };
  struct Cache {
    Eigen::Index batch = 0, seq_len = 0;
    std::vector<uint8_t> valid;                  // n
    layers::Mat<T> emb;                          // n × D, E[items]·√D + P
    typename layers::Dropout<T>::Mask emb_mask;  // n × D or empty
    std::vector<layers::Mat<T>> x;               // N + 1 block inputs/outputs, n × D
    std::vector<typename Block::Cache> blocks;
    typename layers::LayerNorm<T>::Cache final_ln;
    layers::Mat<T> dx, dx_prev;                  // backward scratch
  };

  // items: batch·S indices (−1 = padding); states: resized to (batch·S) × D.
  static void Forward(const layers::CMatRef<T>& item_emb, std::span<const int32_t> items, Eigen::Index batch,
                      const Params& p, const ShortTermEncoderConfig& config, bool training, Rng* rng,
                      Cache* c, layers::Mat<T>* states) {
    const auto n = static_cast<Eigen::Index>(items.size());
    RECSYS_CHECK(batch > 0 && n % batch == 0) << "items: " << n << " entries for " << batch << " sequences";
    const Eigen::Index seq_len = n / batch;
    RECSYS_CHECK(seq_len <= p.positions.rows()) << "window " << seq_len << " > max_len " << p.positions.rows();
    RECSYS_CHECK(static_cast<int>(p.blocks.size()) == config.num_blocks);
    c->batch = batch;
    c->seq_len = seq_len;
    c->valid.resize(static_cast<size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) c->valid[static_cast<size_t>(i)] = items[static_cast<size_t>(i)] >= 0;

    layers::Embedding<T>::Forward(item_emb, items, &c->emb);                 // E[items]
    if (config.scale_embeddings) c->emb *= std::sqrt(T(config.dim));          //   ·√D
    layers::AddPositionEmbedding<T>(p.positions.bottomRows(seq_len), batch, seq_len, &c->emb);  //   + P
    c->x.resize(static_cast<size_t>(config.num_blocks) + 1);
    layers::Dropout<T>::Forward(c->emb, config.dropout, training, rng, &c->emb_mask, &c->x[0]);  // drop_e
    ZeroPadded(c->valid, &c->x[0]);                                          //   ⊙ valid

    const layers::BlockOptions options = config.block_options();
    c->blocks.resize(static_cast<size_t>(config.num_blocks));
    for (int l = 0; l < config.num_blocks; ++l) {
      Block::Forward(c->x[l], p.blocks[l], options, batch, seq_len, c->valid, training, rng, &c->blocks[l],
                     &c->x[l + 1]);                                          // x_{l+1} = Block_l(x_l)
    }
    layers::LayerNorm<T>::Forward(c->x[config.num_blocks], {p.final_gamma, p.final_beta},
                                  static_cast<T>(config.layer_norm_eps), &c->final_ln, states);  // LN_f
  }

  // dstates: n × D. Parameter gradients accumulate into g. d_item_rows
  // (optional) is overwritten with n × D: row i = dL/dE[items_i] (zero on
  // padding rows); the caller scatters it into its item-embedding gradient.
  static void Backward(const layers::CMatRef<T>& dstates, const Params& p, const ShortTermEncoderConfig& config,
                       Cache& c, Grads g, layers::Mat<T>* d_item_rows) {
    // states = LN_f(x_N)
    layers::LayerNorm<T>::Backward(dstates, {p.final_gamma, p.final_beta}, c.final_ln,
                                   {g.final_gamma, g.final_beta}, &c.dx);
    // x_{l+1} = Block_l(x_l)
    for (int l = config.num_blocks - 1; l >= 0; --l) {
      Block::Backward(c.x[l], c.dx, p.blocks[l], c.blocks[l], g.blocks[l], &c.dx_prev);
      std::swap(c.dx, c.dx_prev);
    }
    // x0 = drop_e(emb) ⊙ valid
    ZeroPadded(c.valid, &c.dx);
    layers::Dropout<T>::Backward(c.dx, c.emb_mask, &c.dx_prev);
    // emb = E[items]·√D + P
    layers::AddPositionEmbeddingBackward<T>(c.dx_prev, c.batch, c.seq_len, g.positions.bottomRows(c.seq_len));
    if (d_item_rows != nullptr) {
      *d_item_rows = c.dx_prev;
      if (config.scale_embeddings) *d_item_rows *= std::sqrt(T(config.dim));
    }
  }

  // Rows b·S + S − 1 of states: B × D.
  static void LastStates(const layers::CMatRef<T>& states, Eigen::Index batch, layers::Mat<T>* out) {
    const Eigen::Index seq_len = states.rows() / batch;
    layers::EnsureShape(out, batch, states.cols());
    for (Eigen::Index b = 0; b < batch; ++b) out->row(b) = states.row(b * seq_len + seq_len - 1);
  }

 private:
  static void ZeroPadded(const std::vector<uint8_t>& valid, layers::Mat<T>* x) {
    for (size_t i = 0; i < valid.size(); ++i) {
      if (!valid[i]) x->row(static_cast<Eigen::Index>(i)).setZero();
    }
  }
};

// Tensor ids of one encoder inside a ParameterArena (all dense), and views
// of them over any storage with the arena's layout (the arena's own floats,
// a GradBuffer's floats, or a double mirror for gradient checks).
struct ShortTermEncoderLayout {
  struct BlockIds {
    int ln1_gamma, ln1_beta, wq, bq, wk, bk, wv, bv, wo, bo, ln2_gamma, ln2_beta, w1, b1, w2, b2;
  };
  ShortTermEncoderConfig config;
  int positions = -1;
  std::vector<BlockIds> blocks;
  int final_gamma = -1, final_beta = -1;

  // Declares the encoder's tensors, names prefixed with `prefix` (e.g. "enc.").
  static ShortTermEncoderLayout Register(ParameterArena* arena, const ShortTermEncoderConfig& config,
                                         const std::string& prefix) {
    ShortTermEncoderLayout l;
    l.config = config;
    const int64_t d = config.dim, f = config.ffn_width();
    l.positions = arena->Add(prefix + "pos", config.max_len, d);
    for (int b = 0; b < config.num_blocks; ++b) {
      const std::string p = absl::StrCat(prefix, "block", b, ".");
      BlockIds ids{};
      ids.ln1_gamma = arena->Add(p + "ln1.gamma", 1, d);
      ids.ln1_beta = arena->Add(p + "ln1.beta", 1, d);
      ids.wq = arena->Add(p + "attn.wq", d, d);
      ids.bq = arena->Add(p + "attn.bq", 1, d);
      ids.wk = arena->Add(p + "attn.wk", d, d);
      ids.bk = arena->Add(p + "attn.bk", 1, d);
      ids.wv = arena->Add(p + "attn.wv", d, d);
      ids.bv = arena->Add(p + "attn.bv", 1, d);
      ids.wo = arena->Add(p + "attn.wo", d, d);
      ids.bo = arena->Add(p + "attn.bo", 1, d);
      ids.ln2_gamma = arena->Add(p + "ln2.gamma", 1, d);
      ids.ln2_beta = arena->Add(p + "ln2.beta", 1, d);
      ids.w1 = arena->Add(p + "ffn.w1", d, f);
      ids.b1 = arena->Add(p + "ffn.b1", 1, f);
      ids.w2 = arena->Add(p + "ffn.w2", f, d);
      ids.b2 = arena->Add(p + "ffn.b2", 1, d);
      l.blocks.push_back(ids);
    }
    l.final_gamma = arena->Add(prefix + "final_ln.gamma", 1, d);
    l.final_beta = arena->Add(prefix + "final_ln.beta", 1, d);
    return l;
  }

  // Xavier-uniform weights and positions, LayerNorm γ = 1, β = 0, biases 0.
  void Init(ParameterArena* arena, Rng& rng) const {
    arena->FillXavier(positions, rng);
    for (const BlockIds& b : blocks) {
      for (int id : {b.wq, b.wk, b.wv, b.wo, b.w1, b.w2}) arena->FillXavier(id, rng);
      for (int id : {b.bq, b.bk, b.bv, b.bo, b.b1, b.b2, b.ln1_beta, b.ln2_beta}) arena->Fill(id, 0.0f);
      arena->Fill(b.ln1_gamma, 1.0f);
      arena->Fill(b.ln2_gamma, 1.0f);
    }
    arena->Fill(final_gamma, 1.0f);
    arena->Fill(final_beta, 0.0f);
  }

  // Views over `data`, which has the layout of `arena` (arena.size() T's).
  template <typename T>
  typename ShortTermEncoder<T>::Params BindParams(const T* data, const ParameterArena& arena) const {
    auto mat = [&](int id) {
      const ParamTensor& t = arena.tensor(id);
      return Eigen::Map<const layers::Mat<T>>(data + t.offset, t.rows, t.cols);
    };
    auto row = [&](int id) {
      const ParamTensor& t = arena.tensor(id);
      return Eigen::Map<const layers::Row<T>>(data + t.offset, t.cols);
    };
    typename ShortTermEncoder<T>::Params p{mat(positions), {}, row(final_gamma), row(final_beta)};
    p.blocks.reserve(blocks.size());
    for (const BlockIds& b : blocks) {
      p.blocks.push_back(typename layers::TransformerBlock<T>::Params{
          {row(b.ln1_gamma), row(b.ln1_beta)},
          {mat(b.wq), mat(b.wk), mat(b.wv), mat(b.wo), row(b.bq), row(b.bk), row(b.bv), row(b.bo)},
          {row(b.ln2_gamma), row(b.ln2_beta)},
          {{mat(b.w1), row(b.b1)}, {mat(b.w2), row(b.b2)}}});
    }
    return p;
  }

  template <typename T>
  typename ShortTermEncoder<T>::Grads BindGrads(T* data, const ParameterArena& arena) const {
    auto mat = [&](int id) {
      const ParamTensor& t = arena.tensor(id);
      return Eigen::Map<layers::Mat<T>>(data + t.offset, t.rows, t.cols);
    };
    auto row = [&](int id) {
      const ParamTensor& t = arena.tensor(id);
      return Eigen::Map<layers::Row<T>>(data + t.offset, t.cols);
    };
    typename ShortTermEncoder<T>::Grads g{mat(positions), {}, row(final_gamma), row(final_beta)};
    g.blocks.reserve(blocks.size());
    for (const BlockIds& b : blocks) {
      g.blocks.push_back(typename layers::TransformerBlock<T>::Grads{
          {row(b.ln1_gamma), row(b.ln1_beta)},
          {mat(b.wq), mat(b.wk), mat(b.wv), mat(b.wo), row(b.bq), row(b.bk), row(b.bv), row(b.bo)},
          {row(b.ln2_gamma), row(b.ln2_beta)},
          {{mat(b.w1), row(b.b1)}, {mat(b.w2), row(b.b2)}}});
    }
    return g;
  }
};

}  // namespace recsys

// The long/short-term multi-interest ranker network (DESIGN.md §1 stage 2):
// short-term encoder (SASRec blocks over the last S events) → u_s; long-term
// encoder (K queries from u_s cross-attending over the whole history) →
// v_1..v_K; target-aware scorer over [u_s, v_1..v_K]; two weighted losses.
// Templated on the scalar (float: training; double: gradient checks); the
// parameters live in one ParameterArena, bound as views over any storage with
// the arena's layout (the arena, a GradBuffer, a double mirror).
//
// Shape legend
//   B users    S window (config.encoder.max_len)    D dim    K interests    M = K + 1
//   N items    C_s / C_l  candidate columns of the short / long sampled losses
//   E          N × D   item table actually used (E = content·Wc + δ with content, else the table)
//   window     B·S item ids (left padded, −1)      short_targets  B·S (−1 = no target)
//   states     (B·S) × D                           u_s  B × D (last slot of each window; dense: B' × D, the long rows)
//   long_items, long_buckets  ΣL_b, jagged by long_offsets (B + 1)
//   V          (B·K) × D                           interests  (B·M) × D: user b in rows [b·M, (b+1)·M),
//                                                  row b·M = u_s, then v_1..v_K
//   long_targets B (−1 = none)
//
//   states     = ShortTermEncoder(E, window)                      (short_term_encoder.h)
//   V          = LongTermEncoder(u_s, E, long history)             (long_term_encoder.h)
//   score(b,i) = TargetScorer([u_s; V_b], E[i])                    (target_scorer.h)
//   L_short    = loss(states_p · E[·]ᵀ, next item at every window position p)
//   L_long     = loss(score(b, ·), long_targets[b])
//   total      = w_short · Σ L_short terms + w_long · long_scale · Σ_b L_long(b)
// Losses are sums (LossReduction::kSum); the trainer divides by the count.
// Any loss of training/losses.h for either term: full softmax CE over the
// catalogue, sampled softmax (none / standard / refined logQ) with the
// sampler's negatives, BCE, gBCE.
//
//   LongShortLayout layout = LongShortLayout::Register(&arena, net_config, num_items, content_dim);
//   arena.Allocate();  layout.Init(&arena, rng);
//   LongShortBatch batch;  AppendExample(prefix, prefix_ts, next_item, net_config, &batch);
//   LongShortNet<float>::Workspace ws;  MatrixF d_items = MatrixF::Zero(N, D);
//   layers::MatRef<float> d_ref(d_items);   // or a view of a gradient buffer's table
//   auto grads = layout.BindGrads<float>(grad_buffer.data(), arena);
//   LossParts parts = LongShortNet<float>::Run(E, layout.BindParams<float>(arena.data(), arena),
//       net_config, batch, /*short_cand=*/nullptr, /*long_cand=*/nullptr, true, &rng, &ws,
//       &grads, &d_ref, /*long_scale=*/1.0);
//
// Thread safety: stateless functions; one Workspace per caller.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "recsys/core/check.h"
#include "recsys/core/status.h"
#include "recsys/core/rng.h"
#include "recsys/core/types.h"
#include "recsys/ranker/layers/layers.h"
#include "recsys/ranker/long_term_encoder.h"
#include "recsys/ranker/short_term_encoder.h"
#include "recsys/ranker/target_scorer.h"
#include "recsys/training/arena.h"
#include "recsys/training/losses.h"
#include "recsys/training/samplers.h"

namespace recsys {

// Loss of one term (L_short or L_long).
enum class RankLossKind {
  kSoftmaxCE,       // full softmax cross-entropy over all N items
  kSampledSoftmax,  // softmax over the positive + sampled negatives (logQ option)
  kBce,             // binary cross-entropy with sampled negatives
  kGbce,            // gSASRec's gBCE (β from gbce_t and the number of negatives)
};

struct RankLossSpec {
  RankLossKind kind = RankLossKind::kSoftmaxCE;
  // kSampledSoftmax only: logQ correction of the sampled softmax.
  LogQCorrection correction = LogQCorrection::kNone;
  // kGbce only: calibration t ∈ [0, 1] (gSASRec: 0.75).
  double gbce_t = 0.75;
  bool sampled() const { return kind != RankLossKind::kSoftmaxCE; }
};

struct LongShortNetConfig {
  // Short-term encoder (D = encoder.dim, S = encoder.max_len, blocks, heads, dropout).
  ShortTermEncoderConfig encoder;
  // K (≥ 0; 0 = no long-term branch: the model is SASRec with the scorer) and
  // the heads of the cross-attention.
  LongTermOptions long_term;
  // Longest history the long-term encoder reads (most recent events), ≥ 1.
  int max_history = 1024;
  // Recency buckets of the history (rows of the recency table), ≥ 2.
  int recency_buckets = 16;
  // Bucket by time gap to the last event when timestamps are known (true) or
  // always by position from the end (false).
  bool recency_by_time = false;
  // Time unit of the time-gap buckets, in timestamp units (> 0), and the log base (> 1).
  double recency_time_unit = 3600.0;
  double recency_base = 2.0;
  // τ of the target-aware scorer's attention over [u_s, v_1..v_K] (> 0).
  double tau = 1.0;
  // Losses and their weights (w ≥ 0, not both 0).
  RankLossSpec short_loss;
  RankLossSpec long_loss;
  double short_weight = 1.0;
  double long_weight = 1.0;

  int dim() const { return encoder.dim; }
  int num_interests() const { return long_term.num_interests; }
  layers::TimeGapBucketConfig time_buckets() const {
    return {.num_buckets = recency_buckets, .unit = recency_time_unit, .base = recency_base};
  }
  layers::TimeGapBucketConfig position_buckets() const {
    return {.num_buckets = recency_buckets, .unit = 1.0, .base = recency_base};
  }

  absl::Status Validate() const {
    RECSYS_RETURN_IF_ERROR(encoder.Validate());
    auto bad = [](const std::string& field, const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat("longshort config: ", field, " ", why));
    };
    if (long_term.num_interests < 0 || long_term.num_interests > 64) {
      return bad("num_interests", absl::StrCat("must be in [0, 64], got ", long_term.num_interests));
    }
    if (long_term.heads < 1 || encoder.dim % long_term.heads != 0) {
      return bad("long_heads", absl::StrCat("must be >= 1 and divide dim ", encoder.dim, ", got ",
                                            long_term.heads));
    }
    if (max_history < 1) return bad("max_history", absl::StrCat("must be >= 1, got ", max_history));
    if (recency_buckets < 2) return bad("recency_buckets", absl::StrCat("must be >= 2, got ", recency_buckets));
    if (!(recency_time_unit > 0)) return bad("recency_time_unit", "must be > 0");
    if (!(recency_base > 1)) return bad("recency_base", "must be > 1");
    if (!(tau > 0) || !std::isfinite(tau)) return bad("tau", absl::StrCat("must be > 0, got ", tau));
    if (!(short_weight >= 0) || !(long_weight >= 0) || short_weight + long_weight <= 0) {
      return bad("short_weight/long_weight", "must be >= 0 and not both 0");
    }
    for (const RankLossSpec* s : {&short_loss, &long_loss}) {
      if (!(s->gbce_t >= 0 && s->gbce_t <= 1)) return bad("gbce_t", "must be in [0, 1]");
    }
    return absl::OkStatus();
  }
};

// One batch of examples: prefix (inputs) → next item.
struct LongShortBatch {
  int64_t batch = 0;
  int64_t seq_len = 0;
  std::vector<int32_t> window;          // B·S
  std::vector<int32_t> short_targets;   // B·S
  std::vector<int32_t> long_items;      // ΣL_b
  std::vector<int32_t> long_buckets;    // ΣL_b
  std::vector<int64_t> long_offsets{0}; // B + 1
  std::vector<int32_t> long_targets;    // B (dense: B')
  // Dense long-term targets (AppendDenseExample): B' long rows, several per
  // window. long_items / long_offsets are then each window's shared memory
  // and long_buckets is per long row (jagged by long_bucket_offsets).
  std::vector<int32_t> long_rows;                 // B': states row b·S + slot
  std::vector<int64_t> long_row_offsets{0};       // B + 1
  std::vector<int64_t> long_lo, long_hi;          // B': band in long_items
  std::vector<int64_t> long_bucket_offsets{0};    // B' + 1

  bool dense() const { return !long_rows.empty(); }
  LongBandView band() const {
    return {long_items, long_offsets, long_row_offsets, long_lo, long_hi, long_bucket_offsets, long_buckets};
  }

  void Clear() {
    batch = 0;
    window.clear();
    short_targets.clear();
    long_items.clear();
    long_buckets.clear();
    long_offsets.assign(1, 0);
    long_targets.clear();
    long_rows.clear();
    long_row_offsets.assign(1, 0);
    long_lo.clear();
    long_hi.clear();
    long_bucket_offsets.assign(1, 0);
  }
};

// Appends one example: `prefix` (oldest first, timestamps aligned or empty)
// is the history, `next` the item to predict (−1 for inference). Window slot
// holding prefix[j] gets short target prefix[j+1] (or `next` for the last).
namespace internal {
// The window and its short-term targets; returns the number of real slots.
inline int64_t AppendWindow(std::span<const ItemIndex> prefix, ItemIndex next, const LongShortNetConfig& config,
                            LongShortBatch* batch) {
  const int64_t s = config.encoder.max_len;
  batch->seq_len = s;
  const size_t base = batch->window.size();
  batch->window.resize(base + static_cast<size_t>(s));
  batch->short_targets.resize(base + static_cast<size_t>(s), kNoItem);
  FillLeftPaddedWindow(prefix, s, batch->window.data() + base);
  const int64_t take = std::min<int64_t>(s, static_cast<int64_t>(prefix.size()));
  for (int64_t k = 0; k < take; ++k) {
    const size_t j = prefix.size() - static_cast<size_t>(take) + static_cast<size_t>(k);  // prefix index
    batch->short_targets[base + static_cast<size_t>(s - take + k)] = j + 1 < prefix.size() ? prefix[j + 1] : next;
  }
  return take;
}
}  // namespace internal

inline void AppendExample(std::span<const ItemIndex> prefix, std::span<const Timestamp> timestamps,
                          ItemIndex next, const LongShortNetConfig& config, LongShortBatch* batch) {
  RECSYS_CHECK(!batch->dense()) << "AppendExample on a batch of dense examples";
  internal::AppendWindow(prefix, next, config, batch);
  const size_t lt = std::min<size_t>(static_cast<size_t>(config.max_history), prefix.size());
  batch->long_items.insert(batch->long_items.end(), prefix.end() - static_cast<std::ptrdiff_t>(lt), prefix.end());
  std::span<const Timestamp> ts = timestamps.size() == prefix.size() ? timestamps : std::span<const Timestamp>();
  RecencyBuckets(ts, lt, config.recency_by_time, config.time_buckets(), config.position_buckets(),
                 &batch->long_buckets);
  batch->long_offsets.push_back(static_cast<int64_t>(batch->long_items.size()));
  batch->long_targets.push_back(next);
  ++batch->batch;
}

// Number of long rows AppendDenseExample makes for a prefix of `length`
// events (window slots S−1, S−1−g, … that hold an event).
inline int64_t DenseLongRows(int64_t length, int64_t max_len, int64_t stride) {
  const int64_t take = std::min(length, max_len);
  return take <= 0 ? 0 : (take - 1) / stride + 1;
}

// Dense long-term targets: as AppendExample, but the full model's loss is
// taken at window slots S−1, S−1−`stride`, … (those holding an event), each
// slot p a long row whose history is the prefix up to and including p's event
// (its last max_history events, recency measured from that event) and whose
// target is p's short-term target. The rows share one memory: the prefix's
// events from the earliest row's first history event on. Training only
// (next ≥ 0); the batch must hold only dense examples.
inline void AppendDenseExample(std::span<const ItemIndex> prefix, std::span<const Timestamp> timestamps,
                               ItemIndex next, const LongShortNetConfig& config, int64_t stride,
                               LongShortBatch* batch) {
  RECSYS_CHECK(stride >= 1 && !prefix.empty()) << "stride " << stride << ", prefix " << prefix.size();
  RECSYS_CHECK(batch->batch == 0 || batch->dense()) << "AppendDenseExample on a batch of classic examples";
  const int64_t s = config.encoder.max_len, len = static_cast<int64_t>(prefix.size());
  const int64_t row_base = batch->batch * s;
  const int64_t take = internal::AppendWindow(prefix, next, config, batch);
  const int64_t rows = DenseLongRows(len, s, stride);
  const int64_t first_slot = s - 1 - (rows - 1) * stride;
  auto history_end = [&](int64_t slot) { return len - (s - 1 - slot); };  // events up to slot's event
  const int64_t mem_lo = std::max<int64_t>(0, history_end(first_slot) - config.max_history);
  const int64_t base = static_cast<int64_t>(batch->long_items.size());
  batch->long_items.insert(batch->long_items.end(), prefix.begin() + mem_lo, prefix.end());
  const bool has_ts = timestamps.size() == prefix.size();
  const bool by_time = config.recency_by_time && has_ts;
  // By position, a band of n events has buckets f(n), …, f(1) (f of the gap to
  // the row's own event): the suffix of the longest band's, computed once.
  std::vector<int32_t> position_buckets;
  if (!by_time) {
    const int64_t longest = std::min<int64_t>(history_end(s - 1), config.max_history);
    RecencyBuckets({}, static_cast<size_t>(longest), false, config.time_buckets(), config.position_buckets(),
                   &position_buckets);
  }
  for (int64_t slot = first_slot; slot < s; slot += stride) {
    RECSYS_DCHECK(slot >= s - take);
    const int64_t end = history_end(slot), lo = std::max<int64_t>(0, end - config.max_history);
    batch->long_rows.push_back(static_cast<int32_t>(row_base + slot));
    batch->long_lo.push_back(base + lo - mem_lo);
    batch->long_hi.push_back(base + end - mem_lo);
    if (by_time) {
      RecencyBuckets(timestamps.first(static_cast<size_t>(end)), static_cast<size_t>(end - lo), true,
                     config.time_buckets(), config.position_buckets(), &batch->long_buckets);
    } else {
      batch->long_buckets.insert(batch->long_buckets.end(), position_buckets.end() - (end - lo),
                                 position_buckets.end());
    }
    batch->long_bucket_offsets.push_back(static_cast<int64_t>(batch->long_buckets.size()));
    batch->long_targets.push_back(batch->short_targets[static_cast<size_t>(row_base + slot)]);
  }
  batch->long_offsets.push_back(static_cast<int64_t>(batch->long_items.size()));
  batch->long_row_offsets.push_back(static_cast<int64_t>(batch->long_rows.size()));
  ++batch->batch;
}

// Tensor ids of the whole network inside a ParameterArena.
struct LongShortLayout {
  LongShortNetConfig config;
  int32_t num_items = 0;
  int content_dim = 0;          // C (0 = no content initialisation)
  int item_emb = -1;            // N × D embedding table (with content: the delta δ)
  int content_proj = -1;        // C × D (content only)
  ShortTermEncoderLayout encoder;
  // Long-term branch (absent when K = 0).
  int interest_w = -1, interest_b = -1, recency = -1;
  int wq = -1, bq = -1, wk = -1, bk = -1, wv = -1, bv = -1, wo = -1, bo = -1;

  static LongShortLayout Register(ParameterArena* arena, const LongShortNetConfig& config, int32_t num_items,
                                  int content_dim) {
    LongShortLayout l;
    l.config = config;
    l.num_items = num_items;
    l.content_dim = content_dim;
    const int64_t d = config.dim(), k = config.num_interests();
    l.item_emb = arena->Add(content_dim > 0 ? "item_delta" : "item_emb", num_items, d, ParamKind::kEmbedding);
    if (content_dim > 0) l.content_proj = arena->Add("content_proj", content_dim, d);
    l.encoder = ShortTermEncoderLayout::Register(arena, config.encoder, "short.");
    if (k > 0) {
      l.interest_w = arena->Add("long.interest_w", d, k * d);
      l.interest_b = arena->Add("long.interest_b", 1, k * d);
      l.recency = arena->Add("long.recency", config.recency_buckets, d);
      l.wq = arena->Add("long.attn.wq", d, d);
      l.bq = arena->Add("long.attn.bq", 1, d);
      l.wk = arena->Add("long.attn.wk", d, d);
      l.bk = arena->Add("long.attn.bk", 1, d);
      l.wv = arena->Add("long.attn.wv", d, d);
      l.bv = arena->Add("long.attn.bv", 1, d);
      l.wo = arena->Add("long.attn.wo", d, d);
      l.bo = arena->Add("long.attn.bo", 1, d);
    }
    return l;
  }

  bool has_long() const { return interest_w >= 0; }

  // Embeddings N(0, 1/√D) (δ: zero with content), Xavier weights, zero
  // biases, interest offsets p_k N(0, 0.02) so the K queries differ at start.
  void Init(ParameterArena* arena, Rng& rng) const {
    if (content_dim > 0) {
      arena->Fill(item_emb, 0.0f);
      arena->FillXavier(content_proj, rng);
    } else {
      arena->FillNormal(item_emb, 1.0f / std::sqrt(static_cast<float>(config.dim())), rng);
    }
    encoder.Init(arena, rng);
    if (has_long()) {
      arena->FillXavier(interest_w, rng);
      arena->FillNormal(interest_b, 0.02f, rng);
      arena->FillNormal(recency, 0.02f, rng);
      for (int id : {wq, wk, wv, wo}) arena->FillXavier(id, rng);
      for (int id : {bq, bk, bv, bo}) arena->Fill(id, 0.0f);
    }
  }

  template <typename T>
  struct Params {
    typename ShortTermEncoder<T>::Params encoder;
    std::optional<typename LongTermEncoder<T>::Params> long_term;
  };
  template <typename T>
  struct Grads {
    typename ShortTermEncoder<T>::Grads encoder;
    std::optional<typename LongTermEncoder<T>::Grads> long_term;
  };

  template <typename T>
  Params<T> BindParams(const T* data, const ParameterArena& arena) const {
    Params<T> p{encoder.BindParams<T>(data, arena), std::nullopt};
    if (has_long()) {
      auto mat = [&](int id) {
        const ParamTensor& t = arena.tensor(id);
        return Eigen::Map<const layers::Mat<T>>(data + t.offset, t.rows, t.cols);
      };
      auto row = [&](int id) {
        const ParamTensor& t = arena.tensor(id);
        return Eigen::Map<const layers::Row<T>>(data + t.offset, t.cols);
      };
      p.long_term.emplace(typename LongTermEncoder<T>::Params{
          mat(interest_w), row(interest_b), mat(recency),
          {mat(wq), mat(wk), mat(wv), mat(wo), row(bq), row(bk), row(bv), row(bo)}});
    }
    return p;
  }

  template <typename T>
  Grads<T> BindGrads(T* data, const ParameterArena& arena) const {
    Grads<T> g{encoder.BindGrads<T>(data, arena), std::nullopt};
    if (has_long()) {
      auto mat = [&](int id) {
        const ParamTensor& t = arena.tensor(id);
        return Eigen::Map<layers::Mat<T>>(data + t.offset, t.rows, t.cols);
      };
      auto row = [&](int id) {
        const ParamTensor& t = arena.tensor(id);
        return Eigen::Map<layers::Row<T>>(data + t.offset, t.cols);
      };
      g.long_term.emplace(typename LongTermEncoder<T>::Grads{
          mat(interest_w), row(interest_b), mat(recency),
          {mat(wq), mat(wk), mat(wv), mat(wo), row(bq), row(bk), row(bv), row(bo)}});
    }
    return g;
  }
};

// Loss values of one Run (sums over terms, and term counts).
struct LossParts {
  double short_sum = 0.0, short_count = 0.0;
  double long_sum = 0.0, long_count = 0.0;
  double total = 0.0;  // w_short·short_sum + w_long·long_scale·long_sum
};

template <typename T>
struct LongShortNet {
  using Mat = layers::Mat<T>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using Enc = ShortTermEncoder<T>;
  using Long = LongTermEncoder<T>;
  using Scorer = TargetScorer<T>;
  // Long rows per catalogue GEMM of the full-softmax L_long (benchmarks/layers_bench.cc,
  // BM_TargetScorer_FullCE_Batched: chunks of 8..256 rows, M = 5, N = 3706).
  static constexpr Eigen::Index kLongChunk = 16;

  struct Workspace {
    typename Enc::Cache enc;
    typename Long::Cache lt;
    typename Long::BandCache band;
    Mat states, u_s, v, interests;           // (B·S)×D, B×D, (B·K)×D, (B·M)×D
    Mat logits, dlogits, dstates, drows, du, dinterests, dv, log_q;
    Mat cand;                                // C × D scratch
    Mat packed, dpacked;                     // target rows of states (full softmax L_short)
    std::vector<Eigen::Index> rows;
    std::vector<int32_t> row_targets;
    std::vector<typename Scorer::Cache> scorer;  // sampled L_long: one per long row
    typename Scorer::BatchCache long_batch;      // full-softmax L_long: one chunk of long rows
    Vec scores, dscores;
    std::vector<int32_t> positive_col;
  };

  // Effective item table E = content·Wc + δ (content_dim > 0), else the table.
  static void ItemTable(const layers::CMatRef<T>& content, const layers::CMatRef<T>& proj,
                        const layers::CMatRef<T>& delta, Mat* out) {
    layers::EnsureShape(out, delta.rows(), delta.cols());
    out->noalias() = content * proj;  // E = content·Wc
    *out += delta;                    //   + δ
  }
  // dE → dWc += contentᵀ·dE (δ's gradient is dE itself).
  static void ItemTableBackward(const layers::CMatRef<T>& content, const layers::CMatRef<T>& ditems,
                                layers::MatRef<T> dproj) {
    dproj.noalias() += content.transpose() * ditems;
  }

  // Builds the interests matrix [u_s; v_1..v_K] per user.
  static void StackInterests(const Mat& u_s, const Mat& v, int k, Mat* interests) {
    const Eigen::Index b = u_s.rows(), d = u_s.cols(), m = k + 1;
    layers::EnsureShape(interests, b * m, d);
    for (Eigen::Index i = 0; i < b; ++i) {
      interests->row(i * m) = u_s.row(i);
      if (k > 0) interests->middleRows(i * m + 1, k) = v.middleRows(i * k, k);
    }
  }

  // Forward (and, when grads != nullptr, backward) of the whole network on
  // `batch`. Sampled losses need the candidate sets (column 0 = positive):
  // short_cand has B·S rows, long_cand B rows. d_items (N × D, any row-major
  // storage) accumulates dtotal/dE; only rows the batch references (window,
  // history, targets, candidates) are written unless a loss is full softmax.
  // Returns the loss parts.
  static LossParts Run(const layers::CMatRef<T>& items, const LongShortLayout::Params<T>& p,
                       const LongShortNetConfig& cfg, const LongShortBatch& batch, const CandidateSet* short_cand,
                       const CandidateSet* long_cand, bool training, Rng* rng, Workspace* ws,
                       LongShortLayout::Grads<T>* g, layers::MatRef<T>* d_items, double long_scale) {
    const Eigen::Index b = batch.batch, d = items.cols();
    const int k = p.long_term.has_value() ? cfg.num_interests() : 0;
    const Eigen::Index m = k + 1;
    const bool backward = g != nullptr;
    const bool dense = batch.dense();
    // Long rows: one per window (its last slot), or the dense rows.
    const Eigen::Index nl = dense ? static_cast<Eigen::Index>(batch.long_rows.size()) : b;
    RECSYS_CHECK(static_cast<Eigen::Index>(batch.long_targets.size()) == nl)
        << batch.long_targets.size() << " long targets for " << nl << " long rows";
    auto long_row = [&](Eigen::Index i) {
      return dense ? Eigen::Index{batch.long_rows[static_cast<size_t>(i)]} : i * batch.seq_len + batch.seq_len - 1;
    };
    LossParts parts;
    // states = ShortTermEncoder(E, window);  u_s = the long rows' states
    Enc::Forward(items, batch.window, b, p.encoder, cfg.encoder, training, rng, &ws->enc, &ws->states);
    layers::EnsureShape(&ws->u_s, nl, d);
    for (Eigen::Index i = 0; i < nl; ++i) ws->u_s.row(i) = ws->states.row(long_row(i));
    // V = LongTermEncoder(u_s, E, history)
    if (k > 0 && dense) {
      Long::BandForward(ws->u_s, items, batch.band(), *p.long_term, cfg.long_term, &ws->band, &ws->v);
    } else if (k > 0) {
      Long::Forward(ws->u_s, items, batch.long_items, batch.long_buckets, batch.long_offsets, *p.long_term,
                    cfg.long_term, &ws->lt, &ws->v);
    }
    StackInterests(ws->u_s, ws->v, k, &ws->interests);

    layers::EnsureShape(&ws->dstates, ws->states.rows(), d);
    ws->dstates.setZero();
    layers::EnsureShape(&ws->dinterests, nl * m, d);
    ws->dinterests.setZero();
    const T ws_short = static_cast<T>(cfg.short_weight);
    const T ws_long = static_cast<T>(cfg.long_weight * long_scale);

    // ---- L_short: next item at every window position ----------------------
    if (cfg.short_weight > 0) {
      if (!cfg.short_loss.sampled()) {
        // Only rows with a target take part (padding would waste an N-wide GEMM row).
        ws->rows.clear();
        ws->row_targets.clear();
        for (size_t r = 0; r < batch.short_targets.size(); ++r) {
          if (batch.short_targets[r] < 0) continue;
          ws->rows.push_back(static_cast<Eigen::Index>(r));
          ws->row_targets.push_back(batch.short_targets[r]);
        }
        const Eigen::Index nr = static_cast<Eigen::Index>(ws->rows.size());
        layers::EnsureShape(&ws->packed, nr, d);
        for (Eigen::Index r = 0; r < nr; ++r) ws->packed.row(r) = ws->states.row(ws->rows[r]);
        ws->logits.noalias() = ws->packed * items.transpose();  // logits = states·Eᵀ (target rows)
        Mat* grad = backward ? &ws->dlogits : nullptr;
        parts.short_sum = SoftmaxCrossEntropyT(ws->logits, ws->row_targets, grad);
        if (backward) {
          ws->dlogits *= ws_short;
          d_items->noalias() += ws->dlogits.transpose() * ws->packed;  // dE += dlogitsᵀ·states
          ws->dpacked.noalias() = ws->dlogits * items;                 // dstates = dlogits·E
          for (Eigen::Index r = 0; r < nr; ++r) ws->dstates.row(ws->rows[r]) += ws->dpacked.row(r);
        }
      } else {
        RECSYS_CHECK(short_cand != nullptr && short_cand->rows == b * batch.seq_len);
        parts.short_sum = SampledRows(ws->states, items, *short_cand, cfg.short_loss, ws_short, backward, ws,
                                      &ws->dstates, d_items);
      }
      for (int32_t t : batch.short_targets) parts.short_count += t >= 0;
    }

    // ---- L_long: the full model's score of the next item ------------------
    if (cfg.long_weight > 0) {
      const T tau = static_cast<T>(cfg.tau);
      if (!cfg.long_loss.sampled()) {
        // Long rows in chunks of kLongChunk: one catalogue GEMM per chunk
        // (TargetScorer::ForwardBatch), its rows' CE (rows are independent),
        // and its backward, so the scratch is one chunk's, not every row's.
        const std::span<const int32_t> targets(batch.long_targets);
        for (Eigen::Index i0 = 0; i0 < nl; i0 += kLongChunk) {
          const Eigen::Index c = std::min(kLongChunk, nl - i0);
          const auto rows = ws->interests.middleRows(i0 * m, c * m);
          Scorer::ForwardBatch(rows, m, items, tau, &ws->long_batch);
          const auto chunk_targets = targets.subspan(static_cast<size_t>(i0), static_cast<size_t>(c));
          parts.long_sum += SoftmaxCrossEntropyT(ws->long_batch.score, chunk_targets,
                                                 backward ? &ws->dlogits : nullptr);
          if (!backward) continue;
          ws->dlogits *= ws_long;  // rows without a target are zero
          auto dint = ws->dinterests.middleRows(i0 * m, c * m);
          Scorer::BackwardBatch(rows, m, items, ws->dlogits, tau, ws->long_batch, &dint, d_items);
        }
      } else {
        RECSYS_CHECK(long_cand != nullptr && long_cand->rows == nl);
        ws->scorer.resize(static_cast<size_t>(nl));
        const int64_t cols = long_cand->cols;
        layers::EnsureShape(&ws->logits, nl, cols);
        for (Eigen::Index i = 0; i < nl; ++i) {
          GatherRows(items, long_cand->items.data() + i * cols, cols, &ws->cand);
          Scorer::Forward(ws->interests.middleRows(i * m, m), ws->cand, tau, &ws->scorer[i], &ws->scores);
          ws->logits.row(i) = ws->scores.transpose();
        }
        PositiveCols(batch.long_targets, &ws->positive_col);
        parts.long_sum = SampledLoss(ws->logits, *long_cand, cfg.long_loss, items.rows(), ws,
                                     backward ? &ws->dlogits : nullptr);
        if (backward) {
          Mat dint, dcand;
          for (Eigen::Index i = 0; i < nl; ++i) {
            if (batch.long_targets[i] < 0) continue;
            GatherRows(items, long_cand->items.data() + i * cols, cols, &ws->cand);
            ws->dscores = ws->dlogits.row(i).transpose() * ws_long;
            dint.setZero(m, d);
            dcand.setZero(cols, d);
            Scorer::Backward(ws->interests.middleRows(i * m, m), ws->cand, ws->dscores, tau, ws->scorer[i], &dint,
                             &dcand);
            ws->dinterests.middleRows(i * m, m) += dint;
            ScatterRows(long_cand->items.data() + i * cols, cols, dcand, d_items);
          }
        }
      }
      for (int32_t t : batch.long_targets) parts.long_count += t >= 0;
    }
    parts.total = cfg.short_weight * parts.short_sum + cfg.long_weight * long_scale * parts.long_sum;
    if (!backward) return parts;

    // ---- backward through the interests -----------------------------------
    // interests = [u_s; V]
    layers::EnsureShape(&ws->du, nl, d);
    for (Eigen::Index i = 0; i < nl; ++i) ws->du.row(i) = ws->dinterests.row(i * m);
    if (k > 0) {
      layers::EnsureShape(&ws->dv, nl * k, d);
      for (Eigen::Index i = 0; i < nl; ++i) ws->dv.middleRows(i * k, k) = ws->dinterests.middleRows(i * m + 1, k);
      // V = LongTermEncoder(u_s, E, history)
      Mat du_long;
      if (dense) {
        Long::BandBackward(ws->u_s, ws->dv, *p.long_term, cfg.long_term, ws->band, *g->long_term, &du_long,
                           *d_items);
      } else {
        Long::Backward(ws->u_s, ws->dv, *p.long_term, ws->lt, *g->long_term, &du_long, *d_items);
      }
      ws->du += du_long;
    }
    // u_s = states[long rows]
    for (Eigen::Index i = 0; i < nl; ++i) ws->dstates.row(long_row(i)) += ws->du.row(i);
    // states = ShortTermEncoder(E, window)
    Enc::Backward(ws->dstates, p.encoder, cfg.encoder, ws->enc, g->encoder, &ws->drows);
    for (size_t i = 0; i < batch.window.size(); ++i) {
      if (batch.window[i] >= 0) d_items->row(batch.window[i]) += ws->drows.row(static_cast<Eigen::Index>(i));
    }
    return parts;
  }

 private:
  static double SoftmaxCrossEntropyT(const Mat& logits, std::span<const int32_t> targets, Mat* grad) {
    return static_cast<double>(SoftmaxCrossEntropy(logits, targets, grad, LossReduction::kSum));
  }

  static void PositiveCols(std::span<const int32_t> targets, std::vector<int32_t>* out) {
    out->resize(targets.size());
    for (size_t i = 0; i < targets.size(); ++i) (*out)[i] = targets[i] >= 0 ? 0 : -1;
  }

  static void GatherRows(const layers::CMatRef<T>& items, const int32_t* ids, int64_t n, Mat* out) {
    layers::EnsureShape(out, n, items.cols());
    for (int64_t c = 0; c < n; ++c) {
      if (ids[c] >= 0) {
        out->row(c) = items.row(ids[c]);
      } else {
        out->row(c).setZero();
      }
    }
  }
  static void ScatterRows(const int32_t* ids, int64_t n, const Mat& rows, layers::MatRef<T>* d_items) {
    for (int64_t c = 0; c < n; ++c) {
      if (ids[c] >= 0) d_items->row(ids[c]) += rows.row(c);
    }
  }

  // Loss over a candidate score matrix (column 0 positive, ws->positive_col
  // set); num_items = N for gBCE's β.
  static double SampledLoss(const Mat& scores, const CandidateSet& cand, const RankLossSpec& spec,
                            int64_t num_items, Workspace* ws, Mat* grad) {
    switch (spec.kind) {
      case RankLossKind::kSampledSoftmax: {
        ws->log_q = cand.log_q.template cast<T>();
        SampledSoftmaxOptions o{.correction = spec.correction, .reduction = LossReduction::kSum};
        return static_cast<double>(SampledSoftmaxLoss(scores, ws->positive_col, &ws->log_q, cand.valid, o, grad));
      }
      case RankLossKind::kBce:
      case RankLossKind::kGbce: {
        const double beta = spec.kind == RankLossKind::kBce
                                ? 1.0
                                : GbceBeta(std::max<int64_t>(1, cand.cols - 1), std::max<int64_t>(2, num_items),
                                           spec.gbce_t);
        return static_cast<double>(
            BinaryCrossEntropy(scores, ws->positive_col, cand.valid, beta, grad, LossReduction::kSum));
      }
      case RankLossKind::kSoftmaxCE:
        break;
    }
    RECSYS_CHECK(false) << "full softmax has no candidate set";
    return 0.0;
  }

 private:
  // Per-row candidate scores for L_short: scores(r, c) = ⟨states_r, E[cand(r,c)]⟩.
  static double SampledRows(const Mat& states, const layers::CMatRef<T>& items, const CandidateSet& cand,
                            const RankLossSpec& spec, T weight, bool backward, Workspace* ws, Mat* dstates,
                            layers::MatRef<T>* d_items) {
    const int64_t rows = cand.rows, cols = cand.cols;
    layers::EnsureShape(&ws->logits, rows, cols);
    ws->positive_col.resize(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t pos = cand.item(r, 0);
      ws->positive_col[r] = pos >= 0 ? 0 : -1;
      for (int64_t c = 0; c < cols; ++c) {
        const int32_t it = cand.item(r, c);
        ws->logits(r, c) = (pos >= 0 && it >= 0) ? states.row(r).dot(items.row(it)) : T(0);
      }
    }
    const double loss = SampledLoss(ws->logits, cand, spec, items.rows(), ws, backward ? &ws->dlogits : nullptr);
    if (backward) {
      for (int64_t r = 0; r < rows; ++r) {
        if (ws->positive_col[r] < 0) continue;
        for (int64_t c = 0; c < cols; ++c) {
          const int32_t it = cand.item(r, c);
          const T gval = weight * ws->dlogits(r, c);
          if (it < 0 || gval == T(0)) continue;
          dstates->row(r) += gval * items.row(it);
          d_items->row(it) += gval * states.row(r);
        }
      }
    }
    return loss;
  }
};

}  // namespace recsys

// `longshort`: the long/short-term multi-interest ranker as a SequentialModel
// (DESIGN.md §1 stage 2; the network is ranker/longshort.h). Trained natively
// with the data-parallel Trainer; registered as "longshort" for
// `recsys train --model-type longshort --config FILE.json`.
//
// Training examples are windows: each user's training sequence is cut into
// windows of S events ending at positions t = len−1, len−1−stride, … (stride
// `window_stride`, default S, so that the windows tile the sequence and every
// event is a short-term target once per epoch). Item t is the target of L_long
// (the full model's target-aware score, the whole history before t as the
// long-term input) and every window position predicts its next item for
// L_short (SASRec's objective on the S events before t). With `long_stride`
// g ≥ 1 every g-th window position (from the last) is an L_long target too,
// with its own history.
//
//   RECSYS_ASSIGN_OR_RETURN(auto config, recsys::LongShortConfig::FromJson(R"({"num_interests": 4})"));
//   recsys::TrainContext ctx{.train = &split.train, .valid = &split.valid};
//   RECSYS_ASSIGN_OR_RETURN(auto model, recsys::LongShortModel::Train(config, ctx));
//   recsys::MatrixF u = model->EncodeUser(history);                  // (K+1) × D ANN queries
//   std::vector<float> s = model->ScoreCandidates(history, candidates); // target-aware scores
//   RECSYS_RETURN_IF_ERROR(model->ScoreAll(histories, scores));      // B × num_items
//   RECSYS_RETURN_IF_ERROR(model->Save("ls.rsm"));
//
// Cold start: with `content_file` (or the `content` argument of Train) item
// embeddings are E = content·Wc + δ: the N × C content matrix is frozen, the
// projection Wc (C × D) is trained and the per-item delta δ is trainable with
// its L2 norm capped at delta_max_norm after every step; items without any
// interaction still get an embedding, hence scores.
//
// Thread safety: after training, const methods (ScoreAll, EncodeUser,
// ScoreCandidates, Save) are safe to call concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/core/eigen.h"
#include "recsys/data/sequence_dataset.h"
#include "recsys/data/vocabulary.h"
#include "recsys/io/tensor_file.h"
#include "recsys/models/model.h"
#include "recsys/ranker/longshort.h"
#include "recsys/training/arena.h"
#include "recsys/training/samplers.h"
#include "recsys/training/trainer.h"

namespace recsys {

// Every field is a JSON key of the same name; unknown keys are rejected.
struct LongShortConfig {
  // ---- architecture (paper symbols of DESIGN.md §1 stage 2) ----
  // D: model and item-embedding dimension, ≥ 1 (divisible by both head counts).
  int dim = 64;
  // Short-term encoder: self-attention blocks (≥ 1), heads H (≥ 1), window S
  // (≥ 1, the last S events), FFN width (0 = D), dropout in [0, 1).
  int num_blocks = 2;
  int num_heads = 1;
  int max_len = 50;
  int ffn_dim = 0;
  double dropout = 0.2;
  // K: long-term interests, [0, 64]; 0 disables the long-term branch (the
  // model is then SASRec on the window with the same scorer).
  int num_interests = 4;
  // Heads of the long-term cross-attention, ≥ 1.
  int long_heads = 1;
  // L_max: most recent events the long-term encoder reads, ≥ 1.
  int max_history = 1024;
  // Recency embedding: buckets (≥ 2) of log2 gap; by time gap to the last
  // event (recency_by_time, when timestamps are known; unit in timestamp
  // units) or by position from the end.
  int recency_buckets = 16;
  bool recency_by_time = false;
  double recency_time_unit = 3600.0;
  // τ of the target-aware attention over [u_s, v_1..v_K], > 0.
  double tau = 1.0;

  // ---- losses ----
  // "ce" (full softmax), "sampled" (sampled softmax), "bce", "gbce".
  std::string short_loss = "ce";
  std::string long_loss = "ce";
  // w_short, w_long ≥ 0, not both 0.
  double short_weight = 1.0;
  double long_weight = 1.0;
  // Negatives for sampled losses: "uniform", "popularity", "inbatch", "mixed"
  // (in-batch kinds only for long_loss: short rows are B·S positions).
  std::string sampler = "uniform";
  // k: negatives per row (uniform/popularity; uniform part of "mixed"), ≥ 1.
  int num_negatives = 256;
  // Sampled softmax logQ correction: "none", "standard", "refined".
  std::string logq = "none";
  // gBCE calibration t ∈ [0, 1].
  double gbce_t = 0.75;
  // Popularity sampler exponent γ ≥ 0.
  double popularity_power = 1.0;

  // ---- content-initialised items (cold start) ----
  // Tensor file (safetensors layout) with "item_ids" (I64, n) and
  // "embeddings" (F32, n × C); rows are matched by external id, missing items
  // get zeros. Empty = no content.
  std::string content_file;
  // Cap on ‖δ_i‖₂ of the trainable per-item delta, > 0.
  double delta_max_norm = 0.5;

  // ---- training examples ----
  // Stride between the ends of a user's training windows, ≥ 0 (0 = S: the
  // windows tile the sequence; smaller = overlapping windows, more L_long
  // targets per epoch).
  int window_stride = 0;
  // At most this many windows per user, the most recent first, ≥ 0 (0 = all;
  // 1 = only the window ending at the last training event).
  int max_windows_per_user = 0;
  // Dense long-term targets, ≥ 0. 0: L_long only at each window's last slot
  // (one target a window). g ≥ 1: also at slots S−1−g, S−1−2g, … — each such
  // slot's state queries its own history (recency from its own last event)
  // and the full model scores its next item; the slots share one memory
  // projection (LongTermEncoder::BandForward), so g = 1 makes every window
  // position a long-term target at ~the cost of the full-softmax scorer.
  int long_stride = 0;

  // ---- training ----
  // Examples (windows) per optimizer step, ≥ 1; gradient shards per step
  // (fixed for reproducibility), [1, 1024].
  int batch_size = 128;
  int num_shards = 8;
  // Epoch budget (≥ 0; 0 = until max_steps / the time budget).
  int epochs = 200;
  int64_t max_steps = 0;
  // Wall-clock budget in minutes (≥ 0, 0 = none); TrainContext.max_minutes wins when set.
  double max_minutes = 0.0;
  // AdamW: η > 0, decoupled weight decay λ ≥ 0 (on the item and position
  // tables too when decay_embeddings); global-norm clipping (0 = none).
  double learning_rate = 1e-3;
  double weight_decay = 0.0;
  bool decay_embeddings = false;
  double clip_norm = 0.0;
  // Learning-rate schedule (schedule.h): linear warmup over warmup_steps ≥ 0,
  // then "constant", or "linear" / "cosine" decay to min_lr_ratio × η
  // (∈ [0, 1]) at the end of the step budget (epochs × steps per epoch, or
  // max_steps; a decay needs one of them).
  int64_t warmup_steps = 0;
  std::string lr_decay = "constant";
  double min_lr_ratio = 0.0;
  // Validate (NDCG@10 on TrainContext.valid) every this many epochs, ≥ 1;
  // stop after `patience` validations without improvement (0 = never).
  int validate_every_epochs = 1;
  int patience = 0;
  // Print per-term losses (L_short, L_long) to stderr during training.
  bool log_losses = true;

  absl::Status Validate() const;
  static absl::StatusOr<LongShortConfig> FromJson(const std::string& json);
  std::string ToJson() const;
  // The network part (validated separately by LongShortNetConfig::Validate).
  LongShortNetConfig ToNet() const;
};

// Mean per-term losses of one reporting period during training.
struct LongShortLossReport {
  int64_t step = 0;
  double short_loss = 0.0;  // mean L_short per target position
  double long_loss = 0.0;   // mean L_long per user
};

class LongShortModel final : public SequentialModel, public TrainableModel {
 public:
  // Trains on context.train (validation on context.valid when given).
  // `content` (optional): N × C content embeddings aligned with the training
  // item vocabulary; overrides config.content_file.
  static absl::StatusOr<std::unique_ptr<LongShortModel>> Train(const LongShortConfig& config,
                                                               const TrainContext& context,
                                                               const MatrixF* content = nullptr);
  // An untrained (initialised) model over `items` (tests, fine-tuning).
  static absl::StatusOr<std::unique_ptr<LongShortModel>> Create(const LongShortConfig& config, Vocabulary items,
                                                                const MatrixF* content = nullptr,
                                                                uint64_t seed = 42);
  static absl::StatusOr<std::unique_ptr<LongShortModel>> Load(const TensorFile& file);

  // ---- SequentialModel ----
  std::string type() const override { return "longshort"; }
  std::string config_json() const override { return config_.ToJson(); }
  const Vocabulary& item_vocab() const override { return items_; }
  // Target-aware scores of every item: one (N × D)·(D × (K+1)) GEMM per user
  // plus the per-item softmax over the K + 1 columns.
  absl::Status ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const override;
  bool has_embeddings() const override { return true; }
  absl::Status Save(const std::string& path) const override;

  // ---- ranker API (stage 1 queries and stage 2 scores) ----
  // [u_s; v_1..v_K]: (K+1) × D, row 0 = the short-term interest.
  MatrixF EncodeUser(const HistoryView& history) const;
  // Batch form: (B·(K+1)) × D, user b in rows [b(K+1), (b+1)(K+1)).
  void EncodeUsers(std::span<const HistoryView> histories, MatrixF* interests) const;
  // Target-aware scores of `candidates` (dense item indices in [0, N)).
  absl::StatusOr<std::vector<float>> ScoreCandidates(const HistoryView& history,
                                                     std::span<const ItemIndex> candidates) const;
  // Reference path for tests: EncodeUsers through the training-time forward
  // (keys/values projected from the memory, not gathered from precomputed
  // item projections).
  void EncodeUsersReference(std::span<const HistoryView> histories, MatrixF* interests) const;
  // Item embeddings E (N × D) used for scoring.
  const MatrixF& item_embeddings() const { return item_table_; }
  int num_interest_vectors() const { return config_.num_interests + 1; }
  const LongShortConfig& config() const { return config_; }
  // Per-term loss reports collected during training (one per log period).
  const std::vector<LongShortLossReport>& loss_history() const { return loss_history_; }

  // ---- TrainableModel ----
  ParameterArena& params() override { return arena_; }
  const ParameterArena& params() const override { return arena_; }
  int64_t num_examples() const override { return static_cast<int64_t>(windows_.size()); }
  LossSum ForwardBackward(std::span<const int64_t> example_ids, Rng& rng, GradBuffer& grads) const override;
  int64_t NumEvents(std::span<const int64_t> example_ids) const override;
  void AfterStep() override;

  // Recomputes the inference caches (item table, item-side key/value
  // projections) from the parameters. Called after training and loading.
  void RefreshInference();

 private:
  LongShortModel() = default;
  absl::Status Init(const LongShortConfig& config, Vocabulary items, const MatrixF* content, uint64_t seed);
  absl::Status SetTrainingData(const SequenceDataset* train);
  void RefreshItemTable();
  void EncodeBatch(std::span<const HistoryView> histories, bool reference, MatrixF* interests) const;

  LongShortConfig config_;
  LongShortNetConfig net_;
  Vocabulary items_;
  MatrixF content_;  // N × C (empty without content)
  ParameterArena arena_;
  LongShortLayout layout_;

  // Inference caches.
  MatrixF item_table_;  // N × D
  LongTermEncoder<float>::ItemProjections proj_;

  // Training state.
  const SequenceDataset* train_ = nullptr;
  struct Window {
    UserIndex user;
    int32_t end;  // the L_long target's position; the window holds the S events before it
  };
  std::vector<Window> windows_;  // training examples
  double long_scale_ = 1.0;      // short-term target positions per long-term target
  std::unique_ptr<NegativeSampler> sampler_;
  mutable std::mutex loss_mu_;
  mutable double acc_short_ = 0, acc_short_n_ = 0, acc_long_ = 0, acc_long_n_ = 0;
  std::vector<LongShortLossReport> loss_history_;
};

}  // namespace recsys

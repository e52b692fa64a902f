// SASRec (Kang & McAuley, ICDM 2018) and its loss variants: gSASRec (gBCE,
// Petrov & Macdonald, RecSys 2023), full cross-entropy (Klenitskiy &
// Vasilev, RecSys 2023) and sampled softmax with logQ corrections.
//
// Model: the short-term encoder (ranker/short_term_encoder.h) over the last
// S = max_len items; the state at every position predicts the next item with
// score(h_t, j) = ⟨h_t, E_out[j]⟩ (E_out = the input item table when
// tied_embeddings). Training: next-item targets at every non-padded position
// of each user's training sequence (one example = one user), any loss of
// training/losses.h. Inference: ScoreAll = u_s · E_outᵀ (one GEMM per batch).
//
//   RECSYS_ASSIGN_OR_RETURN(auto cfg, recsys::SasRecConfig::FromJson(R"({"loss": "gbce"})"));
//   recsys::TrainContext ctx;  ctx.train = &train;  ctx.valid = &valid;  ctx.threads = 2;
//   RECSYS_ASSIGN_OR_RETURN(auto model, recsys::SasRecModel::Train(cfg, ctx));
//   recsys::MatrixF scores(histories.size(), model->num_items());
//   RECSYS_RETURN_IF_ERROR(model->ScoreAll(histories, scores));
//   RECSYS_RETURN_IF_ERROR(model->Save("sasrec.rsm"));   // LoadModel() reads it back
//
// Negatives of the sampled losses, with negative_sharing = kBatch (default,
// GEMM-bound): one set of negatives per trainer shard (its sequences are the
// model's "batch"), scored against every position by one GEMM; kPosition:
// independent negatives per position (the gSASRec/SASRec reference
// sampling), scored by dot products. Kinds: uniform over the catalogue,
// in-batch (the distinct targets of the shard, Q(j) = c_j / Σc) or mixed
// (in-batch + uniform, mixture Q). Negatives equal to a row's target are
// masked. Determinism: everything random comes from the trainer's per-shard
// Rng, so a seed gives the same model for any thread count.
//
// Thread safety: a trained model is immutable; const methods (ScoreAll,
// ForwardBackward) may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/io/tensor_file.h"
#include "recsys/models/model.h"
#include "recsys/ranker/short_term_encoder.h"
#include "recsys/training/losses.h"
#include "recsys/training/trainer.h"

namespace recsys {

enum class SasRecLoss {
  kSoftmax,         // "ce": full softmax cross-entropy over the catalogue
  kSampledSoftmax,  // "sampled_softmax": softmax over target + sampled negatives
  kBce,             // "bce": binary cross-entropy, target vs negatives
  kGbce,            // "gbce": gSASRec's calibrated BCE (β from gbce_t)
};
enum class SasRecNegatives { kUniform, kInBatch, kMixed };  // "uniform", "in_batch", "mixed"
enum class NegativeSharing { kBatch, kPosition };           // "batch", "position"

struct SasRecConfig {
  // Encoder: JSON fields dim (D), num_blocks, num_heads, max_len (S),
  // ffn_dim, dropout, layer_norm_eps, scale_embeddings, activation
  // ("relu" | "gelu"); see ShortTermEncoderConfig for ranges.
  ShortTermEncoderConfig encoder;
  // Score with the input item table (true, SASRec) or a separate output table.
  bool tied_embeddings = true;

  // Loss ("ce" | "sampled_softmax" | "bce" | "gbce").
  SasRecLoss loss = SasRecLoss::kSoftmax;
  // Negatives of the sampled losses ("uniform" | "in_batch" | "mixed").
  SasRecNegatives negatives = SasRecNegatives::kUniform;
  // k: uniform negatives (per shard, or per position with kPosition); for
  // "mixed" the uniform part. ≥ 1 for uniform, ≥ 0 for mixed (gSASRec: 256).
  int num_negatives = 256;
  // Sharing of negatives ("batch" | "position"); in_batch/mixed need "batch".
  NegativeSharing negative_sharing = NegativeSharing::kBatch;
  // logQ correction of the sampled softmax ("none" | "standard" | "refined").
  LogQCorrection logq = LogQCorrection::kNone;
  // gBCE calibration t ∈ [0, 1] (gSASRec: 0.75; 0 = plain BCE).
  double gbce_t = 0.75;

  // Optimisation (trainer.h): sequences per step, ≥ 1 (SASRec: 128).
  int batch_size = 128;
  // Epoch budget, ≥ 0 (0: rely on max_steps / max_minutes).
  int epochs = 200;
  // Global step budget, ≥ 0 (0 = none).
  int64_t max_steps = 0;
  // Wall-clock budget in minutes, ≥ 0 (0 = none; TrainContext's also applies).
  double max_minutes = 0.0;
  // Adam(W): peak learning rate η > 0, β1, β2 ∈ [0, 1), decoupled weight
  // decay λ ≥ 0 (SASRec: η = 1e-3, β2 = 0.98, λ = 0).
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.98;
  double weight_decay = 0.0;
  // Lazy (row-sparse) Adam for the item tables; false = exact dense Adam
  // (PyTorch's torch.optim.Adam, what the published numbers used).
  bool lazy_embeddings = false;
  // Decoupled weight decay also on the item and position tables.
  bool decay_embeddings = false;
  // Learning-rate schedule (schedule.h): linear warmup over warmup_steps ≥ 0,
  // then "constant", or "linear" / "cosine" decay to min_lr_ratio × η
  // (∈ [0, 1]) at the end of the step budget (epochs or max_steps; a decay
  // needs one of them).
  int64_t warmup_steps = 0;
  std::string lr_decay = "constant";
  double min_lr_ratio = 0.0;
  // Global gradient-norm clip, ≥ 0 (0 = none).
  double clip_norm = 0.0;
  // Gradient shards per batch, in [1, 1024]: the unit of parallelism and of
  // batch-shared negatives. Results do not depend on the thread count.
  int num_shards = 8;
  // Validation (when the TrainContext has a validation set): every this many
  // steps, 0 = every epoch; early stopping after `patience` validations
  // without NDCG@10 improvement (0 = never).
  int64_t validate_every_steps = 0;
  int patience = 0;
  // Log progress every this many steps (≥ 0).
  int64_t log_every_steps = 50;

  absl::Status Validate() const;
  // Strict JSON object (unknown fields and wrong types: InvalidArgument).
  static absl::StatusOr<SasRecConfig> FromJson(const std::string& json);
  std::string ToJson() const;
};

class SasRecModel final : public SequentialModel, public TrainableModel {
 public:
  // An initialised (untrained) model over `items`; `item_counts` (size
  // items.size(), may be empty → uniform) feed the logQ of in-batch sampling.
  static absl::StatusOr<std::unique_ptr<SasRecModel>> Create(const SasRecConfig& config, Vocabulary items,
                                                             std::vector<int64_t> item_counts, uint64_t seed);
  // Creates and trains on context.train (validation, threads, seed, time
  // budget and progress from the context).
  static absl::StatusOr<std::unique_ptr<SasRecModel>> Train(const SasRecConfig& config,
                                                            const TrainContext& context);
  static absl::StatusOr<std::unique_ptr<SasRecModel>> Load(const TensorFile& file);

  // Trainer settings derived from the config (seed/threads/time from args).
  TrainerConfig MakeTrainerConfig(uint64_t seed, int threads, double max_minutes) const;

  // Training sequences (item indices of this model's vocabulary); examples are
  // the users with ≥ 2 events. The dataset must outlive training.
  void SetTrainingData(const SequenceDataset* data);

  // ---- SequentialModel ----
  std::string type() const override { return "sasrec"; }
  std::string config_json() const override { return config_.ToJson(); }
  const Vocabulary& item_vocab() const override { return items_; }
  absl::Status ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const override;
  bool has_embeddings() const override { return true; }
  absl::Status Save(const std::string& path) const override;

  // u_s of each history: histories.size() × D.
  absl::Status UserEmbeddings(std::span<const HistoryView> histories, MatrixRef out) const;
  // Output item embeddings E_out: num_items × D, row-major (arena memory).
  ConstMapMatrixF ItemEmbeddings() const { return arena_.Value(out_emb_); }

  // ---- TrainableModel ----
  ParameterArena& params() override { return arena_; }
  const ParameterArena& params() const override { return arena_; }
  int64_t num_examples() const override { return static_cast<int64_t>(examples_.size()); }
  LossSum ForwardBackward(std::span<const int64_t> example_ids, Rng& rng, GradBuffer& grads) const override;
  int64_t NumEvents(std::span<const int64_t> example_ids) const override;

  // Double-precision forward/backward for gradient checks: `theta` has the
  // arena's layout (arena().size() values), the gradient of the summed loss
  // is ADDED to `grad` (same layout, dense). Dropout follows `training`;
  // negatives are drawn from Rng(seed, 0). Returns the summed loss.
  double LossAndGradientDouble(std::span<const int64_t> example_ids, uint64_t seed, bool training,
                               std::span<const double> theta, std::span<double> grad) const;

  const SasRecConfig& config() const { return config_; }

 private:
  SasRecModel() = default;
  template <typename T, typename Sink>
  LossSum Run(std::span<const int64_t> example_ids, Rng& rng, bool training, const T* theta, Sink& sink) const;
  void Encode(std::span<const HistoryView> histories, MatrixF* user) const;

  SasRecConfig config_;
  Vocabulary items_;
  std::vector<int64_t> item_counts_;
  std::vector<float> log_q_counts_;   // log(c_j / Σc) per item (in-batch sampling)
  ParameterArena arena_;
  int item_emb_ = -1;
  int out_emb_ = -1;                  // == item_emb_ when tied
  ShortTermEncoderLayout layout_;
  const SequenceDataset* train_ = nullptr;
  std::vector<UserIndex> examples_;   // users with ≥ 2 events
};

}  // namespace recsys

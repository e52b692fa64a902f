// Data-parallel, reproducible trainer for any model written against the
// ParameterArena: mini-batches → per-shard forward/backward on oneTBB →
// gradient reduction in shard order → clipping → AdamW (lazy for embedding
// tables) with a learning-rate schedule; epochs / step / wall-time budgets,
// validation with early stopping and best-weights restore, exact checkpoints
// and progress callbacks.
//
//   class MyModel : public recsys::TrainableModel {         // see below
//     ParameterArena& params() override { return arena_; }
//     const ParameterArena& params() const override { return arena_; }
//     int64_t num_examples() const override { return users_.size(); }
//     LossSum ForwardBackward(std::span<const int64_t> ids, Rng& rng,
//                             GradBuffer& grads) const override { ... }
//   };
//   recsys::TrainerConfig cfg;  cfg.batch_size = 256;  cfg.epochs = 20;
//   cfg.optimizer.learning_rate = 1e-3;  cfg.patience = 3;
//   RECSYS_ASSIGN_OR_RETURN(auto trainer, recsys::Trainer::Create(cfg, &model));
//   trainer->SetValidation("ndcg@10", [&]() -> absl::StatusOr<double> { return Eval(model); });
//   trainer->SetProgressCallback([](const recsys::TrainerProgress& p) { Print(p); return true; });
//   RECSYS_ASSIGN_OR_RETURN(recsys::TrainResult result, trainer->Train());
//
// Determinism: a batch is split into a FIXED number of shards
// (config.num_shards, independent of the thread count); shard s of step t
// gets its own GradBuffer and the Rng(seed, t · 1024 + s); the buffers are
// summed in shard order. Example order is a Fisher-Yates shuffle per epoch
// with Rng(seed, kEpochStream + epoch). So a seed gives bit-identical
// parameters for any number of threads, and a checkpoint (which stores step,
// epoch, position in the epoch and seed — the whole "rng state") resumes
// exactly: training 2N steps equals training N, saving, loading, training N.
//
// Loss normalisation: ForwardBackward returns the SUM of its loss terms and
// their COUNT, and accumulates the gradient of the sum. The trainer divides
// the reduced gradient by the total count of the batch, so the step is that of
// the mean loss over the batch whatever the sharding. (In-batch negatives are
// drawn within a shard: a shard is the model's "batch" for sampling.)
//
// Thread safety: ForwardBackward is called concurrently from several threads
// with distinct GradBuffers and Rngs; it must only read the model. Train() and
// the other Trainer methods are not reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/core/rng.h"
#include "recsys/training/arena.h"
#include "recsys/training/optimizer.h"
#include "recsys/training/schedule.h"

namespace recsys {

// Sum of a shard's loss terms and how many terms there were.
struct LossSum {
  double loss = 0.0;
  double count = 0.0;
};

// The model interface the trainer drives. Examples are identified by ids in
// [0, num_examples()) (e.g. a user or a (user, position) pair).
class TrainableModel {
 public:
  virtual ~TrainableModel() = default;
  virtual ParameterArena& params() = 0;
  virtual const ParameterArena& params() const = 0;
  // Number of training examples (an epoch visits each once).
  virtual int64_t num_examples() const = 0;
  // Forward + backward over `example_ids` (one shard of a batch): ADDS the
  // gradient of the summed loss into `grads` (which arrives zeroed) and
  // returns {sum of loss terms, number of terms}. Draw negatives/dropout from
  // `rng` only. Must not modify the model (runs concurrently).
  virtual LossSum ForwardBackward(std::span<const int64_t> example_ids, Rng& rng,
                                  GradBuffer& grads) const = 0;
  // Events (interactions) covered by these examples, for events/s.
  virtual int64_t NumEvents(std::span<const int64_t> example_ids) const {
    return static_cast<int64_t>(example_ids.size());
  }
  // Hook after every optimizer step (e.g. refresh caches). Default: nothing.
  virtual void AfterStep() {}
};

struct TrainerConfig {
  // Examples per optimizer step; ≥ 1. The last batch of an epoch may be smaller.
  int64_t batch_size = 128;
  // Gradient shards per batch, fixed so results do not depend on threads;
  // in [1, 1024]. More shards = more parallelism and more memory (one
  // GradBuffer, the size of the arena, per shard).
  int num_shards = 8;
  // Epoch budget; 0 = unlimited (then max_steps or max_minutes must be set).
  int epochs = 1;
  // Global step budget (absolute: a resumed run stops at the same step); 0 = none.
  int64_t max_steps = 0;
  // Wall-clock budget in minutes for one Train() call; 0 = none.
  double max_minutes = 0.0;
  // Seed of the example order and of every shard's Rng.
  uint64_t seed = 42;
  // Shuffle examples every epoch (false: id order).
  bool shuffle = true;
  // TBB threads for Train(); 0 = all cores. Does not change results.
  int threads = 0;

  AdamWConfig optimizer;
  // Learning-rate schedule; total_steps = 0 with a decay means "the run's
  // step budget" (max_steps, else epochs × steps per epoch). A run that is
  // resumed with a different budget must pin total_steps to stay on the
  // same curve.
  LrScheduleConfig schedule;
  // Clip the global gradient norm to this value; 0 = no clipping.
  double clip_norm = 0.0;

  // Validate every this many steps; 0 = at the end of every epoch.
  int64_t validate_every_steps = 0;
  // Stop after this many validations without improvement; 0 = never.
  int patience = 0;
  // Improvement threshold of the validation metric (≥ 0).
  double min_delta = 0.0;
  // Restore the best validated weights when training ends.
  bool restore_best = true;

  // Report progress every this many steps (and after validations); 0 = only
  // after validations and at the end.
  int64_t log_every_steps = 100;
  // Write a checkpoint every this many steps to checkpoint_path (0 = never).
  std::string checkpoint_path;
  int64_t checkpoint_every_steps = 0;

  absl::Status Validate() const;
};

struct TrainerProgress {
  int epoch = 0;                // 0-based epoch being trained
  int64_t step = 0;             // optimizer steps done
  int64_t total_steps = 0;      // step budget (0 = unknown)
  double loss = 0.0;            // mean batch loss since the previous report
  double learning_rate = 0.0;   // current η
  double grad_norm = 0.0;       // global norm of the last step (before clipping)
  double steps_per_s = 0.0;
  double events_per_s = 0.0;
  double elapsed_s = 0.0;       // since Train() started
  double eta_s = 0.0;           // 0 when unknown
  bool validated = false;       // this report follows a validation
  std::string valid_metric_name;
  double valid_metric = 0.0;       // this validation's value (when validated)
  double best_valid_metric = 0.0;  // the best so far (the weights early stopping keeps)
};

struct TrainResult {
  int64_t steps = 0;            // global step at the end
  int epochs_completed = 0;
  double last_loss = 0.0;       // mean loss of the last step
  double seconds = 0.0;
  bool stopped_early = false;   // patience exhausted
  bool stopped_by_time = false;
  bool stopped_by_callback = false;
  bool validated = false;
  double best_valid_metric = 0.0;
  int64_t best_step = -1;       // step of the best validation (weights restored if restore_best)
};

class Trainer {
 public:
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const TrainerConfig& config,
                                                         TrainableModel* model);
  ~Trainer();

  // Validation metric computed on the current weights (e.g. NDCG@10 on a
  // held-out set). higher_is_better = false for losses.
  void SetValidation(std::string name, std::function<absl::StatusOr<double>()> metric,
                     bool higher_is_better = true);
  // Called with progress; returning false stops training after this step.
  void SetProgressCallback(std::function<bool(const TrainerProgress&)> callback);

  // Trains until a budget is exhausted or early stopping triggers. Continues
  // from the current state (after LoadCheckpoint or a previous Train()).
  absl::StatusOr<TrainResult> Train();

  // One optimizer step on the next batch; returns its mean loss.
  double Step();

  // Checkpoint = parameters, optimizer moments and step, trainer position
  // (step, epoch, position in epoch, seed), early-stopping state and the best
  // weights. Versioned, checksummed file; written atomically (temp + rename).
  absl::Status SaveCheckpoint(const std::string& path) const;
  // Errors: NotFound/Unavailable (file), DataLoss (corrupt, truncated),
  // FailedPrecondition (written for a different parameter layout).
  absl::Status LoadCheckpoint(const std::string& path);

  int64_t step() const { return step_; }
  int epoch() const { return epoch_; }
  int64_t steps_per_epoch() const;
  const TrainerConfig& config() const { return config_; }
  AdamW& optimizer() { return *optimizer_; }

 private:
  Trainer(const TrainerConfig& config, TrainableModel* model, std::unique_ptr<AdamW> optimizer);
  void StartEpochIfNeeded();
  int64_t StepBudget() const;
  // Runs validation; returns true when patience is exhausted.
  absl::StatusOr<bool> Validate(TrainResult* result);

  TrainerConfig config_;
  TrainableModel* model_;
  std::unique_ptr<AdamW> optimizer_;
  // One gradient buffer per shard; shard 0 also receives the reduction (no
  // separate total: one arena-sized buffer less).
  std::vector<GradBuffer> shard_grads_;
  std::vector<int64_t> order_;   // example order of the current epoch

  // Position (part of the checkpoint).
  int64_t step_ = 0;
  int epoch_ = 0;
  int64_t pos_in_epoch_ = 0;
  bool epoch_started_ = false;

  // Early stopping (part of the checkpoint).
  bool has_best_ = false;
  double best_metric_ = 0.0;
  double last_valid_metric_ = 0.0;  // the latest validation's value
  int64_t best_step_ = -1;
  int bad_validations_ = 0;
  int64_t last_validated_step_ = -1;
  AlignedFloats best_params_;

  // Last step's diagnostics.
  double last_loss_ = 0.0;
  double last_grad_norm_ = 0.0;
  int64_t last_events_ = 0;

  std::string metric_name_;
  std::function<absl::StatusOr<double>()> metric_;
  bool higher_is_better_ = true;
  std::function<bool(const TrainerProgress&)> progress_;
};

}  // namespace recsys

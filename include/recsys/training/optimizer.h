// Adam / AdamW over a ParameterArena, with lazy row-sparse updates for
// embedding tables, and gradient clipping by global norm.
//
//   recsys::AdamWConfig cfg{.learning_rate = 1e-3, .weight_decay = 0.01};
//   RECSYS_ASSIGN_OR_RETURN(auto opt, recsys::AdamW::Create(cfg, arena));
//   double norm = recsys::ClipGradNorm(grads, /*max_norm=*/1.0);
//   opt->Step(arena, grads, recsys::LrMultiplier(schedule, opt->step()));
//
// Update (Loshchilov & Hutter, decoupled weight decay), step t = 1, 2, ...:
//   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
//   θ ← θ − η_t·( m̂ / (√v̂ + ε) + λ·θ ),  m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t)
// with η_t = learning_rate × schedule multiplier.
//
// Lazy Adam for embedding tables (lazy_embeddings = true; the semantics of
// TensorFlow's LazyAdam and PyTorch's SparseAdam): only rows with a gradient
// in this step (GradBuffer::TouchedRows) are updated. Untouched rows keep
// their parameters AND their moments frozen (no decay of m and v, no weight
// decay), and the bias correction of a touched row uses the global step t, not
// the number of times the row was touched. Cost is O(touched rows × dim).
// With lazy_embeddings = false an embedding table is updated like a dense
// tensor with zero gradient on untouched rows (moments decay, momentum keeps
// moving those rows), which is the exact dense Adam.
//
// Moments m and v mirror the arena layout (flat buffers of arena.size()).
//
// Thread safety: Step() needs exclusive access to the arena and optimizer.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/training/arena.h"

namespace recsys {

struct AdamWConfig {
  // Peak learning rate η (> 0); the schedule multiplies it.
  double learning_rate = 1e-3;
  // β1 ∈ [0, 1): first-moment decay.
  double beta1 = 0.9;
  // β2 ∈ [0, 1): second-moment decay.
  double beta2 = 0.999;
  // ε > 0 added to √v̂.
  double epsilon = 1e-8;
  // Decoupled weight decay λ ≥ 0 (0 = Adam).
  double weight_decay = 0.0;
  // Apply λ to embedding tables too (only to touched rows when lazy).
  bool decay_embeddings = false;
  // Lazy (row-sparse) updates for embedding tables; see the header comment.
  bool lazy_embeddings = true;

  absl::Status Validate() const;
};

class AdamW {
 public:
  static absl::StatusOr<std::unique_ptr<AdamW>> Create(const AdamWConfig& config,
                                                       const ParameterArena& arena);

  // One update with gradients `grads` (same layout as `arena`), learning rate
  // config.learning_rate × lr_multiplier. Increments step().
  void Step(ParameterArena& arena, const GradBuffer& grads, double lr_multiplier = 1.0);

  const AdamWConfig& config() const { return config_; }
  // Number of Step() calls so far (t of the bias correction).
  int64_t step() const { return step_; }

  // Optimizer state, for checkpoints: moments mirror the arena layout.
  std::span<float> first_moment() { return {m_.data(), m_.size()}; }
  std::span<float> second_moment() { return {v_.data(), v_.size()}; }
  std::span<const float> first_moment() const { return {m_.data(), m_.size()}; }
  std::span<const float> second_moment() const { return {v_.data(), v_.size()}; }
  void set_step(int64_t step) { step_ = step; }

 private:
  AdamW(const AdamWConfig& config, const ParameterArena& arena);

  AdamWConfig config_;
  AlignedFloats m_;
  AlignedFloats v_;
  int64_t step_ = 0;
};

// Scales all gradients so that their global L2 norm is at most max_norm
// (max_norm <= 0: no clipping). Returns the norm before clipping.
double ClipGradNorm(GradBuffer& grads, double max_norm);

}  // namespace recsys

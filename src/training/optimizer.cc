#include "recsys/training/optimizer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "recsys/core/status.h"

namespace recsys {

absl::Status AdamWConfig::Validate() const {
  if (!(learning_rate > 0.0))
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.learning_rate = ", learning_rate, " must be > 0"));
  if (!(beta1 >= 0.0 && beta1 < 1.0))
    return absl::InvalidArgumentError(absl::StrCat("optimizer.beta1 = ", beta1, " must be in [0, 1)"));
  if (!(beta2 >= 0.0 && beta2 < 1.0))
    return absl::InvalidArgumentError(absl::StrCat("optimizer.beta2 = ", beta2, " must be in [0, 1)"));
  if (!(epsilon > 0.0))
    return absl::InvalidArgumentError(absl::StrCat("optimizer.epsilon = ", epsilon, " must be > 0"));
  if (!(weight_decay >= 0.0))
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.weight_decay = ", weight_decay, " must be >= 0"));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AdamW>> AdamW::Create(const AdamWConfig& config,
                                                     const ParameterArena& arena) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  if (!arena.allocated())
    return absl::FailedPreconditionError("AdamW::Create: the ParameterArena is not allocated");
  return std::unique_ptr<AdamW>(new AdamW(config, arena));
}

AdamW::AdamW(const AdamWConfig& config, const ParameterArena& arena)
    : config_(config),
      m_(static_cast<size_t>(arena.size()), 0.0f),
      v_(static_cast<size_t>(arena.size()), 0.0f) {}

namespace {

// The Adam update of n contiguous floats.
inline void AdamSpan(float* theta, const float* g, float* m, float* v, int64_t n, float b1,
                     float b2, float step_size, float inv_bc2_sqrt, float eps, float decay) {
  for (int64_t j = 0; j < n; ++j) {
    m[j] = b1 * m[j] + (1.0f - b1) * g[j];
    v[j] = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
    // θ ← θ − η(m̂/(√v̂ + ε) + λθ), with m̂ = m/bc1 folded into step_size.
    const float denom = std::sqrt(v[j]) * inv_bc2_sqrt + eps;
    theta[j] -= step_size * m[j] / denom + decay * theta[j];
  }
}

}  // namespace

void AdamW::Step(ParameterArena& arena, const GradBuffer& grads, double lr_multiplier) {
  RECSYS_CHECK(grads.size() == arena.size() && static_cast<int64_t>(m_.size()) == arena.size())
      << "AdamW::Step: layouts differ";
  ++step_;
  const double lr = config_.learning_rate * lr_multiplier;
  const double t = static_cast<double>(step_);
  const double bc1 = 1.0 - std::pow(config_.beta1, t);
  const double bc2 = 1.0 - std::pow(config_.beta2, t);
  const float b1 = static_cast<float>(config_.beta1), b2 = static_cast<float>(config_.beta2);
  const float step_size = static_cast<float>(lr / bc1);
  const float inv_bc2_sqrt = static_cast<float>(1.0 / std::sqrt(bc2));
  const float eps = static_cast<float>(config_.epsilon);
  for (int id = 0; id < arena.num_tensors(); ++id) {
    const ParamTensor& p = arena.tensor(id);
    const bool embedding = p.kind == ParamKind::kEmbedding;
    const float decay =
        static_cast<float>((embedding && !config_.decay_embeddings) ? 0.0 : lr * config_.weight_decay);
    float* theta = arena.data() + p.offset;
    const float* g = grads.data() + p.offset;
    float* m = m_.data() + p.offset;
    float* v = v_.data() + p.offset;
    if (!embedding || !config_.lazy_embeddings || grads.AllRowsTouched(id)) {
      AdamSpan(theta, g, m, v, p.size(), b1, b2, step_size, inv_bc2_sqrt, eps, decay);
    } else {
      for (int64_t r : grads.TouchedRows(id)) {
        const int64_t o = r * p.cols;
        AdamSpan(theta + o, g + o, m + o, v + o, p.cols, b1, b2, step_size, inv_bc2_sqrt, eps,
                 decay);
      }
    }
  }
}

double ClipGradNorm(GradBuffer& grads, double max_norm) {
  const double norm = std::sqrt(grads.SquaredNorm());
  if (max_norm > 0.0 && norm > max_norm) grads.Scale(static_cast<float>(max_norm / (norm + 1e-12)));
  return norm;
}

}  // namespace recsys

// Learning-rate schedules: linear warmup, then constant, linear or cosine
// decay to a floor. The schedule is a multiplier of the optimizer's peak
// learning rate, a pure function of the step, so a resumed run continues on
// the same curve.
//
//   recsys::LrScheduleConfig sched{.warmup_steps = 100, .total_steps = 10000,
//                                  .decay = recsys::LrDecay::kCosine};
//   RECSYS_RETURN_IF_ERROR(sched.Validate());
//   for (int64_t step = 0; step < 10000; ++step) {
//     optimizer.Step(arena, grads, recsys::LrMultiplier(sched, step));
//   }
//
// Thread safety: pure functions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace recsys {

enum class LrDecay { kConstant, kLinear, kCosine };

// "constant", "linear", "cosine" (the spelling of model configs' lr_decay).
inline absl::StatusOr<LrDecay> ParseLrDecay(std::string_view name) {
  if (name == "constant") return LrDecay::kConstant;
  if (name == "linear") return LrDecay::kLinear;
  if (name == "cosine") return LrDecay::kCosine;
  return absl::InvalidArgumentError(
      absl::StrCat("lr_decay = '", std::string(name), "' must be 'constant', 'linear' or 'cosine'"));
}

struct LrScheduleConfig {
  // Steps of linear warmup from lr/warmup_steps up to the peak lr; ≥ 0.
  int64_t warmup_steps = 0;
  // Step at which the decay reaches its floor; 0 = unknown (decay disabled,
  // constant after warmup). Must exceed warmup_steps when set.
  int64_t total_steps = 0;
  // Shape of the decay between warmup_steps and total_steps.
  LrDecay decay = LrDecay::kConstant;
  // Floor of the multiplier after decay, in [0, 1] (η_min / η_max).
  double min_ratio = 0.0;

  absl::Status Validate() const {
    if (warmup_steps < 0)
      return absl::InvalidArgumentError(absl::StrCat("schedule.warmup_steps = ", warmup_steps,
                                                     " must be >= 0"));
    if (total_steps < 0 || (total_steps > 0 && total_steps <= warmup_steps))
      return absl::InvalidArgumentError(absl::StrCat("schedule.total_steps = ", total_steps,
                                                     " must be 0 or > warmup_steps (",
                                                     warmup_steps, ")"));
    if (!(min_ratio >= 0.0 && min_ratio <= 1.0))
      return absl::InvalidArgumentError(
          absl::StrCat("schedule.min_ratio = ", min_ratio, " must be in [0, 1]"));
    return absl::OkStatus();
  }
};

// The schedule of a model config's warmup_steps / lr_decay / min_lr_ratio
// fields, validated; `bounded`: the run has an epoch or step budget (a decay
// needs one to know where it ends).
inline absl::StatusOr<LrScheduleConfig> MakeLrSchedule(int64_t warmup_steps, std::string_view lr_decay,
                                                       double min_lr_ratio, bool bounded) {
  LrScheduleConfig c;
  c.warmup_steps = warmup_steps;
  c.min_ratio = min_lr_ratio;
  auto decay = ParseLrDecay(lr_decay);
  if (!decay.ok()) return decay.status();
  c.decay = *decay;
  if (auto st = c.Validate(); !st.ok()) return st;
  if (c.decay != LrDecay::kConstant && !bounded) {
    return absl::InvalidArgumentError(
        "lr_decay must be 'constant' when neither epochs nor max_steps bounds the run");
  }
  return c;
}

// Multiplier of the peak learning rate at 0-based `step`.
inline double LrMultiplier(const LrScheduleConfig& c, int64_t step) {
  if (step < c.warmup_steps) return static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  if (c.decay == LrDecay::kConstant || c.total_steps <= 0) return 1.0;
  const double span = static_cast<double>(c.total_steps - c.warmup_steps);
  const double progress = std::clamp(static_cast<double>(step - c.warmup_steps) / span, 0.0, 1.0);
  const double shape = c.decay == LrDecay::kLinear
                           ? 1.0 - progress
                           : 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));
  return c.min_ratio + (1.0 - c.min_ratio) * shape;
}

}  // namespace recsys

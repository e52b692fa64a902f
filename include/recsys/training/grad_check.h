// Finite-difference gradient checker for forward/backward pairs (STYLE §8).
//
// Central differences in double precision: for every checked element x_i of
// every tensor, numeric_i = (L(x + h e_i) − L(x − h e_i)) / 2h, compared with
// the analytic gradient the backward pass produced at the unperturbed point.
// Error per element: |analytic − numeric| / max(|analytic|, |numeric|, floor);
// the floor keeps near-zero gradients from turning round-off into huge
// relative errors (the check is then absolute at scale `floor`).
//
//   MatrixD x = ..., w = ..., gx, gw;                    // inputs/params, double
//   auto loss = [&] { return Forward(x, w).cwiseProduct(r).sum(); };
//   Backward(...);                                       // fills gx, gw at (x, w)
//   GradCheckResult res = CheckGradients(loss, {GradTensor("x", x, gx),
//                                               GradTensor("w", w, gw)});
//   EXPECT_LT(res.max_rel_error, 1e-6) << res.Summary();
//
// The loss lambda must be a pure function of the tensors' current values (for
// dropout: a fixed mask, not a fresh draw). Values are perturbed in place and
// restored bit-exactly before returning.
//
// Thread safety: the checker mutates the tensors it is given; nothing shared.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "recsys/core/check.h"
#include "recsys/core/rng.h"

namespace recsys {

struct GradCheckOptions {
  // h, the central-difference step (absolute). 1e-5 balances truncation
  // error O(h²) against round-off O(eps·|L| / h) for losses of order 1.
  double step = 1e-5;
  // Denominator floor of the relative error (see file comment), > 0.
  double denominator_floor = 1e-4;
  // 0 = check every element; otherwise check a seeded random subset of at most
  // this many elements per tensor (for big tensors).
  int64_t max_elements_per_tensor = 0;
  // Seed of the subset choice.
  uint64_t seed = 0;
};

// One tensor to check: `size` contiguous doubles perturbed in place and the
// analytic gradient dL/dvalues with the same layout.
struct GradCheckTensor {
  std::string name;
  double* values = nullptr;
  const double* gradient = nullptr;
  int64_t size = 0;
};

// Convenience: any contiguous Eigen object (matrix, vector, map) in double.
template <typename Values, typename Grad>
GradCheckTensor GradTensor(std::string name, Values& values, const Grad& gradient) {
  RECSYS_CHECK(values.size() == gradient.size())
      << name << ": values have " << values.size() << " elements, gradient " << gradient.size();
  return GradCheckTensor{std::move(name), values.data(), gradient.data(),
                         static_cast<int64_t>(values.size())};
}

struct GradCheckEntry {
  std::string tensor;
  int64_t index = -1;
  double analytic = 0.0;
  double numeric = 0.0;
  double rel_error = 0.0;
};

struct GradCheckResult {
  double max_rel_error = 0.0;   // over all checked elements
  double max_abs_error = 0.0;   // max |analytic − numeric|
  int64_t elements_checked = 0;
  GradCheckEntry worst;                                   // element with max_rel_error
  std::vector<std::pair<std::string, double>> per_tensor;  // (name, max rel error)

  std::string Summary() const {
    std::ostringstream os;
    os << "grad check: " << elements_checked << " elements, max rel err " << max_rel_error
       << ", max abs err " << max_abs_error;
    if (worst.index >= 0) {
      os << "; worst " << worst.tensor << "[" << worst.index << "] analytic " << worst.analytic
         << " numeric " << worst.numeric;
    }
    for (const auto& [name, err] : per_tensor) os << "; " << name << ": " << err;
    return os.str();
  }
};

// Checks every tensor against central differences of `loss`.
inline GradCheckResult CheckGradients(const std::function<double()>& loss,
                                      const std::vector<GradCheckTensor>& tensors,
                                      const GradCheckOptions& options = {}) {
  RECSYS_CHECK(options.step > 0 && options.denominator_floor > 0);
  GradCheckResult result;
  Rng rng(options.seed, /*stream=*/0x67726164);
  for (const GradCheckTensor& t : tensors) {
    RECSYS_CHECK(t.size == 0 || (t.values != nullptr && t.gradient != nullptr)) << t.name;
    std::vector<int64_t> indices(static_cast<size_t>(t.size));
    std::iota(indices.begin(), indices.end(), int64_t{0});
    if (options.max_elements_per_tensor > 0 && t.size > options.max_elements_per_tensor) {
      // Partial Fisher-Yates: a seeded subset, then sorted for readable reports.
      for (int64_t i = 0; i < options.max_elements_per_tensor; ++i) {
        const int64_t j = i + static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(t.size - i)));
        std::swap(indices[static_cast<size_t>(i)], indices[static_cast<size_t>(j)]);
      }
      indices.resize(static_cast<size_t>(options.max_elements_per_tensor));
      std::sort(indices.begin(), indices.end());
    }
    double tensor_max = 0.0;
    for (const int64_t i : indices) {
      double& x = t.values[i];
      const double saved = x;
      x = saved + options.step;
      const double plus = loss();
      x = saved - options.step;
      const double minus = loss();
      x = saved;
      const double numeric = (plus - minus) / (2.0 * options.step);
      const double analytic = t.gradient[i];
      const double abs_err = std::abs(analytic - numeric);
      const double denom =
          std::max({std::abs(analytic), std::abs(numeric), options.denominator_floor});
      // NaN anywhere must fail the check, never pass silently.
      const double rel = std::isfinite(abs_err) ? abs_err / denom : HUGE_VAL;
      ++result.elements_checked;
      result.max_abs_error = std::max(result.max_abs_error, std::isfinite(abs_err) ? abs_err : HUGE_VAL);
      tensor_max = std::max(tensor_max, rel);
      if (rel > result.max_rel_error || result.worst.index < 0) {
        result.max_rel_error = std::max(result.max_rel_error, rel);
        result.worst = GradCheckEntry{t.name, i, analytic, numeric, rel};
      }
    }
    result.per_tensor.emplace_back(t.name, tensor_max);
  }
  return result;
}

}  // namespace recsys

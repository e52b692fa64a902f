// Ranking losses over score matrices: value and gradient w.r.t. the scores,
// computed stably (log-sum-exp, softplus) in float or double.
//
//   recsys::MatrixF scores(batch, 1 + k);     // column 0: positive, 1..k: negatives
//   recsys::MatrixF dscores;
//   recsys::SampledSoftmaxOptions opt{.correction = recsys::LogQCorrection::kRefined};
//   float loss = recsys::SampledSoftmaxLoss(scores, /*positive_col=*/{}, &log_q, valid,
//                                           opt, &dscores);
//   float full = recsys::SoftmaxCrossEntropy(logits, targets, &dlogits);   // B × N, catalogue
//   double beta = recsys::GbceBeta(/*k=*/256, num_items, /*t=*/0.75);
//   float g = recsys::BinaryCrossEntropy(scores, {}, valid, beta, &dscores);
//
// Conventions (shapes B × C, row-major; one row per training example):
//  * `positive_col[b]` is the column of row b's positive (empty span: column 0
//    for every row). A negative value marks the row as ignored (padding): it
//    contributes no loss, no gradient and is not counted in the mean.
//  * `valid` (B × C bytes, row-major; empty span: all valid) says which columns
//    take part as negatives; 0 masks accidental hits and padding. The positive
//    column always takes part as the positive whatever `valid` says.
//  * `log_q` (B × C) is log Q(j), the probability with which the sampler drew
//    the item of column j; Q(j) = count(j) / total for popularity/in-batch
//    sampling (see logq.h). Only read when a correction is requested; the entry
//    of the positive column is log Q(pos).
//  * Softmax losses sum over the sampled negatives (no mean inside the
//    log-sum-exp) and average over rows (`LossReduction::kMean`) or sum them
//    (`kSum`, for data-parallel training, where the trainer divides by the
//    total count). The gradient is that of the returned value.
//
// Sampled softmax corrections, per row with positive p and valid negatives N:
//  * kNone:     ℓ = −s_p + log(e^{s_p} + Σ_{j∈N} e^{s_j})
//  * kStandard: every logit (positive included) becomes s − log Q:
//               ℓ = −(s_p − log Q_p) + log(e^{s_p − log Q_p} + Σ_j e^{s_j − log Q_j})
//  * kRefined (Khrylchenko et al., RecSys 2025, "Correcting the LogQ
//    Correction"): the positive keeps its raw logit and leaves the
//    denominator; negatives are corrected with Q'(j) = Q(j) / (1 − Q(p)):
//               a_j = s_j − log Q'(j)
//               raw = −s_p + log Σ_{j∈N} e^{a_j}
//               p̂  = e^{s_p} / (e^{s_p} + (1/|N|) Σ_j e^{a_j})      (mean inside p̂)
//               ℓ   = (1 − p̂) · raw, where 1 − p̂ is treated as a constant
//               (no gradient flows through the weight).
//    Check values (s_p = 2, s_N = [1, 0.5, −1], counts 10 / [30, 5, 1] of 100):
//    refined 1.723348 (raw 2.261848, weight 0.761920), standard 0.725981,
//    none 0.495182. Rows without valid negatives contribute 0 (and are still
//    counted in the mean). 1 − Q(p) is clamped at 1e-6.
//
// Binary losses (BCE and gBCE, gSASRec: Petrov & Macdonald, RecSys 2023):
//   ℓ_terms = −β · log σ(s_p)  and  −log(1 − σ(s_j)) for each valid negative j,
//   β = 1 − t(1 − α), α = k / (|I| − 1) (β = 1: plain BCE). The kMean value is
//   the mean over all (row, column) terms that take part (the PyTorch
//   BCEWithLogits convention of gSASRec): with k negatives per row, the mean
//   over the k + 1 terms. Check: same scores, k = 3, |I| = 3416, t = 0.75 →
//   β = 0.2506589, loss 0.6581040.
//
// Thread safety: pure functions; safe to call concurrently.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "recsys/core/check.h"
#include "recsys/core/eigen.h"

namespace recsys {

enum class LogQCorrection { kNone, kStandard, kRefined };
enum class LossReduction { kMean, kSum };

struct SampledSoftmaxOptions {
  // Which logQ correction to apply (see the header comment).
  LogQCorrection correction = LogQCorrection::kNone;
  // kMean: mean over non-ignored rows; kSum: sum over them.
  LossReduction reduction = LossReduction::kMean;
  // kRefined only: if non-null, receives the B row weights 1 − p̂ (0 for
  // ignored rows and rows without valid negatives).
  std::vector<double>* weights_out = nullptr;
  // kRefined only: if non-null (B entries), these weights replace 1 − p̂. The
  // refined loss is not the antiderivative of its gradient (the weight is a
  // stop-gradient); with frozen weights it is, so finite-difference checks of
  // a model trained with kRefined must capture weights_out once and pass them
  // here while perturbing.
  const std::vector<double>* frozen_weights = nullptr;
};

// gSASRec's calibration exponent β = 1 − t(1 − α), α = k / (num_items − 1).
// k ≥ 1 negatives, num_items ≥ 2, t ∈ [0, 1] (t = 0: plain BCE).
inline double GbceBeta(int64_t num_negatives, int64_t num_items, double t) {
  RECSYS_CHECK(num_items >= 2 && num_negatives >= 1) << "GbceBeta: k=" << num_negatives
                                                      << " num_items=" << num_items;
  const double alpha = static_cast<double>(num_negatives) / static_cast<double>(num_items - 1);
  return 1.0 - t * (1.0 - alpha);
}

namespace loss_internal {

// log σ(x) = −softplus(−x), stable for large |x|.
template <typename T>
inline T LogSigmoid(T x) {
  return x >= T(0) ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}

template <typename T>
inline T Sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

inline int64_t PositiveCol(std::span<const int32_t> positive_col, int64_t row) {
  return positive_col.empty() ? 0 : positive_col[static_cast<size_t>(row)];
}

inline bool Valid(std::span<const uint8_t> valid, int64_t index) {
  return valid.empty() || valid[static_cast<size_t>(index)] != 0;
}

inline void CheckShapes(int64_t rows, int64_t cols, std::span<const int32_t> positive_col,
                        std::span<const uint8_t> valid) {
  RECSYS_CHECK(positive_col.empty() || static_cast<int64_t>(positive_col.size()) == rows)
      << "positive_col has " << positive_col.size() << " entries, scores have " << rows << " rows";
  RECSYS_CHECK(valid.empty() || static_cast<int64_t>(valid.size()) == rows * cols)
      << "valid has " << valid.size() << " entries, scores are " << rows << " x " << cols;
}

inline int64_t CountRows(int64_t rows, int64_t cols, std::span<const int32_t> positive_col) {
  int64_t n = 0;
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t p = PositiveCol(positive_col, b);
    RECSYS_CHECK(p < cols) << "positive column " << p << " of row " << b << " >= " << cols;
    n += p >= 0;
  }
  return n;
}

// Softmax cross-entropy of one row of corrected logits `z` over the columns in
// `use` (positive always included). Writes scale · (softmax − onehot) into g.
template <typename T>
T SoftmaxRow(const T* z, int64_t cols, int64_t pos, const uint8_t* use, T scale, T* g) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t c = 0; c < cols; ++c)
    if (c == pos || use == nullptr || use[c]) m = std::max(m, z[c]);
  T sum = 0;
  for (int64_t c = 0; c < cols; ++c)
    if (c == pos || use == nullptr || use[c]) sum += std::exp(z[c] - m);
  const T lse = m + std::log(sum);
  if (g != nullptr) {
    for (int64_t c = 0; c < cols; ++c) {
      const bool in = c == pos || use == nullptr || use[c];
      g[c] = in ? scale * (std::exp(z[c] - lse) - (c == pos ? T(1) : T(0))) : T(0);
    }
  }
  return lse - z[pos];
}

template <typename T>
T SoftmaxCrossEntropyImpl(const Matrix<T>& logits, std::span<const int32_t> targets,
                          LossReduction reduction, Matrix<T>* grad) {
  const int64_t rows = logits.rows(), cols = logits.cols();
  RECSYS_CHECK(static_cast<int64_t>(targets.size()) == rows)
      << "targets has " << targets.size() << " entries, logits have " << rows << " rows";
  const int64_t n = CountRows(rows, cols, targets);
  const T scale = reduction == LossReduction::kMean ? T(1) / std::max<T>(T(1), T(n)) : T(1);
  if (grad != nullptr) grad->setZero(rows, cols);
  T total = 0;
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t p = targets[static_cast<size_t>(b)];
    if (p < 0) continue;
    total += SoftmaxRow<T>(logits.row(b).data(), cols, p, nullptr, scale,
                           grad ? grad->row(b).data() : nullptr);
  }
  return total * scale;
}

template <typename T>
T SampledSoftmaxImpl(const Matrix<T>& scores, std::span<const int32_t> positive_col,
                     const Matrix<T>* log_q, std::span<const uint8_t> valid,
                     const SampledSoftmaxOptions& options, Matrix<T>* grad) {
  const int64_t rows = scores.rows(), cols = scores.cols();
  CheckShapes(rows, cols, positive_col, valid);
  if (options.correction != LogQCorrection::kNone) {
    RECSYS_CHECK(log_q != nullptr && log_q->rows() == rows && log_q->cols() == cols)
        << "a logQ correction needs log_q of shape " << rows << " x " << cols;
  }
  const int64_t n = CountRows(rows, cols, positive_col);
  const T scale =
      options.reduction == LossReduction::kMean ? T(1) / std::max<T>(T(1), T(n)) : T(1);
  if (grad != nullptr) grad->setZero(rows, cols);
  if (options.weights_out != nullptr) options.weights_out->assign(static_cast<size_t>(rows), 0.0);
  RECSYS_CHECK(options.frozen_weights == nullptr ||
               static_cast<int64_t>(options.frozen_weights->size()) == rows)
      << "frozen_weights has " << options.frozen_weights->size() << " entries, scores have " << rows << " rows";
  std::vector<T> z(static_cast<size_t>(cols));
  std::vector<uint8_t> use(static_cast<size_t>(cols));
  T total = 0;
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t p = PositiveCol(positive_col, b);
    if (p < 0) continue;
    const T* s = scores.row(b).data();
    T* g = grad ? grad->row(b).data() : nullptr;
    for (int64_t c = 0; c < cols; ++c) use[c] = c != p && Valid(valid, b * cols + c);
    if (options.correction == LogQCorrection::kRefined) {
      const T* lq = log_q->row(b).data();
      // log(1 − Q(p)), with 1 − Q(p) clamped at 1e-6.
      const T log1m_qp = std::log(std::max<T>(T(1e-6), -std::expm1(lq[p])));
      T m = -std::numeric_limits<T>::infinity();
      int64_t num_neg = 0;
      for (int64_t c = 0; c < cols; ++c) {
        if (!use[c]) continue;
        z[c] = s[c] - (lq[c] - log1m_qp);  // a_j = s_j − log Q'(j)
        m = std::max(m, z[c]);
        ++num_neg;
      }
      if (num_neg == 0) continue;
      T sum = 0;
      for (int64_t c = 0; c < cols; ++c)
        if (use[c]) sum += std::exp(z[c] - m);
      const T lse = m + std::log(sum);                       // log Σ_j e^{a_j}
      const T raw = lse - s[p];                              // −s_p + log Σ_j e^{a_j}
      const T log_mean = lse - std::log(T(num_neg));         // log mean_j e^{a_j}
      const T weight = options.frozen_weights != nullptr
                           ? static_cast<T>((*options.frozen_weights)[static_cast<size_t>(b)])
                           : Sigmoid<T>(log_mean - s[p]);      // 1 − p̂ (no gradient)
      if (options.weights_out != nullptr) (*options.weights_out)[static_cast<size_t>(b)] = weight;
      total += weight * raw;
      if (g != nullptr) {
        g[p] = -weight * scale;
        for (int64_t c = 0; c < cols; ++c)
          if (use[c]) g[c] = weight * scale * std::exp(z[c] - lse);
      }
      continue;
    }
    if (options.correction == LogQCorrection::kStandard) {
      const T* lq = log_q->row(b).data();
      for (int64_t c = 0; c < cols; ++c) z[c] = s[c] - lq[c];
    } else {
      for (int64_t c = 0; c < cols; ++c) z[c] = s[c];
    }
    // d z / d s = 1 for both, so the row gradient is the softmax gradient.
    total += SoftmaxRow<T>(z.data(), cols, p, use.data(), scale, g);
  }
  return total * scale;
}

template <typename T>
T BinaryCrossEntropyImpl(const Matrix<T>& scores, std::span<const int32_t> positive_col,
                         std::span<const uint8_t> valid, double beta, LossReduction reduction,
                         Matrix<T>* grad) {
  const int64_t rows = scores.rows(), cols = scores.cols();
  CheckShapes(rows, cols, positive_col, valid);
  int64_t terms = 0;
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t p = PositiveCol(positive_col, b);
    RECSYS_CHECK(p < cols) << "positive column " << p << " of row " << b << " >= " << cols;
    if (p < 0) continue;
    for (int64_t c = 0; c < cols; ++c) terms += c == p || Valid(valid, b * cols + c);
  }
  const T scale =
      reduction == LossReduction::kMean ? T(1) / std::max<T>(T(1), T(terms)) : T(1);
  const T bt = static_cast<T>(beta);
  if (grad != nullptr) grad->setZero(rows, cols);
  T total = 0;
  for (int64_t b = 0; b < rows; ++b) {
    const int64_t p = PositiveCol(positive_col, b);
    if (p < 0) continue;
    const T* s = scores.row(b).data();
    T* g = grad ? grad->row(b).data() : nullptr;
    for (int64_t c = 0; c < cols; ++c) {
      if (c == p) {
        total -= bt * LogSigmoid<T>(s[c]);                  // −β log σ(s_p)
        if (g) g[c] = -bt * scale * Sigmoid<T>(-s[c]);      // −β (1 − σ(s_p))
      } else if (Valid(valid, b * cols + c)) {
        total -= LogSigmoid<T>(-s[c]);                      // −log(1 − σ(s_j))
        if (g) g[c] = scale * Sigmoid<T>(s[c]);             // σ(s_j)
      }
    }
  }
  return total * scale;
}

}  // namespace loss_internal

// Full softmax cross-entropy over the catalogue.
// logits: B × N row-major; targets: B item indices (negative: ignored row);
// grad (optional): resized to B × N, gradient of the returned value.
inline float SoftmaxCrossEntropy(const MatrixF& logits, std::span<const int32_t> targets,
                                 MatrixF* grad = nullptr,
                                 LossReduction reduction = LossReduction::kMean) {
  return loss_internal::SoftmaxCrossEntropyImpl<float>(logits, targets, reduction, grad);
}
inline double SoftmaxCrossEntropy(const MatrixD& logits, std::span<const int32_t> targets,
                                  MatrixD* grad = nullptr,
                                  LossReduction reduction = LossReduction::kMean) {
  return loss_internal::SoftmaxCrossEntropyImpl<double>(logits, targets, reduction, grad);
}

// Sampled softmax. scores: B × C; positive_col: B (empty: column 0);
// log_q: B × C (nullptr allowed only for kNone); valid: B × C (empty: all);
// grad (optional): resized to B × C.
inline float SampledSoftmaxLoss(const MatrixF& scores, std::span<const int32_t> positive_col,
                                const MatrixF* log_q, std::span<const uint8_t> valid,
                                const SampledSoftmaxOptions& options, MatrixF* grad = nullptr) {
  return loss_internal::SampledSoftmaxImpl<float>(scores, positive_col, log_q, valid, options,
                                                  grad);
}
inline double SampledSoftmaxLoss(const MatrixD& scores, std::span<const int32_t> positive_col,
                                 const MatrixD* log_q, std::span<const uint8_t> valid,
                                 const SampledSoftmaxOptions& options, MatrixD* grad = nullptr) {
  return loss_internal::SampledSoftmaxImpl<double>(scores, positive_col, log_q, valid, options,
                                                   grad);
}

// BCE (beta = 1) or gBCE (beta = GbceBeta(k, |I|, t)) with negatives.
// scores: B × C; positive_col: B (empty: column 0); valid: B × C (empty: all);
// grad (optional): resized to B × C.
inline float BinaryCrossEntropy(const MatrixF& scores, std::span<const int32_t> positive_col,
                                std::span<const uint8_t> valid, double beta = 1.0,
                                MatrixF* grad = nullptr,
                                LossReduction reduction = LossReduction::kMean) {
  return loss_internal::BinaryCrossEntropyImpl<float>(scores, positive_col, valid, beta,
                                                      reduction, grad);
}
inline double BinaryCrossEntropy(const MatrixD& scores, std::span<const int32_t> positive_col,
                                 std::span<const uint8_t> valid, double beta = 1.0,
                                 MatrixD* grad = nullptr,
                                 LossReduction reduction = LossReduction::kMean) {
  return loss_internal::BinaryCrossEntropyImpl<double>(scores, positive_col, valid, beta,
                                                       reduction, grad);
}

}  // namespace recsys

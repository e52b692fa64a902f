// Negative samplers for sampled losses: uniform, popularity (alias method),
// in-batch and mixed (in-batch + uniform). Each fills a CandidateSet: per
// training row, column 0 is the positive and the other columns are negatives,
// with log Q of every column (for the logQ corrections of losses.h) and a
// validity mask (accidental hits masked). Deterministic given the Rng, which
// the caller derives per (seed, stream) — e.g. per batch and shard.
//
//   recsys::NegativeSamplerConfig cfg{.kind = recsys::SamplerKind::kPopularity,
//                                     .num_negatives = 64};
//   RECSYS_ASSIGN_OR_RETURN(auto sampler, recsys::NegativeSampler::Create(cfg, item_counts));
//   recsys::CandidateSet cand;
//   recsys::Rng rng(seed, batch_index);
//   sampler->Sample(positives, rng, &cand);                 // B × (1 + 64)
//   // scores(b, c) = <user_b, E[cand.items[b * cand.cols + c]]>
//   float loss = recsys::SampledSoftmaxLoss(scores, {}, &cand.log_q, cand.valid, opt, &grad);
//
// Sampling distributions Q (per draw), with counts c_j from the training data:
//  * kUniform:    Q(j) = 1/N.
//  * kPopularity: Q(j) = c_j^γ / Σ c^γ (alias method, O(1) per draw).
//  * kInBatch:    the other rows' positives; Q(j) = c_j / Σc (the unigram
//                 frequency of positives, as in Yi et al. 2019). B − 1 negatives.
//  * kMixed:      B − 1 in-batch negatives followed by k uniform ones (Yang et
//                 al. 2020, mixed negative sampling); every column gets the
//                 mixture probability Q(j) = ((B−1)·c_j/Σc + k/N) / (B−1+k).
// Accidental hits (a negative equal to the row's positive) are masked
// (valid = 0); with `resample_accidental_hits` the uniform/popularity
// samplers redraw them instead (a few tries, then mask). Rows whose positive
// is negative (padding) get valid = 0 everywhere; columns holding padding are
// masked. Negatives are drawn with replacement.
//
// Thread safety: Sample() is const and may run concurrently (one Rng each).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/core/eigen.h"
#include "recsys/core/rng.h"

namespace recsys {

// Positives and negatives of a batch: rows × cols, row-major, column 0 = positive.
struct CandidateSet {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int32_t> items;  // rows × cols item indices (−1: padding)
  std::vector<uint8_t> valid;  // rows × cols; 0 = masked (accidental hit, padding)
  MatrixF log_q;               // rows × cols: log Q of each column's item

  int32_t item(int64_t row, int64_t col) const {
    return items[static_cast<size_t>(row * cols + col)];
  }
};

enum class SamplerKind { kUniform, kPopularity, kInBatch, kMixed };

struct NegativeSamplerConfig {
  // Distribution of the negatives (see the header comment).
  SamplerKind kind = SamplerKind::kUniform;
  // k: negatives per row for kUniform/kPopularity, uniform negatives for
  // kMixed (ignored by kInBatch); ≥ 1 (≥ 0 for kMixed).
  int num_negatives = 64;
  // Popularity exponent γ for kPopularity (0.75 in word2vec); ≥ 0.
  double popularity_power = 1.0;
  // Redraw a uniform/popularity negative equal to the positive instead of
  // masking it.
  bool resample_accidental_hits = false;

  absl::Status Validate() const;
};

class NegativeSampler {
 public:
  // item_counts: N ≥ 1 training counts (c_j above); needed for every kind
  // (uniform uses only N). All-zero counts are an error for kinds that use them.
  static absl::StatusOr<std::unique_ptr<NegativeSampler>> Create(
      const NegativeSamplerConfig& config, std::span<const int64_t> item_counts);
  virtual ~NegativeSampler() = default;

  // Fills `out` for positives (B item indices, −1 = padding row).
  virtual void Sample(std::span<const int32_t> positives, Rng& rng, CandidateSet* out) const = 0;

  // Per-draw log Q(item) of the underlying single-item distribution.
  virtual double LogQ(int32_t item) const = 0;
  int32_t num_items() const { return num_items_; }

 protected:
  explicit NegativeSampler(int32_t num_items) : num_items_(num_items) {}
  int32_t num_items_;
};

// Walker/Vose alias table: O(N) build, O(1) draws from weights w_j ≥ 0.
class AliasTable {
 public:
  AliasTable() = default;
  // weights: N ≥ 1 non-negative values with a positive sum.
  explicit AliasTable(std::span<const double> weights);
  int32_t Sample(Rng& rng) const;
  double Probability(int32_t item) const { return prob_[static_cast<size_t>(item)]; }
  int32_t size() const { return static_cast<int32_t>(prob_.size()); }

 private:
  std::vector<float> threshold_;  // acceptance threshold per bucket
  std::vector<int32_t> alias_;
  std::vector<double> prob_;      // normalised weights
};

}  // namespace recsys

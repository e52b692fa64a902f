#include "recsys/training/samplers.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "recsys/core/check.h"
#include "recsys/core/status.h"

namespace recsys {

absl::Status NegativeSamplerConfig::Validate() const {
  const int min_k = kind == SamplerKind::kMixed || kind == SamplerKind::kInBatch ? 0 : 1;
  if (num_negatives < min_k)
    return absl::InvalidArgumentError(
        absl::StrCat("sampler.num_negatives = ", num_negatives, " must be >= ", min_k));
  if (!(popularity_power >= 0.0))
    return absl::InvalidArgumentError(
        absl::StrCat("sampler.popularity_power = ", popularity_power, " must be >= 0"));
  return absl::OkStatus();
}

AliasTable::AliasTable(std::span<const double> weights) {
  const size_t n = weights.size();
  RECSYS_CHECK(n >= 1) << "AliasTable: no weights";
  double total = 0.0;
  for (double w : weights) {
    RECSYS_CHECK(w >= 0.0) << "AliasTable: negative weight " << w;
    total += w;
  }
  RECSYS_CHECK(total > 0.0) << "AliasTable: weights sum to zero";
  prob_.resize(n);
  threshold_.assign(n, 1.0f);
  alias_.resize(n);
  std::vector<double> scaled(n);
  std::vector<int32_t> small, large;
  for (size_t j = 0; j < n; ++j) {
    prob_[j] = weights[j] / total;
    scaled[j] = prob_[j] * static_cast<double>(n);
    alias_[j] = static_cast<int32_t>(j);
    (scaled[j] < 1.0 ? small : large).push_back(static_cast<int32_t>(j));
  }
  while (!small.empty() && !large.empty()) {
    const int32_t s = small.back(), l = large.back();
    small.pop_back();
    threshold_[static_cast<size_t>(s)] = static_cast<float>(scaled[static_cast<size_t>(s)]);
    alias_[static_cast<size_t>(s)] = l;
    scaled[static_cast<size_t>(l)] -= 1.0 - scaled[static_cast<size_t>(s)];
    if (scaled[static_cast<size_t>(l)] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Leftovers (rounding) keep threshold 1: always themselves.
}

int32_t AliasTable::Sample(Rng& rng) const {
  const int32_t bucket = static_cast<int32_t>(rng.UniformInt(threshold_.size()));
  return rng.Uniform() < threshold_[static_cast<size_t>(bucket)] ? bucket
                                                                  : alias_[static_cast<size_t>(bucket)];
}

namespace {

void Resize(CandidateSet* out, int64_t rows, int64_t cols) {
  out->rows = rows;
  out->cols = cols;
  out->items.assign(static_cast<size_t>(rows * cols), -1);
  out->valid.assign(static_cast<size_t>(rows * cols), 0);
  out->log_q.setZero(rows, cols);
}

// Uniform and popularity: k independent draws per row.
class IndependentSampler final : public NegativeSampler {
 public:
  IndependentSampler(const NegativeSamplerConfig& config, int32_t num_items, AliasTable table)
      : NegativeSampler(num_items), config_(config), table_(std::move(table)) {
    uniform_log_q_ = -std::log(static_cast<double>(num_items));
  }

  double LogQ(int32_t item) const override {
    if (config_.kind == SamplerKind::kUniform) return uniform_log_q_;
    return std::log(std::max(table_.Probability(item), 1e-30));
  }

  void Sample(std::span<const int32_t> positives, Rng& rng, CandidateSet* out) const override {
    const int64_t rows = static_cast<int64_t>(positives.size());
    const int64_t k = config_.num_negatives;
    Resize(out, rows, 1 + k);
    for (int64_t b = 0; b < rows; ++b) {
      const int32_t pos = positives[static_cast<size_t>(b)];
      int32_t* items = out->items.data() + b * out->cols;
      uint8_t* valid = out->valid.data() + b * out->cols;
      items[0] = pos;
      if (pos >= 0) out->log_q(b, 0) = static_cast<float>(LogQ(pos));
      for (int64_t c = 1; c <= k; ++c) {
        int32_t item = Draw(rng);
        for (int tries = 0; config_.resample_accidental_hits && item == pos && tries < 16; ++tries)
          item = Draw(rng);
        items[c] = item;
        valid[c] = pos >= 0 && item != pos;
        out->log_q(b, c) = static_cast<float>(LogQ(item));
      }
      valid[0] = pos >= 0;
    }
  }

 private:
  int32_t Draw(Rng& rng) const {
    if (config_.kind == SamplerKind::kUniform)
      return static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(num_items_)));
    return table_.Sample(rng);
  }

  NegativeSamplerConfig config_;
  AliasTable table_;
  double uniform_log_q_;
};

// In-batch (k = 0 uniform) and mixed (k > 0 uniform negatives appended).
class InBatchSampler final : public NegativeSampler {
 public:
  InBatchSampler(const NegativeSamplerConfig& config, std::vector<double> unigram)
      : NegativeSampler(static_cast<int32_t>(unigram.size())),
        config_(config),
        unigram_(std::move(unigram)) {}

  double LogQ(int32_t item) const override {
    return std::log(std::max(unigram_[static_cast<size_t>(item)], 1e-30));
  }

  void Sample(std::span<const int32_t> positives, Rng& rng, CandidateSet* out) const override {
    const int64_t rows = static_cast<int64_t>(positives.size());
    const int64_t k = config_.kind == SamplerKind::kMixed ? config_.num_negatives : 0;
    const int64_t in_batch = std::max<int64_t>(0, rows - 1);
    Resize(out, rows, 1 + in_batch + k);
    const double n = static_cast<double>(num_items_);
    const double denom = static_cast<double>(in_batch + k);
    auto log_q = [&](int32_t item) -> float {
      if (item < 0) return 0.0f;
      if (k == 0) return static_cast<float>(LogQ(item));
      const double q = (static_cast<double>(in_batch) * unigram_[static_cast<size_t>(item)] +
                        static_cast<double>(k) / n) / denom;
      return static_cast<float>(std::log(std::max(q, 1e-30)));
    };
    for (int64_t b = 0; b < rows; ++b) {
      const int32_t pos = positives[static_cast<size_t>(b)];
      int32_t* items = out->items.data() + b * out->cols;
      uint8_t* valid = out->valid.data() + b * out->cols;
      items[0] = pos;
      valid[0] = pos >= 0;
      out->log_q(b, 0) = log_q(pos);
      int64_t c = 1;
      for (int64_t o = 0; o < rows; ++o) {
        if (o == b) continue;
        const int32_t item = positives[static_cast<size_t>(o)];
        items[c] = item;
        valid[c] = pos >= 0 && item >= 0 && item != pos;
        out->log_q(b, c) = log_q(item);
        ++c;
      }
      for (int64_t j = 0; j < k; ++j, ++c) {
        const int32_t item = static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(num_items_)));
        items[c] = item;
        valid[c] = pos >= 0 && item != pos;
        out->log_q(b, c) = log_q(item);
      }
    }
  }

 private:
  NegativeSamplerConfig config_;
  std::vector<double> unigram_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NegativeSampler>> NegativeSampler::Create(
    const NegativeSamplerConfig& config, std::span<const int64_t> item_counts) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  if (item_counts.empty())
    return absl::InvalidArgumentError("NegativeSampler::Create: item_counts is empty");
  if (item_counts.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    return absl::InvalidArgumentError("NegativeSampler::Create: too many items for int32 indices");
  const int32_t n = static_cast<int32_t>(item_counts.size());
  double total = 0.0;
  for (size_t j = 0; j < item_counts.size(); ++j) {
    if (item_counts[j] < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("NegativeSampler::Create: item_counts[", j, "] = ", item_counts[j], " < 0"));
    total += static_cast<double>(item_counts[j]);
  }
  if (config.kind == SamplerKind::kUniform) {
    return std::unique_ptr<NegativeSampler>(new IndependentSampler(config, n, AliasTable()));
  }
  if (!(total > 0.0))
    return absl::InvalidArgumentError("NegativeSampler::Create: item_counts sum to zero");
  if (config.kind == SamplerKind::kPopularity) {
    std::vector<double> w(item_counts.size());
    for (size_t j = 0; j < w.size(); ++j)
      w[j] = item_counts[j] > 0 ? std::pow(static_cast<double>(item_counts[j]), config.popularity_power)
                                : 0.0;
    return std::unique_ptr<NegativeSampler>(new IndependentSampler(config, n, AliasTable(w)));
  }
  std::vector<double> unigram(item_counts.size());
  for (size_t j = 0; j < unigram.size(); ++j) unigram[j] = static_cast<double>(item_counts[j]) / total;
  return std::unique_ptr<NegativeSampler>(new InBatchSampler(config, std::move(unigram)));
}

}  // namespace recsys

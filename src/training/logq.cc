#include "recsys/training/logq.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "recsys/core/check.h"
#include "recsys/core/rng.h"

namespace recsys {

std::vector<float> LogQFromCounts(std::span<const int64_t> counts, double smoothing) {
  RECSYS_CHECK(!counts.empty()) << "LogQFromCounts: no items";
  double total = 0.0;
  for (int64_t c : counts) {
    RECSYS_CHECK(c >= 0) << "LogQFromCounts: negative count " << c;
    total += static_cast<double>(c) + smoothing;
  }
  RECSYS_CHECK(total > 0.0) << "LogQFromCounts: all counts are zero";
  std::vector<float> out(counts.size());
  for (size_t j = 0; j < counts.size(); ++j) {
    const double c = std::max(static_cast<double>(counts[j]) + smoothing, 0.5);
    out[j] = static_cast<float>(std::log(c / total));
  }
  return out;
}

CountMinSketch::CountMinSketch(int64_t width, int depth, uint64_t seed)
    : width_(width), depth_(depth), seed_(seed) {
  RECSYS_CHECK(width >= 1 && depth >= 1) << "CountMinSketch: width " << width << " depth " << depth;
  counters_.assign(static_cast<size_t>(width * depth), 0);
}

int64_t CountMinSketch::Slot(int row, uint64_t key) const {
  const uint64_t h = Mix64(key ^ Mix64(seed_ + 0x9E37u * static_cast<uint64_t>(row + 1)));
  return row * width_ + static_cast<int64_t>(h % static_cast<uint64_t>(width_));
}

void CountMinSketch::Add(uint64_t key, int64_t count) {
  for (int r = 0; r < depth_; ++r) counters_[static_cast<size_t>(Slot(r, key))] += count;
  total_ += count;
}

int64_t CountMinSketch::Estimate(uint64_t key) const {
  int64_t best = std::numeric_limits<int64_t>::max();
  for (int r = 0; r < depth_; ++r) best = std::min(best, counters_[static_cast<size_t>(Slot(r, key))]);
  return best;
}

double CountMinSketch::Probability(uint64_t key) const {
  return total_ > 0 ? static_cast<double>(Estimate(key)) / static_cast<double>(total_) : 0.0;
}

absl::Status StreamingFrequencyConfig::Validate() const {
  if (num_buckets < 1)
    return absl::InvalidArgumentError(absl::StrCat("num_buckets = ", num_buckets, " must be >= 1"));
  if (num_hashes < 1)
    return absl::InvalidArgumentError(absl::StrCat("num_hashes = ", num_hashes, " must be >= 1"));
  if (!(alpha > 0.0 && alpha <= 1.0))
    return absl::InvalidArgumentError(absl::StrCat("alpha = ", alpha, " must be in (0, 1]"));
  return absl::OkStatus();
}

StreamingFrequencyEstimator::StreamingFrequencyEstimator(const StreamingFrequencyConfig& config)
    : config_(config) {
  const absl::Status status = config.Validate();
  RECSYS_CHECK(status.ok()) << "StreamingFrequencyConfig: " << status.ToString();
  const size_t n = static_cast<size_t>(config.num_buckets) * static_cast<size_t>(config.num_hashes);
  last_step_.assign(n, -1.0);
  interval_.assign(n, 0.0);
}

int64_t StreamingFrequencyEstimator::Slot(int hash, int64_t item) const {
  const uint64_t h = Mix64(static_cast<uint64_t>(item) ^
                           Mix64(config_.seed + 0x51ED27u * static_cast<uint64_t>(hash + 1)));
  return hash * config_.num_buckets + static_cast<int64_t>(h % static_cast<uint64_t>(config_.num_buckets));
}

void StreamingFrequencyEstimator::Update(std::span<const int64_t> items, int64_t step) {
  const double t = static_cast<double>(step);
  for (int64_t item : items) {
    for (int k = 0; k < config_.num_hashes; ++k) {
      const size_t s = static_cast<size_t>(Slot(k, item));
      if (last_step_[s] < 0.0) {
        // First sighting: no interval yet; start the average at t + 1 steps
        // (the item appeared once in the first t + 1 steps).
        interval_[s] = t + 1.0;
      } else {
        interval_[s] = (1.0 - config_.alpha) * interval_[s] + config_.alpha * (t - last_step_[s]);
      }
      last_step_[s] = t;
    }
  }
}

double StreamingFrequencyEstimator::StepProbability(int64_t item) const {
  double b = 0.0;
  bool seen = false;
  for (int k = 0; k < config_.num_hashes; ++k) {
    const size_t s = static_cast<size_t>(Slot(k, item));
    if (last_step_[s] < 0.0) return 0.0;  // a never-touched bucket: never seen
    seen = true;
    b = std::max(b, interval_[s]);
  }
  if (!seen) return 0.0;
  return 1.0 / std::max(b, 1e-12);
}

double StreamingFrequencyEstimator::LogQ(int64_t item, int64_t draws_per_step) const {
  const double p = StepProbability(item) / static_cast<double>(std::max<int64_t>(1, draws_per_step));
  return std::log(std::clamp(p, 1e-12, 1.0));
}

}  // namespace recsys

// Full-catalogue ranking metrics: HitRate@K, Recall@K, NDCG@K, MRR@K and
// Coverage@K for several K at once. Never sampled negatives: the ranked list a
// case is scored on is the top of a ranking over the whole catalogue.
//
// Definitions for one case with ranked list r_1..r_K (best first) and target
// set T (duplicates collapsed; kNoItem targets are unknown items and never
// match, but count in |T|):
//   hits      = |{ j ≤ K : r_j ∈ T }|
//   HR@K      = 1 if hits > 0 else 0
//   Recall@K  = hits / min(|T|, K)
//   NDCG@K    = Σ_{j ≤ K, r_j ∈ T} 1/log2(j+1)  /  Σ_{j=1}^{min(|T|,K)} 1/log2(j+1)
//   MRR@K     = 1/j of the first j ≤ K with r_j ∈ T, else 0
//   Coverage@K = |∪ over cases of {r_1..r_K}| / num_items   (a corpus metric)
// Cases with no target are skipped and counted. Lists shorter than K (K >
// catalogue, or masked items) are padded with kNoItem, which never matches.
//
// Ties in scores: the ranked lists come from core/topk.h (TopKRows), which
// puts equal scores in order of the smaller item index first; the metrics
// therefore see a deterministic ranking for tied scores.
//
//   recsys::MetricsAccumulator acc({10, 20}, num_items);
//   acc.Add(ranked /* ≥ 20 ids, best first */, targets);
//   recsys::MetricsAccumulator other = ...;  acc.Merge(other);   // order-independent counts
//   recsys::RankingMetrics m = acc.Result();
//   double ndcg10 = m.at(10).ndcg;
//
// Thread safety: an accumulator is a value; use one per task and Merge. Sums
// are plain doubles, so for bit-identical results merge in a fixed order
// (the Evaluator does).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "recsys/core/check.h"
#include "recsys/core/types.h"

namespace recsys {

// Metrics at one cutoff K, averaged over evaluated cases.
struct MetricsAtK {
  int k = 0;
  double hr = 0.0;        // HitRate@K
  double recall = 0.0;    // Recall@K
  double ndcg = 0.0;      // NDCG@K
  double mrr = 0.0;       // MRR@K
  double coverage = 0.0;  // Coverage@K (fraction of the catalogue)
};

struct RankingMetrics {
  std::vector<MetricsAtK> at_k;  // one per K, in the order given
  int64_t cases = 0;             // evaluated cases (with ≥ 1 target)
  int64_t skipped = 0;           // cases without targets
  int64_t unknown_targets = 0;   // kNoItem targets seen (always misses)

  // The entry for `k`; RECSYS_CHECK-fails if k was not requested.
  const MetricsAtK& at(int k) const {
    for (const auto& m : at_k) {
      if (m.k == k) return m;
    }
    RECSYS_CHECK(false) << "metrics for K=" << k << " were not computed";
    return at_k.front();
  }
};

// Per-case metric values at one K (before averaging).
struct CaseMetrics {
  double hr = 0.0;
  double recall = 0.0;
  double ndcg = 0.0;
  double mrr = 0.0;
};

// Metrics of one case at cutoff k. `ranked` holds at least min(k, size)
// entries best first (kNoItem = empty slot); `sorted_targets` is sorted
// ascending and duplicate-free except for kNoItem entries. Requires a
// non-empty target list.
inline CaseMetrics ComputeCaseMetrics(std::span<const ItemIndex> ranked,
                                      std::span<const ItemIndex> sorted_targets, int k) {
  RECSYS_DCHECK(!sorted_targets.empty());
  CaseMetrics m;
  const int64_t num_targets = static_cast<int64_t>(sorted_targets.size());
  const int64_t depth = std::min<int64_t>(k, static_cast<int64_t>(ranked.size()));
  int64_t hits = 0;
  double dcg = 0.0;
  for (int64_t j = 0; j < depth; ++j) {
    const ItemIndex item = ranked[static_cast<size_t>(j)];
    if (item == kNoItem) continue;
    if (!std::binary_search(sorted_targets.begin(), sorted_targets.end(), item)) continue;
    ++hits;
    dcg += 1.0 / std::log2(static_cast<double>(j) + 2.0);
    if (hits == 1) m.mrr = 1.0 / (static_cast<double>(j) + 1.0);
  }
  const int64_t ideal_hits = std::min<int64_t>(num_targets, k);
  double idcg = 0.0;
  for (int64_t j = 0; j < ideal_hits; ++j) idcg += 1.0 / std::log2(static_cast<double>(j) + 2.0);
  m.hr = hits > 0 ? 1.0 : 0.0;
  m.recall = ideal_hits > 0 ? static_cast<double>(hits) / static_cast<double>(ideal_hits) : 0.0;
  m.ndcg = idcg > 0.0 ? dcg / idcg : 0.0;
  return m;
}

// Sorts targets and removes duplicate known items (kNoItem entries are kept:
// each unknown target is a distinct miss). Returns the number of kNoItem.
inline int64_t NormalizeTargets(std::vector<ItemIndex>& targets) {
  std::sort(targets.begin(), targets.end());
  const auto first_known = std::find_if(targets.begin(), targets.end(),
                                        [](ItemIndex t) { return t != kNoItem; });
  const int64_t unknown = first_known - targets.begin();
  targets.erase(std::unique(first_known, targets.end()), targets.end());
  return unknown;
}

// Accumulates per-case metrics for several K. Sums are kept in the order of
// Add calls.
class MetricsAccumulator {
 public:
  // ks: cutoffs, each ≥ 1. num_items: catalogue size (for coverage), ≥ 0.
  MetricsAccumulator(std::vector<int> ks, int32_t num_items)
      : ks_(std::move(ks)), num_items_(num_items), sums_(ks_.size()),
        seen_(ks_.size(), std::vector<uint8_t>(static_cast<size_t>(std::max(0, num_items)), 0)) {
    for (int k : ks_) RECSYS_CHECK(k >= 1) << "K must be >= 1, got " << k;
    max_k_ = ks_.empty() ? 0 : *std::max_element(ks_.begin(), ks_.end());
  }

  const std::vector<int>& ks() const { return ks_; }
  int max_k() const { return max_k_; }

  // Adds one case. ranked: the top max_k() items best first (kNoItem padded;
  // may be shorter). targets: any order, duplicates allowed, kNoItem = unknown.
  void Add(std::span<const ItemIndex> ranked, std::span<const ItemIndex> targets) {
    if (targets.empty()) {
      ++skipped_;
      return;
    }
    scratch_.assign(targets.begin(), targets.end());
    unknown_targets_ += NormalizeTargets(scratch_);
    ++cases_;
    for (size_t i = 0; i < ks_.size(); ++i) {
      const CaseMetrics m = ComputeCaseMetrics(ranked, scratch_, ks_[i]);
      sums_[i].hr += m.hr;
      sums_[i].recall += m.recall;
      sums_[i].ndcg += m.ndcg;
      sums_[i].mrr += m.mrr;
      const size_t depth = std::min(ranked.size(), static_cast<size_t>(ks_[i]));
      for (size_t j = 0; j < depth; ++j) {
        const ItemIndex item = ranked[j];
        if (item >= 0 && item < num_items_) seen_[i][static_cast<size_t>(item)] = 1;
      }
    }
  }

  // Adds the counts of `other` (same ks and num_items) after this one's.
  void Merge(const MetricsAccumulator& other) {
    RECSYS_CHECK(other.ks_ == ks_ && other.num_items_ == num_items_);
    for (size_t i = 0; i < ks_.size(); ++i) {
      sums_[i].hr += other.sums_[i].hr;
      sums_[i].recall += other.sums_[i].recall;
      sums_[i].ndcg += other.sums_[i].ndcg;
      sums_[i].mrr += other.sums_[i].mrr;
      for (size_t j = 0; j < seen_[i].size(); ++j) seen_[i][j] |= other.seen_[i][j];
    }
    cases_ += other.cases_;
    skipped_ += other.skipped_;
    unknown_targets_ += other.unknown_targets_;
  }

  RankingMetrics Result() const {
    RankingMetrics r;
    r.cases = cases_;
    r.skipped = skipped_;
    r.unknown_targets = unknown_targets_;
    const double n = cases_ > 0 ? static_cast<double>(cases_) : 1.0;
    for (size_t i = 0; i < ks_.size(); ++i) {
      MetricsAtK m;
      m.k = ks_[i];
      m.hr = sums_[i].hr / n;
      m.recall = sums_[i].recall / n;
      m.ndcg = sums_[i].ndcg / n;
      m.mrr = sums_[i].mrr / n;
      int64_t distinct = 0;
      for (uint8_t s : seen_[i]) distinct += s;
      m.coverage = num_items_ > 0 ? static_cast<double>(distinct) / num_items_ : 0.0;
      r.at_k.push_back(m);
    }
    return r;
  }

 private:
  std::vector<int> ks_;
  int max_k_ = 0;
  int32_t num_items_ = 0;
  std::vector<CaseMetrics> sums_;
  std::vector<std::vector<uint8_t>> seen_;  // per K: item recommended at least once
  int64_t cases_ = 0;
  int64_t skipped_ = 0;
  int64_t unknown_targets_ = 0;
  std::vector<ItemIndex> scratch_;
};

}  // namespace recsys

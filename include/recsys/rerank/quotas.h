// Attribute quotas: target shares per category over a list of size k, in the
// spirit of D-RDW (RecSys 2025), solved exactly for the list size.
//
// Integer quotas q_c come from the target shares t_c by the largest-remainder
// (Hamilton) method, so Σ q_c = k exactly: q_c = ⌊t_c·k⌋, then the remaining
// slots go to the largest fractional parts (ties: smaller category id). Shares
// that sum to less than 1 leave a free bucket of ⌊(1 − Σt)·k⌉ slots that any
// item may fill. Within each category the best-scored items fill its quota;
// when a category has too few candidates its quota is reported as unmet and
// the slots go to the best remaining items of any category. The final list is
// sorted by score (ties by candidate position).
//
//   recsys::QuotaTargets targets = {{/*category=*/0, 0.5}, {1, 0.3}};  // 20% free
//   auto result = recsys::ApplyQuotas(scores, categories, 10, targets).value();
//   // result.order: positions into the candidate arrays; result.report per category
//
// Thread safety: a pure function.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace recsys {

// category id → target share in [0, 1]; shares sum to ≤ 1.
using QuotaTargets = std::map<int32_t, double>;

struct QuotaReport {
  int32_t category = 0;
  double target_share = 0.0;
  int quota = 0;      // slots reserved for the category (Σ quotas + free = k)
  int filled = 0;     // items of the category in the final list
  bool met = true;    // filled >= quota
};

struct QuotaResult {
  std::vector<int> order;            // positions into the candidate arrays
  std::vector<QuotaReport> report;   // one per target category, by category id
  int free_slots = 0;                // slots not reserved for any category
  bool all_met = true;
};

// Largest-remainder apportionment of k slots to shares (+ the free remainder
// as the last entry). Exposed for tests.
inline std::vector<int> ApportionSlots(const std::vector<double>& shares, int k) {
  const double total = std::accumulate(shares.begin(), shares.end(), 0.0);
  std::vector<double> all = shares;
  all.push_back(std::max(0.0, 1.0 - total));
  std::vector<int> slots(all.size());
  std::vector<double> remainder(all.size());
  int used = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    const double exact = all[i] * k;
    slots[i] = static_cast<int>(std::floor(exact + 1e-9));
    remainder[i] = exact - slots[i];
    used += slots[i];
  }
  std::vector<size_t> by_remainder(all.size());
  std::iota(by_remainder.begin(), by_remainder.end(), 0);
  std::stable_sort(by_remainder.begin(), by_remainder.end(),
                   [&](size_t a, size_t b) { return remainder[a] > remainder[b] + 1e-12; });
  for (size_t r = 0; used < k && r < by_remainder.size(); ++r, ++used) ++slots[by_remainder[r]];
  return slots;
}

// scores[c] and categories[c] describe candidate c. Returns up to k positions.
inline absl::StatusOr<QuotaResult> ApplyQuotas(std::span<const float> scores,
                                               std::span<const int32_t> categories, int k,
                                               const QuotaTargets& targets) {
  if (scores.size() != categories.size()) {
    return absl::InvalidArgumentError(absl::StrCat("ApplyQuotas: scores has ", scores.size(),
                                                   " entries but categories has ", categories.size()));
  }
  if (k < 0) return absl::InvalidArgumentError(absl::StrCat("ApplyQuotas: k must be >= 0, got ", k));
  double total = 0.0;
  for (const auto& [category, share] : targets) {
    if (!(share >= 0.0 && share <= 1.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("ApplyQuotas: share of category ", category, " must be in [0, 1], got ", share));
    }
    total += share;
  }
  if (total > 1.0 + 1e-6) {
    return absl::InvalidArgumentError(absl::StrCat("ApplyQuotas: target shares sum to ", total, " > 1"));
  }
  std::vector<int> candidates;
  for (int c = 0; c < static_cast<int>(scores.size()); ++c) {
    if (!std::isnan(scores[c])) candidates.push_back(c);
  }
  std::stable_sort(candidates.begin(), candidates.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  k = std::min(k, static_cast<int>(candidates.size()));

  std::vector<double> shares;
  for (const auto& [category, share] : targets) shares.push_back(share);
  const std::vector<int> slots = ApportionSlots(shares, k);

  QuotaResult result;
  result.free_slots = slots.back();
  std::vector<char> chosen(scores.size(), 0);
  int picked = 0;
  size_t t = 0;
  for (const auto& [category, share] : targets) {
    QuotaReport rep{category, share, slots[t++], 0, true};
    for (int c : candidates) {
      if (rep.filled == rep.quota) break;
      if (categories[c] == category && !chosen[c]) {
        chosen[c] = 1;
        ++rep.filled;
        ++picked;
      }
    }
    rep.met = rep.filled >= rep.quota;
    result.all_met = result.all_met && rep.met;
    result.report.push_back(rep);
  }
  // Free slots and unmet quotas: best remaining items of any category.
  for (int c : candidates) {
    if (picked == k) break;
    if (chosen[c]) continue;
    chosen[c] = 1;
    ++picked;
    for (auto& rep : result.report) {
      if (rep.category == categories[c]) ++rep.filled;
    }
  }
  for (int c : candidates) {
    if (chosen[c]) result.order.push_back(c);
  }
  return result;
}

}  // namespace recsys

// Off-policy estimators for candidate generators (formulas in
// include/recsys/eval/ope.h) and organic/recommended event selection.
#include "recsys/eval/ope.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "recsys/core/check.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"

namespace recsys {
namespace {

constexpr int32_t kMaxSlateSize = 3;

// Checks a CSR offsets column: n + 1 entries, starts at 0, non-decreasing,
// ends at `values`.
absl::Status CheckOffsets(std::span<const int64_t> offsets, int64_t n, size_t values,
                          const std::string& column) {
  if (static_cast<int64_t>(offsets.size()) != n + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(column, " has ", offsets.size(), " entries, expected n + 1 = ", n + 1));
  }
  if (offsets[0] != 0) {
    return absl::InvalidArgumentError(absl::StrCat(column, "[0] = ", offsets[0], ", expected 0"));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (offsets[i + 1] < offsets[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat(column, " decreases at row ", i, ": ", offsets[i], " > ", offsets[i + 1]));
    }
  }
  if (offsets[n] != static_cast<int64_t>(values)) {
    return absl::InvalidArgumentError(absl::StrCat(column, "[n] = ", offsets[n], " but the list column has ",
                                                   values, " entries"));
  }
  return absl::OkStatus();
}

// Sorted copy of a list; error if it has duplicates or out-of-range items.
absl::StatusOr<std::vector<ItemIndex>> SortedDistinct(std::span<const ItemIndex> list, int32_t num_items,
                                                      const std::string& column, int64_t row) {
  std::vector<ItemIndex> sorted(list.begin(), list.end());
  std::sort(sorted.begin(), sorted.end());
  for (size_t j = 0; j < sorted.size(); ++j) {
    if (sorted[j] < 0 || (num_items > 0 && sorted[j] >= num_items)) {
      return absl::InvalidArgumentError(absl::StrCat(column, " row ", row, ": item ", sorted[j],
                                                     " outside [0, ", num_items, ")"));
    }
    if (j > 0 && sorted[j] == sorted[j - 1]) {
      return absl::InvalidArgumentError(
          absl::StrCat(column, " row ", row, ": item ", sorted[j], " appears twice"));
    }
  }
  return sorted;
}

bool Contains(const std::vector<ItemIndex>& sorted, ItemIndex item) {
  return std::binary_search(sorted.begin(), sorted.end(), item);
}

// Sample standard deviation (n - 1 denominator); 0 for n < 2.
double SampleStd(const std::vector<double>& x, double mean) {
  if (x.size() < 2) return 0.0;
  double ss = 0.0;
  for (double v : x) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

double Mean(const std::vector<double>& x) {
  double s = 0.0;
  for (double v : x) s += v;
  return x.empty() ? 0.0 : s / static_cast<double>(x.size());
}

// Ratio estimator Σa / Σb with its delta-method standard error.
OpeEstimate RatioEstimate(const std::vector<double>& a, const std::vector<double>& b) {
  OpeEstimate e;
  double sa = 0.0, sb = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    sa += a[i];
    sb += b[i];
  }
  if (sb <= 0.0) {
    e.value = std::numeric_limits<double>::quiet_NaN();
    e.std_error = std::numeric_limits<double>::quiet_NaN();
    return e;
  }
  e.value = sa / sb;
  std::vector<double> residual(a.size());
  for (size_t i = 0; i < a.size(); ++i) residual[i] = a[i] - e.value * b[i];
  const double n = static_cast<double>(a.size());
  e.std_error = SampleStd(residual, Mean(residual)) / (std::sqrt(n) * (sb / n));
  return e;
}

}  // namespace

// ---------------------------------------------------------------------------
// LoggedImpressions / TargetPipeline

void LoggedImpressions::Append(UserIndex user, std::span<const ItemIndex> candidate_set,
                               std::span<const ItemIndex> shown_items,
                               std::span<const double> shown_propensities,
                               std::span<const float> shown_rewards, int64_t hist_begin,
                               int64_t hist_end) {
  if (candidate_offsets.empty()) candidate_offsets.push_back(0);
  if (shown_offsets.empty()) shown_offsets.push_back(0);
  users.push_back(user);
  if (hist_begin >= 0 || hist_end >= 0) {
    history_begin.push_back(hist_begin);
    history_end.push_back(hist_end);
  }
  candidates.insert(candidates.end(), candidate_set.begin(), candidate_set.end());
  candidate_offsets.push_back(static_cast<int64_t>(candidates.size()));
  shown.insert(shown.end(), shown_items.begin(), shown_items.end());
  shown_offsets.push_back(static_cast<int64_t>(shown.size()));
  propensities.insert(propensities.end(), shown_propensities.begin(), shown_propensities.end());
  rewards.insert(rewards.end(), shown_rewards.begin(), shown_rewards.end());
}

absl::Status LoggedImpressions::Validate(int32_t num_items) const {
  const int64_t n = size();
  if (n == 0 && candidate_offsets.empty() && shown_offsets.empty()) return absl::OkStatus();
  if (!(history_begin.empty() && history_end.empty()) &&
      (static_cast<int64_t>(history_begin.size()) != n || static_cast<int64_t>(history_end.size()) != n)) {
    return absl::InvalidArgumentError(absl::StrCat("LoggedImpressions.history_begin/history_end have ",
                                                   history_begin.size(), "/", history_end.size(),
                                                   " entries, expected 0 or ", n));
  }
  for (size_t i = 0; i < history_begin.size(); ++i) {
    if (history_begin[i] < 0 || history_end[i] < history_begin[i]) {
      return absl::InvalidArgumentError(absl::StrCat("LoggedImpressions.history row ", i, ": span [",
                                                     history_begin[i], ", ", history_end[i], ") is invalid"));
    }
  }
  RECSYS_RETURN_IF_ERROR(
      CheckOffsets(candidate_offsets, n, candidates.size(), "LoggedImpressions.candidate_offsets"));
  RECSYS_RETURN_IF_ERROR(CheckOffsets(shown_offsets, n, shown.size(), "LoggedImpressions.shown_offsets"));
  if (propensities.size() != shown.size() || rewards.size() != shown.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LoggedImpressions.propensities/rewards have ", propensities.size(), "/", rewards.size(),
        " entries, expected one per shown item (", shown.size(), ")"));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (users[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("LoggedImpressions.users row ", i, ": ", users[i]));
    }
    RECSYS_ASSIGN_OR_RETURN(std::vector<ItemIndex> cands,
                            SortedDistinct(candidates_of(i), num_items, "LoggedImpressions.candidates", i));
    RECSYS_ASSIGN_OR_RETURN(std::vector<ItemIndex> shown_sorted,
                            SortedDistinct(shown_of(i), num_items, "LoggedImpressions.shown", i));
    if (shown_sorted.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("LoggedImpressions.shown row ", i, " is empty"));
    }
    for (int64_t j = shown_offsets[i]; j < shown_offsets[i + 1]; ++j) {
      if (!Contains(cands, shown[j])) {
        return absl::InvalidArgumentError(absl::StrCat("LoggedImpressions.shown row ", i, ": item ",
                                                       shown[j], " is not in the logged candidate set"));
      }
      if (!(propensities[j] > 0.0 && propensities[j] <= 1.0)) {
        return absl::InvalidArgumentError(absl::StrCat("LoggedImpressions.propensities row ", i, " item ",
                                                       shown[j], ": ", propensities[j],
                                                       " is not in (0, 1]"));
      }
      if (!std::isfinite(rewards[j])) {
        return absl::InvalidArgumentError(
            absl::StrCat("LoggedImpressions.rewards row ", i, " item ", shown[j], " is not finite"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status TargetPipeline::Validate(const LoggedImpressions& log) const {
  if (size() != log.size()) {
    return absl::InvalidArgumentError(absl::StrCat("TargetPipeline covers ", size(),
                                                   " impressions, the log has ", log.size()));
  }
  RECSYS_RETURN_IF_ERROR(CheckOffsets(offsets, log.size(), items.size(), "TargetPipeline.offsets"));
  if (probabilities.size() != items.size()) {
    return absl::InvalidArgumentError(absl::StrCat("TargetPipeline.probabilities has ", probabilities.size(),
                                                   " entries, expected ", items.size()));
  }
  for (int64_t i = 0; i < size(); ++i) {
    std::span<const ItemIndex> row(items.data() + offsets[i], static_cast<size_t>(offsets[i + 1] - offsets[i]));
    RECSYS_RETURN_IF_ERROR(SortedDistinct(row, 0, "TargetPipeline.items", i).status());
    for (int64_t j = offsets[i]; j < offsets[i + 1]; ++j) {
      if (!(probabilities[j] >= 0.0 && probabilities[j] <= 1.0 + 1e-9)) {
        return absl::InvalidArgumentError(absl::StrCat("TargetPipeline.probabilities row ", i, " item ",
                                                       items[j], ": ", probabilities[j],
                                                       " is not in [0, 1]"));
      }
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Ranker

absl::Status SoftmaxRankerConfig::Validate() const {
  if (!(temperature > 0.0) || !std::isfinite(temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("SoftmaxRankerConfig.temperature = ", temperature, ", must be in (0, inf)"));
  }
  if (slate_size < 1 || slate_size > kMaxSlateSize) {
    return absl::InvalidArgumentError(absl::StrCat("SoftmaxRankerConfig.slate_size = ", slate_size,
                                                   ", must be in [1, ", kMaxSlateSize, "]"));
  }
  return absl::OkStatus();
}

namespace {

// Adds, for every ordered prefix b_1..b_t (t < k) of distinct items drawn with
// probability P and remaining mass R, P · w_a / R to out[a] for each a not in
// the prefix (= P(a drawn at position t + 1 after that prefix)).
void AccumulateInclusion(const std::vector<double>& w, double remaining, double prefix_prob, int depth,
                         int k, std::vector<char>& used, std::vector<double>& out) {
  const double r = std::max(remaining, std::numeric_limits<double>::min());
  const double scale = prefix_prob / r;
  // Every unused item a gets prefix_prob · w_a / R.
  for (size_t a = 0; a < w.size(); ++a) {
    if (!used[a]) out[a] += scale * w[a];
  }
  if (depth + 1 >= k) return;
  for (size_t b = 0; b < w.size(); ++b) {
    if (used[b]) continue;
    used[b] = 1;
    double rest = remaining - w[b];
    if (rest < 1e-6 * remaining) {  // cancellation: recompute the unused mass exactly
      rest = 0.0;
      for (size_t a = 0; a < w.size(); ++a) rest += used[a] ? 0.0 : w[a];
    }
    AccumulateInclusion(w, rest, prefix_prob * w[b] / r, depth + 1, k, used, out);
    used[b] = 0;
  }
}

}  // namespace

absl::Status PlackettLuceInclusion(std::span<const float> scores, const SoftmaxRankerConfig& ranker,
                                   std::span<double> out) {
  RECSYS_RETURN_IF_ERROR(ranker.Validate());
  if (out.size() != scores.size()) {
    return absl::InvalidArgumentError(absl::StrCat("PlackettLuceInclusion: out has ", out.size(),
                                                   " entries, scores has ", scores.size()));
  }
  const size_t c = scores.size();
  if (c == 0) return absl::OkStatus();
  double max_score = -std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < c; ++j) {
    if (!std::isfinite(scores[j])) {
      return absl::InvalidArgumentError(absl::StrCat("PlackettLuceInclusion: scores[", j, "] is not finite"));
    }
    max_score = std::max(max_score, static_cast<double>(scores[j]));
  }
  if (static_cast<size_t>(ranker.slate_size) >= c) {
    std::fill(out.begin(), out.end(), 1.0);
    return absl::OkStatus();
  }
  std::vector<double> w(c);
  double total = 0.0;
  for (size_t j = 0; j < c; ++j) {
    w[j] = std::exp((static_cast<double>(scores[j]) - max_score) / ranker.temperature);
    total += w[j];
  }
  std::vector<double> acc(c, 0.0);
  std::vector<char> used(c, 0);
  AccumulateInclusion(w, total, 1.0, 0, ranker.slate_size, used, acc);
  for (size_t j = 0; j < c; ++j) out[j] = std::min(1.0, acc[j]);
  return absl::OkStatus();
}

absl::StatusOr<TargetPipeline> BuildTargetPipeline(const LoggedImpressions& log,
                                                   std::span<const int64_t> new_offsets,
                                                   std::span<const ItemIndex> new_items,
                                                   const RankerScoreFn& ranker_scores,
                                                   const SoftmaxRankerConfig& ranker) {
  RECSYS_RETURN_IF_ERROR(ranker.Validate());
  if (!ranker_scores) return absl::InvalidArgumentError("BuildTargetPipeline: ranker_scores is empty");
  const int64_t n = log.size();
  RECSYS_RETURN_IF_ERROR(CheckOffsets(new_offsets, n, new_items.size(), "BuildTargetPipeline new_offsets"));
  TargetPipeline target;
  target.offsets.assign(new_offsets.begin(), new_offsets.end());
  target.items.assign(new_items.begin(), new_items.end());
  target.probabilities.assign(new_items.size(), 0.0);
  std::vector<absl::Status> errors(static_cast<size_t>(n));
  ParallelFor(0, n, /*grain=*/64, [&](int64_t b, int64_t e) {
    std::vector<float> scores;
    for (int64_t i = b; i < e; ++i) {
      const size_t begin = static_cast<size_t>(new_offsets[i]);
      const size_t len = static_cast<size_t>(new_offsets[i + 1] - new_offsets[i]);
      scores.assign(len, 0.0f);
      std::span<const ItemIndex> items = new_items.subspan(begin, len);
      absl::Status s = ranker_scores(i, items, scores);
      if (s.ok()) {
        s = PlackettLuceInclusion(scores, ranker,
                                  std::span<double>(target.probabilities).subspan(begin, len));
      }
      if (!s.ok()) errors[static_cast<size_t>(i)] = Annotate(s, absl::StrCat("impression ", i));
    }
  });
  for (auto& s : errors) RECSYS_RETURN_IF_ERROR(s);
  RECSYS_RETURN_IF_ERROR(target.Validate(log));
  return target;
}

// ---------------------------------------------------------------------------
// Estimators

absl::Status OpeOptions::Validate() const {
  if (!(max_weight > 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat("OpeOptions.max_weight = ", max_weight, ", must be > 0"));
  }
  return absl::OkStatus();
}

absl::StatusOr<OpeReport> EstimateOffPolicy(const LoggedImpressions& log, const TargetPipeline& target,
                                            const OpeOptions& options) {
  RECSYS_RETURN_IF_ERROR(options.Validate());
  if (log.size() == 0) return absl::InvalidArgumentError("EstimateOffPolicy: the log has no impressions");
  // Column-level checks here; the per-impression checks of
  // LoggedImpressions::Validate run inside the main loop (one sort per row).
  RECSYS_RETURN_IF_ERROR(
      CheckOffsets(log.candidate_offsets, log.size(), log.candidates.size(), "LoggedImpressions.candidate_offsets"));
  RECSYS_RETURN_IF_ERROR(
      CheckOffsets(log.shown_offsets, log.size(), log.shown.size(), "LoggedImpressions.shown_offsets"));
  if (log.propensities.size() != log.shown.size() || log.rewards.size() != log.shown.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LoggedImpressions.propensities/rewards have ", log.propensities.size(), "/", log.rewards.size(),
        " entries, expected one per shown item (", log.shown.size(), ")"));
  }
  RECSYS_RETURN_IF_ERROR(target.Validate(log));
  const int64_t n = log.size();
  const size_t un = static_cast<size_t>(n);
  // Per-impression terms (see ope.h): Y (IPS), Yc (clipped), W (SNIPS
  // normaliser), U (unsupported share), N/D (recall), R (logged reward).
  std::vector<double> y(un), yc(un), wn(un), unsupported(un), rec_num(un), rec_den(un), logged(un);
  std::vector<double> max_w(un);
  std::vector<int64_t> clipped(un);
  std::vector<absl::Status> errors(un);
  ParallelFor(0, n, /*grain=*/256, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const auto si = static_cast<size_t>(i);
      auto sorted = SortedDistinct(log.candidates_of(i), 0, "LoggedImpressions.candidates", i);
      if (!sorted.ok()) {
        errors[si] = sorted.status();
        continue;
      }
      const std::vector<ItemIndex>& cands = *sorted;
      auto shown_row = log.shown_of(i);
      if (shown_row.empty()) {
        errors[si] = absl::InvalidArgumentError(absl::StrCat("LoggedImpressions.shown row ", i, " is empty"));
        continue;
      }
      for (size_t j = 0; j < shown_row.size() && errors[si].ok(); ++j) {
        const int64_t g = log.shown_offsets[i] + static_cast<int64_t>(j);
        if (!Contains(cands, shown_row[j])) {
          errors[si] = absl::InvalidArgumentError(absl::StrCat(
              "LoggedImpressions.shown row ", i, ": item ", shown_row[j], " is not in the logged candidate set"));
        } else if (std::find(shown_row.begin(), shown_row.begin() + j, shown_row[j]) != shown_row.begin() + j) {
          errors[si] = absl::InvalidArgumentError(
              absl::StrCat("LoggedImpressions.shown row ", i, ": item ", shown_row[j], " appears twice"));
        } else if (!(log.propensities[g] > 0.0 && log.propensities[g] <= 1.0)) {
          errors[si] = absl::InvalidArgumentError(absl::StrCat("LoggedImpressions.propensities row ", i, " item ",
                                                               shown_row[j], ": ", log.propensities[g],
                                                               " is not in (0, 1]"));
        } else if (!std::isfinite(log.rewards[g])) {
          errors[si] = absl::InvalidArgumentError(
              absl::StrCat("LoggedImpressions.rewards row ", i, " item ", shown_row[j], " is not finite"));
        }
      }
      if (!errors[si].ok()) continue;
      const int64_t tb = target.offsets[i], te = target.offsets[i + 1];
      double k_new = 0.0, outside = 0.0;
      for (int64_t j = tb; j < te; ++j) {
        k_new += target.probabilities[j];
        if (!Contains(cands, target.items[j])) outside += target.probabilities[j];
      }
      double yi = 0.0, yci = 0.0, wsum = 0.0, num = 0.0, den = 0.0, r_logged = 0.0, mw = 0.0;
      int64_t nclip = 0;
      for (int64_t j = log.shown_offsets[i]; j < log.shown_offsets[i + 1]; ++j) {
        const ItemIndex a = log.shown[j];
        double q = 0.0;
        bool in_new = false;
        for (int64_t t = tb; t < te; ++t) {
          if (target.items[t] == a) {
            q = target.probabilities[t];
            in_new = true;
            break;
          }
        }
        const double p = log.propensities[j];
        const double r = log.rewards[j];
        const double w = q / p;
        yi += w * r;
        yci += std::min(w, options.max_weight) * r;
        wsum += w;
        mw = std::max(mw, w);
        if (w > options.max_weight) ++nclip;
        den += r / p;
        if (in_new) num += r / p;
        r_logged += r;
      }
      y[si] = yi;
      yc[si] = yci;
      wn[si] = k_new > 0.0 ? wsum / k_new : 1.0;
      unsupported[si] = k_new > 0.0 ? outside / k_new : 0.0;
      rec_num[si] = num;
      rec_den[si] = den;
      logged[si] = r_logged;
      max_w[si] = mw;
      clipped[si] = nclip;
    }
  });

  for (auto& st : errors) RECSYS_RETURN_IF_ERROR(st);
  OpeReport report;
  report.impressions = n;
  report.shown_items = static_cast<int64_t>(log.shown.size());
  const double sqrt_n = std::sqrt(static_cast<double>(n));
  report.logged_value = Mean(logged);
  report.ips.value = Mean(y);
  report.ips.std_error = SampleStd(y, report.ips.value) / sqrt_n;
  report.clipped_ips.value = Mean(yc);
  report.clipped_ips.std_error = SampleStd(yc, report.clipped_ips.value) / sqrt_n;
  report.snips = RatioEstimate(y, wn);
  double sw = 0.0, sw2 = 0.0, unsup = 0.0, unsup_any = 0.0, mw = 0.0;
  int64_t nclip = 0;
  for (size_t i = 0; i < un; ++i) {
    sw += wn[i];
    sw2 += wn[i] * wn[i];
    unsup += unsupported[i];
    unsup_any += unsupported[i] > 0.0 ? 1.0 : 0.0;
    mw = std::max(mw, max_w[i]);
    nclip += clipped[i];
  }
  report.effective_sample_size = sw2 > 0.0 ? sw * sw / sw2 : 0.0;
  report.max_weight = mw;
  report.clipped_fraction = report.shown_items > 0 ? static_cast<double>(nclip) / report.shown_items : 0.0;
  report.unsupported_mass = unsup / static_cast<double>(n);
  report.unsupported_impressions = unsup_any / static_cast<double>(n);
  report.candidate_recall = RatioEstimate(rec_num, rec_den);
  return report;
}

// ---------------------------------------------------------------------------
// Organic / recommended selection

namespace {
bool Matches(uint8_t organic, EventOrigin origin) {
  switch (origin) {
    case EventOrigin::kAll:
      return true;
    case EventOrigin::kOrganic:
      return organic != 0;
    case EventOrigin::kRecommended:
      return organic == 0;
  }
  return false;
}
}  // namespace

EventSelection SelectEventsByOrigin(const SequenceDataset& dataset, EventOrigin origin) {
  EventSelection selection;
  for (UserIndex u = 0; u < dataset.num_users(); ++u) {
    auto organic = dataset.organic(u);
    for (size_t p = 0; p < organic.size(); ++p) {
      if (Matches(organic[p], origin)) {
        selection.users.push_back(u);
        selection.positions.push_back(static_cast<int64_t>(p));
      }
    }
  }
  return selection;
}

absl::StatusOr<SequenceDataset> FilterByOrigin(const SequenceDataset& dataset, EventOrigin origin) {
  SequenceDataset::Columns c;
  c.offsets.reserve(static_cast<size_t>(dataset.num_users()) + 1);
  c.offsets.push_back(0);
  auto items = dataset.all_items();
  auto timestamps = dataset.all_timestamps();
  auto types = dataset.all_types();
  auto weights = dataset.all_weights();
  auto organic = dataset.all_organic();
  for (UserIndex u = 0; u < dataset.num_users(); ++u) {
    for (int64_t e = dataset.offsets()[u]; e < dataset.offsets()[u + 1]; ++e) {
      const auto se = static_cast<size_t>(e);
      if (!Matches(organic[se], origin)) continue;
      c.items.push_back(items[se]);
      c.timestamps.push_back(timestamps[se]);
      c.types.push_back(types[se]);
      c.weights.push_back(weights[se]);
      c.organic.push_back(organic[se]);
    }
    c.offsets.push_back(static_cast<int64_t>(c.items.size()));
  }
  return SequenceDataset::FromColumns(std::move(c), dataset.user_vocab(), dataset.item_vocab());
}

absl::StatusOr<EventOrigin> ParseEventOrigin(const std::string& name) {
  if (name == "all") return EventOrigin::kAll;
  if (name == "organic") return EventOrigin::kOrganic;
  if (name == "recommended") return EventOrigin::kRecommended;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown event origin '", name, "' (expected all, organic or recommended)"));
}

}  // namespace recsys

// Off-policy evaluation (OPE) of candidate generators in a two-stage
// recommender: how much reward would the pipeline "new generator + the same
// stochastic ranker" have collected, estimated from impressions logged by the
// production pipeline "logging generator + ranker" (the setting of
// "Off-Policy Evaluation of Candidate Generators in Two-Stage Recommender
// Systems", RecSys 2025). Also: selecting organic vs recommended events of a
// SequenceDataset (Yambda's `is_organic` flag) for evaluation.
//
//   recsys::LoggedImpressions log = ...;           // from production logs
//   // New generator's candidates per logged impression (CSR), scored by the
//   // same ranker (a thread-safe callback) and turned into propensities:
//   RECSYS_ASSIGN_OR_RETURN(recsys::TargetPipeline target,
//       recsys::BuildTargetPipeline(log, offsets, items, ranker_scores, {.temperature = 0.5}));
//   RECSYS_ASSIGN_OR_RETURN(recsys::OpeReport r, recsys::EstimateOffPolicy(log, target));
//   // r.ips.value ± r.ips.std_error, r.snips, r.clipped_ips, r.unsupported_mass,
//   // r.candidate_recall, r.effective_sample_size
//
// ---------------------------------------------------------------------------
// Model and formulas. Impression i has a context x_i (user, history span), the
// logging candidate set C_i, a shown slate S_i ⊆ C_i with the logging
// propensity p_i(a) = P_log(a ∈ S_i | x_i) of each shown a, and rewards r_i(a).
// The ranker is a softmax over ranker scores s(x, a), restricted to the
// candidate set: a Plackett-Luce (PL) draw of k items without replacement
// with weights exp(s/τ), τ = temperature. For k = 1:
//     π(a | x, C) = exp(s(x,a)/τ) / Σ_{b∈C} exp(s(x,b)/τ),   a ∈ C,  else 0.
// For k > 1, π(a | x, C) = P(a ∈ top-k PL draw) (marginal inclusion
// probability; Σ_a π(a) = min(k, |C|)), computed exactly by enumerating the
// ordered prefixes of length < k that avoid a (cost O(|C|^(k-1)) per item;
// k ≤ 3). A new generator produces C'_i; the new pipeline shows a with
// q_i(a) = π(a | x_i, C'_i) (BuildTargetPipeline). The value estimated is the
// expected total slate reward per impression,
//     V(C') = E_x Σ_{a∈C'(x)} q(a | x) E[r | x, a]      (= click rate for k = 1).
// With weights w_i(a) = q_i(a) / p_i(a) over shown items:
//   IPS          V̂ = (1/n) Σ_i Y_i,   Y_i = Σ_{a∈S_i} w_i(a) r_i(a);
//                SE = sd(Y) / √n. Unbiased iff C'_i ⊆ C_i (full support).
//   SNIPS        V̂ = Σ_i Y_i / Σ_i W_i,  W_i = Σ_{a∈S_i} w_i(a) / K_i,
//                K_i = Σ_{a∈C'_i} q_i(a) (the new slate size), E[W_i] = 1
//                under full support; SE by the delta method:
//                sd(Y_i − V̂ W_i) / (√n · mean W).
//   clipped IPS  as IPS with w ← min(w, M), M = OpeOptions::max_weight:
//                biased downward for r ≥ 0, lower variance.
//   ESS          (Σ_i W_i)² / Σ_i W_i² (effective number of impressions).
//   support      unsupported_mass = (1/n) Σ_i Σ_{a∈C'_i \ C_i} q_i(a) / K_i:
//                the share of the new pipeline's exposure on items the logging
//                pipeline could not show; IPS misses exactly that part of
//                V (its bias is −E Σ_{a∉C} q(a) E[r]).
//   recall       candidate_recall = Σ_{i,a∈S_i} [a ∈ C'_i] r_i(a)/p_i(a)
//                                 / Σ_{i,a∈S_i} r_i(a)/p_i(a):
//                the inverse-propensity-weighted share of rewarded shown items
//                that the new generator retrieves; it estimates
//                Σ_x Σ_{a∈C∩C'} E[r|x,a] / Σ_x Σ_{a∈C} E[r|x,a], i.e. the
//                reward-weighted recall of C' relative to the logging set
//                (items outside C_i are never observed). SE by the delta method.
// ---------------------------------------------------------------------------
//
// Thread safety: plain values and pure functions; BuildTargetPipeline calls
// the score callback from several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/core/types.h"
#include "recsys/data/sequence_dataset.h"

namespace recsys {

// ---------------------------------------------------------------------------
// Logged data: one row per impression, columnar, lists in CSR form.
// n = size(); m = shown_offsets[n] (shown items in all slates).
struct LoggedImpressions {
  // Context.
  std::vector<UserIndex> users;          // n: dense user index
  // Optional history span of the context: the user's events
  // [history_begin[i], history_end[i]) as global event indices of a
  // SequenceDataset (its all_items()). Both empty, or n entries each.
  std::vector<int64_t> history_begin;
  std::vector<int64_t> history_end;
  // Candidate set C_i of the logging generator (distinct items).
  std::vector<int64_t> candidate_offsets;  // n + 1, candidate_offsets[0] = 0, non-decreasing
  std::vector<ItemIndex> candidates;       // candidate_offsets[n]
  // Shown slate S_i ⊆ C_i (distinct items, at least one per impression).
  std::vector<int64_t> shown_offsets;      // n + 1
  std::vector<ItemIndex> shown;            // m
  std::vector<double> propensities;        // m: p_i(a) = P_log(a ∈ S_i | x_i) in (0, 1]
  std::vector<float> rewards;              // m: r_i(a) (clicks 0/1, or any real reward)

  int64_t size() const { return static_cast<int64_t>(users.size()); }
  std::span<const ItemIndex> candidates_of(int64_t i) const {
    return std::span<const ItemIndex>(candidates).subspan(
        static_cast<size_t>(candidate_offsets[i]),
        static_cast<size_t>(candidate_offsets[i + 1] - candidate_offsets[i]));
  }
  std::span<const ItemIndex> shown_of(int64_t i) const {
    return std::span<const ItemIndex>(shown).subspan(
        static_cast<size_t>(shown_offsets[i]),
        static_cast<size_t>(shown_offsets[i + 1] - shown_offsets[i]));
  }

  // Appends one impression (history span omitted: pass -1, -1, and then
  // every impression must omit it). propensities/rewards align with shown.
  void Append(UserIndex user, std::span<const ItemIndex> candidate_set,
              std::span<const ItemIndex> shown_items, std::span<const double> shown_propensities,
              std::span<const float> shown_rewards, int64_t hist_begin = -1, int64_t hist_end = -1);

  // Column lengths, CSR offsets, propensities in (0, 1], finite rewards,
  // shown ⊆ candidates, distinct items per list, item indices in
  // [0, num_items) when num_items > 0. Errors name the column and row.
  absl::Status Validate(int32_t num_items = 0) const;
};

// The new pipeline evaluated on the logged contexts: per impression, the new
// generator's candidates C'_i and their show probabilities q_i(a).
struct TargetPipeline {
  std::vector<int64_t> offsets;       // n + 1
  std::vector<ItemIndex> items;       // offsets[n]: C'_i, distinct per impression
  std::vector<double> probabilities;  // offsets[n]: q_i(a) in [0, 1]

  int64_t size() const { return offsets.empty() ? 0 : static_cast<int64_t>(offsets.size()) - 1; }
  // Same number of impressions as `log`, consistent CSR, distinct items per
  // impression, probabilities in [0, 1]. Errors name the column and row.
  absl::Status Validate(const LoggedImpressions& log) const;
};

// The stochastic ranker of both pipelines.
struct SoftmaxRankerConfig {
  // τ: softmax temperature over ranker scores (weights exp(s/τ)). Range
  // (0, ∞); small τ approaches a deterministic top-k.
  double temperature = 1.0;
  // k: slate size, items drawn by Plackett-Luce without replacement. Range
  // [1, 3] (exact inclusion probabilities cost O(|C|^k)).
  int32_t slate_size = 1;

  absl::Status Validate() const;
};

// out[j] = P(candidate j ∈ top-k PL draw) for weights exp(scores[j]/τ).
// scores: |C| finite values; out: |C|. Σ out = min(k, |C|).
absl::Status PlackettLuceInclusion(std::span<const float> scores, const SoftmaxRankerConfig& ranker,
                                   std::span<double> out);

// Ranker scores of `items` for logged impression `impression`: fills
// scores (same length as items). Called concurrently from several threads.
using RankerScoreFn = std::function<absl::Status(int64_t impression, std::span<const ItemIndex> items,
                                                 std::span<float> scores)>;

// Scores each impression's new candidate set with the ranker and converts the
// scores into PL inclusion probabilities q_i(a) = π(a | x_i, C'_i).
// new_offsets: n + 1 (n = log.size()); new_items: new_offsets[n], distinct
// per impression. Deterministic for any thread count.
absl::StatusOr<TargetPipeline> BuildTargetPipeline(const LoggedImpressions& log,
                                                   std::span<const int64_t> new_offsets,
                                                   std::span<const ItemIndex> new_items,
                                                   const RankerScoreFn& ranker_scores,
                                                   const SoftmaxRankerConfig& ranker);

// ---------------------------------------------------------------------------
// Estimators.
struct OpeOptions {
  // M: maximum importance weight of clipped IPS. Range (0, ∞); weights above
  // M are set to M (Ionides 2008 truncation).
  double max_weight = 10.0;

  absl::Status Validate() const;
};

struct OpeEstimate {
  double value = 0.0;      // V̂
  double std_error = 0.0;  // estimated standard error of V̂
};

struct OpeReport {
  int64_t impressions = 0;              // n
  int64_t shown_items = 0;              // m
  double logged_value = 0.0;            // on-policy mean slate reward of the log
  OpeEstimate ips;                      // see the header comment for formulas
  OpeEstimate snips;
  OpeEstimate clipped_ips;
  double effective_sample_size = 0.0;   // (Σ W_i)² / Σ W_i², in [0, n]
  double max_weight = 0.0;              // largest w_i(a) seen
  double clipped_fraction = 0.0;        // share of shown items with w > M
  double unsupported_mass = 0.0;        // share of new exposure outside C_i
  double unsupported_impressions = 0.0; // share of impressions with any of it
  OpeEstimate candidate_recall;         // IPS-weighted recall of C' (NaN if no reward)
};

// Estimates the value of the target pipeline from the log. Errors: invalid
// log/target (InvalidArgument, naming column and row), empty log.
absl::StatusOr<OpeReport> EstimateOffPolicy(const LoggedImpressions& log,
                                            const TargetPipeline& target,
                                            const OpeOptions& options = {});

// ---------------------------------------------------------------------------
// Organic vs recommended events (Yambda's `is_organic`: 1 = the user found the
// item themselves, 0 = the event followed a recommendation).
enum class EventOrigin : uint8_t {
  kAll = 0,
  kOrganic = 1,
  kRecommended = 2,
};

// Events of one origin as evaluation targets: event e is (users[e],
// positions[e]) = position within that user's history, so the history before
// it is ds.items(user).first(position). Ordered by user, then position.
struct EventSelection {
  std::vector<UserIndex> users;
  std::vector<int64_t> positions;

  int64_t size() const { return static_cast<int64_t>(users.size()); }
};

EventSelection SelectEventsByOrigin(const SequenceDataset& dataset, EventOrigin origin);

// A dataset holding only the events of `origin` (same vocabularies; every user
// keeps its index, possibly with an empty history). E.g. train on all events,
// or build histories from organic events only.
absl::StatusOr<SequenceDataset> FilterByOrigin(const SequenceDataset& dataset, EventOrigin origin);

// Parses "all" | "organic" | "recommended".
absl::StatusOr<EventOrigin> ParseEventOrigin(const std::string& name);

}  // namespace recsys

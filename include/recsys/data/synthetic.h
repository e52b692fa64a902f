// Synthetic interaction data with planted structure: the default data of the
// demo and the ground truth of model tests (DESIGN.md §1).
//
// Generative story (symbols as in the config):
//   * Items 0..I−1 get a random popularity rank r(i) (a permutation) and the
//     cluster c(i) = r(i) mod C, so every cluster holds a Zipf-popular head
//     and a long tail: P(item) ∝ (r(i) + 1)^−s, globally and within clusters.
//   * User u has K_u ∈ [min_interests, max_interests] distinct interest
//     clusters with Dirichlet(1) weights, a history length
//     L_u ≈ min_events + Exponential(mean_events − min_events) (≤ max_events),
//     and a start time uniform in [start_time, start_time + time_span).
//   * The history is a series of sessions (mean length S). Each session
//     follows one interest; a new session switches interest with probability
//     p_switch (drawn by weight), and within a session the interest drifts
//     with probability p_drift per event. With probability p_noise an event
//     is an item drawn from global popularity instead (exploration).
//   * Gaps: Exponential(mean_event_gap) + 1 s inside sessions,
//     Exponential(mean_session_gap) between them; timestamps strictly
//     increase per user.
//   * Yambda-like extras (optional): event type listen / like / dislike
//     (likes more frequent in-interest, dislikes on noise), played ratio as
//     the weight (high in-interest, low on noise), organic flag ~ Bernoulli.
//
// Determinism: user u draws everything from Rng(seed, u + 1) and the catalogue
// from Rng(seed, 0); generation runs in parallel over users, and the result is
// bit-identical for any thread count.
//
// External ids: users 0..U−1, items 0..I−1. GenerateSyntheticDataset builds
// the SequenceDataset directly with identity vocabularies (dense index =
// external id, every item in the vocabulary even if never drawn) and without
// an EventLog, which is what makes 10^8 events fit in ≈ 1.8 GB.
// GenerateSynthetic returns the EventLog form (events grouped by user, in
// time order); a SequenceDataset built from it numbers items by first
// appearance, so map through item_vocab() before indexing the truth.
//
//   recsys::SyntheticConfig config;        // ~10^4 events by default
//   config.num_users = 2000;
//   config.seed = 7;
//   RECSYS_ASSIGN_OR_RETURN(recsys::SyntheticDataset data, recsys::GenerateSyntheticDataset(config));
//   const recsys::SequenceDataset& ds = data.dataset;
//   int32_t cluster = data.truth.item_cluster[ds.items(0)[0]];   // planted cluster
//   std::span<const int32_t> interests = data.truth.interests_of(0);
//
// Thread safety: free functions; results are plain values.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/core/types.h"
#include "recsys/data/event_log.h"
#include "recsys/data/sequence_dataset.h"

namespace recsys {

struct SyntheticConfig {
  // Users U, ≥ 1 and < 2^31.
  int64_t num_users = 1000;
  // Items I, ≥ num_clusters and < 2^31.
  int32_t num_items = 1000;
  // Item clusters C = possible interests, ≥ 1.
  int32_t num_clusters = 20;
  // Interests per user K_u, uniform in [min_interests, max_interests] ⊆ [1, C].
  int32_t min_interests = 2;
  int32_t max_interests = 4;
  // History length: mean (≥ min_events_per_user), minimum (≥ 1) and cap.
  double mean_events_per_user = 10.0;
  int32_t min_events_per_user = 3;
  int32_t max_events_per_user = 100000;
  // Mean session length S in events (≥ 1).
  double mean_session_length = 8.0;
  // p_switch: probability that a new session draws a new interest, [0, 1].
  double interest_switch_prob = 0.5;
  // p_drift: probability per in-session event of drawing a new interest, [0, 1].
  double in_session_drift_prob = 0.02;
  // p_noise: probability that an event is drawn from global popularity, [0, 1].
  double noise_prob = 0.05;
  // Zipf exponent s of item popularity, ≥ 0 (0 = uniform).
  double popularity_exponent = 1.0;
  // Time: users start uniformly in [start_time, start_time + time_span), > 0.
  Timestamp start_time = 1700000000;
  Timestamp time_span = 30 * 86400;
  // Mean gap between events of a session and between sessions (seconds, > 0).
  double mean_event_gap = 180.0;
  double mean_session_gap = 86400.0;
  // Yambda-like extras: event types (listen/like/dislike), played ratio as the
  // weight and an organic flag. When false: kInteraction, weight 1, organic.
  bool yambda_extras = true;
  double like_prob = 0.05;     // per in-interest event (noise events: a fifth of it)
  double dislike_prob = 0.05;  // per noise event (in-interest events: a tenth of it)
  double organic_prob = 0.3;   // P(organic = 1)
  uint64_t seed = 42;

  absl::Status Validate() const;

  // A config of about `events` events (10^4 .. 10^8+): mean history length
  // 100 (10 below 10^5 events), users = events / length, items and clusters
  // grown with the size (I ≈ 4·U^0.75 within [1000, 3·10^6], C ≈ √I / 2).
  static SyntheticConfig ForEvents(int64_t events, uint64_t seed = 42);
};

// The planted structure.
struct SyntheticTruth {
  std::vector<int32_t> item_cluster;      // I: cluster of item (external id) i
  std::vector<int32_t> item_rank;         // I: popularity rank of item i (0 = most popular)
  std::vector<int64_t> interest_offsets;  // U + 1
  std::vector<int32_t> interests;         // user u's clusters: [offsets[u], offsets[u+1])
  std::vector<float> interest_weights;    // aligned with `interests`; sum to 1 per user

  std::span<const int32_t> interests_of(int64_t user) const {
    const auto b = static_cast<size_t>(interest_offsets[static_cast<size_t>(user)]);
    const auto e = static_cast<size_t>(interest_offsets[static_cast<size_t>(user) + 1]);
    return std::span<const int32_t>(interests).subspan(b, e - b);
  }
  std::span<const float> weights_of(int64_t user) const {
    const auto b = static_cast<size_t>(interest_offsets[static_cast<size_t>(user)]);
    const auto e = static_cast<size_t>(interest_offsets[static_cast<size_t>(user) + 1]);
    return std::span<const float>(interest_weights).subspan(b, e - b);
  }
};

struct SyntheticData {
  EventLog log;
  SyntheticTruth truth;
};

struct SyntheticDataset {
  SequenceDataset dataset;  // identity vocabularies: dense index = external id
  SyntheticTruth truth;
};

// Generates the dataset directly in CSR form (no EventLog).
absl::StatusOr<SyntheticDataset> GenerateSyntheticDataset(const SyntheticConfig& config);

// Generates the EventLog form.
absl::StatusOr<SyntheticData> GenerateSynthetic(const SyntheticConfig& config);

}  // namespace recsys

// A deterministic simulator of a two-stage pipeline with known ground truth,
// for testing the off-policy estimators of ope.h.
//
// World (fixed by OpeWorldConfig::seed): users u with latent vectors x_u ~
// N(0, I/d), items a with y_a ~ N(0, I) and a popularity bias b_a ~ N(0, σ_b²).
// True preference (click probability)
//     μ(u, a) = sigmoid(β ⟨x_u, y_a⟩ + b_a + c).
// Ranker score s(u, a) = logit μ(u, a) + σ_r ε_r(u, a) (a fixed, imperfect
// ranker); the ranker is the softmax / Plackett-Luce of ope.h with
// temperature τ over the candidate set. Candidate generators are
// deterministic per user: top-N items by a generator score,
//   kNoisyOracle  logit μ(u, a) + σ_g ε_g(u, a)
//   kPopularity   b_a + σ_g ε_g(u, a)
//   kRandom       ε_g(u, a)
// (ε i.i.d. N(0, 1), one stream per generator `salt`), chosen from the whole
// catalogue or only from the logging generator's candidates
// (CandidatePool::kLoggingCandidates: a re-selection of the production pool,
// which guarantees full support). A logged impression: user uniform, slate by
// the logging pipeline, reward ~ Bernoulli(μ) per shown item.
// Truth: V(G) = (1/|U|) Σ_u Σ_{a∈C_G(u)} π(a | u, C_G(u)) μ(u, a), exact.
//
//   RECSYS_ASSIGN_OR_RETURN(auto sim, recsys::OpeSimulator::Create({}));
//   recsys::GeneratorSpec better{.name = "better", .noise = 0.3, .size = 20};
//   RECSYS_ASSIGN_OR_RETURN(recsys::LoggedImpressions log, sim->Log(3000, /*seed=*/7));
//   RECSYS_ASSIGN_OR_RETURN(recsys::TargetPipeline target, sim->Target(better, log));
//   RECSYS_ASSIGN_OR_RETURN(recsys::OpeReport est, recsys::EstimateOffPolicy(log, target));
//   RECSYS_ASSIGN_OR_RETURN(recsys::GeneratorTruth truth, sim->Truth(better));
//   // Bias / spread of every estimator over many logging seeds:
//   RECSYS_ASSIGN_OR_RETURN(auto study, recsys::RunOpeStudy(*sim, recsys::DefaultStudyGenerators(), {}));
//
// Thread safety: const methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/core/types.h"
#include "recsys/eval/ope.h"

namespace recsys {

struct GeneratorStudy;
struct OpeStudyConfig;

enum class GeneratorKind : uint8_t { kNoisyOracle = 0, kPopularity = 1, kRandom = 2 };
enum class CandidatePool : uint8_t { kCatalogue = 0, kLoggingCandidates = 1 };

// One candidate generator of the simulator.
struct GeneratorSpec {
  std::string name = "generator";
  GeneratorKind kind = GeneratorKind::kNoisyOracle;
  // σ_g: standard deviation of the generator's score noise. Range [0, ∞).
  double noise = 1.0;
  // N: candidates per user. Range [1, pool size].
  int32_t size = 20;
  // Where the top-N are chosen from.
  CandidatePool pool = CandidatePool::kCatalogue;
  // Selects the noise stream ε_g (generators with equal salt share noise).
  uint64_t salt = 1;

  absl::Status Validate() const;
};

struct OpeWorldConfig {
  int32_t num_users = 300;       // |U| ≥ 1
  int32_t num_items = 400;       // |I| ≥ 2
  int32_t dim = 8;               // d ≥ 1: latent dimension
  double preference_scale = 2.0; // β ≥ 0
  double item_bias_std = 0.8;    // σ_b ≥ 0: spread of popularity bias b_a
  double reward_offset = -2.5;   // c: sets the base click rate
  double ranker_noise = 0.5;     // σ_r ≥ 0: ranker score error
  SoftmaxRankerConfig ranker{.temperature = 1.0, .slate_size = 1};
  // The production (logging) generator; its pool must be kCatalogue.
  GeneratorSpec logging{.name = "logging", .kind = GeneratorKind::kNoisyOracle, .noise = 1.5,
                        .size = 50, .pool = CandidatePool::kCatalogue, .salt = 0};
  uint64_t seed = 1;             // world seed

  absl::Status Validate() const;
};

// Exact quantities of a generator's pipeline in the simulated world.
struct GeneratorTruth {
  double value = 0.0;             // V(G): expected slate reward per impression
  double candidate_recall = 0.0;  // Σ_u Σ_{a∈C∩C_G} μ / Σ_u Σ_{a∈C} μ (C = logging set)
  double unsupported_mass = 0.0;  // mean_u Σ_{a∈C_G\C} π(a) / K
};

class OpeSimulator {
 public:
  static absl::StatusOr<std::unique_ptr<OpeSimulator>> Create(const OpeWorldConfig& config);

  const OpeWorldConfig& config() const { return config_; }
  // μ(u, a).
  double Preference(UserIndex u, ItemIndex a) const;
  // s(u, a).
  float RankerScore(UserIndex u, ItemIndex a) const;
  // The generator's candidates for user u, best first.
  absl::StatusOr<std::vector<ItemIndex>> Candidates(const GeneratorSpec& generator, UserIndex u) const;

  // n impressions of the logging pipeline; deterministic in (world, seed).
  absl::StatusOr<LoggedImpressions> Log(int64_t n, uint64_t seed) const;
  // The pipeline (generator + the world's ranker) on the logged contexts,
  // through BuildTargetPipeline.
  absl::StatusOr<TargetPipeline> Target(const GeneratorSpec& generator, const LoggedImpressions& log) const;
  absl::StatusOr<GeneratorTruth> Truth(const GeneratorSpec& generator) const;

 private:
  friend absl::StatusOr<std::vector<GeneratorStudy>> RunOpeStudy(
      const OpeSimulator& simulator, std::span<const GeneratorSpec> generators, const OpeStudyConfig& config);
  explicit OpeSimulator(const OpeWorldConfig& config) : config_(config) {}
  void Build();
  // All users' candidates (CSR by user) and PL inclusion probabilities.
  struct UserLists {
    std::vector<int64_t> offsets;       // |U| + 1
    std::vector<ItemIndex> items;       // offsets[|U|]
    std::vector<double> probabilities;  // offsets[|U|]
  };
  absl::StatusOr<UserLists> Lists(const GeneratorSpec& generator) const;
  // The target pipeline of precomputed lists on the logged contexts.
  static TargetPipeline Expand(const UserLists& lists, const LoggedImpressions& log);

  OpeWorldConfig config_;
  std::vector<double> logits_;        // |U| × |I|, row-major: logit μ(u, a)
  std::vector<float> ranker_scores_;  // |U| × |I|, row-major
  std::vector<double> item_bias_;     // |I|
  UserLists logging_;                 // the logging pipeline per user
};

// ---------------------------------------------------------------------------
// A repeated-logging study: S logs of n impressions (seeds first_seed ..
// first_seed + S - 1) from one world; each estimator's spread over the logs
// against the exact truth.
struct OpeStudyConfig {
  int32_t seeds = 50;          // S ≥ 2
  int64_t impressions = 3000;  // n ≥ 1 per log
  uint64_t first_seed = 1000;
  OpeOptions options;          // clipping threshold M

  absl::Status Validate() const;
};

// One estimator over the S logs.
struct EstimatorSummary {
  double mean = 0.0;            // mean of V̂ over logs
  double bias = 0.0;            // mean − truth
  double std = 0.0;             // standard deviation of V̂ over logs (n − 1)
  double mean_std_error = 0.0;  // mean of the reported standard errors
  double rmse = 0.0;            // sqrt(mean (V̂ − truth)²)
  double coverage = 0.0;        // share of logs with |V̂ − truth| ≤ 1.96 SE
};

struct GeneratorStudy {
  std::string name;
  GeneratorTruth truth;
  EstimatorSummary ips;
  EstimatorSummary snips;
  EstimatorSummary clipped_ips;
  EstimatorSummary candidate_recall;  // against truth.candidate_recall
  double unsupported_mass = 0.0;      // mean estimate over logs
  double effective_sample_size = 0.0; // mean over logs
  double clipped_fraction = 0.0;      // mean over logs
  double logged_value = 0.0;          // mean on-policy reward of the logs
};

absl::StatusOr<std::vector<GeneratorStudy>> RunOpeStudy(const OpeSimulator& simulator,
                                                        std::span<const GeneratorSpec> generators,
                                                        const OpeStudyConfig& config);

// The study's generators for the default world: "logging" (the production
// generator itself), "better" (near-oracle, re-selected from the logging
// pool: full support), "worse" (popularity, logging pool: full support),
// "better_open" (the same near-oracle over the whole catalogue: partial
// support) and "low_support" (random items from the catalogue).
std::vector<GeneratorSpec> DefaultStudyGenerators(const OpeWorldConfig& world = {});

}  // namespace recsys

// The OPE simulator (model in include/recsys/eval/ope_simulator.h).
#include "recsys/eval/ope_simulator.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "recsys/core/parallel.h"
#include "recsys/core/rng.h"
#include "recsys/core/status.h"

namespace recsys {
namespace {

// Stream families of the world seed, so that components never share draws.
constexpr uint64_t kUserStream = 1;
constexpr uint64_t kItemStream = 2;
constexpr uint64_t kRankerNoiseSalt = 0x5EEDC0FFEEull;
constexpr uint64_t kGeneratorNoiseSalt = 0x6E6E6E6E6Eull;

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

absl::Status GeneratorSpec::Validate() const {
  if (!(noise >= 0.0) || !std::isfinite(noise)) {
    return absl::InvalidArgumentError(
        absl::StrCat("GeneratorSpec '", name, "'.noise = ", noise, ", must be in [0, inf)"));
  }
  if (size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("GeneratorSpec '", name, "'.size = ", size, ", must be >= 1"));
  }
  return absl::OkStatus();
}

absl::Status OpeWorldConfig::Validate() const {
  if (num_users < 1) return absl::InvalidArgumentError(absl::StrCat("OpeWorldConfig.num_users = ", num_users, ", must be >= 1"));
  if (num_items < 2) return absl::InvalidArgumentError(absl::StrCat("OpeWorldConfig.num_items = ", num_items, ", must be >= 2"));
  if (dim < 1) return absl::InvalidArgumentError(absl::StrCat("OpeWorldConfig.dim = ", dim, ", must be >= 1"));
  if (!(preference_scale >= 0.0) || !(item_bias_std >= 0.0) || !(ranker_noise >= 0.0) ||
      !std::isfinite(reward_offset)) {
    return absl::InvalidArgumentError(
        "OpeWorldConfig: preference_scale, item_bias_std and ranker_noise must be >= 0, reward_offset finite");
  }
  RECSYS_RETURN_IF_ERROR(Annotate(ranker.Validate(), "OpeWorldConfig.ranker"));
  RECSYS_RETURN_IF_ERROR(Annotate(logging.Validate(), "OpeWorldConfig.logging"));
  if (logging.pool != CandidatePool::kCatalogue) {
    return absl::InvalidArgumentError("OpeWorldConfig.logging.pool must be kCatalogue");
  }
  if (logging.size > num_items) {
    return absl::InvalidArgumentError(absl::StrCat("OpeWorldConfig.logging.size = ", logging.size,
                                                   " exceeds num_items = ", num_items));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<OpeSimulator>> OpeSimulator::Create(const OpeWorldConfig& config) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<OpeSimulator> sim(new OpeSimulator(config));
  sim->Build();
  RECSYS_ASSIGN_OR_RETURN(sim->logging_, sim->Lists(config.logging));
  return sim;
}

void OpeSimulator::Build() {
  const int32_t nu = config_.num_users, ni = config_.num_items, d = config_.dim;
  std::vector<double> x(static_cast<size_t>(nu) * d), y(static_cast<size_t>(ni) * d);
  Rng user_rng(config_.seed, kUserStream);
  const double user_scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (auto& v : x) v = user_scale * user_rng.Normal();
  Rng item_rng(config_.seed, kItemStream);
  for (auto& v : y) v = item_rng.Normal();
  item_bias_.resize(static_cast<size_t>(ni));
  for (auto& b : item_bias_) b = config_.item_bias_std * item_rng.Normal();
  logits_.assign(static_cast<size_t>(nu) * ni, 0.0);
  ranker_scores_.assign(static_cast<size_t>(nu) * ni, 0.0f);
  for (int32_t u = 0; u < nu; ++u) {
    Rng noise(config_.seed ^ kRankerNoiseSalt, static_cast<uint64_t>(u));
    for (int32_t a = 0; a < ni; ++a) {
      double dot = 0.0;
      for (int32_t k = 0; k < d; ++k) dot += x[static_cast<size_t>(u) * d + k] * y[static_cast<size_t>(a) * d + k];
      const size_t idx = static_cast<size_t>(u) * ni + a;
      logits_[idx] = config_.preference_scale * dot + item_bias_[a] + config_.reward_offset;
      ranker_scores_[idx] = static_cast<float>(logits_[idx] + config_.ranker_noise * noise.Normal());
    }
  }
}

double OpeSimulator::Preference(UserIndex u, ItemIndex a) const {
  return Sigmoid(logits_[static_cast<size_t>(u) * config_.num_items + a]);
}

float OpeSimulator::RankerScore(UserIndex u, ItemIndex a) const {
  return ranker_scores_[static_cast<size_t>(u) * config_.num_items + a];
}

absl::StatusOr<std::vector<ItemIndex>> OpeSimulator::Candidates(const GeneratorSpec& generator,
                                                                UserIndex u) const {
  RECSYS_RETURN_IF_ERROR(generator.Validate());
  if (u < 0 || u >= config_.num_users) {
    return absl::OutOfRangeError(absl::StrCat("OpeSimulator::Candidates: user ", u, " outside [0, ",
                                              config_.num_users, ")"));
  }
  const int32_t ni = config_.num_items;
  // The generator's noise for all items of u (one stream per (salt, user)).
  std::vector<double> eps(static_cast<size_t>(ni));
  Rng rng(config_.seed ^ kGeneratorNoiseSalt ^ Mix64(generator.salt), static_cast<uint64_t>(u));
  for (auto& e : eps) e = rng.Normal();
  std::vector<ItemIndex> pool;
  if (generator.pool == CandidatePool::kCatalogue) {
    pool.resize(static_cast<size_t>(ni));
    std::iota(pool.begin(), pool.end(), 0);
  } else {
    if (logging_.offsets.empty()) {
      return absl::FailedPreconditionError("the logging pipeline is not built yet");
    }
    pool.assign(logging_.items.begin() + logging_.offsets[u], logging_.items.begin() + logging_.offsets[u + 1]);
  }
  if (generator.size > static_cast<int32_t>(pool.size())) {
    return absl::InvalidArgumentError(absl::StrCat("GeneratorSpec '", generator.name, "'.size = ", generator.size,
                                                   " exceeds its pool of ", pool.size(), " items"));
  }
  auto score = [&](ItemIndex a) {
    switch (generator.kind) {
      case GeneratorKind::kNoisyOracle:
        return logits_[static_cast<size_t>(u) * ni + a] + generator.noise * eps[a];
      case GeneratorKind::kPopularity:
        return item_bias_[a] + generator.noise * eps[a];
      case GeneratorKind::kRandom:
        return eps[a];
    }
    return 0.0;
  };
  std::vector<std::pair<double, ItemIndex>> scored;
  scored.reserve(pool.size());
  for (ItemIndex a : pool) scored.emplace_back(score(a), a);
  std::partial_sort(scored.begin(), scored.begin() + generator.size, scored.end(),
                    [](const auto& l, const auto& r) { return l.first > r.first || (l.first == r.first && l.second < r.second); });
  std::vector<ItemIndex> out(static_cast<size_t>(generator.size));
  for (int32_t j = 0; j < generator.size; ++j) out[j] = scored[j].second;
  return out;
}

absl::StatusOr<OpeSimulator::UserLists> OpeSimulator::Lists(const GeneratorSpec& generator) const {
  const int32_t nu = config_.num_users;
  std::vector<std::vector<ItemIndex>> items(static_cast<size_t>(nu));
  std::vector<std::vector<double>> probs(static_cast<size_t>(nu));
  std::vector<absl::Status> errors(static_cast<size_t>(nu));
  ParallelFor(0, nu, /*grain=*/16, [&](int64_t b, int64_t e) {
    std::vector<float> scores;
    for (int64_t u = b; u < e; ++u) {
      auto c = Candidates(generator, static_cast<UserIndex>(u));
      if (!c.ok()) {
        errors[u] = c.status();
        continue;
      }
      items[u] = std::move(*c);
      scores.resize(items[u].size());
      for (size_t j = 0; j < scores.size(); ++j) scores[j] = RankerScore(static_cast<UserIndex>(u), items[u][j]);
      probs[u].resize(items[u].size());
      errors[u] = PlackettLuceInclusion(scores, config_.ranker, probs[u]);
    }
  });
  for (auto& s : errors) RECSYS_RETURN_IF_ERROR(s);
  UserLists lists;
  lists.offsets.push_back(0);
  for (int32_t u = 0; u < nu; ++u) {
    lists.items.insert(lists.items.end(), items[u].begin(), items[u].end());
    lists.probabilities.insert(lists.probabilities.end(), probs[u].begin(), probs[u].end());
    lists.offsets.push_back(static_cast<int64_t>(lists.items.size()));
  }
  return lists;
}

absl::StatusOr<LoggedImpressions> OpeSimulator::Log(int64_t n, uint64_t seed) const {
  if (n < 1) return absl::InvalidArgumentError(absl::StrCat("OpeSimulator::Log: n = ", n, ", must be >= 1"));
  LoggedImpressions log;
  log.users.reserve(static_cast<size_t>(n));
  const int32_t k = config_.ranker.slate_size;
  std::vector<ItemIndex> slate;
  std::vector<double> props, weights;
  std::vector<float> rewards;
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(seed, static_cast<uint64_t>(i));
    const auto u = static_cast<UserIndex>(rng.UniformInt(static_cast<uint64_t>(config_.num_users)));
    const int64_t b = logging_.offsets[u], e = logging_.offsets[u + 1];
    std::span<const ItemIndex> cands(logging_.items.data() + b, static_cast<size_t>(e - b));
    // Plackett-Luce draw of min(k, |C|) items with weights exp(s/τ).
    double max_s = -1e300;
    for (ItemIndex a : cands) max_s = std::max(max_s, static_cast<double>(RankerScore(u, a)));
    weights.resize(cands.size());
    for (size_t j = 0; j < cands.size(); ++j) {
      weights[j] = std::exp((RankerScore(u, cands[j]) - max_s) / config_.ranker.temperature);
    }
    slate.clear();
    props.clear();
    rewards.clear();
    const size_t draws = std::min(static_cast<size_t>(k), cands.size());
    for (size_t t = 0; t < draws; ++t) {
      double total = 0.0;
      for (double w : weights) total += w;
      double target = rng.UniformDouble() * total;
      size_t pick = 0;
      for (size_t j = 0; j < weights.size(); ++j) {
        if (weights[j] <= 0.0) continue;
        pick = j;
        target -= weights[j];
        if (target < 0.0) break;
      }
      weights[pick] = 0.0;  // without replacement
      const ItemIndex a = cands[pick];
      slate.push_back(a);
      props.push_back(logging_.probabilities[b + static_cast<int64_t>(pick)]);
      rewards.push_back(rng.Bernoulli(Preference(u, a)) ? 1.0f : 0.0f);
    }
    log.Append(u, cands, slate, props, rewards);
  }
  return log;
}

absl::StatusOr<TargetPipeline> OpeSimulator::Target(const GeneratorSpec& generator,
                                                    const LoggedImpressions& log) const {
  if (static_cast<int64_t>(log.candidate_offsets.size()) != log.size() + 1) {
    return absl::InvalidArgumentError("OpeSimulator::Target: LoggedImpressions.candidate_offsets is not n + 1");
  }
  // Candidates per distinct user, then expanded per impression.
  std::vector<std::vector<ItemIndex>> per_user(static_cast<size_t>(config_.num_users));
  std::vector<char> have(static_cast<size_t>(config_.num_users), 0);
  std::vector<int64_t> offsets{0};
  std::vector<ItemIndex> items;
  for (int64_t i = 0; i < log.size(); ++i) {
    const UserIndex u = log.users[i];
    if (u >= config_.num_users) {
      return absl::InvalidArgumentError(absl::StrCat("LoggedImpressions.users row ", i, ": ", u,
                                                     " is not a simulated user"));
    }
    if (!have[u]) {
      RECSYS_ASSIGN_OR_RETURN(per_user[u], Candidates(generator, u));
      have[u] = 1;
    }
    items.insert(items.end(), per_user[u].begin(), per_user[u].end());
    offsets.push_back(static_cast<int64_t>(items.size()));
  }
  RankerScoreFn scorer = [this, &log](int64_t i, std::span<const ItemIndex> its, std::span<float> out) {
    for (size_t j = 0; j < its.size(); ++j) out[j] = RankerScore(log.users[i], its[j]);
    return absl::OkStatus();
  };
  return BuildTargetPipeline(log, offsets, items, scorer, config_.ranker);
}

TargetPipeline OpeSimulator::Expand(const UserLists& lists, const LoggedImpressions& log) {
  TargetPipeline target;
  target.offsets.reserve(static_cast<size_t>(log.size()) + 1);
  target.offsets.push_back(0);
  for (int64_t i = 0; i < log.size(); ++i) {
    const UserIndex u = log.users[i];
    const int64_t b = lists.offsets[u], e = lists.offsets[u + 1];
    target.items.insert(target.items.end(), lists.items.begin() + b, lists.items.begin() + e);
    target.probabilities.insert(target.probabilities.end(), lists.probabilities.begin() + b,
                                lists.probabilities.begin() + e);
    target.offsets.push_back(static_cast<int64_t>(target.items.size()));
  }
  return target;
}

absl::StatusOr<GeneratorTruth> OpeSimulator::Truth(const GeneratorSpec& generator) const {
  RECSYS_ASSIGN_OR_RETURN(UserLists lists, Lists(generator));
  const int32_t nu = config_.num_users;
  double value = 0.0, unsupported = 0.0, rec_num = 0.0, rec_den = 0.0;
  std::vector<ItemIndex> logging_sorted;
  for (int32_t u = 0; u < nu; ++u) {
    logging_sorted.assign(logging_.items.begin() + logging_.offsets[u],
                          logging_.items.begin() + logging_.offsets[u + 1]);
    std::sort(logging_sorted.begin(), logging_sorted.end());
    for (ItemIndex a : logging_sorted) rec_den += Preference(u, a);
    double k_new = 0.0, outside = 0.0;
    for (int64_t j = lists.offsets[u]; j < lists.offsets[u + 1]; ++j) {
      const ItemIndex a = lists.items[j];
      const double q = lists.probabilities[j];
      value += q * Preference(u, a);
      k_new += q;
      if (std::binary_search(logging_sorted.begin(), logging_sorted.end(), a)) {
        rec_num += Preference(u, a);
      } else {
        outside += q;
      }
    }
    if (k_new > 0.0) unsupported += outside / k_new;
  }
  GeneratorTruth truth;
  truth.value = value / nu;
  truth.unsupported_mass = unsupported / nu;
  truth.candidate_recall = rec_den > 0.0 ? rec_num / rec_den : 0.0;
  return truth;
}

}  // namespace recsys

namespace recsys {

absl::Status OpeStudyConfig::Validate() const {
  if (seeds < 2) return absl::InvalidArgumentError(absl::StrCat("OpeStudyConfig.seeds = ", seeds, ", must be >= 2"));
  if (impressions < 1) {
    return absl::InvalidArgumentError(absl::StrCat("OpeStudyConfig.impressions = ", impressions, ", must be >= 1"));
  }
  return options.Validate();
}

namespace {

EstimatorSummary Summarize(const std::vector<OpeEstimate>& estimates, double truth) {
  EstimatorSummary s;
  const double n = static_cast<double>(estimates.size());
  double sq = 0.0, covered = 0.0;
  for (const auto& e : estimates) {
    s.mean += e.value;
    s.mean_std_error += e.std_error;
    sq += (e.value - truth) * (e.value - truth);
    covered += std::abs(e.value - truth) <= 1.96 * e.std_error + 1e-12 ? 1.0 : 0.0;
  }
  s.mean /= n;
  s.mean_std_error /= n;
  s.bias = s.mean - truth;
  s.rmse = std::sqrt(sq / n);
  s.coverage = covered / n;
  double var = 0.0;
  for (const auto& e : estimates) var += (e.value - s.mean) * (e.value - s.mean);
  s.std = estimates.size() > 1 ? std::sqrt(var / (n - 1.0)) : 0.0;
  return s;
}

}  // namespace

absl::StatusOr<std::vector<GeneratorStudy>> RunOpeStudy(const OpeSimulator& simulator,
                                                        std::span<const GeneratorSpec> generators,
                                                        const OpeStudyConfig& config) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  const size_t g = generators.size();
  const auto s = static_cast<size_t>(config.seeds);
  // Generators are deterministic per user: their lists are computed once.
  std::vector<OpeSimulator::UserLists> lists(g);
  for (size_t j = 0; j < g; ++j) {
    RECSYS_ASSIGN_OR_RETURN(lists[j], simulator.Lists(generators[j]));
  }
  // reports[seed][generator]
  std::vector<std::vector<OpeReport>> reports(s, std::vector<OpeReport>(g));
  std::vector<absl::Status> errors(s);
  ParallelFor(0, config.seeds, /*grain=*/1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      errors[r] = [&]() -> absl::Status {
        RECSYS_ASSIGN_OR_RETURN(LoggedImpressions log,
                                simulator.Log(config.impressions, config.first_seed + static_cast<uint64_t>(r)));
        for (size_t j = 0; j < g; ++j) {
          const TargetPipeline target = OpeSimulator::Expand(lists[j], log);
          RECSYS_ASSIGN_OR_RETURN(reports[r][j], EstimateOffPolicy(log, target, config.options));
        }
        return absl::OkStatus();
      }();
    }
  });
  for (auto& st : errors) RECSYS_RETURN_IF_ERROR(st);
  std::vector<GeneratorStudy> out(g);
  for (size_t j = 0; j < g; ++j) {
    GeneratorStudy& study = out[j];
    study.name = generators[j].name;
    RECSYS_ASSIGN_OR_RETURN(study.truth, simulator.Truth(generators[j]));
    std::vector<OpeEstimate> ips, snips, clipped, recall;
    for (size_t r = 0; r < s; ++r) {
      const OpeReport& rep = reports[r][j];
      ips.push_back(rep.ips);
      snips.push_back(rep.snips);
      clipped.push_back(rep.clipped_ips);
      recall.push_back(rep.candidate_recall);
      study.unsupported_mass += rep.unsupported_mass / static_cast<double>(s);
      study.effective_sample_size += rep.effective_sample_size / static_cast<double>(s);
      study.clipped_fraction += rep.clipped_fraction / static_cast<double>(s);
      study.logged_value += rep.logged_value / static_cast<double>(s);
    }
    study.ips = Summarize(ips, study.truth.value);
    study.snips = Summarize(snips, study.truth.value);
    study.clipped_ips = Summarize(clipped, study.truth.value);
    study.candidate_recall = Summarize(recall, study.truth.candidate_recall);
  }
  return out;
}

std::vector<GeneratorSpec> DefaultStudyGenerators(const OpeWorldConfig& world) {
  std::vector<GeneratorSpec> specs;
  specs.push_back(world.logging);
  specs.push_back({.name = "better", .kind = GeneratorKind::kNoisyOracle, .noise = 0.3, .size = 20,
                   .pool = CandidatePool::kLoggingCandidates, .salt = 11});
  specs.push_back({.name = "worse", .kind = GeneratorKind::kRandom, .noise = 0.0, .size = 20,
                   .pool = CandidatePool::kLoggingCandidates, .salt = 12});
  specs.push_back({.name = "better_open", .kind = GeneratorKind::kNoisyOracle, .noise = 0.3, .size = 20,
                   .pool = CandidatePool::kCatalogue, .salt = 11});
  specs.push_back({.name = "low_support", .kind = GeneratorKind::kRandom, .noise = 0.0, .size = 20,
                   .pool = CandidatePool::kCatalogue, .salt = 13});
  return specs;
}

}  // namespace recsys

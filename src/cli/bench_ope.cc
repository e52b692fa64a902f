// `recsys bench ope`: off-policy estimators of candidate generators against
// the exact truth of the simulator (include/recsys/eval/ope_simulator.h).
// A table goes to stderr; the JSON object to stdout.
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "cli_common.h"
#include "recsys/core/parallel.h"
#include "recsys/eval/ope.h"
#include "recsys/eval/ope_simulator.h"

namespace {

struct BenchOpeArgs {
  int seeds = 50;
  int64_t impressions = 3000;
  double max_weight = 10.0;
  uint64_t world_seed = 1;
  int slate_size = 1;
  double temperature = 1.0;
  int threads = 0;
};

nlohmann::json SummaryJson(const recsys::EstimatorSummary& s) {
  return {{"mean", s.mean},
          {"bias", s.bias},
          {"std", s.std},
          {"mean_se", s.mean_std_error},
          {"rmse", s.rmse},
          {"coverage95", s.coverage}};
}

recsys::cli::RunFn SetupBenchOpe(CLI::App* app) {
  auto a = std::make_shared<BenchOpeArgs>();
  app->add_option("--seeds", a->seeds, "logs per generator (>= 2)");
  app->add_option("--impressions", a->impressions, "impressions per log");
  app->add_option("--max-weight", a->max_weight, "clipping threshold M of clipped IPS");
  app->add_option("--world-seed", a->world_seed, "seed of the simulated world");
  app->add_option("--slate-size", a->slate_size, "ranker slate size k (1..3)");
  app->add_option("--temperature", a->temperature, "ranker softmax temperature");
  app->add_option("--threads", a->threads, "worker threads (0 = all cores)");
  return [a](const recsys::cli::GlobalFlags& g) -> int {
    recsys::ThreadLimit limit(a->threads);
    recsys::OpeWorldConfig world;
    world.seed = a->world_seed;
    world.ranker.slate_size = a->slate_size;
    world.ranker.temperature = a->temperature;
    auto sim = recsys::OpeSimulator::Create(world);
    if (!sim.ok()) return recsys::cli::Fail(sim.status());
    recsys::OpeStudyConfig study;
    study.seeds = a->seeds;
    study.impressions = a->impressions;
    study.options.max_weight = a->max_weight;
    const auto generators = recsys::DefaultStudyGenerators(world);
    const auto start = std::chrono::steady_clock::now();
    auto results = recsys::RunOpeStudy(**sim, generators, study);
    if (!results.ok()) return recsys::cli::Fail(results.status());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    recsys::cli::Log(absl::StrFormat(
        "bench ope: %d logs x %d impressions, slate %d, tau %.2f, clip M=%.1f (%.1f s)", a->seeds,
        a->impressions, a->slate_size, a->temperature, a->max_weight, seconds));
    recsys::cli::Log(absl::StrFormat("%-12s %7s | %7s %8s %7s %7s | %7s %8s %7s | %7s %8s %7s | %7s | %6s %6s | %6s",
                                     "generator", "true V", "IPS", "bias", "std", "cover", "SNIPS", "bias",
                                     "std", "clipIPS", "bias", "std", "unsupp", "recall", "est", "ESS"));
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : *results) {
      recsys::cli::Log(absl::StrFormat(
          "%-12s %7.4f | %7.4f %+8.4f %7.4f %7.2f | %7.4f %+8.4f %7.4f | %7.4f %+8.4f %7.4f | %7.3f | %6.3f %6.3f | %6.0f",
          r.name, r.truth.value, r.ips.mean, r.ips.bias, r.ips.std, r.ips.coverage, r.snips.mean, r.snips.bias,
          r.snips.std, r.clipped_ips.mean, r.clipped_ips.bias, r.clipped_ips.std, r.unsupported_mass,
          r.truth.candidate_recall, r.candidate_recall.mean, r.effective_sample_size));
      rows.push_back({{"generator", r.name},
                      {"true_value", r.truth.value},
                      {"true_candidate_recall", r.truth.candidate_recall},
                      {"true_unsupported_mass", r.truth.unsupported_mass},
                      {"logged_value", r.logged_value},
                      {"ips", SummaryJson(r.ips)},
                      {"snips", SummaryJson(r.snips)},
                      {"clipped_ips", SummaryJson(r.clipped_ips)},
                      {"clipped_fraction", r.clipped_fraction},
                      {"unsupported_mass", r.unsupported_mass},
                      {"candidate_recall", SummaryJson(r.candidate_recall)},
                      {"effective_sample_size", r.effective_sample_size}});
    }
    nlohmann::json out = {{"seeds", a->seeds},
                          {"impressions", a->impressions},
                          {"max_weight", a->max_weight},
                          {"world_seed", a->world_seed},
                          {"slate_size", a->slate_size},
                          {"temperature", a->temperature},
                          {"seconds", seconds},
                          {"generators", rows}};
    recsys::cli::Emit(g, out);
    return 0;
  };
}

}  // namespace

RECSYS_CLI_COMMAND(ope, "bench", "Off-policy estimators of candidate generators on the simulator",
                   SetupBenchOpe);

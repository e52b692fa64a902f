// The estimators against the simulator's exact truth over many logging seeds
// (include/recsys/eval/ope_simulator.h). One study (50 logs × 3000
// impressions, 5 generators) is shared by the assertions below.
#include "recsys/eval/ope_simulator.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "recsys/core/check.h"
#include "recsys/eval/ope.h"

namespace recsys {
namespace {

constexpr int kSeeds = 50;
constexpr int64_t kImpressions = 3000;
constexpr double kMaxWeight = 3.0;

class OpeStudyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto sim = OpeSimulator::Create({});
    ASSERT_TRUE(sim.ok()) << sim.status();
    OpeStudyConfig config;
    config.seeds = kSeeds;
    config.impressions = kImpressions;
    config.options.max_weight = kMaxWeight;
    const auto generators = DefaultStudyGenerators();
    auto results = RunOpeStudy(**sim, generators, config);
    ASSERT_TRUE(results.ok()) << results.status();
    results_ = new std::map<std::string, GeneratorStudy>();
    std::printf("%-12s %7s | %7s %8s %7s %6s %5s | %7s %8s %7s | %7s %8s %7s | %6s %6s | %6s %6s | %5s %5s\n",
                "generator", "true", "IPS", "bias", "std", "SE", "cov", "SNIPS", "bias", "std", "clip", "bias",
                "std", "unsup", "truth", "recall", "truth", "ESS", "clip%");
    for (const auto& r : *results) {
      std::printf(
          "%-12s %7.4f | %7.4f %+8.4f %7.4f %6.4f %5.2f | %7.4f %+8.4f %7.4f | %7.4f %+8.4f %7.4f | %6.3f %6.3f "
          "| %6.3f %6.3f | %5.0f %5.3f\n",
          r.name.c_str(), r.truth.value, r.ips.mean, r.ips.bias, r.ips.std, r.ips.mean_std_error, r.ips.coverage,
          r.snips.mean, r.snips.bias, r.snips.std, r.clipped_ips.mean, r.clipped_ips.bias, r.clipped_ips.std,
          r.unsupported_mass, r.truth.unsupported_mass, r.candidate_recall.mean, r.truth.candidate_recall,
          r.effective_sample_size, r.clipped_fraction);
      (*results_)[r.name] = r;
    }
  }
  static void TearDownTestSuite() {
    delete results_;
    results_ = nullptr;
  }
  static const GeneratorStudy& Get(const std::string& name) {
    RECSYS_CHECK(results_ != nullptr && results_->count(name)) << name;
    return results_->at(name);
  }
  // Standard error of a mean over the seeds.
  static double MeanSe(const EstimatorSummary& s) { return s.std / std::sqrt(static_cast<double>(kSeeds)); }

  static std::map<std::string, GeneratorStudy>* results_;
};

std::map<std::string, GeneratorStudy>* OpeStudyTest::results_ = nullptr;

TEST_F(OpeStudyTest, IpsIsUnbiasedUnderFullSupport) {
  for (const char* name : {"logging", "better", "worse"}) {
    const GeneratorStudy& g = Get(name);
    EXPECT_EQ(g.truth.unsupported_mass, 0.0) << name;  // precondition: C' ⊆ C
    EXPECT_EQ(g.unsupported_mass, 0.0) << name;
    // |mean − V| within 4 standard errors of the mean over 50 logs.
    EXPECT_LE(std::abs(g.ips.bias), 4.0 * MeanSe(g.ips) + 1e-12) << name;
    EXPECT_LE(std::abs(g.snips.bias), 4.0 * MeanSe(g.snips) + 1e-3) << name;
    // The reported standard error matches the spread across logs (±35%).
    EXPECT_NEAR(g.ips.mean_std_error / g.ips.std, 1.0, 0.35) << name;
    // 95% intervals cover the truth in most logs.
    EXPECT_GE(g.ips.coverage, 0.8) << name;
  }
}

TEST_F(OpeStudyTest, EstimatesRankTheGenerators) {
  // Truth: better > logging > worse, and the estimates agree.
  EXPECT_GT(Get("better").truth.value, Get("logging").truth.value);
  EXPECT_GT(Get("logging").truth.value, Get("worse").truth.value);
  EXPECT_GT(Get("better").ips.mean, Get("logging").ips.mean);
  EXPECT_GT(Get("logging").ips.mean, Get("worse").ips.mean);
  EXPECT_GT(Get("better").snips.mean, Get("logging").snips.mean);
}

TEST_F(OpeStudyTest, SnipsHasLowerVarianceThanIps) {
  for (const char* name : {"better", "worse", "better_open"}) {
    const GeneratorStudy& g = Get(name);
    EXPECT_LT(g.snips.std, g.ips.std) << name;
  }
}

TEST_F(OpeStudyTest, ClippingTradesBiasForVariance) {
  for (const char* name : {"worse", "low_support"}) {
    const GeneratorStudy& g = Get(name);
    ASSERT_GT(g.clipped_fraction, 0.0) << name << ": clipping must bind for this test";
    EXPECT_LT(g.clipped_ips.std, g.ips.std) << name;
    // Downward bias, significantly so.
    EXPECT_LT(g.clipped_ips.bias, -4.0 * MeanSe(g.clipped_ips)) << name;
    EXPECT_LT(g.clipped_ips.mean, g.ips.mean) << name;
  }
}

TEST_F(OpeStudyTest, SupportDiagnosticFlagsLowSupport) {
  const GeneratorStudy& low = Get("low_support");
  const GeneratorStudy& open = Get("better_open");
  // The estimate is unbiased for the truth (it depends on the log only through
  // the users drawn).
  for (const GeneratorStudy* g : {&low, &open}) {
    EXPECT_NEAR(g->unsupported_mass, g->truth.unsupported_mass, 0.02) << g->name;
  }
  EXPECT_GT(low.unsupported_mass, 0.4);
  EXPECT_GT(open.unsupported_mass, 0.0);
  EXPECT_LT(open.unsupported_mass, low.unsupported_mass);
  // Missing support biases IPS downward: it cannot see the unsupported share.
  EXPECT_LT(low.ips.bias, -4.0 * MeanSe(low.ips));
}

TEST_F(OpeStudyTest, IpsCandidateRecallTracksTheTruth) {
  for (const char* name : {"logging", "better", "worse", "better_open", "low_support"}) {
    const GeneratorStudy& g = Get(name);
    EXPECT_NEAR(g.candidate_recall.mean, g.truth.candidate_recall, 4.0 * MeanSe(g.candidate_recall) + 0.01)
        << name;
  }
  EXPECT_DOUBLE_EQ(Get("logging").candidate_recall.mean, 1.0);
  EXPECT_GT(Get("better").truth.candidate_recall, Get("worse").truth.candidate_recall);
}

TEST(OpeSimulator, IsDeterministicBySeed) {
  auto sim = OpeSimulator::Create({});
  ASSERT_TRUE(sim.ok()) << sim.status();
  auto a = (*sim)->Log(200, 7);
  auto b = (*sim)->Log(200, 7);
  auto c = (*sim)->Log(200, 8);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->users, b->users);
  EXPECT_EQ(a->shown, b->shown);
  EXPECT_EQ(a->rewards, b->rewards);
  EXPECT_NE(a->users, c->users);
  EXPECT_TRUE(a->Validate((*sim)->config().num_items).ok());
}

TEST(OpeSimulator, SlatesOfTwoKeepTheEstimatorsConsistent) {
  OpeWorldConfig world;
  world.ranker.slate_size = 2;
  world.num_users = 100;
  auto sim = OpeSimulator::Create(world);
  ASSERT_TRUE(sim.ok()) << sim.status();
  const auto generators = DefaultStudyGenerators(world);
  OpeStudyConfig config;
  config.seeds = 20;
  config.impressions = 1500;
  auto results = RunOpeStudy(**sim, std::span<const GeneratorSpec>(generators).first(2), config);
  ASSERT_TRUE(results.ok()) << results.status();
  for (const auto& g : *results) {
    const double mean_se = g.ips.std / std::sqrt(20.0);
    EXPECT_LE(std::abs(g.ips.bias), 4.0 * mean_se + 1e-12) << g.name;
    EXPECT_GT(g.truth.value, 0.0) << g.name;
  }
}

TEST(OpeSimulator, RejectsBadConfigs) {
  OpeWorldConfig world;
  world.logging.size = 1000;
  EXPECT_EQ(OpeSimulator::Create(world).status().code(), absl::StatusCode::kInvalidArgument);
  world = {};
  world.ranker.temperature = -1.0;
  EXPECT_EQ(OpeSimulator::Create(world).status().code(), absl::StatusCode::kInvalidArgument);
  auto sim = OpeSimulator::Create({});
  ASSERT_TRUE(sim.ok());
  GeneratorSpec too_big{.name = "big", .size = 100, .pool = CandidatePool::kLoggingCandidates};
  EXPECT_EQ((*sim)->Candidates(too_big, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*sim)->Log(0, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace recsys

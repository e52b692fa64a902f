// Unit tests of include/recsys/eval/ope.h: Plackett-Luce propensities, the
// estimators on hand-computed logs, input validation, organic selection.
#include "recsys/eval/ope.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/core/rng.h"
#include "recsys/data/event_log.h"
#include "recsys/data/sequence_dataset.h"

namespace recsys {
namespace {

std::vector<float> RandomScores(int n, uint64_t seed) {
  Rng rng(seed, 0);
  std::vector<float> s(static_cast<size_t>(n));
  for (auto& v : s) v = static_cast<float>(2.0 * rng.Normal());
  return s;
}

TEST(PlackettLuceInclusion, TopOneIsTheSoftmax) {
  const auto scores = RandomScores(7, 1);
  std::vector<double> p(scores.size());
  ASSERT_TRUE(PlackettLuceInclusion(scores, {.temperature = 0.7, .slate_size = 1}, p).ok());
  double z = 0.0;
  for (float s : scores) z += std::exp(s / 0.7);
  for (size_t j = 0; j < scores.size(); ++j) EXPECT_NEAR(p[j], std::exp(scores[j] / 0.7) / z, 1e-12);
}

TEST(PlackettLuceInclusion, TopTwoMatchesClosedForm) {
  const auto scores = RandomScores(9, 2);
  std::vector<double> p(scores.size());
  ASSERT_TRUE(PlackettLuceInclusion(scores, {.temperature = 1.0, .slate_size = 2}, p).ok());
  std::vector<double> w;
  double total = 0.0;
  for (float s : scores) {
    w.push_back(std::exp(static_cast<double>(s)));
    total += w.back();
  }
  double sum = 0.0;
  for (size_t a = 0; a < w.size(); ++a) {
    double expected = w[a] / total;  // first position
    for (size_t b = 0; b < w.size(); ++b) {
      if (b != a) expected += (w[b] / total) * (w[a] / (total - w[b]));  // second
    }
    EXPECT_NEAR(p[a], expected, 1e-12) << "item " << a;
    sum += p[a];
  }
  EXPECT_NEAR(sum, 2.0, 1e-12);
}

TEST(PlackettLuceInclusion, TopThreeMatchesSampling) {
  const auto scores = RandomScores(6, 3);
  std::vector<double> p(scores.size());
  ASSERT_TRUE(PlackettLuceInclusion(scores, {.temperature = 1.0, .slate_size = 3}, p).ok());
  double sum = 0.0;
  for (double v : p) sum += v;
  EXPECT_NEAR(sum, 3.0, 1e-12);
  // Gumbel-max sampling of the top 3 (an independent sampler).
  const int draws = 200000;
  std::vector<double> freq(scores.size(), 0.0);
  Rng rng(99, 0);
  std::vector<std::pair<double, size_t>> keys(scores.size());
  for (int t = 0; t < draws; ++t) {
    for (size_t j = 0; j < scores.size(); ++j) {
      double u = rng.UniformDouble();
      while (u <= 0.0) u = rng.UniformDouble();
      keys[j] = {scores[j] - std::log(-std::log(u)), j};
    }
    std::partial_sort(keys.begin(), keys.begin() + 3, keys.end(), std::greater<>());
    for (int r = 0; r < 3; ++r) freq[keys[r].second] += 1.0 / draws;
  }
  // Binomial sd ≤ sqrt(0.25 / 2e5) = 0.0011; 5 sd.
  for (size_t j = 0; j < p.size(); ++j) EXPECT_NEAR(p[j], freq[j], 0.0056) << "item " << j;
}

TEST(PlackettLuceInclusion, SmallSetsAreShownWhole) {
  std::vector<float> scores{1.0f, -3.0f};
  std::vector<double> p(2);
  ASSERT_TRUE(PlackettLuceInclusion(scores, {.temperature = 1.0, .slate_size = 2}, p).ok());
  EXPECT_DOUBLE_EQ(p[0], 1.0);
  EXPECT_DOUBLE_EQ(p[1], 1.0);
}

TEST(PlackettLuceInclusion, PeakedScoresStayFinite) {
  // Weights spanning 1e-300 .. 1: subtraction of the dominant weight cancels.
  std::vector<float> scores{0.0f, -600.0f, -650.0f, -700.0f};
  std::vector<double> p(4);
  ASSERT_TRUE(PlackettLuceInclusion(scores, {.temperature = 1.0, .slate_size = 2}, p).ok());
  EXPECT_NEAR(p[0], 1.0, 1e-12);
  EXPECT_NEAR(p[1], 1.0, 1e-12);  // second place almost surely the runner-up
  EXPECT_NEAR(p[0] + p[1] + p[2] + p[3], 2.0, 1e-9);
}

TEST(PlackettLuceInclusion, RejectsBadInput) {
  std::vector<float> scores{1.0f, 2.0f};
  std::vector<double> p(2), short_out(1);
  EXPECT_EQ(PlackettLuceInclusion(scores, {.temperature = 0.0, .slate_size = 1}, p).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlackettLuceInclusion(scores, {.temperature = 1.0, .slate_size = 4}, p).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlackettLuceInclusion(scores, {}, short_out).code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> nan_scores{1.0f, std::nanf("")};
  EXPECT_EQ(PlackettLuceInclusion(nan_scores, {}, p).code(), absl::StatusCode::kInvalidArgument);
}

// Two impressions whose estimates are computed by hand in the comments.
struct HandLog {
  LoggedImpressions log;
  TargetPipeline target;
  HandLog() {
    // Impression 0: C = {1, 2, 3}, shown 2 (p = 0.5, r = 1).
    // Impression 1: C = {1, 2},    shown 1 (p = 0.25, r = 0).
    log.Append(0, std::vector<ItemIndex>{1, 2, 3}, std::vector<ItemIndex>{2}, std::vector<double>{0.5},
               std::vector<float>{1.0f});
    log.Append(1, std::vector<ItemIndex>{1, 2}, std::vector<ItemIndex>{1}, std::vector<double>{0.25},
               std::vector<float>{0.0f});
    // New pipeline: C'_0 = {2, 4} with q = {0.25, 0.75}; C'_1 = {1}, q = 1.
    target.offsets = {0, 2, 3};
    target.items = {2, 4, 1};
    target.probabilities = {0.25, 0.75, 1.0};
  }
};

TEST(EstimateOffPolicy, MatchesHandComputation) {
  HandLog h;
  auto r = EstimateOffPolicy(h.log, h.target, {.max_weight = 2.0});
  ASSERT_TRUE(r.ok()) << r.status();
  // w = {0.25/0.5, 1/0.25} = {0.5, 4}; Y = {0.5, 0}.
  EXPECT_EQ(r->impressions, 2);
  EXPECT_DOUBLE_EQ(r->logged_value, 0.5);
  EXPECT_DOUBLE_EQ(r->ips.value, 0.25);
  EXPECT_NEAR(r->ips.std_error, std::sqrt(0.125) / std::sqrt(2.0), 1e-12);  // sd{0.5,0}/√2
  EXPECT_NEAR(r->snips.value, 0.5 / 4.5, 1e-12);                             // ΣY / ΣW
  EXPECT_DOUBLE_EQ(r->clipped_ips.value, 0.25);                              // clipping hits r = 0
  EXPECT_NEAR(r->effective_sample_size, 4.5 * 4.5 / (0.25 + 16.0), 1e-12);
  EXPECT_DOUBLE_EQ(r->max_weight, 4.0);
  EXPECT_DOUBLE_EQ(r->clipped_fraction, 0.5);
  EXPECT_DOUBLE_EQ(r->unsupported_mass, 0.375);  // item 4 ∉ C_0 carries 0.75
  EXPECT_DOUBLE_EQ(r->unsupported_impressions, 0.5);
  EXPECT_DOUBLE_EQ(r->candidate_recall.value, 1.0);  // the one click (item 2) is in C'_0
}

TEST(EstimateOffPolicy, ClippingLowersRewardedWeights) {
  HandLog h;
  h.log.rewards = {1.0f, 1.0f};  // now the weight-4 item is rewarded
  auto r = EstimateOffPolicy(h.log, h.target, {.max_weight = 2.0});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(r->ips.value, (0.5 + 4.0) / 2);
  EXPECT_DOUBLE_EQ(r->clipped_ips.value, (0.5 + 2.0) / 2);
  EXPECT_NEAR(r->snips.value, 4.5 / 4.5, 1e-12);
  // Recall: N = {2, 4}, D = {2, 4} → 1.
  EXPECT_DOUBLE_EQ(r->candidate_recall.value, 1.0);
}

TEST(EstimateOffPolicy, LoggingPolicyAgainstItselfHasUnitWeights) {
  LoggedImpressions log;
  TargetPipeline target{.offsets = {0}, .items = {}, .probabilities = {}};
  Rng rng(5, 0);
  for (int i = 0; i < 50; ++i) {
    std::vector<float> scores = RandomScores(4, 100 + i);
    std::vector<double> p(4);
    ASSERT_TRUE(PlackettLuceInclusion(scores, {}, p).ok());
    const ItemIndex shown = static_cast<ItemIndex>(rng.UniformInt(4));
    std::vector<ItemIndex> cands{0, 1, 2, 3};
    log.Append(i, cands, std::vector<ItemIndex>{shown}, std::vector<double>{p[shown]},
               std::vector<float>{static_cast<float>(i % 3 == 0)});
    target.items.insert(target.items.end(), cands.begin(), cands.end());
    target.probabilities.insert(target.probabilities.end(), p.begin(), p.end());
    target.offsets.push_back(static_cast<int64_t>(target.items.size()));
  }
  auto r = EstimateOffPolicy(log, target);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->ips.value, r->logged_value, 1e-12);
  EXPECT_NEAR(r->snips.value, r->logged_value, 1e-12);
  EXPECT_NEAR(r->effective_sample_size, 50.0, 1e-9);
  EXPECT_DOUBLE_EQ(r->unsupported_mass, 0.0);
  EXPECT_DOUBLE_EQ(r->max_weight, 1.0);
}

TEST(EstimateOffPolicy, RejectsInvalidLogs) {
  {
    HandLog h;
    h.log.propensities[1] = 0.0;
    auto r = EstimateOffPolicy(h.log, h.target);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("propensities row 1"), std::string::npos) << r.status();
  }
  {
    HandLog h;
    h.log.shown[0] = 3 + 4;  // not in C_0
    auto r = EstimateOffPolicy(h.log, h.target);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("not in the logged candidate set"), std::string::npos) << r.status();
  }
  {
    HandLog h;
    h.target.offsets = {0, 3};  // covers one impression
    EXPECT_EQ(EstimateOffPolicy(h.log, h.target).status().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    HandLog h;
    h.target.items[1] = 2;  // duplicate in C'_0
    EXPECT_EQ(EstimateOffPolicy(h.log, h.target).status().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    HandLog h;
    EXPECT_EQ(EstimateOffPolicy(h.log, h.target, {.max_weight = 0.0}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  {
    LoggedImpressions empty;
    TargetPipeline none{.offsets = {0}, .items = {}, .probabilities = {}};
    EXPECT_EQ(EstimateOffPolicy(empty, none).status().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    HandLog h;
    EXPECT_EQ(h.log.Validate(/*num_items=*/3).code(), absl::StatusCode::kInvalidArgument);  // item 3
    EXPECT_TRUE(h.log.Validate(/*num_items=*/4).ok());
  }
}

TEST(BuildTargetPipeline, ScoresWithTheRankerAndPropagatesErrors) {
  HandLog h;
  std::vector<int64_t> offsets{0, 2, 3};
  std::vector<ItemIndex> items{2, 4, 1};
  RankerScoreFn scores = [](int64_t, std::span<const ItemIndex> its, std::span<float> out) {
    for (size_t j = 0; j < its.size(); ++j) out[j] = static_cast<float>(its[j]);  // score = item id
    return absl::OkStatus();
  };
  auto t = BuildTargetPipeline(h.log, offsets, items, scores, {.temperature = 1.0, .slate_size = 1});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_NEAR(t->probabilities[0], std::exp(2.0) / (std::exp(2.0) + std::exp(4.0)), 1e-9);
  EXPECT_NEAR(t->probabilities[1], std::exp(4.0) / (std::exp(2.0) + std::exp(4.0)), 1e-9);
  EXPECT_DOUBLE_EQ(t->probabilities[2], 1.0);

  RankerScoreFn failing = [](int64_t i, std::span<const ItemIndex>, std::span<float>) {
    return i == 1 ? absl::NotFoundError("no features") : absl::OkStatus();
  };
  auto bad = BuildTargetPipeline(h.log, offsets, items, failing, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(bad.status().message().find("impression 1"), std::string::npos) << bad.status();

  std::vector<int64_t> short_offsets{0, 3};
  EXPECT_EQ(BuildTargetPipeline(h.log, short_offsets, items, scores, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Organic / recommended selection.

SequenceDataset OrganicDataset() {
  EventLog log;
  // user 10: organic, rec, organic; user 20: rec, rec; user 30: organic.
  log.Append(10, 100, 1);
  log.Append(10, 101, 2);
  log.Append(20, 100, 3);
  log.Append(10, 102, 4);
  log.Append(20, 103, 5);
  log.Append(30, 101, 6);
  log.organic = {1, 0, 0, 1, 0, 1};
  auto ds = SequenceDataset::FromEventLog(log);
  EXPECT_TRUE(ds.ok()) << ds.status();
  return *ds;
}

TEST(EventOrigin, SelectsOrganicAndRecommendedTargets) {
  const SequenceDataset ds = OrganicDataset();
  const EventSelection organic = SelectEventsByOrigin(ds, EventOrigin::kOrganic);
  EXPECT_EQ(organic.users, (std::vector<UserIndex>{0, 0, 2}));
  EXPECT_EQ(organic.positions, (std::vector<int64_t>{0, 2, 0}));
  const EventSelection rec = SelectEventsByOrigin(ds, EventOrigin::kRecommended);
  EXPECT_EQ(rec.users, (std::vector<UserIndex>{0, 1, 1}));
  EXPECT_EQ(rec.positions, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(SelectEventsByOrigin(ds, EventOrigin::kAll).size(), ds.num_events());
  // The history before the organic target of user 10 includes the recommended event.
  const auto history = ds.items(organic.users[1]).first(static_cast<size_t>(organic.positions[1]));
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(ds.item_vocab().External(history[1]), 101);
}

TEST(EventOrigin, FilterKeepsUsersAndVocabularies) {
  const SequenceDataset ds = OrganicDataset();
  auto organic = FilterByOrigin(ds, EventOrigin::kOrganic);
  ASSERT_TRUE(organic.ok()) << organic.status();
  EXPECT_EQ(organic->num_users(), ds.num_users());
  EXPECT_EQ(organic->num_items(), ds.num_items());
  EXPECT_EQ(organic->num_events(), 3);
  EXPECT_EQ(organic->length(1), 0);  // user 20 had only recommended events
  ASSERT_EQ(organic->length(0), 2);
  EXPECT_EQ(organic->item_vocab().External(organic->items(0)[1]), 102);
  EXPECT_EQ(organic->timestamps(0)[1], 4);
  for (uint8_t flag : organic->all_organic()) EXPECT_EQ(flag, 1);
  auto rec = FilterByOrigin(ds, EventOrigin::kRecommended);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->num_events() + organic->num_events(), ds.num_events());

  EXPECT_EQ(*ParseEventOrigin("recommended"), EventOrigin::kRecommended);
  EXPECT_EQ(ParseEventOrigin("bogus").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace recsys

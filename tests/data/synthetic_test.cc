// Synthetic generator: determinism, thread independence, planted structure.
#include "recsys/data/synthetic.h"

#include <algorithm>
#include <map>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recsys/core/parallel.h"

namespace recsys {
namespace {

using ::testing::HasSubstr;

SyntheticConfig SmallConfig(uint64_t seed = 11) {
  SyntheticConfig c;
  c.num_users = 400;
  c.num_items = 600;
  c.num_clusters = 12;
  c.mean_events_per_user = 25;
  c.seed = seed;
  return c;
}

template <typename T>
std::vector<T> Vec(std::span<const T> s) {
  return std::vector<T>(s.begin(), s.end());
}

TEST(Synthetic, DeterministicBySeedAndIndependentOfThreads) {
  auto a = GenerateSyntheticDataset(SmallConfig());
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<SyntheticDataset> b;
  {
    ThreadLimit one(1);
    b = GenerateSyntheticDataset(SmallConfig());
  }
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(Vec(a->dataset.all_items()), Vec(b->dataset.all_items()));
  EXPECT_EQ(Vec(a->dataset.all_timestamps()), Vec(b->dataset.all_timestamps()));
  EXPECT_EQ(Vec(a->dataset.all_weights()), Vec(b->dataset.all_weights()));
  EXPECT_EQ(a->truth.interests, b->truth.interests);
  auto c = GenerateSyntheticDataset(SmallConfig(12));
  ASSERT_TRUE(c.ok());
  EXPECT_NE(Vec(a->dataset.all_items()), Vec(c->dataset.all_items()));
}

TEST(Synthetic, ShapesVocabulariesAndOrder) {
  const SyntheticConfig config = SmallConfig();
  auto data = GenerateSyntheticDataset(config);
  ASSERT_TRUE(data.ok());
  const SequenceDataset& ds = data->dataset;
  EXPECT_EQ(ds.num_users(), config.num_users);
  EXPECT_EQ(ds.num_items(), config.num_items);
  EXPECT_EQ(ds.user_vocab().External(17), 17);
  EXPECT_EQ(ds.item_vocab().External(599), 599);
  const double mean = static_cast<double>(ds.num_events()) / ds.num_users();
  EXPECT_NEAR(mean, config.mean_events_per_user, 3.0);
  for (UserIndex u = 0; u < ds.num_users(); ++u) {
    ASSERT_GE(ds.length(u), config.min_events_per_user);
    const auto ts = ds.timestamps(u);
    for (size_t k = 1; k < ts.size(); ++k) ASSERT_LT(ts[k - 1], ts[k]) << "user " << u;
    const auto interests = data->truth.interests_of(u);
    ASSERT_GE(interests.size(), static_cast<size_t>(config.min_interests));
    ASSERT_LE(interests.size(), static_cast<size_t>(config.max_interests));
    EXPECT_EQ(std::set<int32_t>(interests.begin(), interests.end()).size(), interests.size());
    float total = 0;
    for (float w : data->truth.weights_of(u)) total += w;
    EXPECT_NEAR(total, 1.0f, 1e-5f);
  }
  std::set<EventType> types(ds.all_types().begin(), ds.all_types().end());
  EXPECT_TRUE(types.count(static_cast<EventType>(EventKind::kListen)));
  EXPECT_TRUE(types.count(static_cast<EventType>(EventKind::kLike)));
  int64_t organic = 0;
  for (uint8_t o : ds.all_organic()) organic += o;
  EXPECT_NEAR(static_cast<double>(organic) / ds.num_events(), config.organic_prob, 0.05);
}

TEST(Synthetic, PlantedStructureIsRecoverable) {
  SyntheticConfig config = SmallConfig();
  auto data = GenerateSyntheticDataset(config);
  ASSERT_TRUE(data.ok());
  const SequenceDataset& ds = data->dataset;
  const SyntheticTruth& truth = data->truth;
  // Most events fall in one of the user's interest clusters (noise 5%, plus
  // noise items that happen to lie in an interest).
  int64_t in_interest = 0;
  for (UserIndex u = 0; u < ds.num_users(); ++u) {
    const auto interests = truth.interests_of(u);
    for (ItemIndex i : ds.items(u)) {
      in_interest += std::count(interests.begin(), interests.end(), truth.item_cluster[static_cast<size_t>(i)]);
    }
  }
  EXPECT_GT(static_cast<double>(in_interest) / ds.num_events(), 0.93);
  // Consecutive events share a cluster far more often than chance (sessions).
  int64_t same = 0, pairs = 0;
  for (UserIndex u = 0; u < ds.num_users(); ++u) {
    const auto items = ds.items(u);
    for (size_t k = 1; k < items.size(); ++k, ++pairs) {
      same += truth.item_cluster[static_cast<size_t>(items[k])] == truth.item_cluster[static_cast<size_t>(items[k - 1])];
    }
  }
  EXPECT_GT(static_cast<double>(same) / pairs, 0.6);
  // Popularity is heavy-tailed: the top 10% of items by rank get > 40% of events.
  const auto counts = ds.ItemCounts();
  int64_t head = 0;
  for (int32_t i = 0; i < ds.num_items(); ++i) {
    if (truth.item_rank[static_cast<size_t>(i)] < ds.num_items() / 10) head += counts[static_cast<size_t>(i)];
  }
  EXPECT_GT(static_cast<double>(head) / ds.num_events(), 0.4);
  // Played ratio is higher in-interest.
  double in_sum = 0, out_sum = 0;
  int64_t in_n = 0, out_n = 0;
  for (UserIndex u = 0; u < ds.num_users(); ++u) {
    const auto interests = truth.interests_of(u);
    for (size_t k = 0; k < ds.items(u).size(); ++k) {
      const bool in = std::count(interests.begin(), interests.end(),
                                 truth.item_cluster[static_cast<size_t>(ds.items(u)[k])]) > 0;
      (in ? in_sum : out_sum) += ds.weights(u)[k];
      ++(in ? in_n : out_n);
    }
  }
  ASSERT_GT(out_n, 0);
  EXPECT_GT(in_sum / in_n, out_sum / out_n + 0.2);
}

TEST(Synthetic, EventLogFormMatchesDataset) {
  auto direct = GenerateSyntheticDataset(SmallConfig());
  auto log = GenerateSynthetic(SmallConfig());
  ASSERT_TRUE(direct.ok() && log.ok());
  ASSERT_TRUE(log->log.Validate().ok());
  EXPECT_EQ(static_cast<int64_t>(log->log.size()), direct->dataset.num_events());
  auto built = SequenceDataset::FromEventLog(log->log);
  ASSERT_TRUE(built.ok());
  ASSERT_EQ(built->num_users(), direct->dataset.num_users());
  for (UserIndex u : {0, 7, 399}) {
    const UserIndex v = built->user_vocab().Find(u);
    ASSERT_GE(v, 0);
    ASSERT_EQ(built->length(v), direct->dataset.length(u));
    for (int64_t k = 0; k < built->length(v); ++k) {
      EXPECT_EQ(built->item_vocab().External(built->items(v)[static_cast<size_t>(k)]),
                direct->dataset.items(u)[static_cast<size_t>(k)]);
    }
  }
}

TEST(Synthetic, ConfigValidation) {
  SyntheticConfig c = SmallConfig();
  c.max_interests = 13;  // > num_clusters
  auto r = GenerateSyntheticDataset(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("SyntheticConfig.min_interests/max_interests"));
  c = SmallConfig();
  c.noise_prob = 1.5;
  EXPECT_THAT(std::string(c.Validate().message()), HasSubstr("noise_prob must be in [0, 1]"));
  c = SmallConfig();
  c.num_items = 5;
  EXPECT_FALSE(c.Validate().ok());
  for (int64_t events : {10000, 1000000, 100000000}) {
    const SyntheticConfig sized = SyntheticConfig::ForEvents(events);
    EXPECT_TRUE(sized.Validate().ok()) << events;
    EXPECT_NEAR(sized.num_users * sized.mean_events_per_user, events, events * 0.01);
  }
}

TEST(Synthetic, PlainModeHasNoExtras) {
  SyntheticConfig c = SmallConfig();
  c.yambda_extras = false;
  auto data = GenerateSynthetic(c);
  ASSERT_TRUE(data.ok());
  EXPECT_TRUE(data->log.weights.empty());
  EXPECT_TRUE(data->log.organic.empty());
  for (EventType t : data->log.types) ASSERT_EQ(t, static_cast<EventType>(EventKind::kInteraction));
}

}  // namespace
}  // namespace recsys

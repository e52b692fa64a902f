// Shared helpers of the recommender tests: small random longshort models and
// pipelines (deterministic given the seed).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/core/rng.h"
#include "recsys/models/longshort.h"
#include "recsys/recommender.h"

namespace recsys::testing {

inline constexpr ExternalId kFirstExternal = 1000;  // item i has external id 1000 + 7·i

inline Vocabulary SmallVocab(int32_t n) {
  std::vector<ExternalId> ids(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = kFirstExternal + 7 * i;
  return Vocabulary::FromExternals(std::move(ids));
}

inline LongShortConfig TinyLongShortConfig() {
  LongShortConfig c;
  c.dim = 8;
  c.num_blocks = 1;
  c.num_heads = 1;
  c.max_len = 5;
  c.dropout = 0.0;
  c.num_interests = 2;
  c.long_heads = 1;
  c.max_history = 32;
  c.recency_buckets = 4;
  c.log_losses = false;
  return c;
}

inline std::shared_ptr<LongShortModel> MakeLongShort(int32_t n, uint64_t seed,
                                                     LongShortConfig config = TinyLongShortConfig()) {
  auto model = LongShortModel::Create(config, SmallVocab(n), nullptr, seed);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::shared_ptr<LongShortModel>(std::move(*model));
}

// Pipeline over a random longshort model with a Flat (exact) index and
// popularity = n - i.
inline Pipeline MakePipeline(int32_t n, uint64_t seed, const std::string& name,
                             const std::string& factory = "Flat") {
  auto model = MakeLongShort(n, seed);
  PipelineBuildOptions options;
  options.index_factory = factory;
  auto p = BuildPipeline(model, options);
  EXPECT_TRUE(p.ok()) << p.status();
  p->name = name;
  for (int32_t i = 0; i < n; ++i) p->popularity.push_back(static_cast<float>(n - i));
  for (int32_t i = 0; i < n; ++i) p->categories.push_back(i % 3);
  return *std::move(p);
}

inline std::vector<ExternalId> RandomHistory(int32_t n, int len, Rng& rng) {
  std::vector<ExternalId> h;
  for (int i = 0; i < len; ++i) h.push_back(kFirstExternal + 7 * static_cast<ExternalId>(rng.UniformInt(n)));
  return h;
}

}  // namespace recsys::testing

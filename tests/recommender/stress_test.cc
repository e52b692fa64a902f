// Reliability: several threads call Recommend with random valid and invalid
// requests while another thread swaps the pipeline repeatedly. Every invalid
// request must get an error, every valid one exactly the single-threaded
// reference answer of the pipeline that served it (Flat index: exact and
// deterministic). ~2 s.
#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "gtest/gtest.h"
#include "recommender_test_util.h"
#include "recsys/recommender.h"

namespace recsys {
namespace {

constexpr int32_t kItems = 200;

struct Case {
  RecommendRequest request;
  bool valid = true;
};

std::vector<Case> MakeCases() {
  Rng rng(77, 0);
  std::vector<Case> cases;
  for (int i = 0; i < 24; ++i) {
    Case c;
    c.request.history = testing::RandomHistory(kItems, static_cast<int>(rng.UniformInt(30)), rng);
    c.request.options.k = 1 + static_cast<int>(rng.UniformInt(20));
    c.request.options.popularity_candidates = static_cast<int>(rng.UniformInt(10));
    if (i % 4 == 1) c.request.options.reranker = RerankerKind::kMmr;
    if (i % 4 == 2) {
      c.request.options.reranker = RerankerKind::kQuotas;
      c.request.options.quotas = {{1, 0.4}};
    }
    if (i % 5 == 3) c.request.options.exclude = {testing::kFirstExternal + 7 * i};
    cases.push_back(std::move(c));
  }
  // Invalid ones.
  const auto invalid = [&](auto mutate) {
    Case c;
    c.valid = false;
    c.request.history = {testing::kFirstExternal};
    mutate(c.request);
    cases.push_back(std::move(c));
  };
  invalid([](RecommendRequest& r) { r.options.k = 0; });
  invalid([](RecommendRequest& r) { r.options.k = 1 << 30; });
  invalid([](RecommendRequest& r) { r.options.ann_candidates = -5; });
  invalid([](RecommendRequest& r) { r.timestamps = {1, 2, 3}; });
  invalid([](RecommendRequest& r) { r.options.mmr.pool_size = 0, r.options.reranker = RerankerKind::kMmr; });
  invalid([](RecommendRequest& r) { r.options.quotas = {{0, 1.5}}, r.options.reranker = RerankerKind::kQuotas; });
  invalid([](RecommendRequest& r) { r.options.latency_budget_ms = -1.0; });
  invalid([](RecommendRequest& r) { r.user_id = 0; });
  return cases;
}

using Reference = std::vector<std::vector<std::pair<ExternalId, float>>>;

Reference Compute(const Recommender& rec, const std::vector<Case>& cases) {
  Reference ref(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    auto r = rec.Recommend(cases[i].request);
    EXPECT_EQ(r.ok(), cases[i].valid) << "case " << i << ": " << r.status();
    if (!r.ok()) continue;
    for (const auto& it : r->items) ref[i].emplace_back(it.item, it.score);
  }
  return ref;
}

TEST(RecommenderStressTest, ConcurrentRequestsWhileSwapping) {
  const std::vector<Case> cases = MakeCases();
  Pipeline a = testing::MakePipeline(kItems, 1, "A");
  Pipeline b = testing::MakePipeline(kItems, 2, "B");
  std::map<std::string, Reference> refs;
  {
    auto ra = Recommender::Create({}, a);
    auto rb = Recommender::Create({}, b);
    ASSERT_TRUE(ra.ok() && rb.ok());
    refs["A"] = Compute(**ra, cases);
    refs["B"] = Compute(**rb, cases);
  }
  ASSERT_NE(refs["A"][0], refs["B"][0]);  // the two pipelines really differ

  auto rec = Recommender::Create({}, a);
  ASSERT_TRUE(rec.ok());
  std::atomic<bool> stop{false};
  std::atomic<int64_t> served{0}, failures{0}, swaps{0};
  std::map<std::string, std::atomic<int64_t>> per_pipeline;
  per_pipeline["A"] = 0;
  per_pipeline["B"] = 0;
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      Rng rng(1000 + static_cast<uint64_t>(t), 0);
      while (!stop.load()) {
        const size_t i = static_cast<size_t>(rng.UniformInt(cases.size()));
        auto r = (*rec)->Recommend(cases[i].request);
        ++served;
        if (r.ok() != cases[i].valid) {
          ++failures;
          continue;
        }
        if (!r.ok()) continue;
        auto it = refs.find(r->pipeline);
        if (it == refs.end()) {
          ++failures;
          continue;
        }
        ++per_pipeline.at(r->pipeline);
        const auto& want = it->second[i];
        bool same = want.size() == r->items.size();
        for (size_t j = 0; same && j < want.size(); ++j) {
          same = want[j].first == r->items[j].item && want[j].second == r->items[j].score;
        }
        if (!same) ++failures;
      }
    });
  }
  std::thread swapper([&] {
    for (int s = 0; !stop.load(); ++s) {
      // A fresh State each time: the previous one is freed while requests may still hold it.
      Pipeline next = s % 2 == 0 ? b : a;
      if (!(*rec)->SwapModel(std::move(next)).ok()) ++failures;
      ++swaps;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  // At least 1.5 s and enough traffic on both pipelines; sanitizer builds
  // (ThreadSanitizer runs this test in CI) are 5-15x slower, hence the cap.
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::steady_clock::now() - start; };
  while (elapsed() < std::chrono::seconds(30) &&
         (elapsed() < std::chrono::milliseconds(1500) || served.load() < 200 || swaps.load() < 20 ||
          per_pipeline.at("A").load() == 0 || per_pipeline.at("B").load() == 0)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  for (auto& w : workers) w.join();
  swapper.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(served.load(), 100);
  EXPECT_GT(swaps.load(), 10);
  EXPECT_GT(per_pipeline.at("A").load(), 0);
  EXPECT_GT(per_pipeline.at("B").load(), 0);
}

}  // namespace
}  // namespace recsys

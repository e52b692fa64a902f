// Trainer: bit-identical results across thread counts, exact resume from a
// checkpoint, early stopping with best-weights restore, progress reporting,
// corrupted checkpoints, and a tiny next-item model that provably learns.
#include "recsys/training/trainer.h"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/training/losses.h"
#include "recsys/training/samplers.h"
#include "test_util.h"

namespace recsys {
namespace {

// Planted structure: item i is followed by (i + 1) or (i + 2) mod N, item
// popularity is uniform, so popularity scores HR@10 ≈ 10 / N.
struct Pairs {
  std::vector<int32_t> prev, next;
};

Pairs MakePairs(int32_t num_items, int64_t n, uint64_t seed) {
  Pairs p;
  Rng rng(seed, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t a = static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(num_items)));
    p.prev.push_back(a);
    p.next.push_back((a + 1 + static_cast<int32_t>(rng.UniformInt(2))) % num_items);
  }
  return p;
}

// Next-item model: score(prev, j) = <E_in[prev], E_out[j]> + bias[j].
// Loss: full softmax, or sampled softmax with refined logQ over popularity
// negatives (exercises samplers and the per-shard Rng).
class NextItemModel : public TrainableModel {
 public:
  NextItemModel(int32_t num_items, int dim, Pairs data, bool sampled, uint64_t seed)
      : num_items_(num_items), data_(std::move(data)), sampled_(sampled) {
    in_ = arena_.Add("item_in", num_items, dim, ParamKind::kEmbedding);
    out_ = arena_.Add("item_out", num_items, dim, ParamKind::kEmbedding);
    bias_ = arena_.Add("bias", 1, num_items);
    arena_.Allocate();
    Rng rng(seed, 0);
    arena_.FillNormal(in_, 0.1f, rng);
    arena_.FillNormal(out_, 0.1f, rng);
    std::vector<int64_t> counts(static_cast<size_t>(num_items), 0);
    for (int32_t j : data_.next) ++counts[static_cast<size_t>(j)];
    NegativeSamplerConfig cfg{.kind = SamplerKind::kPopularity, .num_negatives = 16};
    sampler_ = std::move(NegativeSampler::Create(cfg, counts)).value();
  }

  ParameterArena& params() override { return arena_; }
  const ParameterArena& params() const override { return arena_; }
  int64_t num_examples() const override { return static_cast<int64_t>(data_.prev.size()); }

  LossSum ForwardBackward(std::span<const int64_t> ids, Rng& rng, GradBuffer& grads) const override {
    const int64_t n = static_cast<int64_t>(ids.size());
    const int64_t d = arena_.tensor(in_).cols;
    MatrixF u(n, d);
    std::vector<int32_t> targets(static_cast<size_t>(n));
    for (int64_t b = 0; b < n; ++b) {
      u.row(b) = arena_.Value(in_).row(data_.prev[static_cast<size_t>(ids[b])]);
      targets[static_cast<size_t>(b)] = data_.next[static_cast<size_t>(ids[b])];
    }
    MatrixF du = MatrixF::Zero(n, d);
    double loss = 0.0;
    if (!sampled_) {
      MatrixF logits = u * arena_.Value(out_).transpose();            // n × N
      logits.rowwise() += arena_.Value(bias_).row(0);
      MatrixF g;
      loss = SoftmaxCrossEntropy(logits, targets, &g, LossReduction::kSum);
      grads.Dense(out_).noalias() += g.transpose() * u;               // N × d
      grads.Dense(bias_).row(0) += g.colwise().sum();
      du.noalias() = g * arena_.Value(out_);
    } else {
      CandidateSet cand;
      sampler_->Sample(targets, rng, &cand);
      MatrixF scores(n, cand.cols);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t c = 0; c < cand.cols; ++c) {
          const int32_t j = cand.item(b, c);
          scores(b, c) = u.row(b).dot(arena_.Value(out_).row(j)) + arena_.Value(bias_)(0, j);
        }
      MatrixF g;
      SampledSoftmaxOptions opt{.correction = LogQCorrection::kRefined, .reduction = LossReduction::kSum};
      loss = SampledSoftmaxLoss(scores, {}, &cand.log_q, cand.valid, opt, &g);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t c = 0; c < cand.cols; ++c) {
          const float gc = g(b, c);
          if (gc == 0.0f) continue;
          const int32_t j = cand.item(b, c);
          Eigen::Map<RowVectorF>(grads.Row(out_, j), d) += gc * u.row(b);
          grads.Dense(bias_)(0, j) += gc;
          du.row(b) += gc * arena_.Value(out_).row(j);
        }
    }
    for (int64_t b = 0; b < n; ++b)
      Eigen::Map<RowVectorF>(grads.Row(in_, data_.prev[static_cast<size_t>(ids[b])]), d) += du.row(b);
    return {loss, static_cast<double>(n)};
  }

  // HR@10 of predicting next from prev on `test`.
  double HitRate(const Pairs& test) const {
    int hits = 0;
    for (size_t i = 0; i < test.prev.size(); ++i) {
      const RowVectorF s = arena_.Value(in_).row(test.prev[i]) * arena_.Value(out_).transpose() +
                           arena_.Value(bias_).row(0);
      const float target = s(test.next[i]);
      int better = 0;
      for (int32_t j = 0; j < num_items_; ++j) better += s(j) > target;
      hits += better < 10;
    }
    return static_cast<double>(hits) / static_cast<double>(test.prev.size());
  }

 private:
  int32_t num_items_;
  Pairs data_;
  bool sampled_;
  ParameterArena arena_;
  int in_ = 0, out_ = 0, bias_ = 0;
  std::unique_ptr<NegativeSampler> sampler_;
};

TrainerConfig SmallConfig() {
  TrainerConfig cfg;
  cfg.batch_size = 64;
  cfg.num_shards = 4;
  cfg.epochs = 2;
  cfg.seed = 5;
  cfg.optimizer.learning_rate = 0.02;
  cfg.optimizer.weight_decay = 0.001;
  cfg.clip_norm = 5.0;
  cfg.schedule = {.warmup_steps = 5, .decay = LrDecay::kCosine, .min_ratio = 0.1};
  return cfg;
}

std::vector<float> Snapshot(const ParameterArena& a) { return {a.data(), a.data() + a.size()}; }

TEST(TrainerTest, BitIdenticalForOneAndTwoThreads) {
  for (bool sampled : {false, true}) {
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2}) {
      NextItemModel model(60, 8, MakePairs(60, 1000, 1), sampled, 3);
      TrainerConfig cfg = SmallConfig();
      cfg.threads = threads;
      auto trainer = Trainer::Create(cfg, &model);
      ASSERT_TRUE(trainer.ok()) << trainer.status();
      ASSERT_TRUE((*trainer)->Train().ok());
      results.push_back(Snapshot(model.params()));
    }
    ASSERT_EQ(results[0].size(), results[1].size());
    EXPECT_EQ(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)), 0)
        << "sampled=" << sampled;
  }
}

TEST(TrainerTest, ResumeFromCheckpointIsExact) {
  const std::string dir = testing::TempDir("trainer_resume");
  const std::string path = dir + "/ckpt.bin";
  TrainerConfig cfg = SmallConfig();
  cfg.epochs = 0;
  cfg.max_steps = 24;  // crosses an epoch boundary (16 steps per epoch)
  // The schedule's horizon defaults to the step budget: pin it so the
  // half-length run follows the same curve.
  cfg.schedule.total_steps = 24;

  NextItemModel full(60, 8, MakePairs(60, 1000, 1), /*sampled=*/true, 3);
  auto t_full = Trainer::Create(cfg, &full);
  ASSERT_TRUE(t_full.ok());
  ASSERT_TRUE((*t_full)->Train().ok());

  TrainerConfig half = cfg;
  half.max_steps = 12;
  NextItemModel first(60, 8, MakePairs(60, 1000, 1), true, 3);
  auto t_first = Trainer::Create(half, &first);
  ASSERT_TRUE((*t_first)->Train().ok());
  ASSERT_TRUE((*t_first)->SaveCheckpoint(path).ok());

  NextItemModel second(60, 8, MakePairs(60, 1000, 1), true, /*different init*/ 99);
  auto t_second = Trainer::Create(cfg, &second);
  ASSERT_TRUE((*t_second)->LoadCheckpoint(path).ok());
  EXPECT_EQ((*t_second)->step(), 12);
  auto result = (*t_second)->Train();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->steps, 24);
  const auto a = Snapshot(full.params()), b = Snapshot(second.params());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  std::filesystem::remove_all(dir);
}

TEST(TrainerTest, CorruptedOrForeignCheckpointsAreRejected) {
  const std::string dir = testing::TempDir("trainer_corrupt");
  const std::string path = dir + "/ckpt.bin";
  NextItemModel model(30, 4, MakePairs(30, 200, 1), false, 3);
  TrainerConfig cfg = SmallConfig();
  cfg.max_steps = 2;
  auto trainer = Trainer::Create(cfg, &model);
  ASSERT_TRUE((*trainer)->Train().ok());
  ASSERT_TRUE((*trainer)->SaveCheckpoint(path).ok());
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto write = [&](const std::string& b) { std::ofstream(path, std::ios::binary | std::ios::trunc) << b; };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  write(flipped);
  EXPECT_EQ((*trainer)->LoadCheckpoint(path).code(), absl::StatusCode::kDataLoss);
  write(bytes.substr(0, bytes.size() - 100));
  EXPECT_EQ((*trainer)->LoadCheckpoint(path).code(), absl::StatusCode::kDataLoss);
  write("garbage");
  EXPECT_EQ((*trainer)->LoadCheckpoint(path).code(), absl::StatusCode::kDataLoss);
  write(bytes);
  EXPECT_TRUE((*trainer)->LoadCheckpoint(path).ok());
  NextItemModel other(31, 4, MakePairs(31, 200, 1), false, 3);
  auto t_other = Trainer::Create(cfg, &other);
  EXPECT_EQ((*t_other)->LoadCheckpoint(path).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*t_other)->LoadCheckpoint(dir + "/missing").code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(TrainerTest, EarlyStoppingRestoresBestWeights) {
  NextItemModel model(30, 4, MakePairs(30, 256, 1), false, 3);
  TrainerConfig cfg = SmallConfig();
  cfg.epochs = 0;
  cfg.max_steps = 100;
  cfg.validate_every_steps = 2;
  cfg.patience = 2;
  auto trainer = Trainer::Create(cfg, &model);
  ASSERT_TRUE(trainer.ok());
  const std::vector<double> script = {0.1, 0.5, 0.4, 0.45, 0.9};
  size_t calls = 0;
  std::vector<float> at_best;
  (*trainer)->SetValidation("scripted", [&]() -> absl::StatusOr<double> {
    const double v = script[std::min(calls, script.size() - 1)];
    if (calls == 1) at_best = Snapshot(model.params());
    ++calls;
    return v;
  });
  int reports = 0;
  std::vector<double> reported, reported_best;  // per validation: its own value, the best so far
  (*trainer)->SetProgressCallback([&](const TrainerProgress& p) {
    ++reports;
    EXPECT_EQ(p.valid_metric_name, "scripted");
    if (p.validated) {
      reported.push_back(p.valid_metric);
      reported_best.push_back(p.best_valid_metric);
    }
    return true;
  });
  auto result = (*trainer)->Train();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(reported, (std::vector<double>{0.1, 0.5, 0.4, 0.45}));
  EXPECT_EQ(reported_best, (std::vector<double>{0.1, 0.5, 0.5, 0.5}));
  EXPECT_TRUE(result->stopped_early);
  EXPECT_EQ(calls, 4u);        // 0.1, 0.5 (best), 0.4, 0.45 → patience 2 exhausted
  EXPECT_EQ(result->steps, 8);
  EXPECT_EQ(result->best_step, 4);
  EXPECT_DOUBLE_EQ(result->best_valid_metric, 0.5);
  EXPECT_GE(reports, 4);
  EXPECT_EQ(Snapshot(model.params()), at_best);
}

TEST(TrainerTest, ProgressCallbackReportsAndCanStop) {
  NextItemModel model(30, 4, MakePairs(30, 640, 1), false, 3);
  TrainerConfig cfg = SmallConfig();
  cfg.epochs = 5;
  cfg.log_every_steps = 3;
  auto trainer = Trainer::Create(cfg, &model);
  std::vector<TrainerProgress> seen;
  (*trainer)->SetProgressCallback([&](const TrainerProgress& p) {
    seen.push_back(p);
    return p.step < 6;
  });
  auto result = (*trainer)->Train();
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->stopped_by_callback);
  EXPECT_EQ(result->steps, 6);
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen[0].step, 3);
  EXPECT_EQ(seen[0].total_steps, 50);
  EXPECT_GT(seen[0].steps_per_s, 0.0);
  EXPECT_GT(seen[0].events_per_s, 0.0);
  EXPECT_GT(seen[0].eta_s, 0.0);
  EXPECT_GT(seen[0].loss, 0.0);
  EXPECT_GT(seen[0].learning_rate, 0.0);
}

TEST(TrainerTest, RejectsBadConfigs) {
  NextItemModel model(30, 4, MakePairs(30, 64, 1), false, 3);
  TrainerConfig cfg = SmallConfig();
  cfg.batch_size = 0;
  EXPECT_EQ(Trainer::Create(cfg, &model).status().code(), absl::StatusCode::kInvalidArgument);
  cfg = SmallConfig();
  cfg.epochs = 0;
  EXPECT_EQ(Trainer::Create(cfg, &model).status().code(), absl::StatusCode::kInvalidArgument);
  cfg = SmallConfig();
  cfg.optimizer.learning_rate = -1;
  EXPECT_EQ(Trainer::Create(cfg, &model).status().code(), absl::StatusCode::kInvalidArgument);
  cfg = SmallConfig();
  cfg.checkpoint_every_steps = 5;
  EXPECT_EQ(Trainer::Create(cfg, &model).status().code(), absl::StatusCode::kInvalidArgument);
}

// The planted successor structure is learned: HR@10 far above popularity
// (≈ 10 / N = 0.05 with uniform item popularity), for both losses.
TEST(TrainerTest, TinyNextItemModelLearnsPlantedStructure) {
  const int32_t num_items = 200;
  const Pairs test = MakePairs(num_items, 500, 77);
  for (bool sampled : {false, true}) {
    NextItemModel model(num_items, 16, MakePairs(num_items, 4000, 1), sampled, 3);
    TrainerConfig cfg;
    cfg.batch_size = 128;
    cfg.num_shards = 4;
    cfg.epochs = 8;
    cfg.optimizer.learning_rate = 0.03;
    cfg.schedule = {.warmup_steps = 10, .decay = LrDecay::kCosine, .min_ratio = 0.1};
    auto trainer = Trainer::Create(cfg, &model);
    ASSERT_TRUE(trainer.ok());
    const double hr_before = model.HitRate(test);
    std::vector<double> losses;
    (*trainer)->SetProgressCallback([&](const TrainerProgress& p) {
      losses.push_back(p.loss);
      return true;
    });
    (*trainer)->SetValidation("hr@10", [&]() -> absl::StatusOr<double> { return model.HitRate(test); });
    const auto start = std::chrono::steady_clock::now();
    auto result = (*trainer)->Train();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(result.ok());
    const double hr = model.HitRate(test);
    std::printf("[ learn    ] %s softmax: HR@10 %.3f (before %.3f, popularity ~%.3f), loss %.3f -> %.3f, %.2f s\n",
                sampled ? "sampled refined-logQ" : "full", hr, hr_before, 10.0 / num_items,
                losses.front(), losses.back(), seconds);
    EXPECT_GT(hr, 0.9) << "sampled=" << sampled;
    EXPECT_LT(hr_before, 0.2);
    EXPECT_LT(losses.back(), 0.7 * losses.front());
    EXPECT_LT(seconds, 10.0);
  }
}

}  // namespace
}  // namespace recsys

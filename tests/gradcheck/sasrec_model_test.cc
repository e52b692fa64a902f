// Finite-difference check of the whole SASRec model (double precision,
// dropout off): every parameter tensor, for every loss / negative sampling /
// logQ variant, tied and separate output embeddings.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/sasrec_test_util.h"
#include "recsys/models/sasrec.h"
#include "recsys/training/grad_check.h"

namespace recsys {
namespace {

class SasRecModelGradCheck : public ::testing::TestWithParam<std::string> {};

TEST_P(SasRecModelGradCheck, AllParameters) {
  // Sequences of different lengths (left padding, one longer than max_len).
  const std::vector<std::vector<ItemIndex>> seqs = {{0, 1, 2, 3}, {4, 5}, {6, 0, 3, 5, 1, 2, 4, 6}, {2, 2, 7}};
  const SequenceDataset data = testing::DatasetFromSequences(seqs, 8);
  auto parsed = SasRecConfig::FromJson(GetParam());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  SasRecConfig cfg = *parsed;
  cfg.encoder.dim = 4;
  cfg.encoder.num_heads = 2;
  cfg.encoder.num_blocks = 2;
  cfg.encoder.max_len = 5;
  cfg.encoder.ffn_dim = 6;
  cfg.encoder.dropout = 0.0;
  cfg.encoder.layer_norm_eps = 1e-5;
  auto model = SasRecModel::Create(cfg, data.item_vocab(), data.ItemCounts(), 11);
  ASSERT_TRUE(model.ok()) << model.status();
  (*model)->SetTrainingData(&data);
  const ParameterArena& arena = (*model)->params();
  std::vector<double> theta(arena.data(), arena.data() + arena.size());
  Rng rng(5, 1);
  for (double& v : theta) v += 0.3 * rng.Normal();  // generic point: LN gains ≠ 1, biases ≠ 0
  std::vector<double> grad(theta.size(), 0.0), scratch(theta.size());
  const std::vector<int64_t> ids = {0, 1, 2, 3};
  (*model)->LossAndGradientDouble(ids, 3, false, theta, grad);
  auto loss = [&] { return (*model)->LossAndGradientDouble(ids, 3, false, theta, scratch); };
  std::vector<GradCheckTensor> tensors;
  for (const ParamTensor& t : arena.tensors()) {
    tensors.push_back({t.name, theta.data() + t.offset, grad.data() + t.offset, t.size()});
  }
  const GradCheckResult res = CheckGradients(loss, tensors);
  EXPECT_LT(res.max_rel_error, 1e-5) << GetParam() << "\n" << res.Summary();
  double norm = 0;
  for (double g : grad) norm += g * g;
  EXPECT_GT(norm, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(
    Losses, SasRecModelGradCheck,
    ::testing::Values(R"({"loss": "ce"})", R"({"loss": "ce", "tied_embeddings": false})",
                      R"({"loss": "sampled_softmax", "num_negatives": 5})",
                      R"({"loss": "sampled_softmax", "num_negatives": 5, "logq": "standard"})",
                      R"({"loss": "sampled_softmax", "negatives": "in_batch", "logq": "standard"})",
                      // Not "refined": its weight (1 − p̂) is a stop-gradient constant by
                      // design (losses.h), so its gradient is not d(value) and finite
                      // differences cannot check it; mixed negatives are checked here.
                      R"({"loss": "sampled_softmax", "negatives": "mixed", "num_negatives": 3, "logq": "standard"})",
                      R"({"loss": "bce", "num_negatives": 1, "negative_sharing": "position"})",
                      R"({"loss": "gbce", "num_negatives": 6, "gbce_t": 0.75, "tied_embeddings": false})",
                      R"({"loss": "gbce", "num_negatives": 3, "negative_sharing": "position"})"));

}  // namespace
}  // namespace recsys

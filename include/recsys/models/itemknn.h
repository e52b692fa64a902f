// ItemKNN: item-to-item nearest neighbours over user co-occurrence (the
// ItemKNN baseline of the Yambda benchmark, in sequence form).
//
// Training: two items co-occur when the same user has them within `window`
// positions of each other. With c_ij the number of such co-occurrences and
// n_i the number of events of item i,
//   sim(i, j) = c_ij / (sqrt(n_i · n_j) + shrink)          (cosine for window = ∞)
// and each item keeps only its top `neighbors` (M) most similar items (a sparse
// CSR table, ties → smaller index).
// Scoring: the user profile is a decayed sum over the last `history_length`
// events of the history, position p from the end (0 = most recent) weighing
// 0.5^(p / history_half_life):
//   score(i) = Σ_p w_p · sim(h_p, i) + popularity_weight · n_i / max_j n_j
// (the small popularity term orders items no neighbour reaches).
//
//   RECSYS_ASSIGN_OR_RETURN(auto config, recsys::ItemKnnConfig::FromJson(R"({"neighbors": 200})"));
//   RECSYS_ASSIGN_OR_RETURN(auto model, recsys::ItemKnnModel::Train(config, train_dataset));
//   RECSYS_RETURN_IF_ERROR(model->ScoreAll(histories, scores /* B × num_items */));
//   auto [ids, sims] = model->Neighbors(item);   // sorted, most similar first
//
// Thread safety: a trained model is immutable; const methods are thread-safe.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/io/tensor_file.h"
#include "recsys/models/model.h"

namespace recsys {

struct ItemKnnConfig {
  // M: neighbours kept per item, in [1, 100000].
  int neighbors = 100;
  // Co-occurrence window W in positions: items at distance 1..W in one user's
  // history co-occur; 0 = the whole history. Range ≥ 0.
  int window = 50;
  // Shrinkage λ added to the cosine denominator (damps rare pairs), ≥ 0.
  double shrink = 0.0;
  // Events of the history used for the user profile (most recent), ≥ 1.
  int history_length = 50;
  // Half-life of the profile weights, in events; 0 = no decay. Range ≥ 0.
  double history_half_life = 0.0;
  // Weight of the normalised popularity term, ≥ 0.
  double popularity_weight = 1e-4;

  absl::Status Validate() const;
  static absl::StatusOr<ItemKnnConfig> FromJson(const std::string& json);
  std::string ToJson() const;
};

class ItemKnnModel final : public SequentialModel {
 public:
  // Parallel over items (bound the cores with ThreadLimit); the result does
  // not depend on the thread count.
  static absl::StatusOr<std::unique_ptr<ItemKnnModel>> Train(const ItemKnnConfig& config,
                                                             const SequenceDataset& train);
  static absl::StatusOr<std::unique_ptr<ItemKnnModel>> Load(const TensorFile& file);

  std::string type() const override { return "itemknn"; }
  std::string config_json() const override { return config_.ToJson(); }
  const Vocabulary& item_vocab() const override { return items_; }
  absl::Status ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const override;
  absl::Status Save(const std::string& path) const override;

  // Neighbours of `item` (most similar first) and their similarities.
  std::pair<std::span<const ItemIndex>, std::span<const float>> Neighbors(ItemIndex item) const;

 private:
  ItemKnnModel() = default;

  ItemKnnConfig config_;
  Vocabulary items_;
  std::vector<int64_t> offsets_;         // num_items + 1 (CSR)
  std::vector<ItemIndex> neighbors_;     // nnz
  std::vector<float> similarities_;      // nnz
  std::vector<float> popularity_;        // num_items, n_i / max n
};

}  // namespace recsys

// MostPop: the popularity baseline. Every history gets the same scores: the
// number of training events of each item, optionally time-decayed so that
// recent events weigh more:
//   score(i) = Σ_{events e of item i} 0.5^((t_max − t_e) / half_life)
// with t_max the latest training timestamp (half_life = 0: plain counts).
//
//   recsys::MostPopConfig config;            // or MostPopConfig::FromJson("{\"half_life\": 86400}")
//   RECSYS_ASSIGN_OR_RETURN(auto model, recsys::MostPopModel::Train(config, train_dataset));
//   RECSYS_RETURN_IF_ERROR(model->ScoreAll(histories, scores /* B × num_items */));
//   RECSYS_RETURN_IF_ERROR(model->Save("mostpop.rsm"));
//
// Thread safety: a trained model is immutable; const methods are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/io/tensor_file.h"
#include "recsys/models/model.h"

namespace recsys {

struct MostPopConfig {
  // Half-life of an event's weight, in timestamp units (seconds for real
  // timestamps, events for position timestamps). 0 = no decay (plain counts).
  // Range ≥ 0.
  double half_life = 0.0;

  absl::Status Validate() const;
  // Parses a JSON object; unknown fields and wrong types are InvalidArgument.
  static absl::StatusOr<MostPopConfig> FromJson(const std::string& json);
  std::string ToJson() const;
};

class MostPopModel final : public SequentialModel {
 public:
  static absl::StatusOr<std::unique_ptr<MostPopModel>> Train(const MostPopConfig& config,
                                                             const SequenceDataset& train);
  // From a file written by Save (already read and verified).
  static absl::StatusOr<std::unique_ptr<MostPopModel>> Load(const TensorFile& file);

  std::string type() const override { return "mostpop"; }
  std::string config_json() const override { return config_.ToJson(); }
  const Vocabulary& item_vocab() const override { return items_; }
  absl::Status ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const override;
  absl::Status Save(const std::string& path) const override;

  // Popularity score per item (size num_items()).
  const std::vector<float>& popularity() const { return popularity_; }

 private:
  MostPopModel(MostPopConfig config, Vocabulary items, std::vector<float> popularity)
      : config_(config), items_(std::move(items)), popularity_(std::move(popularity)) {}

  MostPopConfig config_;
  Vocabulary items_;
  std::vector<float> popularity_;
};

}  // namespace recsys

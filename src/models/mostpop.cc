#include "recsys/models/mostpop.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "config_json.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"

namespace recsys {

absl::Status MostPopConfig::Validate() const {
  if (!(half_life >= 0.0) || !std::isfinite(half_life)) {
    return absl::InvalidArgumentError(absl::StrCat("mostpop config: half_life must be >= 0, got ", half_life));
  }
  return absl::OkStatus();
}

absl::StatusOr<MostPopConfig> MostPopConfig::FromJson(const std::string& json) {
  RECSYS_ASSIGN_OR_RETURN(internal::ConfigReader reader, internal::ConfigReader::Parse(json, "mostpop config"));
  MostPopConfig c;
  RECSYS_RETURN_IF_ERROR(reader.Get("half_life", &c.half_life));
  RECSYS_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  RECSYS_RETURN_IF_ERROR(c.Validate());
  return c;
}

std::string MostPopConfig::ToJson() const {
  nlohmann::json j;
  j["half_life"] = half_life;
  return j.dump();
}

absl::StatusOr<std::unique_ptr<MostPopModel>> MostPopModel::Train(const MostPopConfig& config,
                                                                  const SequenceDataset& train) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  const int32_t n = train.num_items();
  std::vector<double> score(static_cast<size_t>(n), 0.0);
  const auto items = train.all_items();
  const auto ts = train.all_timestamps();
  if (config.half_life > 0.0 && ts.size() == items.size() && !ts.empty()) {
    const Timestamp t_max = *std::max_element(ts.begin(), ts.end());
    for (size_t e = 0; e < items.size(); ++e) {
      score[static_cast<size_t>(items[e])] +=
          std::exp2(-static_cast<double>(t_max - ts[e]) / config.half_life);
    }
  } else {
    for (ItemIndex item : items) score[static_cast<size_t>(item)] += 1.0;
  }
  std::vector<float> popularity(score.begin(), score.end());
  return std::unique_ptr<MostPopModel>(new MostPopModel(config, train.item_vocab(), std::move(popularity)));
}

absl::Status MostPopModel::ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const {
  if (out.rows() != static_cast<int64_t>(histories.size()) || out.cols() != num_items()) {
    return absl::InvalidArgumentError(absl::StrCat("mostpop ScoreAll: out is ", out.rows(), " × ", out.cols(),
                                                   ", expected ", histories.size(), " × ", num_items()));
  }
  const ConstMapMatrixF row(popularity_.data(), 1, num_items());
  for (int64_t r = 0; r < out.rows(); ++r) out.row(r) = row;
  return absl::OkStatus();
}

absl::Status MostPopModel::Save(const std::string& path) const {
  TensorFile file;
  file.metadata["model_type"] = type();
  file.metadata["config"] = config_json();
  RECSYS_RETURN_IF_ERROR(internal::AddItemVocab(items_, file));
  RECSYS_RETURN_IF_ERROR(file.Add<float>("popularity", {num_items()}, popularity_));
  return WriteTensorFile(path, file);
}

absl::StatusOr<std::unique_ptr<MostPopModel>> MostPopModel::Load(const TensorFile& file) {
  RECSYS_ASSIGN_OR_RETURN(std::string config_text, file.Meta("config"));
  RECSYS_ASSIGN_OR_RETURN(MostPopConfig config, MostPopConfig::FromJson(config_text));
  RECSYS_ASSIGN_OR_RETURN(Vocabulary items, internal::GetItemVocab(file));
  RECSYS_ASSIGN_OR_RETURN(std::vector<float> popularity,
                          file.Get<float>("popularity", {items.size()}));
  return std::unique_ptr<MostPopModel>(new MostPopModel(config, std::move(items), std::move(popularity)));
}

}  // namespace recsys

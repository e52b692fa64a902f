#include "recsys/models/itemknn.h"

#include <algorithm>
#include <cmath>

#include "config_json.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/core/topk.h"

namespace recsys {

absl::Status ItemKnnConfig::Validate() const {
  auto bad = [](const std::string& field, const std::string& rule, double v) {
    return absl::InvalidArgumentError(absl::StrCat("itemknn config: ", field, " must be ", rule, ", got ", v));
  };
  if (neighbors < 1 || neighbors > 100000) return bad("neighbors", "in [1, 100000]", neighbors);
  if (window < 0) return bad("window", ">= 0", window);
  if (!(shrink >= 0.0) || !std::isfinite(shrink)) return bad("shrink", ">= 0", shrink);
  if (history_length < 1) return bad("history_length", ">= 1", history_length);
  if (!(history_half_life >= 0.0) || !std::isfinite(history_half_life)) {
    return bad("history_half_life", ">= 0", history_half_life);
  }
  if (!(popularity_weight >= 0.0) || !std::isfinite(popularity_weight)) {
    return bad("popularity_weight", ">= 0", popularity_weight);
  }
  return absl::OkStatus();
}

absl::StatusOr<ItemKnnConfig> ItemKnnConfig::FromJson(const std::string& json) {
  RECSYS_ASSIGN_OR_RETURN(internal::ConfigReader reader, internal::ConfigReader::Parse(json, "itemknn config"));
  ItemKnnConfig c;
  RECSYS_RETURN_IF_ERROR(reader.Get("neighbors", &c.neighbors));
  RECSYS_RETURN_IF_ERROR(reader.Get("window", &c.window));
  RECSYS_RETURN_IF_ERROR(reader.Get("shrink", &c.shrink));
  RECSYS_RETURN_IF_ERROR(reader.Get("history_length", &c.history_length));
  RECSYS_RETURN_IF_ERROR(reader.Get("history_half_life", &c.history_half_life));
  RECSYS_RETURN_IF_ERROR(reader.Get("popularity_weight", &c.popularity_weight));
  RECSYS_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  RECSYS_RETURN_IF_ERROR(c.Validate());
  return c;
}

std::string ItemKnnConfig::ToJson() const {
  nlohmann::json j;
  j["neighbors"] = neighbors;
  j["window"] = window;
  j["shrink"] = shrink;
  j["history_length"] = history_length;
  j["history_half_life"] = history_half_life;
  j["popularity_weight"] = popularity_weight;
  return j.dump();
}

absl::StatusOr<std::unique_ptr<ItemKnnModel>> ItemKnnModel::Train(const ItemKnnConfig& config,
                                                                  const SequenceDataset& train) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  const int32_t n = train.num_items();
  const int32_t num_users = train.num_users();

  // Occurrences of every item as (user, position), grouped by item (CSR).
  std::vector<int64_t> occ_offsets(static_cast<size_t>(n) + 1, 0);
  for (ItemIndex item : train.all_items()) ++occ_offsets[static_cast<size_t>(item) + 1];
  for (int32_t i = 0; i < n; ++i) occ_offsets[i + 1] += occ_offsets[i];
  std::vector<std::pair<int32_t, int32_t>> occ(static_cast<size_t>(occ_offsets.back()));
  {
    std::vector<int64_t> cursor(occ_offsets.begin(), occ_offsets.end() - 1);
    for (UserIndex u = 0; u < num_users; ++u) {
      const auto items = train.items(u);
      for (size_t p = 0; p < items.size(); ++p) {
        occ[static_cast<size_t>(cursor[static_cast<size_t>(items[p])]++)] = {u, static_cast<int32_t>(p)};
      }
    }
  }
  std::vector<double> count(static_cast<size_t>(n));
  double max_count = 0.0;
  for (int32_t i = 0; i < n; ++i) {
    count[i] = static_cast<double>(occ_offsets[i + 1] - occ_offsets[i]);
    max_count = std::max(max_count, count[i]);
  }

  // Per item: co-occurrence counts into a dense scratch row, cosine, top-M.
  std::vector<std::vector<ScoredId<int32_t>>> rows(static_cast<size_t>(n));
  const int64_t window = config.window;
  ParallelFor(0, n, 16, [&](int64_t ib, int64_t ie) {
    std::vector<float> acc(static_cast<size_t>(n), 0.0f);
    std::vector<int32_t> touched;
    TopK<int32_t> top(config.neighbors);
    for (int64_t i = ib; i < ie; ++i) {
      touched.clear();
      for (int64_t o = occ_offsets[i]; o < occ_offsets[i + 1]; ++o) {
        const auto [u, p] = occ[static_cast<size_t>(o)];
        const auto items = train.items(u);
        const int64_t len = static_cast<int64_t>(items.size());
        const int64_t qb = window > 0 ? std::max<int64_t>(0, p - window) : 0;
        const int64_t qe = window > 0 ? std::min<int64_t>(len, p + window + 1) : len;
        for (int64_t q = qb; q < qe; ++q) {
          const ItemIndex j = items[static_cast<size_t>(q)];
          if (j == i) continue;
          if (acc[static_cast<size_t>(j)] == 0.0f) touched.push_back(j);
          acc[static_cast<size_t>(j)] += 1.0f;
        }
      }
      for (int32_t j : touched) {
        const double sim = acc[static_cast<size_t>(j)] /
                           (std::sqrt(count[static_cast<size_t>(i)] * count[static_cast<size_t>(j)]) + config.shrink);
        top.Push(static_cast<float>(sim), j);
        acc[static_cast<size_t>(j)] = 0.0f;
      }
      rows[static_cast<size_t>(i)] = top.Extract();
    }
  });

  std::unique_ptr<ItemKnnModel> model(new ItemKnnModel());
  model->config_ = config;
  model->items_ = train.item_vocab();
  model->offsets_.assign(static_cast<size_t>(n) + 1, 0);
  for (int32_t i = 0; i < n; ++i) model->offsets_[i + 1] = model->offsets_[i] + static_cast<int64_t>(rows[i].size());
  model->neighbors_.reserve(static_cast<size_t>(model->offsets_.back()));
  model->similarities_.reserve(static_cast<size_t>(model->offsets_.back()));
  for (const auto& row : rows) {
    for (const auto& s : row) {
      model->neighbors_.push_back(s.id);
      model->similarities_.push_back(s.score);
    }
  }
  model->popularity_.resize(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    model->popularity_[i] = max_count > 0 ? static_cast<float>(count[i] / max_count) : 0.0f;
  }
  return model;
}

std::pair<std::span<const ItemIndex>, std::span<const float>> ItemKnnModel::Neighbors(ItemIndex item) const {
  RECSYS_CHECK(item >= 0 && item < num_items()) << "item " << item << " outside [0, " << num_items() << ")";
  const auto b = static_cast<size_t>(offsets_[static_cast<size_t>(item)]);
  const auto e = static_cast<size_t>(offsets_[static_cast<size_t>(item) + 1]);
  return {std::span<const ItemIndex>(neighbors_).subspan(b, e - b),
          std::span<const float>(similarities_).subspan(b, e - b)};
}

absl::Status ItemKnnModel::ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const {
  const int32_t n = num_items();
  if (out.rows() != static_cast<int64_t>(histories.size()) || out.cols() != n) {
    return absl::InvalidArgumentError(absl::StrCat("itemknn ScoreAll: out is ", out.rows(), " × ", out.cols(),
                                                   ", expected ", histories.size(), " × ", n));
  }
  for (size_t r = 0; r < histories.size(); ++r) {
    for (ItemIndex item : histories[r].items) {
      if (item < 0 || item >= n) {
        return absl::InvalidArgumentError(
            absl::StrCat("itemknn ScoreAll: history ", r, " holds item ", item, " outside [0, ", n, ")"));
      }
    }
  }
  const float pop_w = static_cast<float>(config_.popularity_weight);
  const ConstMapMatrixF pop(popularity_.data(), 1, n);
  ParallelFor(0, out.rows(), 8, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      out.row(r) = pop * pop_w;
      float* row = out.row(r).data();
      const auto items = histories[static_cast<size_t>(r)].items;
      const int64_t len = static_cast<int64_t>(items.size());
      const int64_t used = std::min<int64_t>(len, config_.history_length);
      for (int64_t p = 0; p < used; ++p) {
        const ItemIndex h = items[static_cast<size_t>(len - 1 - p)];
        const float w = config_.history_half_life > 0.0
                            ? static_cast<float>(std::exp2(-static_cast<double>(p) / config_.history_half_life))
                            : 1.0f;
        for (int64_t k = offsets_[static_cast<size_t>(h)]; k < offsets_[static_cast<size_t>(h) + 1]; ++k) {
          row[neighbors_[static_cast<size_t>(k)]] += w * similarities_[static_cast<size_t>(k)];
        }
      }
    }
  });
  return absl::OkStatus();
}

absl::Status ItemKnnModel::Save(const std::string& path) const {
  TensorFile file;
  file.metadata["model_type"] = type();
  file.metadata["config"] = config_json();
  RECSYS_RETURN_IF_ERROR(internal::AddItemVocab(items_, file));
  RECSYS_RETURN_IF_ERROR(file.Add<int64_t>("neighbor_offsets", {num_items() + int64_t{1}}, offsets_));
  RECSYS_RETURN_IF_ERROR(file.Add<int32_t>("neighbor_ids", {static_cast<int64_t>(neighbors_.size())}, neighbors_));
  RECSYS_RETURN_IF_ERROR(
      file.Add<float>("neighbor_similarities", {static_cast<int64_t>(similarities_.size())}, similarities_));
  RECSYS_RETURN_IF_ERROR(file.Add<float>("popularity", {num_items()}, popularity_));
  return WriteTensorFile(path, file);
}

absl::StatusOr<std::unique_ptr<ItemKnnModel>> ItemKnnModel::Load(const TensorFile& file) {
  std::unique_ptr<ItemKnnModel> model(new ItemKnnModel());
  RECSYS_ASSIGN_OR_RETURN(std::string config_text, file.Meta("config"));
  RECSYS_ASSIGN_OR_RETURN(model->config_, ItemKnnConfig::FromJson(config_text));
  RECSYS_ASSIGN_OR_RETURN(model->items_, internal::GetItemVocab(file));
  const int64_t n = model->items_.size();
  RECSYS_ASSIGN_OR_RETURN(model->offsets_, file.Get<int64_t>("neighbor_offsets", {n + 1}));
  const int64_t nnz = model->offsets_.back();
  RECSYS_ASSIGN_OR_RETURN(model->neighbors_, file.Get<int32_t>("neighbor_ids", {nnz}));
  RECSYS_ASSIGN_OR_RETURN(model->similarities_, file.Get<float>("neighbor_similarities", {nnz}));
  RECSYS_ASSIGN_OR_RETURN(model->popularity_, file.Get<float>("popularity", {n}));
  if (model->offsets_.front() != 0) return absl::InvalidArgumentError("itemknn: neighbor_offsets[0] != 0");
  for (int64_t i = 0; i < n; ++i) {
    if (model->offsets_[i + 1] < model->offsets_[i]) {
      return absl::InvalidArgumentError(absl::StrCat("itemknn: neighbor_offsets not monotone at ", i));
    }
  }
  for (ItemIndex j : model->neighbors_) {
    if (j < 0 || j >= n) return absl::InvalidArgumentError(absl::StrCat("itemknn: neighbour id ", j, " out of range"));
  }
  return model;
}

}  // namespace recsys

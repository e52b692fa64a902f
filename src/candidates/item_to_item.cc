#include "recsys/candidates/item_to_item.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/core/topk.h"

namespace recsys {

absl::Status ItemToItemConfig::Validate() const {
  if (window < 1) return absl::InvalidArgumentError(absl::StrCat("ItemToItemConfig.window must be >= 1, got ", window));
  if (max_neighbors < 1) {
    return absl::InvalidArgumentError(absl::StrCat("ItemToItemConfig.max_neighbors must be >= 1, got ", max_neighbors));
  }
  if (recent_items < 1) {
    return absl::InvalidArgumentError(absl::StrCat("ItemToItemConfig.recent_items must be >= 1, got ", recent_items));
  }
  if (!(recency_decay > 0.0f && recency_decay <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ItemToItemConfig.recency_decay must be in (0, 1], got ", recency_decay));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ItemToItemGenerator>> ItemToItemGenerator::Build(const SequenceDataset& data,
                                                                                 const ItemToItemConfig& config) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  auto gen = std::unique_ptr<ItemToItemGenerator>(new ItemToItemGenerator());
  gen->config_ = config;
  const int32_t n = data.num_items();
  gen->num_items_ = n;
  const auto items = data.all_items();
  const auto offsets = data.offsets();
  // Occurrences of each item: (user, global event index), CSR by item.
  std::vector<int64_t> occ_offsets(static_cast<size_t>(n) + 1, 0);
  for (ItemIndex i : items) ++occ_offsets[static_cast<size_t>(i) + 1];
  std::partial_sum(occ_offsets.begin(), occ_offsets.end(), occ_offsets.begin());
  std::vector<int64_t> occ_event(items.size());
  std::vector<int32_t> occ_user(items.size());
  {
    std::vector<int64_t> cursor(occ_offsets.begin(), occ_offsets.end() - 1);
    for (int32_t u = 0; u < data.num_users(); ++u) {
      for (int64_t e = offsets[static_cast<size_t>(u)]; e < offsets[static_cast<size_t>(u) + 1]; ++e) {
        const auto slot = static_cast<size_t>(cursor[static_cast<size_t>(items[static_cast<size_t>(e)])]++);
        occ_event[slot] = e;
        occ_user[slot] = u;
      }
    }
  }
  std::vector<std::vector<ScoredId<int32_t>>> best(static_cast<size_t>(n));
  const int window = config.window;
  ParallelFor(0, n, 512, [&](int64_t ib, int64_t ie) {
    std::vector<double> acc(static_cast<size_t>(n), 0.0);
    std::vector<ItemIndex> touched;
    for (int64_t i = ib; i < ie; ++i) {
      touched.clear();
      for (int64_t o = occ_offsets[static_cast<size_t>(i)]; o < occ_offsets[static_cast<size_t>(i) + 1]; ++o) {
        const int64_t e = occ_event[static_cast<size_t>(o)];
        const int32_t u = occ_user[static_cast<size_t>(o)];
        const int64_t lo = std::max(offsets[static_cast<size_t>(u)], e - window);
        const int64_t hi = std::min(offsets[static_cast<size_t>(u) + 1], e + window + 1);
        for (int64_t e2 = lo; e2 < hi; ++e2) {
          const ItemIndex j = items[static_cast<size_t>(e2)];
          if (e2 == e || j == i) continue;
          if (acc[static_cast<size_t>(j)] == 0.0) touched.push_back(j);
          acc[static_cast<size_t>(j)] += 1.0 / static_cast<double>(std::abs(e2 - e));
        }
      }
      TopK<int32_t> top(config.max_neighbors);
      const double ci = static_cast<double>(occ_offsets[static_cast<size_t>(i) + 1] - occ_offsets[static_cast<size_t>(i)]);
      for (ItemIndex j : touched) {
        const double cj =
            static_cast<double>(occ_offsets[static_cast<size_t>(j) + 1] - occ_offsets[static_cast<size_t>(j)]);
        top.Push(static_cast<float>(acc[static_cast<size_t>(j)] / std::sqrt(ci * cj)), j);
        acc[static_cast<size_t>(j)] = 0.0;
      }
      best[static_cast<size_t>(i)] = top.Extract();
    }
  });
  gen->offsets_.assign(static_cast<size_t>(n) + 1, 0);
  for (int32_t i = 0; i < n; ++i) {
    gen->offsets_[static_cast<size_t>(i) + 1] =
        gen->offsets_[static_cast<size_t>(i)] + static_cast<int64_t>(best[static_cast<size_t>(i)].size());
  }
  gen->neighbors_.reserve(static_cast<size_t>(gen->offsets_.back()));
  gen->sims_.reserve(static_cast<size_t>(gen->offsets_.back()));
  for (const auto& list : best) {
    for (const auto& e : list) {
      gen->neighbors_.push_back(e.id);
      gen->sims_.push_back(e.score);
    }
  }
  return gen;
}

std::span<const ItemIndex> ItemToItemGenerator::neighbors(ItemIndex item) const {
  if (item < 0 || item >= num_items_) return {};
  const auto b = static_cast<size_t>(offsets_[static_cast<size_t>(item)]);
  const auto e = static_cast<size_t>(offsets_[static_cast<size_t>(item) + 1]);
  return std::span<const ItemIndex>(neighbors_).subspan(b, e - b);
}

std::span<const float> ItemToItemGenerator::similarities(ItemIndex item) const {
  if (item < 0 || item >= num_items_) return {};
  const auto b = static_cast<size_t>(offsets_[static_cast<size_t>(item)]);
  const auto e = static_cast<size_t>(offsets_[static_cast<size_t>(item) + 1]);
  return std::span<const float>(sims_).subspan(b, e - b);
}

absl::Status ItemToItemGenerator::Generate(std::span<const CandidateRequest> requests, int k,
                                           std::span<CandidateList> out) const {
  if (out.size() != requests.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ItemToItemGenerator: ", out.size(), " outputs for ", requests.size(), " requests"));
  }
  if (k <= 0) return absl::InvalidArgumentError(absl::StrCat("ItemToItemGenerator: k must be > 0, got ", k));
  ParallelFor(0, static_cast<int64_t>(requests.size()), 8, [&](int64_t b, int64_t e) {
    struct Acc {
      float score = 0.0f;
      float best_part = -1.0f;
      int16_t best_r = -1;
    };
    absl::flat_hash_map<ItemIndex, Acc> acc;
    for (int64_t i = b; i < e; ++i) {
      const CandidateRequest& req = requests[static_cast<size_t>(i)];
      CandidateList& list = out[static_cast<size_t>(i)];
      list.Clear();
      acc.clear();
      const auto& hist = req.history_items;
      const int recent = std::min<int>(config_.recent_items, static_cast<int>(hist.size()));
      float w = 1.0f;
      for (int r = 0; r < recent; ++r, w *= config_.recency_decay) {
        const ItemIndex src = hist[hist.size() - 1 - static_cast<size_t>(r)];
        const auto nb = neighbors(src);
        const auto sim = similarities(src);
        for (size_t t = 0; t < nb.size(); ++t) {
          Acc& a = acc[nb[t]];
          const float part = w * sim[t];
          a.score += part;
          if (part > a.best_part) {
            a.best_part = part;
            a.best_r = static_cast<int16_t>(r);
          }
        }
      }
      TopK<int32_t> top(k);
      for (const auto& [item, a] : acc) {
        if (req.filter != nullptr && !req.filter->IsAllowed(item)) continue;
        top.Push(a.score, item);
      }
      auto best = top.Extract();
      list.Reserve(static_cast<int>(best.size()));
      for (size_t r = 0; r < best.size(); ++r) {
        list.Add(best[r].id, best[r].score,
                 CandidateSource{config_.generator_id, acc.at(best[r].id).best_r, static_cast<int32_t>(r),
                                 best[r].score});
      }
    }
  });
  return absl::OkStatus();
}

absl::Status PopularityConfig::Validate() const {
  if (!(half_life >= 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat("PopularityConfig.half_life must be >= 0, got ", half_life));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PopularityGenerator>> PopularityGenerator::Build(const SequenceDataset& data,
                                                                                const PopularityConfig& config) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  const auto items = data.all_items();
  const auto times = data.all_timestamps();
  std::vector<double> score(static_cast<size_t>(data.num_items()), 0.0);
  const bool decay = config.half_life > 0.0 && times.size() == items.size() && !times.empty();
  const Timestamp t_max = decay ? *std::max_element(times.begin(), times.end()) : 0;
  for (size_t e = 0; e < items.size(); ++e) {
    score[static_cast<size_t>(items[e])] +=
        decay ? std::exp2(-static_cast<double>(t_max - times[e]) / config.half_life) : 1.0;
  }
  std::vector<float> scores(score.begin(), score.end());
  return FromScores(std::move(scores), config.generator_id);
}

std::unique_ptr<PopularityGenerator> PopularityGenerator::FromScores(std::vector<float> scores,
                                                                     int16_t generator_id) {
  auto gen = std::unique_ptr<PopularityGenerator>(new PopularityGenerator());
  gen->generator_id_ = generator_id;
  gen->scores_ = std::move(scores);
  gen->order_.resize(gen->scores_.size());
  std::iota(gen->order_.begin(), gen->order_.end(), 0);
  const auto& s = gen->scores_;
  std::stable_sort(gen->order_.begin(), gen->order_.end(), [&](ItemIndex a, ItemIndex b) {
    return RanksBefore(s[static_cast<size_t>(a)], a, s[static_cast<size_t>(b)], b);
  });
  return gen;
}

absl::Status PopularityGenerator::Generate(std::span<const CandidateRequest> requests, int k,
                                           std::span<CandidateList> out) const {
  if (out.size() != requests.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PopularityGenerator: ", out.size(), " outputs for ", requests.size(), " requests"));
  }
  if (k <= 0) return absl::InvalidArgumentError(absl::StrCat("PopularityGenerator: k must be > 0, got ", k));
  ParallelFor(0, static_cast<int64_t>(requests.size()), 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const CandidateRequest& req = requests[static_cast<size_t>(i)];
      CandidateList& list = out[static_cast<size_t>(i)];
      list.Clear();
      for (ItemIndex item : order_) {
        if (list.size() >= k) break;
        if (req.filter != nullptr && !req.filter->IsAllowed(item)) continue;
        const float s = scores_[static_cast<size_t>(item)];
        list.Add(item, s, CandidateSource{generator_id_, -1, list.size(), s});
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace recsys

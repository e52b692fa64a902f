// Item-to-item co-occurrence candidates from a user's most recent items, and
// time-decayed popularity — stage-1 generators that need no embeddings.
//
// ItemToItem: sim(i, j) = Σ_{users, |pos_i − pos_j| ≤ W} 1/|pos_i − pos_j|,
// normalised by sqrt(count_i · count_j) (a cosine over co-occurrence), keeping
// the top-M neighbours of every item. A request scores item j as
// Σ_r decay^r · sim(recent_r, j) over its R most recent items (r = 0 latest);
// CandidateSource::query is the recent item r that contributed most.
//
// Popularity: score(i) = Σ_events 2^{−(T_max − t)/half_life}. With one
// half-life the ranking does not depend on the request time, so it is
// computed once at build.
//
//   RECSYS_ASSIGN_OR_RETURN(auto i2i, recsys::ItemToItemGenerator::Build(ds, {}));
//   RECSYS_ASSIGN_OR_RETURN(auto pop, recsys::PopularityGenerator::Build(ds, {.half_life = 86400 * 7}));
//   RECSYS_RETURN_IF_ERROR(i2i->Generate(requests, 200, out));
//
// Thread safety: built once; Generate() is const and may be called concurrently.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/candidates/candidate_list.h"
#include "recsys/data/sequence_dataset.h"

namespace recsys {

struct ItemToItemConfig {
  int window = 5;           // W: co-occurrence window in positions, >= 1
  int max_neighbors = 100;  // M: neighbours kept per item, >= 1
  int recent_items = 10;    // R: most recent history items used per request, >= 1
  float recency_decay = 0.8f;  // weight of the r-th most recent item = decay^r, in (0, 1]
  int16_t generator_id = 0;

  absl::Status Validate() const;
};

class ItemToItemGenerator : public CandidateGenerator {
 public:
  static absl::StatusOr<std::unique_ptr<ItemToItemGenerator>> Build(const SequenceDataset& data,
                                                                    const ItemToItemConfig& config);
  std::string name() const override { return "item2item"; }
  absl::Status Generate(std::span<const CandidateRequest> requests, int k,
                        std::span<CandidateList> out) const override;

  int32_t num_items() const { return num_items_; }
  // Neighbours of `item`, best first: (ids, similarities).
  std::span<const ItemIndex> neighbors(ItemIndex item) const;
  std::span<const float> similarities(ItemIndex item) const;

 private:
  ItemToItemGenerator() = default;
  ItemToItemConfig config_;
  int32_t num_items_ = 0;
  std::vector<int64_t> offsets_;  // num_items + 1
  std::vector<ItemIndex> neighbors_;
  std::vector<float> sims_;
};

struct PopularityConfig {
  // Half-life in timestamp units (seconds for Unix times); 0 = plain counts.
  double half_life = 0.0;
  int16_t generator_id = 0;

  absl::Status Validate() const;
};

class PopularityGenerator : public CandidateGenerator {
 public:
  static absl::StatusOr<std::unique_ptr<PopularityGenerator>> Build(const SequenceDataset& data,
                                                                    const PopularityConfig& config);
  // From given per-item scores (size num_items).
  static std::unique_ptr<PopularityGenerator> FromScores(std::vector<float> scores, int16_t generator_id = 0);
  std::string name() const override { return "popularity"; }
  absl::Status Generate(std::span<const CandidateRequest> requests, int k,
                        std::span<CandidateList> out) const override;
  std::span<const float> scores() const { return scores_; }

 private:
  PopularityGenerator() = default;
  int16_t generator_id_ = 0;
  std::vector<float> scores_;
  std::vector<ItemIndex> order_;  // items by score desc, id asc
};

}  // namespace recsys

// Recommender: the serving facade. One request = a user state (external item
// ids + optional timestamps, or a known user id) → stage 1 (multi-interest ANN
// over the model's item embeddings with the user's K+1 interest vectors as
// queries, item-to-item, popularity) → merger → ranker (longshort's
// target-aware scorer, or any SequentialModel's ScoreAll gathered at the
// candidates) → filters (seen, exclusion, allow list) → re-ranker (none / MMR /
// quotas) → top-k with scores and provenance (generator, interest, rank).
//
//   RECSYS_ASSIGN_OR_RETURN(recsys::Pipeline p, recsys::LoadPipeline("shop.rsp"));
//   RECSYS_ASSIGN_OR_RETURN(auto rec, recsys::Recommender::Create({}, std::move(p)));
//   recsys::RecommendRequest req;
//   req.history = {1193, 661, 914};             // external ids, oldest first
//   req.options.k = 10;
//   req.options.reranker = recsys::RerankerKind::kMmr;
//   RECSYS_ASSIGN_OR_RETURN(recsys::Recommendation r, rec->Recommend(req));
//   for (const auto& it : r.items) Use(it.item, it.score, it.sources);
//   RECSYS_RETURN_IF_ERROR(rec->SwapModel("shop_v2.rsp"));  // while requests run
//
// Pipeline files (".rsp") are tensor files (io/tensor_file.h, format version 1,
// whole-file CRC32C) with metadata "model_type" = "pipeline",
// "pipeline_version" = "1", and the byte tensors (I32 words, exact byte
// counts in metadata) "model_file" (a complete model file, itself
// checksummed) and, optionally, "index_file" (an AnnIndex file over the
// model's item embeddings); optional "popularity" (F32, N) and "categories"
// (I32, N). Truncated, bit-flipped and other-version files are refused with
// DataLoss / FailedPrecondition.
//
// Non-finite values: NaN/Inf in a longshort model's item embeddings or in the
// popularity scores are REFUSED when a pipeline is created or swapped in
// (FailedPrecondition naming the row); non-finite scores produced at request
// time (e.g. by a generic model's ScoreAll) are masked: the item is dropped.
//
// Limits: a request's history may be of any length (10^6 events are fine:
// the model reads its last max_history events, the seen-filter all of them);
// k above the catalogue returns every allowed item reachable by stage 1
// (fewer than k, no error); k above RecommenderConfig::max_k is an error; a
// pipeline with an empty catalogue is refused at Create/SwapModel.
//
// Latency budget: when a request's elapsed time exceeds
// options.latency_budget_ms after stage 1, the ranker is skipped (stage-1
// order and scores are returned); over budget before re-ranking, the re-ranker
// is skipped. Skipped stages are listed in Recommendation::skipped_stages.
//
// Thread safety: Recommend / RecommendBatch are const and safe to call from
// any number of threads. SwapModel atomically replaces the whole pipeline (a
// shared_ptr exchanged under a mutex that is held only for the pointer copy;
// libstdc++'s std::atomic<std::shared_ptr> unlocks its reads with relaxed
// order, which ThreadSanitizer reports as a race): each request runs on the
// pipeline it loaded at its start; the old pipeline is freed when its last
// request ends.
#pragma once

#include <mutex>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/candidates/ann_index.h"
#include "recsys/candidates/candidate_list.h"
#include "recsys/candidates/item_to_item.h"
#include "recsys/candidates/multi_interest.h"
#include "recsys/core/types.h"
#include "recsys/data/sequence_dataset.h"
#include "recsys/models/model.h"
#include "recsys/rerank/mmr.h"
#include "recsys/rerank/quotas.h"

namespace recsys {

// Everything one model version serves with. Immutable once handed to the
// Recommender.
struct Pipeline {
  // The ranker (required, num_items() ≥ 1). A LongShortModel is used for
  // interest vectors (ANN queries) and target-aware scoring; any other model
  // ranks candidates by its ScoreAll row.
  std::shared_ptr<const SequentialModel> model;
  // ANN index over the model's item embeddings (N × D, row i = item i);
  // null = no ANN generator (then a non-embedding model's own top items are
  // the "model" generator).
  std::shared_ptr<const AnnIndex> index;
  // Per-item popularity (N, finite); empty = no popularity generator.
  std::vector<float> popularity;
  // Item-to-item generator (not stored in pipeline files); null = none.
  std::shared_ptr<const ItemToItemGenerator> item_to_item;
  // Per-item category (N) for quota re-ranking; empty = quotas unavailable.
  std::vector<int32_t> categories;
  // Known users for RecommendRequest::user_id (dense users of this dataset,
  // items in the model's vocabulary); null = history-only requests.
  std::shared_ptr<const SequenceDataset> users;
  // Free-form name reported in each Recommendation (file path by default).
  std::string name;
};

struct PipelineBuildOptions {
  // FAISS factory string for the ANN index ("Flat", "HNSW32", …); empty = no index.
  std::string index_factory = "HNSW32";
  int hnsw_ef_construction = 0;  // 0 = FAISS default
  int default_ef_search = 128;   // efSearch used when a request leaves it 0
  int default_nprobe = 0;        // IVF lists probed when a request leaves it 0 (0 = FAISS default, 1)
  bool locality_order = false;   // HNSW: store the graph in breadth-first order (AnnIndexConfig::locality_order)
};

// Builds the index over the model's item embeddings (longshort models; other
// models get no index). Popularity / categories / item-to-item are left for
// the caller to fill.
absl::StatusOr<Pipeline> BuildPipeline(std::shared_ptr<const SequentialModel> model,
                                       const PipelineBuildOptions& options);

// Pipeline files (see the top of this header).
inline constexpr char kPipelineVersion[] = "1";
absl::Status SavePipeline(const Pipeline& pipeline, const std::string& path);
absl::StatusOr<Pipeline> LoadPipeline(const std::string& path);
// From the bytes of a pipeline file; `name` is used in error messages.
absl::StatusOr<Pipeline> ParsePipeline(std::string_view bytes, const std::string& name);

enum class RerankerKind { kNone, kMmr, kQuotas };
enum class GeneratorKind : int16_t { kAnn = 0, kItemToItem = 1, kPopularity = 2, kModel = 3 };
// "ann", "item2item", "popularity", "model".
const char* GeneratorName(int16_t generator);

// Per-request options.
struct RecommendOptions {
  int k = 10;  // items returned, [1, RecommenderConfig::max_k]
  // Candidates fetched per generator (each ≥ 0; a generator with 0 is off).
  // The ANN and model generators fetch at least k.
  int ann_candidates = 200;
  int item_to_item_candidates = 50;
  int popularity_candidates = 20;
  MergeStrategy ann_merge = MergeStrategy::kUnionQuota;
  int ef_search = 0;  // HNSW beam for this request, ≥ 0 (0 = pipeline default)
  int nprobe = 0;     // IVF lists probed per query for this request, ≥ 0 (0 = pipeline default)
  // Each of the Q interest queries first fetches ceil(factor · ann_candidates
  // / Q) items, refetching ann_candidates per query only for users left short
  // (MultiInterestConfig::fetch_factor); 0 = ann_candidates per query always.
  double ann_fetch_factor = 2.0;
  // HNSW: the beam stays ef_search wide and each interest query returns the
  // best of every node its walk scored (AnnSearchParams::scored_results), so
  // the queries fetch ann_candidates each at no extra walk; false = standard
  // HNSW (beam ≥ the items fetched). Faster, slightly lower stage-1 recall.
  bool ann_scored_results = false;
  // HNSW: the interest queries' walks advance together on one thread, in lock
  // step, so that their cache misses overlap (AnnSearchParams::walk_group);
  // in [1, 64], 1 = one walk after another. Answers do not depend on it.
  int ann_walk_group = 8;
  // Filters: history items (always all of them), external ids to exclude,
  // and an allow list (when set, only these external ids may be returned;
  // unknown ids are ignored).
  bool filter_seen = true;
  std::vector<ExternalId> exclude;
  std::optional<std::vector<ExternalId>> allow;
  // Re-ranker and its parameters (quotas need Pipeline::categories).
  RerankerKind reranker = RerankerKind::kNone;
  MmrOptions mmr;
  QuotaTargets quotas;
  // Latency budget in milliseconds (≥ 0; 0 = none): see the header comment.
  double latency_budget_ms = 0.0;
};

struct RecommendRequest {
  // External item ids, oldest first (unknown ids are ignored and counted).
  std::vector<ExternalId> history;
  // Aligned with history, or empty.
  std::vector<Timestamp> timestamps;
  // A known user (Pipeline::users, dense user index); the stored history is
  // used and `history` must be empty.
  std::optional<int32_t> user_id;
  RecommendOptions options;
};

struct RecommendedItem {
  ExternalId item = 0;
  ItemIndex index = kNoItem;   // dense index in the model's vocabulary
  float score = 0.0f;          // ranker score (stage-1 score when ranking was skipped)
  // Every generator that proposed the item (CandidateSource::generator is a
  // GeneratorKind; query = interest vector for ANN, 0 = short-term).
  std::vector<CandidateSource> sources;
};

struct Recommendation {
  std::vector<RecommendedItem> items;  // best first, at most k
  int num_candidates = 0;              // after merging and filtering
  int unknown_history_items = 0;
  std::vector<std::string> skipped_stages;  // "rank", "rerank"
  double elapsed_ms = 0.0;
  std::string pipeline;                 // Pipeline::name that served the request
  std::vector<QuotaReport> quota_report;  // when reranker == kQuotas
};

struct RecommenderConfig {
  int max_k = 10000;                  // largest k a request may ask, ≥ 1
  int max_candidates_per_generator = 100000;  // ≥ 1

  absl::Status Validate() const;
};

class Recommender {
 public:
  static absl::StatusOr<std::unique_ptr<Recommender>> Create(const RecommenderConfig& config, Pipeline pipeline);
  static absl::StatusOr<std::unique_ptr<Recommender>> Create(const RecommenderConfig& config,
                                                             const std::string& pipeline_path);
  ~Recommender();

  absl::StatusOr<Recommendation> Recommend(const RecommendRequest& request) const;
  // Requests run in parallel on the caller's oneTBB arena (cap it with
  // ThreadLimit / a task_arena); result i belongs to request i.
  std::vector<absl::StatusOr<Recommendation>> RecommendBatch(std::span<const RecommendRequest> requests) const;

  // Validates `pipeline` and swaps it in atomically; on error the current one
  // stays.
  absl::Status SwapModel(Pipeline pipeline);
  absl::Status SwapModel(const std::string& pipeline_path);

  // The pipeline currently served (a snapshot; stays valid while held).
  std::shared_ptr<const Pipeline> pipeline() const;
  const RecommenderConfig& config() const { return config_; }

  struct State;  // validated pipeline + derived generators (internal)

 private:
  explicit Recommender(RecommenderConfig config) : config_(std::move(config)) {}
  RecommenderConfig config_;
  // The served state. A request copies the pointer under mu_ (tens of ns) and
  // then runs unlocked; a swap replaces it under mu_ and the old state is
  // freed outside the lock, by whichever holder lets go last.
  std::shared_ptr<const State> Load() const;
  void Store(std::shared_ptr<const State> state);
  mutable std::mutex mu_;
  std::shared_ptr<const State> state_;
};

}  // namespace recsys

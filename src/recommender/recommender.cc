// Recommender facade: request path (recommender.h).
#include "recsys/recommender.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "recsys/candidates/item_filter.h"
#include "recsys/candidates/merger.h"
#include "recsys/core/gather.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/core/topk.h"
#include "recsys/models/longshort.h"
#include "recsys/ranker/target_scorer.h"

namespace recsys {

struct Recommender::State {
  Pipeline pipeline;
  const LongShortModel* longshort = nullptr;  // pipeline.model as a LongShortModel, or null
  std::shared_ptr<const PopularityGenerator> popularity;
  int32_t num_items = 0;
};

namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// A generator with nothing to offer: keeps generator positions fixed in the
// merger when a pipeline lacks one.
class EmptyGenerator final : public CandidateGenerator {
 public:
  std::string name() const override { return "none"; }
  absl::Status Generate(std::span<const CandidateRequest> requests, int, std::span<CandidateList> out) const override {
    for (size_t i = 0; i < requests.size(); ++i) out[i].Clear();
    return absl::OkStatus();
  }
};

absl::StatusOr<std::shared_ptr<const Recommender::State>> MakeState(Pipeline pipeline) {
  if (pipeline.model == nullptr) return absl::InvalidArgumentError("Pipeline.model is null");
  auto state = std::make_shared<Recommender::State>();
  const int32_t n = pipeline.model->num_items();
  if (n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipeline '", pipeline.name, "': empty catalogue (model has 0 items)"));
  }
  state->num_items = n;
  state->longshort = dynamic_cast<const LongShortModel*>(pipeline.model.get());
  if (state->longshort != nullptr) {
    const MatrixF& e = state->longshort->item_embeddings();
    for (Eigen::Index r = 0; r < e.rows(); ++r) {
      if (!e.row(r).allFinite()) {
        return absl::FailedPreconditionError(absl::StrCat("pipeline '", pipeline.name,
                                                          "': item embedding row ", r, " (item id ",
                                                          pipeline.model->item_vocab().External(
                                                              static_cast<int32_t>(r)),
                                                          ") contains NaN/Inf"));
      }
    }
  }
  if (pipeline.index != nullptr) {
    if (state->longshort == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("pipeline '", pipeline.name, "': an ANN index needs a model ",
                                                     "with interest vectors (longshort), got '",
                                                     pipeline.model->type(), "'"));
    }
    if (pipeline.index->size() != n || pipeline.index->dim() != state->longshort->item_embeddings().cols()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pipeline '", pipeline.name, "': index holds ", pipeline.index->size(), " × ", pipeline.index->dim(),
          " vectors, model has ", n, " items × ", state->longshort->item_embeddings().cols()));
    }
  }
  if (!pipeline.popularity.empty()) {
    if (static_cast<int64_t>(pipeline.popularity.size()) != n) {
      return absl::InvalidArgumentError(absl::StrCat("pipeline '", pipeline.name, "': popularity has ",
                                                     pipeline.popularity.size(), " entries, expected ", n));
    }
    for (size_t i = 0; i < pipeline.popularity.size(); ++i) {
      if (!std::isfinite(pipeline.popularity[i])) {
        return absl::FailedPreconditionError(
            absl::StrCat("pipeline '", pipeline.name, "': popularity[", i, "] is NaN/Inf"));
      }
    }
    state->popularity = PopularityGenerator::FromScores(pipeline.popularity, /*generator_id=*/2);
  }
  if (!pipeline.categories.empty() && static_cast<int64_t>(pipeline.categories.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline '", pipeline.name, "': categories has ",
                                                   pipeline.categories.size(), " entries, expected ", n));
  }
  if (pipeline.item_to_item != nullptr && pipeline.item_to_item->num_items() != n) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline '", pipeline.name, "': item-to-item covers ",
                                                   pipeline.item_to_item->num_items(), " items, expected ", n));
  }
  if (pipeline.users != nullptr && pipeline.users->num_items() > n) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline '", pipeline.name, "': user dataset has ",
                                                   pipeline.users->num_items(), " items, model ", n));
  }
  state->pipeline = std::move(pipeline);
  return std::shared_ptr<const Recommender::State>(std::move(state));
}

absl::Status ValidateOptions(const RecommendOptions& o, const RecommenderConfig& c, const Recommender::State& s) {
  if (o.k < 1 || o.k > c.max_k) {
    return absl::InvalidArgumentError(absl::StrCat("RecommendOptions.k must be in [1, ", c.max_k, "], got ", o.k));
  }
  const std::pair<const char*, int> counts[] = {{"ann_candidates", o.ann_candidates},
                                                {"item_to_item_candidates", o.item_to_item_candidates},
                                                {"popularity_candidates", o.popularity_candidates}};
  for (const auto& [field, v] : counts) {
    if (v < 0 || v > c.max_candidates_per_generator) {
      return absl::InvalidArgumentError(absl::StrCat("RecommendOptions.", field, " must be in [0, ",
                                                     c.max_candidates_per_generator, "], got ", v));
    }
  }
  if (!(o.ann_fetch_factor >= 0.0) || o.ann_fetch_factor > 1e6) {
    return absl::InvalidArgumentError(
        absl::StrCat("RecommendOptions.ann_fetch_factor must be in [0, 1e6], got ", o.ann_fetch_factor));
  }
  if (o.ann_walk_group < 1 || o.ann_walk_group > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("RecommendOptions.ann_walk_group must be in [1, 64], got ", o.ann_walk_group));
  }
  if (o.ef_search < 0) {
    return absl::InvalidArgumentError(absl::StrCat("RecommendOptions.ef_search must be >= 0, got ", o.ef_search));
  }
  if (o.nprobe < 0) {
    return absl::InvalidArgumentError(absl::StrCat("RecommendOptions.nprobe must be >= 0, got ", o.nprobe));
  }
  if (!(o.latency_budget_ms >= 0.0) || std::isinf(o.latency_budget_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("RecommendOptions.latency_budget_ms must be finite and >= 0, got ", o.latency_budget_ms));
  }
  if (o.reranker == RerankerKind::kMmr) {
    RECSYS_RETURN_IF_ERROR(Annotate(o.mmr.Validate(), "RecommendOptions.mmr"));
    if (s.longshort == nullptr) {
      return absl::FailedPreconditionError("MMR re-ranking needs item embeddings (a longshort pipeline)");
    }
  }
  if (o.reranker == RerankerKind::kQuotas) {
    if (s.pipeline.categories.empty()) {
      return absl::FailedPreconditionError("quota re-ranking needs item categories in the pipeline");
    }
    for (const auto& [category, share] : o.quotas) {
      if (!(share >= 0.0 && share <= 1.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("RecommendOptions.quotas[", category, "] must be in [0, 1], got ", share));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Recommendation> Run(const Recommender::State& s, const RecommenderConfig& config,
                                   const RecommendRequest& request) {
  const Clock::time_point start = Clock::now();
  const RecommendOptions& o = request.options;
  RECSYS_RETURN_IF_ERROR(ValidateOptions(o, config, s));
  const Pipeline& p = s.pipeline;
  const SequentialModel& model = *p.model;
  const Vocabulary& vocab = model.item_vocab();
  Recommendation result;
  result.pipeline = p.name;

  // ---- user state ----
  std::vector<ItemIndex> items;
  std::vector<Timestamp> stamps;
  HistoryView history;
  if (request.user_id.has_value()) {
    if (!request.history.empty() || !request.timestamps.empty()) {
      return absl::InvalidArgumentError("RecommendRequest: give either user_id or history, not both");
    }
    if (p.users == nullptr) return absl::FailedPreconditionError("RecommendRequest.user_id: pipeline has no users");
    const int32_t u = *request.user_id;
    if (u < 0 || u >= p.users->num_users()) {
      return absl::NotFoundError(
          absl::StrCat("RecommendRequest.user_id ", u, " unknown (", p.users->num_users(), " users)"));
    }
    history = p.users->history(u);
  } else {
    if (!request.timestamps.empty() && request.timestamps.size() != request.history.size()) {
      return absl::InvalidArgumentError(absl::StrCat("RecommendRequest: ", request.timestamps.size(),
                                                     " timestamps for ", request.history.size(), " history items"));
    }
    items.resize(request.history.size());
    vocab.FindMany(request.history, items.data());
    if (!request.timestamps.empty()) stamps.reserve(request.history.size());
    size_t kept = 0;
    for (size_t i = 0; i < request.history.size(); ++i) {
      const ItemIndex index = items[i];
      if (index < 0) {
        ++result.unknown_history_items;
        continue;
      }
      items[kept++] = index;  // compacts in place (kept <= i)
      if (!request.timestamps.empty()) stamps.push_back(request.timestamps[i]);
    }
    items.resize(kept);
    history = HistoryView{items, stamps};
  }

  // ---- filters ----
  std::vector<ItemFilterPtr> parts;
  if (o.filter_seen && !history.items.empty()) parts.push_back(std::make_shared<SeenItemsFilter>(history.items));
  auto to_dense = [&](const std::vector<ExternalId>& ids) {
    std::vector<ItemIndex> dense;
    dense.reserve(ids.size());
    for (ExternalId id : ids) {
      if (const ItemIndex i = vocab.Find(id); i >= 0) dense.push_back(i);
    }
    return dense;
  };
  if (!o.exclude.empty()) parts.push_back(std::make_shared<ExcludeItemsFilter>(to_dense(o.exclude)));
  if (o.allow.has_value()) parts.push_back(std::make_shared<AllowItemsFilter>(to_dense(*o.allow)));
  ItemFilterPtr filter;
  if (parts.size() == 1) filter = parts[0];
  if (parts.size() > 1) filter = AndFilter(std::move(parts));

  // ---- stage 1 ----
  MatrixF interests;  // (K+1) × D for longshort
  if (s.longshort != nullptr) interests = s.longshort->EncodeUser(history);
  CandidateRequest creq;
  creq.history_items = history.items;
  creq.history_timestamps = history.timestamps;
  creq.filter = filter.get();
  if (interests.size() > 0) {
    creq.queries = interests.data();
    creq.num_queries = static_cast<int>(interests.rows());
    creq.query_dim = static_cast<int>(interests.cols());
  }
  constexpr int kNumGenerators = 4;  // GeneratorKind order
  std::vector<CandidateList> lists(kNumGenerators);
  std::vector<int> quotas(kNumGenerators, 0);
  std::span<const CandidateRequest> one(&creq, 1);
  MatrixF model_scores;  // 1 × N, generic models only
  if (s.longshort == nullptr) {
    model_scores.resize(1, s.num_items);
    RECSYS_RETURN_IF_ERROR(model.ScoreAll(std::span<const HistoryView>(&history, 1), model_scores));
  }
  if (p.index != nullptr && o.ann_candidates > 0) {
    MultiInterestConfig mic;
    mic.strategy = o.ann_merge;
    mic.search.ef_search = o.ef_search;
    mic.search.nprobe = o.nprobe;
    mic.fetch_factor = o.ann_fetch_factor;
    mic.search.scored_results = o.ann_scored_results;
    mic.search.walk_group = o.ann_walk_group;
    mic.generator_id = static_cast<int16_t>(GeneratorKind::kAnn);
    RECSYS_ASSIGN_OR_RETURN(auto ann, MultiInterestGenerator::Create(p.index, mic));
    quotas[0] = std::max(o.ann_candidates, o.k);
    RECSYS_RETURN_IF_ERROR(ann->Generate(one, quotas[0], std::span<CandidateList>(&lists[0], 1)));
  } else if (s.longshort == nullptr && o.ann_candidates > 0) {
    // Generic model without an index: its own best items are the "model" generator.
    quotas[3] = std::max(o.ann_candidates, o.k);
    TopK<int32_t> top(quotas[3]);
    for (int32_t i = 0; i < s.num_items; ++i) {
      const float v = model_scores(0, i);
      if (std::isfinite(v) && (filter == nullptr || filter->IsAllowed(i))) top.Push(v, i);
    }
    int32_t rank = 0;
    for (const auto& e : top.Extract()) {
      lists[3].Add(e.id, e.score, CandidateSource{static_cast<int16_t>(GeneratorKind::kModel), -1, rank++, e.score});
    }
  }
  if (p.item_to_item != nullptr && o.item_to_item_candidates > 0 && !history.items.empty()) {
    quotas[1] = o.item_to_item_candidates;
    RECSYS_RETURN_IF_ERROR(p.item_to_item->Generate(one, quotas[1], std::span<CandidateList>(&lists[1], 1)));
  }
  if (s.popularity != nullptr && o.popularity_candidates > 0) {
    quotas[2] = o.popularity_candidates;
    RECSYS_RETURN_IF_ERROR(s.popularity->Generate(one, quotas[2], std::span<CandidateList>(&lists[2], 1)));
  }
  CandidateMergerConfig mc;
  static const auto kEmpty = std::make_shared<const EmptyGenerator>();
  for (int g = 0; g < kNumGenerators; ++g) mc.sources.push_back({kEmpty, quotas[g], 0});
  mc.total = std::max(1, std::accumulate(quotas.begin(), quotas.end(), 0));
  mc.fill = false;
  RECSYS_ASSIGN_OR_RETURN(auto merger, CandidateMerger::Create(mc));
  std::vector<const CandidateList*> ptrs;
  for (const CandidateList& l : lists) ptrs.push_back(&l);
  CandidateList merged;
  merger->Merge(ptrs, mc.total, &merged);

  // Final filter check (generators honour the filter; this keeps the
  // guarantee independent of them) and non-finite masking.
  std::vector<int> keep;
  keep.reserve(static_cast<size_t>(merged.size()));
  for (int c = 0; c < merged.size(); ++c) {
    const ItemIndex item = merged.item(c);
    if (item < 0 || item >= s.num_items) continue;
    if (filter != nullptr && !filter->IsAllowed(item)) continue;
    keep.push_back(c);
  }
  result.num_candidates = static_cast<int>(keep.size());
  std::vector<ItemIndex> cand(keep.size());
  std::vector<float> scores(keep.size());
  for (size_t j = 0; j < keep.size(); ++j) {
    cand[j] = merged.item(keep[j]);
    scores[j] = merged.score(keep[j]);
  }

  // ---- stage 2: rank ----
  const bool budget = o.latency_budget_ms > 0.0;
  if (budget && MsSince(start) > o.latency_budget_ms) {
    result.skipped_stages.push_back("rank");
  } else if (s.longshort != nullptr) {
    const MatrixF& table = s.longshort->item_embeddings();
    MatrixF rows;
    GatherRows(table, cand, &rows);
    if (!cand.empty()) {
      TargetScorer<float>::Cache cache;
      TargetScorer<float>::Vec v;
      TargetScorer<float>::Forward(interests, rows, static_cast<float>(s.longshort->config().tau), &cache, &v);
      for (size_t j = 0; j < cand.size(); ++j) scores[j] = v(static_cast<Eigen::Index>(j));
    }
  } else {
    for (size_t j = 0; j < cand.size(); ++j) scores[j] = model_scores(0, cand[j]);
  }
  // Mask non-finite scores; order by score desc, ties by smaller item.
  std::vector<int> order;
  order.reserve(cand.size());
  for (size_t j = 0; j < cand.size(); ++j) {
    if (std::isfinite(scores[j])) order.push_back(static_cast<int>(j));
  }
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    if (scores[a] != scores[b]) return scores[a] > scores[b];
    return cand[a] < cand[b];
  });

  // ---- re-rank ----
  std::vector<int> final_order;
  if (o.reranker != RerankerKind::kNone && budget && MsSince(start) > o.latency_budget_ms) {
    result.skipped_stages.push_back("rerank");
  } else if (o.reranker == RerankerKind::kMmr) {
    std::vector<float> sc(order.size());
    std::vector<ItemIndex> it(order.size());
    for (size_t j = 0; j < order.size(); ++j) {
      sc[j] = scores[order[j]];
      it[j] = cand[order[j]];
    }
    RECSYS_ASSIGN_OR_RETURN(std::vector<int> pos,
                            MmrRerank(sc, it, s.longshort->item_embeddings(), o.k, o.mmr));
    for (int q : pos) final_order.push_back(order[q]);
  } else if (o.reranker == RerankerKind::kQuotas) {
    std::vector<float> sc(order.size());
    std::vector<int32_t> cat(order.size());
    for (size_t j = 0; j < order.size(); ++j) {
      sc[j] = scores[order[j]];
      cat[j] = p.categories[cand[order[j]]];
    }
    RECSYS_ASSIGN_OR_RETURN(QuotaResult qr, ApplyQuotas(sc, cat, o.k, o.quotas));
    for (int q : qr.order) final_order.push_back(order[q]);
    result.quota_report = std::move(qr.report);
  }
  if (final_order.empty() && (o.reranker == RerankerKind::kNone || !result.skipped_stages.empty() ||
                              order.empty())) {
    final_order = order;
  }
  if (static_cast<int>(final_order.size()) > o.k) final_order.resize(static_cast<size_t>(o.k));

  result.items.reserve(final_order.size());
  for (int j : final_order) {
    RecommendedItem r;
    r.index = cand[j];
    r.item = vocab.External(cand[j]);
    r.score = scores[j];
    auto src = merged.sources(keep[j]);
    r.sources.assign(src.begin(), src.end());
    result.items.push_back(std::move(r));
  }
  result.elapsed_ms = MsSince(start);
  return result;
}

}  // namespace

const char* GeneratorName(int16_t generator) {
  switch (generator) {
    case 0: return "ann";
    case 1: return "item2item";
    case 2: return "popularity";
    case 3: return "model";
    default: return "unknown";
  }
}

absl::Status RecommenderConfig::Validate() const {
  if (max_k < 1) return absl::InvalidArgumentError(absl::StrCat("RecommenderConfig.max_k must be >= 1, got ", max_k));
  if (max_candidates_per_generator < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RecommenderConfig.max_candidates_per_generator must be >= 1, got ", max_candidates_per_generator));
  }
  return absl::OkStatus();
}

Recommender::~Recommender() = default;

std::shared_ptr<const Recommender::State> Recommender::Load() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

void Recommender::Store(std::shared_ptr<const State> state) {
  std::shared_ptr<const State> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(state_);
    state_ = std::move(state);
  }
  // `old` is released here, outside the lock (freed now unless requests hold it).
}

absl::StatusOr<std::unique_ptr<Recommender>> Recommender::Create(const RecommenderConfig& config,
                                                                 Pipeline pipeline) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  RECSYS_ASSIGN_OR_RETURN(auto state, MakeState(std::move(pipeline)));
  std::unique_ptr<Recommender> rec(new Recommender(config));
  rec->Store(std::move(state));
  return rec;
}

absl::StatusOr<std::unique_ptr<Recommender>> Recommender::Create(const RecommenderConfig& config,
                                                                 const std::string& pipeline_path) {
  RECSYS_ASSIGN_OR_RETURN(Pipeline p, LoadPipeline(pipeline_path));
  return Create(config, std::move(p));
}

absl::Status Recommender::SwapModel(Pipeline pipeline) {
  RECSYS_ASSIGN_OR_RETURN(auto state, MakeState(std::move(pipeline)));
  Store(std::move(state));
  return absl::OkStatus();
}

absl::Status Recommender::SwapModel(const std::string& pipeline_path) {
  RECSYS_ASSIGN_OR_RETURN(Pipeline p, LoadPipeline(pipeline_path));
  return SwapModel(std::move(p));
}

std::shared_ptr<const Pipeline> Recommender::pipeline() const {
  std::shared_ptr<const State> s = Load();
  return std::shared_ptr<const Pipeline>(s, &s->pipeline);
}

absl::StatusOr<Recommendation> Recommender::Recommend(const RecommendRequest& request) const {
  const std::shared_ptr<const State> state = Load();  // pins this pipeline for the request
  absl::StatusOr<Recommendation> out;
  RECSYS_RETURN_IF_ERROR(CatchExceptions("Recommend", [&]() -> absl::Status {
    out = Run(*state, config_, request);
    return absl::OkStatus();
  }));
  return out;
}

std::vector<absl::StatusOr<Recommendation>> Recommender::RecommendBatch(
    std::span<const RecommendRequest> requests) const {
  std::vector<absl::StatusOr<Recommendation>> out(requests.size(), absl::UnknownError("not run"));
  ParallelFor(0, static_cast<int64_t>(requests.size()), 1, [&](int64_t b, int64_t e) {
    SingleThreadedOpenMP();
    for (int64_t i = b; i < e; ++i) out[static_cast<size_t>(i)] = Recommend(requests[static_cast<size_t>(i)]);
  });
  return out;
}

}  // namespace recsys

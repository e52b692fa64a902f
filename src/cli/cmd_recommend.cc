// `recsys recommend`: top-k items of a saved model for one history.
//
//   recsys recommend --model knn.rsm --history "1193 661 914" -k 10 --json
//   → {"items":[external ids], "scores":[…], "sources":["itemknn", …]}
//
// Given a pipeline file (`recsys build-pipeline`), the request is served by
// the Recommender (ANN over interest vectors → rank → filters); "sources"
// then names the generator of each item and --explain adds per-item
// provenance (generator, interest vector, rank, stage-1 score).
//   recsys recommend --model shop.rsp --history "1193 661 914" -k 10 --explain --json
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli_common.h"
#include "recsys/core/topk.h"
#include "recsys/models/model.h"
#include "recsys/recommender.h"

namespace {

struct RecommendArgs {
  std::string model;
  std::string history;
  int k = 10;
  bool explain = false;
  bool no_filter_seen = false;
};

int RunPipeline(recsys::Pipeline pipeline, const RecommendArgs& a, const recsys::cli::GlobalFlags& g) {
  using recsys::cli::Fail;
  recsys::RecommendRequest req;
  for (absl::string_view token : absl::StrSplit(a.history, absl::ByAnyChar(" ,\t"), absl::SkipWhitespace())) {
    recsys::ExternalId id = 0;
    if (!absl::SimpleAtoi(token, &id)) {
      return Fail(absl::StrCat("--history: '", std::string(token), "' is not an integer item id"));
    }
    req.history.push_back(id);
  }
  req.options.k = a.k;
  req.options.filter_seen = !a.no_filter_seen;
  const std::string ranker = pipeline.model->type();
  const std::string index = pipeline.index != nullptr ? pipeline.index->factory() : "none";
  auto rec = recsys::Recommender::Create({}, std::move(pipeline));
  if (!rec.ok()) return Fail(rec.status());
  auto r = (*rec)->Recommend(req);
  if (!r.ok()) return Fail(r.status());
  nlohmann::json out;
  out["items"] = nlohmann::json::array();
  out["scores"] = nlohmann::json::array();
  out["sources"] = nlohmann::json::array();
  nlohmann::json provenance = nlohmann::json::array();
  for (const recsys::RecommendedItem& it : r->items) {
    out["items"].push_back(it.item);
    out["scores"].push_back(it.score);
    out["sources"].push_back(it.sources.empty() ? "none" : recsys::GeneratorName(it.sources[0].generator));
    nlohmann::json p = nlohmann::json::array();
    for (const recsys::CandidateSource& s : it.sources) {
      p.push_back({{"generator", recsys::GeneratorName(s.generator)},
                   {"interest", s.query},
                   {"rank", s.rank},
                   {"score", s.score}});
    }
    provenance.push_back(p);
  }
  out["unknown_history_items"] = r->unknown_history_items;
  if (a.explain) {
    out["explain"] = {{"pipeline", r->pipeline},
                      {"ranker_type", ranker},
                      {"index", index},
                      {"candidates", r->num_candidates},
                      {"provenance", provenance},
                      {"skipped_stages", r->skipped_stages},
                      {"elapsed_ms", r->elapsed_ms},
                      {"filter_seen", !a.no_filter_seen}};
  }
  recsys::cli::Emit(g, out);
  return 0;
}

int RunRecommend(const RecommendArgs& a, const recsys::cli::GlobalFlags& g) {
  using recsys::cli::Fail;
  if (a.k < 1) return Fail("-k must be >= 1");
  {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(a.model, ec)) {
      return Fail(absl::NotFoundError(absl::StrCat("--model ", a.model, ": no such file (expected a model file .rsm ",
                                                   "or a pipeline file .rsp)")));
    }
    auto pipeline = recsys::LoadPipeline(a.model);
    if (pipeline.ok()) return RunPipeline(*std::move(pipeline), a, g);
    const bool not_pipeline = pipeline.status().code() == absl::StatusCode::kFailedPrecondition &&
                              pipeline.status().message().find("not a pipeline file") != absl::string_view::npos;
    if (!not_pipeline) return Fail(pipeline.status());
  }
  auto model = recsys::LoadModel(a.model);
  if (!model.ok()) return Fail(model.status());
  const recsys::Vocabulary& vocab = (*model)->item_vocab();

  std::vector<recsys::ItemIndex> items;
  nlohmann::json unknown = nlohmann::json::array();
  for (absl::string_view token : absl::StrSplit(a.history, absl::ByAnyChar(" ,\t"), absl::SkipWhitespace())) {
    recsys::ExternalId id = 0;
    if (!absl::SimpleAtoi(token, &id)) {
      return Fail(absl::StrCat("--history: '", std::string(token), "' is not an integer item id"));
    }
    const recsys::ItemIndex index = vocab.Find(id);
    if (index < 0) {
      unknown.push_back(id);
      continue;
    }
    items.push_back(index);
  }
  const recsys::HistoryView view{items, {}};
  recsys::MatrixF scores(1, (*model)->num_items());
  if (auto s = (*model)->ScoreAll(std::span<const recsys::HistoryView>(&view, 1), scores); !s.ok()) {
    return Fail(s);
  }
  if (!a.no_filter_seen) {
    for (recsys::ItemIndex i : items) scores(0, i) = recsys::kNegInf;
  }
  recsys::TopK<int32_t> top(a.k);
  for (int32_t i = 0; i < scores.cols(); ++i) {
    if (scores(0, i) != recsys::kNegInf) top.Push(scores(0, i), i);
  }
  nlohmann::json out;
  out["items"] = nlohmann::json::array();
  out["scores"] = nlohmann::json::array();
  out["sources"] = nlohmann::json::array();
  for (const auto& s : top.Extract()) {
    out["items"].push_back(vocab.External(s.id));
    out["scores"].push_back(s.score);
    out["sources"].push_back((*model)->type());
  }
  out["unknown_history_items"] = unknown.size();
  if (a.explain) {
    out["explain"] = {{"model_type", (*model)->type()},
                      {"config", nlohmann::json::parse((*model)->config_json(), nullptr, false)},
                      {"history_used", items.size()},
                      {"unknown_history_ids", unknown},
                      {"filter_seen", !a.no_filter_seen}};
  }
  recsys::cli::Emit(g, out);
  return 0;
}

}  // namespace

RECSYS_CLI_COMMAND(recommend, "", "Recommend items for one history", [](CLI::App* app) -> recsys::cli::RunFn {
  auto a = std::make_shared<RecommendArgs>();
  app->add_option("--model", a->model, "model file (.rsm) or pipeline file (.rsp)")->required();
  app->add_option("--history", a->history, "external item ids, oldest first (\"ITEM ITEM ...\")")->required();
  app->add_option("-k,--k", a->k, "number of items")->capture_default_str();
  app->add_flag("--explain", a->explain, "add how the list was produced");
  app->add_flag("--no-filter-seen", a->no_filter_seen, "allow items of the history");
  return [a](const recsys::cli::GlobalFlags& g) -> int { return RunRecommend(*a, g); };
});

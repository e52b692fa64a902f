// `recsys recommend`: top-k items of a saved model for one history.
//
//   recsys recommend --model knn.rsm --history "1193 661 914" -k 10 --json
//   → {"items":[external ids], "scores":[…], "sources":["itemknn", …]}
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "cli_common.h"
#include "recsys/core/topk.h"
#include "recsys/models/model.h"

namespace {

struct RecommendArgs {
  std::string model;
  std::string history;
  int k = 10;
  bool explain = false;
  bool no_filter_seen = false;
};

int RunRecommend(const RecommendArgs& a, const recsys::cli::GlobalFlags& g) {
  using recsys::cli::Fail;
  if (a.k < 1) return Fail("-k must be >= 1");
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
  app->add_option("--model", a->model, "model file")->required();
  app->add_option("--history", a->history, "external item ids, oldest first (\"ITEM ITEM ...\")")->required();
  app->add_option("-k,--k", a->k, "number of items")->capture_default_str();
  app->add_flag("--explain", a->explain, "add how the list was produced");
  app->add_flag("--no-filter-seen", a->no_filter_seen, "allow items of the history");
  return [a](const recsys::cli::GlobalFlags& g) -> int { return RunRecommend(*a, g); };
});

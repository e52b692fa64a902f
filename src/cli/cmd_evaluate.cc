// `recsys evaluate`: full-catalogue evaluation of a saved model, or the
// two-stage evaluation (--candidates N: the model ranks only the N stage-1
// candidates its pipeline's ANN index returns for its interest vectors).
//
//   recsys evaluate --model knn.rsm --input ml1m/val/input.txt --targets ml1m/val/output.txt --k 10,20 --json
//   recsys evaluate --model pop.rsm --data amazon/beauty.txt --protocol loo --split test --json
//   → {"users":…, "hr@10":…, "ndcg@10":…, "mrr@10":…, "recall@10":…, "coverage@10":…, …,
//      "unknown_input_items":…, "unknown_targets":…, "seconds":…}
//   recsys evaluate --model ls.rsm --candidates 200 [--index HNSW32 --ef-search 128] …   (index built in memory)
//   recsys evaluate --pipeline shop.rsp --candidates 200 …
//   → the same keys for the two-stage ranking, plus "mode": "two_stage", "candidates",
//      "stage1_recall@N", "stage1_hr@N", "mean_candidates"
#include <chrono>
#include <memory>

#include "cli_common.h"
#include "model_cli_util.h"
#include "recsys/core/parallel.h"
#include "recsys/eval/two_stage.h"
#include "recsys/models/model.h"
#include "recsys/recommender.h"

namespace {

struct EvaluateArgs {
  std::string model;
  std::string pipeline;
  int candidates = 0;
  std::string index = "HNSW32";
  int ef_search = 0;
  int nprobe = 0;
  bool scored_results = false;
  int ef_construction = 0;
  std::string data;
  std::string format = "auto";
  recsys::cli::SplitFlags protocol;
  std::string split = "test";
  std::string input;
  std::string targets;
  std::string ks = "10,20";
  bool no_filter_seen = false;
  int threads = 0;
  int batch_size = 256;
};

int RunEvaluate(const EvaluateArgs& a, const recsys::cli::GlobalFlags& g) {
  using recsys::cli::Fail;
  const auto start = std::chrono::steady_clock::now();
  if (a.model.empty() == a.pipeline.empty()) return Fail("give exactly one of --model or --pipeline");
  if (!a.pipeline.empty() && a.candidates < 1) return Fail("--pipeline needs --candidates N (two-stage evaluation)");
  if (a.candidates < 0) return Fail("--candidates must be >= 0");
  if (a.ef_search < 0 || a.ef_construction < 0 || a.nprobe < 0) {
    return Fail("--ef-search, --nprobe and --ef-construction must be >= 0");
  }
  if (a.data.empty() == a.input.empty()) return Fail("give exactly one of --data or --input/--targets");
  if (!a.input.empty() && a.targets.empty()) return Fail("--input needs --targets");
  if (!a.data.empty() && a.protocol.protocol != "loo" && a.protocol.protocol != "time") {
    return Fail("--data needs --protocol loo or time");
  }
  if (a.protocol.protocol == "time" && a.split != "test") return Fail("--protocol time has only --split test");
  if (a.split != "valid" && a.split != "test") return Fail("--split must be valid or test");
  if (a.threads < 0) return Fail("--threads must be >= 0");
  if (a.batch_size < 1) return Fail("--batch-size must be >= 1");
  auto ks = recsys::ParseCutoffs(a.ks);
  if (!ks.ok()) return Fail(ks.status());
  recsys::ThreadLimit limit(a.threads);

  // The model, and for two-stage runs the pipeline around it.
  std::shared_ptr<const recsys::SequentialModel> model;
  std::unique_ptr<recsys::Recommender> recommender;
  if (!a.pipeline.empty()) {
    auto rec = recsys::Recommender::Create({}, a.pipeline);
    if (!rec.ok()) return Fail(rec.status());
    recommender = *std::move(rec);
    model = recommender->pipeline()->model;
  } else {
    auto loaded = recsys::LoadModel(a.model);
    if (!loaded.ok()) return Fail(loaded.status());
    model = std::shared_ptr<const recsys::SequentialModel>(*std::move(loaded));
    if (a.candidates > 0) {
      recsys::PipelineBuildOptions build;
      build.index_factory = a.index;
      build.hnsw_ef_construction = a.ef_construction;
      if (a.ef_search > 0) build.default_ef_search = a.ef_search;
      build.default_nprobe = a.nprobe;
      recsys::cli::Log("evaluate: building the stage-1 index " + a.index + " over the item embeddings");
      auto pipeline = recsys::BuildPipeline(model, build);
      if (!pipeline.ok()) return Fail(pipeline.status());
      if (pipeline->index == nullptr) {
        return Fail(absl::StrCat("--candidates: model type '", model->type(),
                                 "' has no interest vectors for an ANN stage 1 (use a longshort model)"));
      }
      pipeline->name = a.model;
      auto rec = recsys::Recommender::Create({}, *std::move(pipeline));
      if (!rec.ok()) return Fail(rec.status());
      recommender = *std::move(rec);
    }
  }
  const recsys::Vocabulary& vocab = model->item_vocab();

  recsys::EvalSet cases;
  if (!a.data.empty() && a.protocol.protocol == "time") {
    // Only the (sampled) test cases: the train part is never built, so the
    // events stay in the mapped snapshot.
    auto test = recsys::cli::LoadTemporalTestCases(a.data, a.format, a.protocol, vocab);
    if (!test.ok()) return Fail(test.status());
    cases = *std::move(test);
  } else if (!a.data.empty()) {
    auto split = recsys::cli::LoadSplitData(a.data, a.format, a.protocol);
    if (!split.ok()) return Fail(split.status());
    const recsys::EvalSet& chosen = a.split == "valid" ? split->valid : split->test;
    cases = recsys::RemapEvalSet(recsys::cli::SampleCases(chosen, a.protocol.max_eval_users),
                                 split->train.item_vocab(), vocab);
  } else {
    auto read = recsys::ReadEvalSet(a.input, a.targets, vocab);
    if (!read.ok()) return Fail(read.status());
    cases = *std::move(read);
  }
  recsys::cli::Log(absl::StrCat("evaluating ", model->type(), " on ", cases.size(), " cases over ", vocab.size(),
                                " items", recommender ? absl::StrCat(", two-stage with ", a.candidates,
                                                                     " candidates") : std::string()));
  // Both modes print the metrics' keys plus the run's context.
  auto emit = [&](nlohmann::json out, const char* mode, double eval_seconds) {
    out["mode"] = mode;
    out["model_type"] = model->type();
    if (!a.data.empty()) {
      out["split"] = a.split;
      out["protocol"] = a.protocol.protocol;
    }
    out["filter_seen"] = !a.no_filter_seen;
    out["eval_seconds"] = eval_seconds;
    out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    recsys::cli::Emit(g, out);
    return 0;
  };
  if (recommender != nullptr) {
    recsys::TwoStageOptions options;
    options.ks = *ks;
    options.candidates = a.candidates;
    options.ef_search = a.ef_search;
    options.nprobe = a.nprobe;
    options.scored_results = a.scored_results;
    options.filter_seen = !a.no_filter_seen;
    options.threads = a.threads;
    auto result = recsys::EvaluateTwoStage(*recommender, cases, options);
    if (!result.ok()) return Fail(result.status());
    return emit(nlohmann::json::parse(recsys::TwoStageResultToJson(*result)), "two_stage", result->seconds);
  }
  recsys::EvalOptions options;
  options.ks = *ks;
  options.filter_seen = !a.no_filter_seen;
  options.threads = a.threads;
  options.batch_size = a.batch_size;
  auto result = recsys::Evaluate(*model, cases, options);
  if (!result.ok()) return Fail(result.status());
  return emit(recsys::cli::EvalJson(*result), "full", result->seconds);
}

}  // namespace

RECSYS_CLI_COMMAND(evaluate, "", "Evaluate a saved model (full-catalogue ranking)",
                   [](CLI::App* app) -> recsys::cli::RunFn {
  auto a = std::make_shared<EvaluateArgs>();
  app->add_option("--model", a->model, "model file");
  app->add_option("--pipeline", a->pipeline, "pipeline file (two-stage evaluation; needs --candidates)");
  app->add_option("--candidates", a->candidates,
                  "two-stage: rank only the top N stage-1 candidates (0 = full catalogue)")->capture_default_str();
  app->add_option("--index", a->index, "two-stage with --model: FAISS factory of the in-memory index")
      ->capture_default_str();
  app->add_option("--ef-search", a->ef_search, "two-stage: HNSW efSearch (0 = pipeline default)");
  app->add_option("--nprobe", a->nprobe, "two-stage: IVF lists probed per query (0 = pipeline default)");
  app->add_flag("--scored-results", a->scored_results,
                "two-stage, HNSW: beam stays --ef-search wide, each query returns the best of every node scored");
  app->add_option("--ef-construction", a->ef_construction, "two-stage with --model: HNSW efConstruction");
  app->add_option("--data", a->data, "dataset file, split per --protocol");
  app->add_option("--format", a->format, "auto|seq|seq-user|csv|tsv|snapshot")->capture_default_str();
  a->protocol.protocol.clear();
  a->protocol.AddTo(app, "loo | time (required with --data)");
  app->add_option("--max-users", a->protocol.max_eval_users,
                  "evaluate at most this many cases (every ⌈cases/N⌉-th; 0 = all)");
  app->add_option("--split", a->split, "valid|test (with --data)")->capture_default_str();
  app->add_option("--input", a->input, "histories (seq file, external ids)");
  app->add_option("--targets", a->targets, "targets (one external id per line)");
  app->add_option("--k", a->ks, "cutoffs, e.g. 10,20")->capture_default_str();
  app->add_flag("--no-filter-seen", a->no_filter_seen, "rank items of the history too");
  app->add_option("--threads", a->threads, "worker threads (0 = all cores)")->capture_default_str();
  app->add_option("--batch-size", a->batch_size, "users per scoring block")->capture_default_str();
  return [a](const recsys::cli::GlobalFlags& g) -> int { return RunEvaluate(*a, g); };
});

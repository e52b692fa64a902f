// `recsys evaluate`: full-catalogue evaluation of a saved model.
//
//   recsys evaluate --model knn.rsm --input ml1m/val/input.txt --targets ml1m/val/output.txt --k 10,20 --json
//   recsys evaluate --model pop.rsm --data amazon/beauty.txt --protocol loo --split test --json
//   → {"users":…, "hr@10":…, "ndcg@10":…, "mrr@10":…, "recall@10":…, "coverage@10":…, …,
//      "unknown_input_items":…, "unknown_targets":…, "seconds":…}
#include <chrono>

#include "cli_common.h"
#include "model_cli_util.h"
#include "recsys/core/parallel.h"
#include "recsys/models/model.h"

namespace {

struct EvaluateArgs {
  std::string model;
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

  auto model = recsys::LoadModel(a.model);
  if (!model.ok()) return Fail(model.status());
  const recsys::Vocabulary& vocab = (*model)->item_vocab();

  recsys::EvalSet cases;
  if (!a.data.empty()) {
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
  recsys::cli::Log(absl::StrCat("evaluating ", (*model)->type(), " on ", cases.size(), " cases over ",
                                vocab.size(), " items"));
  recsys::EvalOptions options;
  options.ks = *ks;
  options.filter_seen = !a.no_filter_seen;
  options.threads = a.threads;
  options.batch_size = a.batch_size;
  auto result = recsys::Evaluate(**model, cases, options);
  if (!result.ok()) return Fail(result.status());
  nlohmann::json out = recsys::cli::EvalJson(*result);
  out["model_type"] = (*model)->type();
  if (!a.data.empty()) {
    out["split"] = a.split;
    out["protocol"] = a.protocol.protocol;
  }
  out["filter_seen"] = options.filter_seen;
  out["eval_seconds"] = result->seconds;
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  recsys::cli::Emit(g, out);
  return 0;
}

}  // namespace

RECSYS_CLI_COMMAND(evaluate, "", "Evaluate a saved model (full-catalogue ranking)",
                   [](CLI::App* app) -> recsys::cli::RunFn {
  auto a = std::make_shared<EvaluateArgs>();
  app->add_option("--model", a->model, "model file")->required();
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

// `recsys train`: trains a registered model and writes it to one file.
//
//   recsys train --model-type itemknn --train-input ml1m/train/input.txt \
//       --valid-input ml1m/val/input.txt --valid-targets ml1m/val/output.txt --out knn.rsm --json
//   recsys train --model-type mostpop --data amazon/beauty.txt --protocol loo --out pop.rsm
//   → progress on stderr; {"model":"knn.rsm","model_type":…,"train":{…},"valid":{…},"seconds":…}
//
// With --data the dataset is split leave-one-out (the default --protocol) and
// training sees only the train part; the validation cases are evaluated after
// training. --protocol none trains on the whole file.
#include <chrono>
#include <fstream>
#include <sstream>

#include "cli_common.h"
#include "model_cli_util.h"
#include "recsys/core/parallel.h"
#include "recsys/models/model.h"

namespace {

struct TrainArgs {
  std::string model_type;
  std::string config_path;
  std::string data;
  std::string format = "auto";
  recsys::cli::SplitFlags split;
  std::string train_input;
  std::string valid_input;
  std::string valid_targets;
  std::string ks = "10";
  int threads = 0;
  uint64_t seed = 42;
  double max_minutes = 0.0;
  std::string out;
};

absl::StatusOr<std::string> ReadConfig(const std::string& path) {
  if (path.empty()) return std::string("{}");
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--config: cannot open '", path, "'"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("--config ", path, ": not a JSON object"));
  }
  return text;
}

int RunTrain(const TrainArgs& a, const recsys::cli::GlobalFlags& g) {
  using recsys::cli::Fail;
  using recsys::cli::Log;
  const auto start = std::chrono::steady_clock::now();
  if (a.data.empty() == a.train_input.empty()) return Fail("give exactly one of --data or --train-input");
  if (a.valid_input.empty() != a.valid_targets.empty()) {
    return Fail("--valid-input and --valid-targets go together");
  }
  if (!a.data.empty() && !a.valid_input.empty()) return Fail("--valid-input is for --train-input; --data validates on its split");
  if (a.threads < 0) return Fail("--threads must be >= 0");
  if (a.max_minutes < 0) return Fail("--max-minutes must be >= 0");
  auto ks = recsys::ParseCutoffs(a.ks);
  if (!ks.ok()) return Fail(ks.status());
  auto config = ReadConfig(a.config_path);
  if (!config.ok()) return Fail(config.status());
  recsys::ThreadLimit limit(a.threads);

  recsys::LooSplit data;
  bool have_valid = false;
  if (!a.data.empty()) {
    auto split = recsys::cli::LoadSplitData(a.data, a.format, a.split);
    if (!split.ok()) return Fail(split.status());
    data = *std::move(split);
    data.test = recsys::EvalSet{};  // training never reads the test cases: free them
    have_valid = a.split.protocol == "loo";
  } else {
    auto train = recsys::LoadDataset(a.train_input, recsys::InputFormat::kSeq);
    if (!train.ok()) return Fail(train.status());
    data.train = *std::move(train);
    if (!a.valid_input.empty()) {
      auto valid = recsys::ReadEvalSet(a.valid_input, a.valid_targets, data.train.item_vocab());
      if (!valid.ok()) return Fail(valid.status());
      data.valid = *std::move(valid);
      have_valid = true;
    }
  }
  Log(absl::StrCat("training ", a.model_type, " on ", data.train.num_users(), " users, ", data.train.num_items(),
                   " items, ", data.train.num_events(), " events"));

  recsys::TrainContext ctx;
  ctx.train = &data.train;
  ctx.valid = have_valid ? &data.valid : nullptr;
  ctx.threads = a.threads;
  ctx.seed = a.seed;
  ctx.max_minutes = a.max_minutes;
  // What the run looked like: validations, the last reported rate, steps.
  struct Trace {
    nlohmann::json validations = nlohmann::json::array();
    double events_per_s = 0.0;
    int64_t steps = 0;
    int epochs = 0;
  };
  auto trace = std::make_shared<Trace>();
  ctx.progress = [trace](const recsys::TrainProgress& p) {
    if (p.events_per_s > 0) trace->events_per_s = p.events_per_s;
    trace->steps = p.step;
    trace->epochs = p.epoch;
    if (!p.valid_metric_name.empty()) {
      trace->validations.push_back({{"epoch", p.epoch}, {"step", p.step}, {"elapsed_s", p.elapsed_s},
                                    {p.valid_metric_name, p.valid_metric}});
    }
    std::string line = absl::StrCat("epoch ", p.epoch, " step ", p.step);
    if (p.total_steps > 0) absl::StrAppend(&line, "/", p.total_steps);
    absl::StrAppend(&line, " loss ", p.loss, " ", static_cast<int64_t>(p.events_per_s), " ev/s elapsed ",
                    static_cast<int64_t>(p.elapsed_s), "s");
    if (p.eta_s > 0) absl::StrAppend(&line, " eta ", static_cast<int64_t>(p.eta_s), "s");
    if (!p.valid_metric_name.empty()) absl::StrAppend(&line, " ", p.valid_metric_name, " ", p.valid_metric);
    recsys::cli::Log(line);
    return true;
  };
  const auto train_start = std::chrono::steady_clock::now();
  auto model = recsys::TrainModel(a.model_type, *config, ctx);
  if (!model.ok()) return Fail(model.status());
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
  Log(absl::StrCat("trained in ", train_seconds, " s"));
  if (auto s = (*model)->Save(a.out); !s.ok()) return Fail(s);
  Log(absl::StrCat("wrote ", a.out));

  nlohmann::json out;
  out["model"] = a.out;
  out["model_type"] = (*model)->type();
  out["config"] = nlohmann::json::parse((*model)->config_json(), nullptr, false);
  out["train"] = {{"users", data.train.num_users()},
                  {"items", data.train.num_items()},
                  {"events", data.train.num_events()}};
  out["train_seconds"] = train_seconds;
  out["steps"] = trace->steps;
  out["events_per_s"] = trace->events_per_s;  // the last rate the trainer reported
  out["validations"] = trace->validations;
  out["peak_rss_bytes"] = recsys::cli::PeakRssBytes();
  if (have_valid) {
    recsys::EvalOptions options;
    options.ks = *ks;
    options.threads = a.threads;
    auto result = recsys::Evaluate(**model, data.valid, options);
    if (!result.ok()) return Fail(result.status());
    out["valid"] = recsys::cli::EvalJson(*result);
    Log(absl::StrCat("valid: ", out["valid"].dump()));
  } else {
    out["valid"] = nullptr;
  }
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  recsys::cli::Emit(g, out);
  return 0;
}

}  // namespace

RECSYS_CLI_COMMAND(train, "", "Train a model and save it to one file", [](CLI::App* app) -> recsys::cli::RunFn {
  auto a = std::make_shared<TrainArgs>();
  app->add_option("--model-type", a->model_type, "model type (mostpop, itemknn, ...)")->required();
  app->add_option("--config", a->config_path, "model config, a JSON object file");
  app->add_option("--data", a->data, "dataset file (split per --protocol)");
  app->add_option("--format", a->format, "auto|seq|seq-user|csv|tsv|snapshot")->capture_default_str();
  a->split.AddTo(app, "loo (train on the split's train part) | time (train on events before the test window) | none");
  app->add_option("--train-input", a->train_input, "training sequences (seq file)");
  app->add_option("--valid-input", a->valid_input, "validation histories (seq file)");
  app->add_option("--valid-targets", a->valid_targets, "validation targets (one id per line)");
  app->add_option("--k", a->ks, "cutoffs of the validation metrics, e.g. 10,20")->capture_default_str();
  app->add_option("--threads", a->threads, "worker threads (0 = all cores)")->capture_default_str();
  app->add_option("--seed", a->seed, "random seed")->capture_default_str();
  app->add_option("--max-minutes", a->max_minutes, "training time limit (0 = none)")->capture_default_str();
  app->add_option("--out", a->out, "model file to write")->required();
  return [a](const recsys::cli::GlobalFlags& g) -> int { return RunTrain(*a, g); };
});

// `recsys bench train`: SASRec training throughput (events/s and achieved
// GFLOP/s) on synthetic sequences, next to (1) a PyTorch implementation of
// exactly the same model, loss and optimiser run on the same machine and
// threads (benchmarks/peers/sasrec_torch.py, through .venv/bin/python;
// skipped with a message when torch is absent) and (2) the machine's sgemm
// GFLOP/s measured in the same run (Eigen's GEMM, the kernel our layers use,
// one independent product per thread).
//
//   recsys bench train --loss gbce --dim 128 --threads 2 --json
//   → {"ours_events_per_s":…, "torch_events_per_s":…, "speedup":…, "ours_gflops":…,
//      "torch_gflops":…, "sgemm_gflops":…, "ours_fraction_of_sgemm":…, …}
//
// Model (issue 5): N blocks (2), H heads (1), FFN width D, S = 200, batch 128,
// 3,416 items; every sequence is S + 1 items long, so each step trains on
// batch × S next-item events. FLOPs count the matrix products only (forward
// + both backward products), with full S × S attention, identical for both.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli_common.h"
#include "recsys/core/parallel.h"
#include "recsys/core/rng.h"
#include "recsys/models/sasrec.h"

namespace {

struct BenchTrainArgs {
  std::string loss = "gbce";
  int dim = 64;
  int threads = 2;
  int batch = 128;
  int seq_len = 200;
  int items = 3416;
  int blocks = 2;
  int heads = 1;
  int negatives = 256;
  std::string sharing = "position";  // negatives per position (gSASRec) or per batch
  double dropout = 0.2;
  int steps = 5;
  int warmup = 1;
  int shards = 8;
  bool no_torch = false;
  std::string python;        // default: .venv/bin/python near the cwd or the binary
  std::string torch_script;  // default: benchmarks/peers/sasrec_torch.py
  uint64_t seed = 1;
};

// Looks for `rel` under the cwd and the binary's parent directories.
std::string FindFile(const std::string& rel) {
  namespace fs = std::filesystem;
  std::vector<fs::path> roots = {fs::current_path()};
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) roots.push_back(p);
  }
  for (const fs::path& r : roots) {
    if (fs::exists(r / rel, ec)) return (r / rel).string();
  }
  return "";
}

// Matrix-product FLOPs of one training step (forward + backward = 3 × forward).
double StepFlops(const BenchTrainArgs& a) {
  const double s = a.seq_len, d = a.dim, f = a.dim, n = a.items, b = a.batch;
  const double block = 4 * 2 * s * d * d     // Q, K, V, O projections
                       + 2 * 2 * s * s * d   // Q·Kᵀ and P·V
                       + 2 * 2 * s * d * f;  // FFN
  const double head = a.loss == "ce" ? 2 * s * d * n : 2 * s * d * (a.negatives + 1);
  return 3.0 * b * (a.blocks * block + head);
}

// GFLOP/s of Eigen's sgemm: one 1024 × 1024 × 1024 product per thread,
// all threads at once (our training runs one GEMM per thread the same way).
double MeasureSgemm(int threads) {
  const int64_t n = 1024;
  recsys::ThreadLimit limit(threads);
  std::vector<recsys::MatrixF> a(threads), b(threads), c(threads);
  for (int t = 0; t < threads; ++t) {
    a[t] = recsys::MatrixF::Random(n, n);
    b[t] = recsys::MatrixF::Random(n, n);
    c[t].resize(n, n);
  }
  double best = 0.0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    recsys::ParallelFor(0, threads, 1, [&](int64_t b0, int64_t e0) {
      for (int64_t t = b0; t < e0; ++t) c[t].noalias() = a[t] * b[t];
    });
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * n * n * n * threads / sec / 1e9);
  }
  return best;
}

nlohmann::json RunOurs(const BenchTrainArgs& a, std::string* error) {
  using namespace recsys;
  // Synthetic sequences of S + 1 uniform items (every position has a target).
  SequenceDataset::Columns cols;
  const int64_t users = int64_t{a.batch} * (a.steps + a.warmup);
  cols.offsets.push_back(0);
  std::vector<ExternalId> user_ids, item_ids;
  Rng rng(a.seed, 0);
  for (int64_t u = 0; u < users; ++u) {
    user_ids.push_back(u);
    for (int t = 0; t <= a.seq_len; ++t) {
      cols.items.push_back(static_cast<ItemIndex>(rng.UniformInt(static_cast<uint64_t>(a.items))));
      cols.timestamps.push_back(t);
      cols.types.push_back(0);
      cols.weights.push_back(1.0f);
      cols.organic.push_back(1);
    }
    cols.offsets.push_back(static_cast<int64_t>(cols.items.size()));
  }
  for (int i = 0; i < a.items; ++i) item_ids.push_back(i);
  auto data = SequenceDataset::FromColumns(std::move(cols), Vocabulary::FromExternals(user_ids),
                                           Vocabulary::FromExternals(item_ids));
  if (!data.ok()) {
    *error = data.status().ToString();
    return {};
  }
  nlohmann::json cfg_json = {{"dim", a.dim},         {"num_blocks", a.blocks},   {"num_heads", a.heads},
                             {"max_len", a.seq_len}, {"dropout", a.dropout},     {"loss", a.loss},
                             {"num_negatives", a.negatives}, {"batch_size", a.batch},
                             {"num_shards", a.shards}, {"epochs", 1},           {"beta2", 0.98},
                             {"negative_sharing", a.sharing}};
  if (a.loss == "gbce") cfg_json["gbce_t"] = 0.75;
  auto cfg = SasRecConfig::FromJson(cfg_json.dump());
  if (!cfg.ok()) {
    *error = cfg.status().ToString();
    return {};
  }
  auto model = SasRecModel::Create(*cfg, data->item_vocab(), data->ItemCounts(), a.seed);
  if (!model.ok()) {
    *error = model.status().ToString();
    return {};
  }
  (*model)->SetTrainingData(&*data);
  ThreadLimit limit(a.threads);
  TrainerConfig tc = (*model)->MakeTrainerConfig(a.seed, a.threads, 0.0);
  auto trainer = Trainer::Create(tc, model->get());
  if (!trainer.ok()) {
    *error = trainer.status().ToString();
    return {};
  }
  for (int i = 0; i < a.warmup; ++i) (*trainer)->Step();
  const auto start = std::chrono::steady_clock::now();
  double loss = 0.0;
  for (int i = 0; i < a.steps; ++i) loss = (*trainer)->Step();
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double events = static_cast<double>(a.steps) * a.batch * a.seq_len;
  return {{"events_per_s", events / sec}, {"seconds_per_step", sec / a.steps},
          {"gflops", StepFlops(a) * a.steps / sec / 1e9}, {"last_loss", loss}};
}

nlohmann::json RunTorch(const BenchTrainArgs& a, std::string* why_not) {
  const std::string python = a.python.empty() ? FindFile(".venv/bin/python") : a.python;
  const std::string script = a.torch_script.empty() ? FindFile("benchmarks/peers/sasrec_torch.py") : a.torch_script;
  if (python.empty() || script.empty()) {
    *why_not = "python (.venv/bin/python) or benchmarks/peers/sasrec_torch.py not found";
    return nullptr;
  }
  const std::string cmd = absl::StrFormat(
      "'%s' '%s' --loss %s --dim %d --threads %d --batch %d --seq-len %d --items %d --blocks %d --heads %d "
      "--negatives %d --sharing %s --dropout %g --steps %d --warmup %d --seed %d 2>&1",
      python, script, a.loss, a.dim, a.threads, a.batch, a.seq_len, a.items, a.blocks, a.heads, a.negatives,
      a.sharing, a.dropout, a.steps, a.warmup, static_cast<int>(a.seed));
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) {
    *why_not = "could not start " + python;
    return nullptr;
  }
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof(buf), pipe) != nullptr) out += buf;
  const int rc = pclose(pipe);
  // The peer prints diagnostics, then one JSON object on its last line.
  const size_t last = out.find_last_of('{');
  const size_t line_start = last == std::string::npos ? std::string::npos : out.rfind('\n', last);
  std::string json_line = last == std::string::npos ? "" : out.substr(line_start == std::string::npos ? 0 : line_start + 1);
  nlohmann::json j = nlohmann::json::parse(json_line, nullptr, false);
  if (rc != 0 || j.is_discarded() || !j.is_object()) {
    std::string tail = out.size() > 400 ? out.substr(out.size() - 400) : out;
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    *why_not = absl::StrFormat("torch peer failed (exit %d): %s", rc, tail);
    return nullptr;
  }
  if (j.contains("skipped")) {
    *why_not = j["skipped"].get<std::string>();
    return nullptr;
  }
  return j;
}

recsys::cli::RunFn SetupBenchTrain(CLI::App* app) {
  auto a = std::make_shared<BenchTrainArgs>();
  app->add_option("--loss", a->loss, "gbce | ce | bce | sampled_softmax")
      ->check(CLI::IsMember({"gbce", "ce", "bce", "sampled_softmax"}));
  app->add_option("--dim", a->dim, "model dim D (FFN width D)")->check(CLI::PositiveNumber);
  app->add_option("--threads", a->threads, "threads for both implementations")->check(CLI::PositiveNumber);
  app->add_option("--batch", a->batch, "sequences per step")->check(CLI::PositiveNumber);
  app->add_option("--seq-len", a->seq_len, "S, positions per sequence")->check(CLI::PositiveNumber);
  app->add_option("--items", a->items, "catalogue size")->check(CLI::Range(2, 1 << 30));
  app->add_option("--blocks", a->blocks, "self-attention blocks")->check(CLI::PositiveNumber);
  app->add_option("--heads", a->heads, "attention heads")->check(CLI::PositiveNumber);
  app->add_option("--negatives", a->negatives, "sampled negatives")->check(CLI::PositiveNumber);
  app->add_option("--sharing", a->sharing,
                  "position: fresh negatives for every position (gSASRec; default) | batch: one set per batch")
      ->check(CLI::IsMember({"position", "batch"}));
  app->add_option("--dropout", a->dropout, "dropout probability")->check(CLI::Range(0.0, 0.99));
  app->add_option("--steps", a->steps, "timed optimizer steps")->check(CLI::PositiveNumber);
  app->add_option("--warmup", a->warmup, "untimed steps first")->check(CLI::NonNegativeNumber);
  app->add_option("--shards", a->shards, "gradient shards per batch (ours)")->check(CLI::Range(1, 1024));
  app->add_flag("--no-torch", a->no_torch, "skip the PyTorch peer");
  app->add_option("--python", a->python, "python with torch (default .venv/bin/python)");
  app->add_option("--torch-script", a->torch_script, "peer script (default benchmarks/peers/sasrec_torch.py)");
  app->add_option("--seed", a->seed, "seed");
  return [a](const recsys::cli::GlobalFlags& g) -> int {
    if (a->dim % a->heads != 0) return recsys::cli::Fail("--dim must be divisible by --heads");
    recsys::LimitThirdPartyThreads();
    recsys::cli::Log("bench train: measuring sgemm");
    const double sgemm = MeasureSgemm(a->threads);
    recsys::cli::Log(absl::StrFormat("bench train: ours (%s, D=%d, %d threads)", a->loss, a->dim, a->threads));
    std::string error;
    nlohmann::json ours = RunOurs(*a, &error);
    if (!error.empty()) return recsys::cli::Fail(error);
    nlohmann::json torch = nullptr;
    std::string why_not = "--no-torch";
    if (!a->no_torch) {
      recsys::cli::Log("bench train: PyTorch peer");
      why_not.clear();
      torch = RunTorch(*a, &why_not);
      if (torch.is_null()) recsys::cli::Log("bench train: torch peer skipped: " + why_not);
    }
    const double ours_eps = ours["events_per_s"].get<double>();
    nlohmann::json out = {
        {"benchmark", "train"},
        {"model", "sasrec"},
        {"loss", a->loss},
        {"dim", a->dim},
        {"threads", a->threads},
        {"batch", a->batch},
        {"seq_len", a->seq_len},
        {"items", a->items},
        {"blocks", a->blocks},
        {"heads", a->heads},
        {"negatives", a->loss == "ce" ? 0 : a->negatives},
        {"negative_sharing", a->loss == "ce" ? "" : a->sharing},
        {"steps", a->steps},
        {"ours_events_per_s", ours_eps},
        {"ours_seconds_per_step", ours["seconds_per_step"]},
        {"ours_gflops", ours["gflops"]},
        {"ours_last_loss", ours["last_loss"]},
        {"sgemm_gflops", sgemm},
        {"ours_fraction_of_sgemm", ours["gflops"].get<double>() / sgemm},
        {"torch_events_per_s", nullptr},
        {"torch_gflops", nullptr},
        {"speedup", nullptr},
    };
    if (!torch.is_null()) {
      const double t_eps = torch["events_per_s"].get<double>();
      out["torch_events_per_s"] = t_eps;
      out["torch_gflops"] = StepFlops(*a) / a->batch / a->seq_len * t_eps / 1e9;
      out["torch_version"] = torch.value("torch_version", "");
      out["torch_last_loss"] = torch.value("last_loss", 0.0);
      out["speedup"] = ours_eps / t_eps;
    } else {
      out["torch_skipped"] = why_not;
    }
    recsys::cli::Log(absl::StrFormat(
        "bench train: ours %.0f events/s (%.1f GFLOP/s, %.0f%% of sgemm %.1f GFLOP/s); torch %s; speedup %s",
        ours_eps, ours["gflops"].get<double>(), 100.0 * out["ours_fraction_of_sgemm"].get<double>(), sgemm,
        torch.is_null() ? std::string("n/a") : absl::StrFormat("%.0f events/s", out["torch_events_per_s"].get<double>()),
        torch.is_null() ? std::string("n/a") : absl::StrFormat("%.2fx", out["speedup"].get<double>())));
    recsys::cli::Emit(g, out);
    return 0;
  };
}

}  // namespace

RECSYS_CLI_COMMAND(train, "bench", "SASRec training throughput vs PyTorch and sgemm", SetupBenchTrain);

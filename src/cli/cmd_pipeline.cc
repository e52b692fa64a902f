// `recsys build-pipeline`: one serving file (model + ANN index over its item
// embeddings + optional popularity from a dataset) for the Recommender and
// `recsys recommend`.
//
//   recsys build-pipeline --model ls.rsm --index HNSW32 --out shop.rsp [--data train.txt] --json
//   → {"out":…, "model_type":…, "items":…, "index":…, "bytes":…, "seconds":…}
#include <chrono>
#include <filesystem>

#include "cli_common.h"
#include "recsys/core/parallel.h"
#include "recsys/data/readers.h"
#include "recsys/recommender.h"

namespace {

struct PipelineArgs {
  std::string model;
  std::string index = "HNSW32";
  std::string out;
  std::string data;  // optional: popularity (event counts) from this dataset
  std::string format = "auto";
  int ef_construction = 0;
  int ef_search = 128;
  int nprobe = 0;
  bool locality_order = false;
};

int RunBuild(const PipelineArgs& a, const recsys::cli::GlobalFlags& g) {
  using recsys::cli::Fail;
  const auto start = std::chrono::steady_clock::now();
  recsys::LimitThirdPartyThreads();
  auto model = recsys::LoadModel(a.model);
  if (!model.ok()) return Fail(model.status());
  std::shared_ptr<const recsys::SequentialModel> shared(std::move(*model));
  recsys::PipelineBuildOptions options;
  options.index_factory = a.index == "none" ? std::string() : a.index;
  options.hnsw_ef_construction = a.ef_construction;
  options.default_ef_search = a.ef_search;
  options.default_nprobe = a.nprobe;
  options.locality_order = a.locality_order;
  recsys::cli::Log("build-pipeline: building index " + a.index);
  auto pipeline = recsys::BuildPipeline(shared, options);
  if (!pipeline.ok()) return Fail(pipeline.status());
  if (!a.data.empty()) {
    auto format = recsys::ParseInputFormat(a.format);
    if (!format.ok()) return Fail(format.status());
    auto ds = recsys::LoadDataset(a.data, *format);
    if (!ds.ok()) return Fail(ds.status());
    const recsys::Vocabulary& mv = shared->item_vocab();
    pipeline->popularity.assign(static_cast<size_t>(mv.size()), 0.0f);
    const std::vector<int64_t> counts = ds->ItemCounts();
    for (int32_t i = 0; i < ds->num_items(); ++i) {
      const int32_t m = mv.Find(ds->item_vocab().External(i));
      if (m >= 0) pipeline->popularity[static_cast<size_t>(m)] = static_cast<float>(counts[static_cast<size_t>(i)]);
    }
  }
  if (auto s = recsys::SavePipeline(*pipeline, a.out); !s.ok()) return Fail(s);
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(a.out, ec);
  nlohmann::json out = {
      {"out", a.out},
      {"model_type", shared->type()},
      {"items", shared->num_items()},
      {"index", pipeline->index != nullptr ? pipeline->index->factory() : std::string("none")},
      {"popularity", !pipeline->popularity.empty()},
      {"bytes", ec ? 0 : bytes},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
  };
  recsys::cli::Emit(g, out);
  return 0;
}

}  // namespace

RECSYS_CLI_COMMAND(build_pipeline, "", "Build a serving pipeline file (model + ANN index)",
                   [](CLI::App* app) -> recsys::cli::RunFn {
                     auto a = std::make_shared<PipelineArgs>();
                     app->add_option("--model", a->model, "model file (.rsm)")->required();
                     app->add_option("--index", a->index, "FAISS factory string, or none")->capture_default_str();
                     app->add_option("--out", a->out, "pipeline file (.rsp)")->required();
                     app->add_option("--data", a->data, "dataset for popularity counts (optional)");
                     app->add_option("--format", a->format, "auto|seq|seq-user|csv");
                     app->add_option("--ef-construction", a->ef_construction, "HNSW efConstruction (0 = default)");
                     app->add_option("--ef-search", a->ef_search, "default HNSW efSearch");
                     app->add_option("--nprobe", a->nprobe, "default IVF lists probed per query (0 = 1)")
                         ->check(CLI::NonNegativeNumber);
                     app->add_option("--locality-order", a->locality_order,
                                     "HNSW: store the graph in breadth-first order (1) or insertion order "
                                     "(0, default)");
                     return [a](const recsys::cli::GlobalFlags& g) -> int { return RunBuild(*a, g); };
                   });

// Quickstart: serve recommendations from a pipeline file, or from a small
// random model when no file is given.
//
//   recsys train --model-type longshort --data beauty.txt --out ls.rsm
//   recsys build-pipeline --model ls.rsm --index HNSW32 --out beauty.rsp
//   example_recommend_example beauty.rsp 12 57 301
#include <cstdio>
#include <cstdlib>
#include <string>

#include "recsys/models/longshort.h"
#include "recsys/recommender.h"

namespace {

// A random (untrained) longshort model over items 1..1000 with a Flat index.
absl::StatusOr<recsys::Pipeline> DemoPipeline() {
  recsys::LongShortConfig config;
  config.dim = 32;
  config.num_interests = 3;
  std::vector<recsys::ExternalId> ids;
  for (recsys::ExternalId i = 1; i <= 1000; ++i) ids.push_back(i);
  auto model = recsys::LongShortModel::Create(config, recsys::Vocabulary::FromExternals(ids));
  if (!model.ok()) return model.status();
  recsys::PipelineBuildOptions options;
  options.index_factory = "Flat";
  auto pipeline = recsys::BuildPipeline(std::shared_ptr<const recsys::SequentialModel>(std::move(*model)), options);
  if (pipeline.ok()) pipeline->name = "demo";
  return pipeline;
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<recsys::Pipeline> pipeline =
      argc > 1 ? recsys::LoadPipeline(argv[1]) : DemoPipeline();
  if (!pipeline.ok()) {
    std::fprintf(stderr, "error: %s\n", pipeline.status().ToString().c_str());
    return 1;
  }
  auto rec = recsys::Recommender::Create({}, *std::move(pipeline));
  if (!rec.ok()) {
    std::fprintf(stderr, "error: %s\n", rec.status().ToString().c_str());
    return 1;
  }

  recsys::RecommendRequest request;
  for (int i = 2; i < argc; ++i) request.history.push_back(std::atoll(argv[i]));
  if (argc <= 2) request.history = {3, 14, 15, 92, 65};
  request.options.k = 10;
  request.options.reranker = recsys::RerankerKind::kMmr;  // diversify the top 10
  request.options.mmr.lambda = 0.8;

  auto result = (*rec)->Recommend(request);
  if (!result.ok()) {
    std::fprintf(stderr, "error: %s\n", result.status().ToString().c_str());
    return 1;
  }
  std::printf("pipeline %s, %d candidates, %.2f ms\n", result->pipeline.c_str(), result->num_candidates,
              result->elapsed_ms);
  for (const recsys::RecommendedItem& item : result->items) {
    std::printf("item %6lld  score %8.4f  from", static_cast<long long>(item.item), item.score);
    for (const recsys::CandidateSource& s : item.sources) {
      std::printf(" %s(interest %d, rank %d)", recsys::GeneratorName(s.generator), s.query, s.rank);
    }
    std::printf("\n");
  }
  return 0;
}

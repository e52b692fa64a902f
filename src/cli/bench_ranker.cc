// `recsys bench ranker`: serving latency of the multi-interest ranker and of
// the whole Recommender (ANN + rank), each next to its FLOP bound at the
// machine's sgemm rate measured in the same run.
//
//   recsys bench ranker --items 100000 --history 2000 --candidates 1000 --dim 64 \
//       --interests 4 --short 50 --json
//   recsys bench ranker --items 1000000 --index IVF1024,Flat --nprobe 4 --json   (IVF-Flat stage 1)
//   recsys bench ranker --items 1000000 --ef-search 64 --scored-results --compare-walks --json
//       (HNSW, beam 64, each query's best of the nodes it scored; "walks" times the
//        standard walk, the scored walk one query at a time (ann_walk_group 1) and
//        the scored walk with --walk-group queries in lock step, interleaved
//        request by request)
//   --pipeline-cache FILE reuses the model and index of an earlier run with the
//   same flags (the 10^6-item HNSW build takes minutes); a file built with other
//   shape flags, or other --clusters/--seed (checked through the first planted
//   row), is refused.
//   → {"rank_p50_ms":…, "rank_p99_ms":…, "e2e_p50_ms":…, "e2e_p99_ms":…,
//      "batch_requests_per_s":…, "flop_bound_ms":…, "e2e_flop_bound_ms":…, "sgemm_gflops":…, …}
//
// The model is randomly initialised (latency does not depend on training),
// except for the item embeddings: trained embeddings are clustered, and HNSW's
// cost depends on that (on i.i.d. vectors a beam of 400 visits a large part of
// the graph), so --clusters C plants C clusters of unit vectors (noise 0.6, as
// `recsys bench retrieval`); --clusters 0 keeps the i.i.d. initialisation.
// Single-request figures run on one thread (ThreadLimit 1); RecommendBatch
// on --batch-threads.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli_common.h"
#include "recsys/core/parallel.h"
#include "recsys/core/rng.h"
#include "recsys/candidates/synthetic_vectors.h"
#include "recsys/models/longshort.h"
#include "recsys/recommender.h"

namespace {

using Clock = std::chrono::steady_clock;

struct RankerArgs {
  int items = 1000000;
  int history = 2000;
  int candidates = 1000;
  int dim = 64;
  int interests = 4;
  int short_window = 50;
  int requests = 300;
  int batch_threads = 2;
  std::string index = "HNSW32";
  int ef_search = 64;
  int nprobe = 16;
  int clusters = 1000;
  double fetch_factor = 2.0;
  bool scored_results = false;
  int walk_group = 8;
  bool compare_walks = false;
  bool locality_order = false;
  std::string pipeline_cache;  // load the pipeline from here, or build and save it there
  uint64_t seed = 1;
};

double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

// Single-thread GFLOP/s of Eigen's sgemm (best of 5, 384³).
double MeasureSgemm() {
  const int64_t n = 384;
  recsys::MatrixF a = recsys::MatrixF::Random(n, n), b = recsys::MatrixF::Random(n, n), c(n, n);
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
    c.noalias() = a * b;
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, 2.0 * n * n * n / s / 1e9);
  }
  return best;
}

// FLOPs of one user's ranking: short encoder (per block: Q/K/V/O projections
// 8·S·D², attention 4·S²·D, FFN 4·S·D·F), long encoder (interest queries and
// projections 6·K·D², attention over L events 4·K·L·D; item-side keys/values
// are precomputed), target-aware scorer 2·C·(K+1)·D.
double RankFlops(const recsys::LongShortConfig& c, int history, int candidates) {
  const double d = c.dim, s = std::min(history, c.max_len), f = c.ffn_dim > 0 ? c.ffn_dim : c.dim;
  const double l = std::min(history, c.max_history), k = c.num_interests;
  const double short_enc = c.num_blocks * (8 * s * d * d + 4 * s * s * d + 4 * s * d * f);
  const double long_enc = 6 * k * d * d + 4 * k * l * d;
  return short_enc + long_enc + 2.0 * candidates * (k + 1) * d;
}

int Run(const RankerArgs& a, const recsys::cli::GlobalFlags& g) {
  using recsys::cli::Fail;
  using recsys::cli::Log;
  recsys::LimitThirdPartyThreads();
  recsys::SingleThreadedOpenMP();
  Log("bench ranker: measuring sgemm");
  const double sgemm = MeasureSgemm();

  recsys::LongShortConfig config;
  config.dim = a.dim;
  config.num_interests = a.interests;
  config.max_len = a.short_window;
  config.max_history = a.history;
  config.dropout = 0.0;
  config.log_losses = false;
  std::shared_ptr<const recsys::LongShortModel> shared;
  absl::StatusOr<recsys::Pipeline> pipeline;
  double build_s = 0.0;
  const bool cache_hit = !a.pipeline_cache.empty() && std::filesystem::exists(a.pipeline_cache);
  if (cache_hit) {
    // A pipeline saved by an earlier run with the same flags (same config and
    // seed, so the same weights and index).
    Log("bench ranker: loading " + a.pipeline_cache);
    pipeline = recsys::LoadPipeline(a.pipeline_cache);
    if (!pipeline.ok()) return Fail(pipeline.status());
    shared = std::dynamic_pointer_cast<const recsys::LongShortModel>(pipeline->model);
    if (shared == nullptr || pipeline->index == nullptr || shared->num_items() != a.items ||
        shared->config().dim != a.dim || shared->config().num_interests != a.interests ||
        shared->config().max_len != a.short_window || shared->config().max_history != a.history ||
        pipeline->index->factory() != a.index) {
      return Fail("--pipeline-cache " + a.pipeline_cache +
                  " was built with other --items/--dim/--interests/--short/--history/--index");
    }
    if (a.index.rfind("HNSW", 0) == 0 && pipeline->index->locality_ordered() != a.locality_order) {
      return Fail("--pipeline-cache " + a.pipeline_cache + " was built with another --locality-order");
    }
    // --clusters / --seed: the planted embeddings' first row, which
    // ClusteredUnitVectors draws from the same seeds whatever the row count.
    if (a.clusters > 0) {
      const recsys::MatrixF first = recsys::ClusteredUnitVectors(1, a.dim, a.clusters, 0.6f, a.seed, a.seed + 1);
      if (!first.row(0).isApprox(shared->item_embeddings().row(0), 1e-6f)) {
        return Fail("--pipeline-cache " + a.pipeline_cache + " was built with other --clusters/--seed");
      }
    }
  } else {
    std::vector<recsys::ExternalId> ids(static_cast<size_t>(a.items));
    for (int i = 0; i < a.items; ++i) ids[static_cast<size_t>(i)] = i;
    Log(absl::StrFormat("bench ranker: random longshort model, %d items × D=%d, K=%d", a.items, a.dim, a.interests));
    auto model = recsys::LongShortModel::Create(config, recsys::Vocabulary::FromExternals(ids), nullptr, a.seed);
    if (!model.ok()) return Fail(model.status());
    if (a.clusters > 0) {
      recsys::ParameterArena& arena = (*model)->params();
      const std::optional<int> id = arena.Find("item_emb");
      if (!id) return Fail("bench ranker: model has no item_emb tensor");
      const recsys::MatrixF planted =
          recsys::ClusteredUnitVectors(a.items, a.dim, a.clusters, 0.6f, a.seed, a.seed + 1);
      arena.Value(*id) = planted;
      (*model)->RefreshInference();
    }
    shared = std::move(*model);
    Log(absl::StrFormat("bench ranker: building %s index", a.index));
    const auto t_build = Clock::now();
    recsys::PipelineBuildOptions build;
    build.index_factory = a.index;
    build.default_ef_search = a.ef_search;
    build.default_nprobe = a.nprobe;
    build.locality_order = a.locality_order;
    {
      recsys::ThreadLimit limit(a.batch_threads);
      pipeline = recsys::BuildPipeline(shared, build);
    }
    if (!pipeline.ok()) return Fail(pipeline.status());
    build_s = Ms(t_build, Clock::now()) / 1e3;
    if (!a.pipeline_cache.empty()) {
      if (auto st = recsys::SavePipeline(*pipeline, a.pipeline_cache); !st.ok()) return Fail(st);
    }
  }
  pipeline->name = "bench";
  auto rec = recsys::Recommender::Create({}, *std::move(pipeline));
  if (!rec.ok()) return Fail(rec.status());

  // Requests: random histories of --history events, random candidate sets.
  recsys::Rng rng(a.seed, 7);
  std::vector<std::vector<recsys::ItemIndex>> hist(static_cast<size_t>(a.requests));
  std::vector<std::vector<recsys::ItemIndex>> cand(static_cast<size_t>(a.requests));
  std::vector<recsys::RecommendRequest> reqs(static_cast<size_t>(a.requests));
  for (int r = 0; r < a.requests; ++r) {
    for (int i = 0; i < a.history; ++i) hist[r].push_back(static_cast<recsys::ItemIndex>(rng.UniformInt(a.items)));
    for (int i = 0; i < a.candidates; ++i) cand[r].push_back(static_cast<recsys::ItemIndex>(rng.UniformInt(a.items)));
    reqs[r].history.assign(hist[r].begin(), hist[r].end());  // external id == dense index here
    reqs[r].options.k = 10;
    reqs[r].options.ann_candidates = a.candidates;
    reqs[r].options.item_to_item_candidates = 0;
    reqs[r].options.popularity_candidates = 0;
    reqs[r].options.ef_search = a.ef_search;
    reqs[r].options.nprobe = a.nprobe;
    reqs[r].options.ann_fetch_factor = a.fetch_factor;
    reqs[r].options.ann_scored_results = a.scored_results;
    reqs[r].options.ann_walk_group = a.walk_group;
  }

  Log("bench ranker: ranking stage, 1 thread");
  std::vector<double> rank_ms, e2e_ms;
  std::optional<recsys::ThreadLimit> one_thread(std::in_place, 1);
  for (int r = -5; r < a.requests; ++r) {  // 5 warm-up requests
    const size_t i = static_cast<size_t>(std::max(r, 0));
    const auto t0 = Clock::now();
    auto s = shared->ScoreCandidates(recsys::HistoryView{hist[i], {}}, cand[i]);
    const auto t1 = Clock::now();
    if (!s.ok()) return Fail(s.status());
    if (r >= 0) rank_ms.push_back(Ms(t0, t1));
  }
  Log("bench ranker: end to end, 1 thread");
  for (int r = -5; r < a.requests; ++r) {
    const size_t i = static_cast<size_t>(std::max(r, 0));
    const auto t0 = Clock::now();
    auto out = (*rec)->Recommend(reqs[i]);
    const auto t1 = Clock::now();
    if (!out.ok()) return Fail(out.status());
    if (r >= 0) e2e_ms.push_back(Ms(t0, t1));
  }
  // --compare-walks: HNSW walk variants on the same index and requests,
  // interleaved request by request so that machine noise hits them alike.
  nlohmann::json walks = nlohmann::json::array();
  if (a.compare_walks) {
    Log("bench ranker: comparing HNSW walks, interleaved, 1 thread");
    // The standard walk, the scored walk one query at a time, and the
    // scored walk with the user's queries in lock step (--walk-group).
    struct Variant {
      bool scored;
      int group;
    };
    const Variant variants[3] = {{false, a.walk_group}, {true, 1}, {true, a.walk_group}};
    std::vector<std::vector<double>> ms(3);
    for (int r = -5; r < a.requests; ++r) {
      const size_t i = static_cast<size_t>(std::max(r, 0));
      // The order rotates request by request: a request right after another
      // variant's pays for what that one evicted, and each variant should pay alike.
      for (int j = 0; j < 3; ++j) {
        const int v = (j + std::max(r, 0)) % 3;
        recsys::RecommendRequest req = reqs[i];
        req.options.ann_scored_results = variants[v].scored;
        req.options.ann_walk_group = variants[v].group;
        const auto t0 = Clock::now();
        auto out = (*rec)->Recommend(req);
        const auto t1 = Clock::now();
        if (!out.ok()) return Fail(out.status());
        if (r >= 0) ms[static_cast<size_t>(v)].push_back(Ms(t0, t1));
      }
    }
    for (int v = 0; v < 3; ++v) {
      walks.push_back({{"ann_scored_results", variants[v].scored},
                       {"ann_walk_group", variants[v].group},
                       {"e2e_p50_ms", Percentile(ms[static_cast<size_t>(v)], 0.5)},
                       {"e2e_p99_ms", Percentile(ms[static_cast<size_t>(v)], 0.99)}});
    }
  }
  one_thread.reset();
  Log(absl::StrFormat("bench ranker: RecommendBatch, %d threads", a.batch_threads));
  double batch_rps = 0.0;
  {
    recsys::ThreadLimit limit(a.batch_threads);
    for (int rep = 0; rep < 2; ++rep) {
      const auto t0 = Clock::now();
      auto out = (*rec)->RecommendBatch(reqs);
      const double s = Ms(t0, Clock::now()) / 1e3;
      for (const auto& o : out) {
        if (!o.ok()) return Fail(o.status());
      }
      batch_rps = std::max(batch_rps, a.requests / s);
    }
  }

  const double flops = RankFlops(config, a.history, a.candidates);
  const double flop_bound_ms = flops / (sgemm * 1e9) * 1e3;
  // ANN reference: (K+1) queries × efSearch expansions × 32 neighbours × 2·D
  // distance flops (HNSW32 visits about that many vectors).
  const double ann_flops = (a.interests + 1.0) * a.ef_search * 32.0 * 2.0 * a.dim;
  const double e2e_bound_ms = (flops + ann_flops) / (sgemm * 1e9) * 1e3;
  nlohmann::json out = {
      {"items", a.items},
      {"history", a.history},
      {"candidates", a.candidates},
      {"dim", a.dim},
      {"interests", a.interests},
      {"short", a.short_window},
      {"index", a.index},
      {"ef_search", a.ef_search},
      {"nprobe", a.nprobe},
      {"index_build_s", build_s},  // 0 when the pipeline came from --pipeline-cache
      {"pipeline_cache_hit", cache_hit},
      {"item_clusters", a.clusters},
      {"ann_fetch_factor", a.fetch_factor},
      {"ann_scored_results", a.scored_results},
      {"ann_walk_group", a.walk_group},
      {"ann_locality_order", a.locality_order},
      {"requests", a.requests},
      {"sgemm_gflops", sgemm},
      {"rank_gflop", flops / 1e9},
      {"rank_p50_ms", Percentile(rank_ms, 0.50)},
      {"rank_p99_ms", Percentile(rank_ms, 0.99)},
      {"flop_bound_ms", flop_bound_ms},
      {"e2e_p50_ms", Percentile(e2e_ms, 0.50)},
      {"e2e_p99_ms", Percentile(e2e_ms, 0.99)},
      {"e2e_flop_bound_ms", e2e_bound_ms},
      {"batch_threads", a.batch_threads},
      {"batch_requests_per_s", batch_rps},
      {"batch_flop_bound_requests_per_s", a.batch_threads * 1e3 / e2e_bound_ms},
      {"target_rank_p99_ms", 1.0},
      {"target_e2e_p99_ms", 3.0},
  };
  if (a.compare_walks) out["walks"] = walks;
  if (!g.json) {
    Log(absl::StrFormat("rank p50 %.3f ms p99 %.3f ms (flop bound %.3f ms); e2e p50 %.3f ms p99 %.3f ms "
                        "(bound %.3f ms); batch %.0f req/s on %d threads",
                        out["rank_p50_ms"].get<double>(), out["rank_p99_ms"].get<double>(), flop_bound_ms,
                        out["e2e_p50_ms"].get<double>(), out["e2e_p99_ms"].get<double>(), e2e_bound_ms, batch_rps,
                        a.batch_threads));
  }
  recsys::cli::Emit(g, out);
  return 0;
}

}  // namespace

RECSYS_CLI_COMMAND(ranker, "bench", "Ranker and end-to-end serving latency vs FLOP bound",
                   [](CLI::App* app) -> recsys::cli::RunFn {
                     auto a = std::make_shared<RankerArgs>();
                     app->add_option("--items", a->items, "catalogue size")->check(CLI::Range(2, 1 << 30));
                     app->add_option("--history", a->history, "history length L")->check(CLI::PositiveNumber);
                     app->add_option("--candidates", a->candidates, "candidates ranked")->check(CLI::PositiveNumber);
                     app->add_option("--dim", a->dim, "model dim D")->check(CLI::PositiveNumber);
                     app->add_option("--interests", a->interests, "K long-term interests")->check(CLI::Range(0, 64));
                     app->add_option("--short", a->short_window, "short window S")->check(CLI::PositiveNumber);
                     app->add_option("--requests", a->requests, "timed requests")->check(CLI::PositiveNumber);
                     app->add_option("--batch-threads", a->batch_threads, "threads of RecommendBatch")
                         ->check(CLI::PositiveNumber);
                     app->add_option("--index", a->index, "FAISS factory string");
                     app->add_option("--ef-search", a->ef_search, "HNSW efSearch")->check(CLI::PositiveNumber);
                     app->add_option("--nprobe", a->nprobe, "IVF lists probed per query (IVF indexes)")
                         ->check(CLI::PositiveNumber);
                     app->add_option("--clusters", a->clusters,
                                     "plant this many clusters in the item embeddings (0 = i.i.d. init)")
                         ->check(CLI::NonNegativeNumber);
                     app->add_option("--fetch-factor", a->fetch_factor, "RecommendOptions.ann_fetch_factor")
                         ->check(CLI::NonNegativeNumber);
                     app->add_flag("--scored-results", a->scored_results,
                                   "RecommendOptions.ann_scored_results: HNSW beam stays --ef-search wide");
                     app->add_option("--walk-group", a->walk_group,
                                     "RecommendOptions.ann_walk_group: interest queries walked in lock step")
                         ->check(CLI::Range(1, 64));
                     app->add_flag("--compare-walks", a->compare_walks,
                                   "also time the standard and the scored-results HNSW walk, interleaved, "
                                   "under \"walks\"");
                     app->add_option("--locality-order", a->locality_order,
                                     "HNSW graph stored in breadth-first order (1) or insertion order "
                                     "(0, default)");
                     app->add_option("--pipeline-cache", a->pipeline_cache,
                                     "pipeline file: loaded when it exists (skips the index build), else "
                                     "built and saved there");
                     app->add_option("--seed", a->seed, "seed");
                     return [a](const recsys::cli::GlobalFlags& g) -> int { return Run(*a, g); };
                   });

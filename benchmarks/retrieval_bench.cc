// Micro-benchmarks of stage-1 search: BM_ExactSearch_<Variant>/<batch>.
// 200k × 64 clustered unit vectors, k = 100, single thread on both sides
// (oneTBB capped to 1, FAISS's OpenMP team 1). End-to-end figures with
// rooflines: `recsys bench retrieval`.
#include <benchmark/benchmark.h>
#include <faiss/IndexFlat.h>
#include <faiss/impl/IDSelector.h>
#include <omp.h>

#include <memory>
#include <set>
#include <vector>

#include "recsys/candidates/ann_index.h"
#include "recsys/candidates/exact_search.h"
#include "recsys/candidates/synthetic_vectors.h"
#include "recsys/core/parallel.h"
#include "recsys/core/rng.h"

namespace {

constexpr int64_t kItems = 200000;
constexpr int kDim = 64;
constexpr int kK = 100;
constexpr int kSeen = 200;

struct Data {
  recsys::MatrixF items = recsys::ClusteredUnitVectors(kItems, kDim, 500, 0.6f, 1, 2);
  recsys::MatrixF queries = recsys::ClusteredUnitVectors(1024, kDim, 500, 0.6f, 1, 3);
  faiss::IndexFlatIP flat{kDim};
  std::vector<std::vector<faiss::Index::idx_t>> seen;
  std::vector<std::unique_ptr<recsys::SeenItemsFilter>> filters;
  std::vector<const recsys::ItemFilter*> filter_ptrs;
  Data() {
    flat.add(kItems, items.data());
    for (int q = 0; q < queries.rows(); ++q) {
      recsys::Rng rng(9, static_cast<uint64_t>(q));
      std::vector<recsys::ItemIndex> s;
      for (int i = 0; i < kSeen; ++i) s.push_back(static_cast<recsys::ItemIndex>(rng.UniformInt(kItems)));
      seen.emplace_back(s.begin(), s.end());
      filters.push_back(std::make_unique<recsys::SeenItemsFilter>(s));
      filter_ptrs.push_back(filters.back().get());
    }
  }
};

Data& GetData() {
  static Data* data = [] {
    recsys::LimitThirdPartyThreads();
    return new Data();
  }();
  return *data;
}

void BM_ExactSearch_Ours(benchmark::State& state) {
  Data& d = GetData();
  recsys::ThreadLimit one(1);
  const int64_t b = state.range(0);
  recsys::ExactSearcher exact(d.items.data(), kItems, kDim);
  recsys::Matrix<int32_t> ids(b, kK);
  recsys::MatrixF scores(b, kK);
  for (auto _ : state) {
    auto st = exact.Search(d.queries.topRows(b), kK, {}, ids, scores);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetItemsProcessed(state.iterations() * b);
}

void BM_ExactSearch_OursFiltered(benchmark::State& state) {
  Data& d = GetData();
  recsys::ThreadLimit one(1);
  const int64_t b = state.range(0);
  recsys::ExactSearcher exact(d.items.data(), kItems, kDim);
  recsys::Matrix<int32_t> ids(b, kK);
  recsys::MatrixF scores(b, kK);
  std::span<const recsys::ItemFilter* const> filters(d.filter_ptrs.data(), static_cast<size_t>(b));
  for (auto _ : state) {
    auto st = exact.Search(d.queries.topRows(b), kK, filters, ids, scores);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetItemsProcessed(state.iterations() * b);
}

void BM_ExactSearch_FaissFlat(benchmark::State& state) {
  Data& d = GetData();
  omp_set_num_threads(1);
  const int64_t b = state.range(0);
  std::vector<faiss::Index::idx_t> labels(static_cast<size_t>(b * kK));
  std::vector<float> dist(labels.size());
  for (auto _ : state) {
    d.flat.search(b, d.queries.data(), kK, dist.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
  }
  state.SetItemsProcessed(state.iterations() * b);
}

void BM_ExactSearch_FaissIDSelector(benchmark::State& state) {
  Data& d = GetData();
  omp_set_num_threads(1);
  const int64_t b = state.range(0);
  std::vector<faiss::Index::idx_t> labels(kK);
  std::vector<float> dist(kK);
  for (auto _ : state) {
    for (int64_t q = 0; q < b; ++q) {
      faiss::IDSelectorBatch batch(d.seen[static_cast<size_t>(q)].size(), d.seen[static_cast<size_t>(q)].data());
      faiss::IDSelectorNot not_seen(&batch);
      faiss::SearchParameters params;
      params.sel = &not_seen;
      d.flat.search(1, d.queries.row(q).data(), kK, dist.data(), labels.data(), &params);
    }
    benchmark::DoNotOptimize(labels.data());
  }
  state.SetItemsProcessed(state.iterations() * b);
}

void BM_AnnSearch_Hnsw32(benchmark::State& state) {
  Data& d = GetData();
  static std::unique_ptr<recsys::AnnIndex> index = [&] {
    recsys::AnnIndexConfig config{.factory = "HNSW32", .dim = kDim, .hnsw_ef_construction = 80};
    auto created = recsys::AnnIndex::Create(config);
    (void)(*created)->Add(d.items.topRows(50000));
    return std::move(*created);
  }();
  recsys::ThreadLimit one(1);
  const int ef = static_cast<int>(state.range(0));
  const int64_t b = 256;
  recsys::Matrix<int32_t> ids(b, kK), truth(b, kK);
  recsys::MatrixF scores(b, kK);
  recsys::ExactSearcher exact(d.items.data(), 50000, kDim);
  (void)exact.Search(d.queries.topRows(b), kK, {}, truth, scores);
  for (auto _ : state) {
    auto st = index->Search(d.queries.topRows(b), kK, {.ef_search = ef}, {}, ids, scores);
    benchmark::DoNotOptimize(ids.data());
  }
  int64_t hit = 0;
  for (int64_t q = 0; q < b; ++q) {
    std::set<int32_t> t(truth.row(q).data(), truth.row(q).data() + kK);
    for (int j = 0; j < kK; ++j) hit += t.count(ids(q, j));
  }
  state.counters["recall"] = static_cast<double>(hit) / static_cast<double>(b * kK);
  state.SetItemsProcessed(state.iterations() * b);
}

BENCHMARK(BM_ExactSearch_Ours)->Arg(1)->Arg(32)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ExactSearch_FaissFlat)->Arg(1)->Arg(32)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ExactSearch_OursFiltered)->Arg(1)->Arg(32)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ExactSearch_FaissIDSelector)->Arg(1)->Arg(32)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AnnSearch_Hnsw32)->Arg(100)->Arg(200)->Arg(400)->Unit(benchmark::kMillisecond);

}  // namespace

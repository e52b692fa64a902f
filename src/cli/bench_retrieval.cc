// `recsys bench retrieval`: stage-1 exact and approximate search against FAISS
// in the same run, on clustered unit vectors, with roofline references.
//
//   recsys bench retrieval --items 1000000 --dim 64 --batch 1,32,1024 --k 100 --seen 200 --json
//
// Sections: exact top-k (ours vs IndexFlatIP, with and without filters),
// HNSW32 (our walk vs IndexHNSWFlat, --hnsw-items; then scored results at
// each --hnsw-scored-ef against a k-wide beam), IVF-Flat (our list scan
// vs IndexIVFFlat over identical lists, 5 queries per call, recall@k at each
// of --ivf-nprobe; --ivf-lists 0 skips it).
//
// Both sides use the same number of threads (--threads, default 1: FAISS's
// OpenMP team and our oneTBB arena are both capped to it).
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>
#include <faiss/impl/IDSelector.h>
#include <omp.h>

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli_common.h"
#include "recsys/candidates/ann_index.h"
#include "recsys/candidates/exact_search.h"
#include "recsys/candidates/item_filter.h"
#include "recsys/candidates/synthetic_vectors.h"
#include "recsys/core/parallel.h"
#include "recsys/core/rng.h"

namespace {

using recsys::MatrixF;
using recsys::RecallOfIds;
using IdMatrix = recsys::Matrix<int32_t>;
using Clock = std::chrono::steady_clock;

struct Args {
  int64_t items = 1000000;
  int dim = 64;
  std::string batch = "1,32,1024";
  int k = 100;
  int seen = 200;
  int threads = 1;
  int clusters = 1000;
  float noise = 0.6f;
  int64_t hnsw_items = 100000;  // 0 = skip HNSW
  int ivf_lists = 1024;         // IVF-Flat section: lists (0 = skip)
  std::string ivf_nprobe = "8,16,32";
  std::string hnsw_scored_ef = "32,64,128";  // HNSW scored-results rows (empty = skip)
  int hnsw_ef_construction = 80;
  double min_seconds = 0.5;     // time budget per measurement
  int filtered_faiss_queries = 32;
  uint64_t seed = 1;
  recsys::ExactSearchOptions exact;  // kernel tiling (see exact_search.h)
};

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Runs fn (which processes `per_call` queries) until min_seconds; returns qps.
template <typename Fn>
double MeasureQps(int64_t per_call, double min_seconds, Fn&& fn) {
  int64_t calls = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    fn();
    ++calls;
    elapsed = Seconds(start, Clock::now());
  } while (elapsed < min_seconds);
  return static_cast<double>(calls * per_call) / elapsed;
}

// Ours and the reference on a shared, noisy machine: calls alternate (A, B,
// A, B, ...) so both see the same background load, at least 3 calls each and
// min_seconds each; each side's figure is its median call. Returns
// {ours q/s, reference q/s}.
template <typename A, typename B>
std::pair<double, double> MeasurePairQps(int64_t per_call_a, int64_t per_call_b, double min_seconds, A&& fa,
                                         B&& fb) {
  std::vector<double> ta, tb;
  double total_a = 0, total_b = 0;
  while (ta.size() < 3 || total_a < min_seconds || total_b < min_seconds) {
    auto t0 = Clock::now();
    fa();
    ta.push_back(Seconds(t0, Clock::now()));
    total_a += ta.back();
    t0 = Clock::now();
    fb();
    tb.push_back(Seconds(t0, Clock::now()));
    total_b += tb.back();
  }
  auto median = [](std::vector<double>& v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  return {static_cast<double>(per_call_a) / median(ta), static_cast<double>(per_call_b) / median(tb)};
}

double SgemmGflops() {
  const int n = 1024;
  MatrixF a = MatrixF::Random(n, n), b = MatrixF::Random(n, n), c(n, n);
  double best = 1e30;
  for (int r = 0; r < 4; ++r) {
    const auto t0 = Clock::now();
    c.noalias() = a * b;
    best = std::min(best, Seconds(t0, Clock::now()));
  }
  volatile float sink = c(0, 0);
  (void)sink;
  return 2.0 * n * n * n / best / 1e9;
}

// The core's FP32 limit: 12 independent register-resident FMA chains (enough
// to cover FMA latency × throughput), one thread; times `threads`.
double FmaPeakGflops(int threads) {
#if defined(__AVX2__) && defined(__FMA__)
  constexpr int64_t kIters = 20'000'000;
  double best = 1e30;
  float sink = 0.0f;
  for (int r = 0; r < 3; ++r) {
    __m256 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i) * 1e-3f);
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    const auto t0 = Clock::now();
    for (int64_t it = 0; it < kIters; ++it) {
      for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
      asm volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]), "+x"(acc[4]), "+x"(acc[5]),
                   "+x"(acc[6]), "+x"(acc[7]), "+x"(acc[8]), "+x"(acc[9]), "+x"(acc[10]), "+x"(acc[11]));
    }
    best = std::min(best, Seconds(t0, Clock::now()));
    for (int i = 0; i < 12; ++i) sink += _mm256_cvtss_f32(acc[i]);
  }
  volatile float keep = sink;
  (void)keep;
  return 2.0 * 8 * 12 * static_cast<double>(kIters) / best / 1e9 * threads;
#else
  (void)threads;
  return 0.0;
#endif
}

double MemoryGbps(const MatrixF& m) {
  double best = 1e30;
  const float* p = m.data();
  const int64_t size = m.size();
  float total = 0;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    float acc[16] = {};
    for (int64_t i = 0; i + 16 <= size; i += 16)
      for (int u = 0; u < 16; ++u) acc[u] += p[i + u];
    for (float x : acc) total += x;
    best = std::min(best, Seconds(t0, Clock::now()));
  }
  volatile float sink = total;
  (void)sink;
  return static_cast<double>(size) * sizeof(float) / best / 1e9;
}

std::vector<int64_t> ParseList(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (!tok.empty()) out.push_back(std::stoll(tok));
  }
  return out;
}

void FaissFlat(const faiss::IndexFlatIP& flat, const MatrixF& q, int k, IdMatrix* ids) {
  std::vector<faiss::Index::idx_t> labels(static_cast<size_t>(q.rows() * k));
  std::vector<float> dist(labels.size());
  flat.search(q.rows(), q.data(), k, dist.data(), labels.data());
  for (int64_t i = 0; i < q.rows(); ++i)
    for (int j = 0; j < k; ++j) (*ids)(i, j) = static_cast<int32_t>(labels[static_cast<size_t>(i * k + j)]);
}

int Run(const Args& a, const recsys::cli::GlobalFlags& g) {
  using recsys::cli::Log;
  if (a.items <= 0 || a.dim <= 0 || a.k <= 0 || a.seen < 0 || a.threads <= 0 || a.clusters <= 0) {
    return recsys::cli::Fail("bench retrieval: --items, --dim, --k, --threads, --clusters must be > 0 and --seen >= 0");
  }
  if (a.k > a.items) return recsys::cli::Fail("bench retrieval: --k larger than --items");
  std::vector<int64_t> batches;
  try {
    batches = ParseList(a.batch);
  } catch (...) {
    return recsys::cli::Fail("bench retrieval: --batch must be a comma-separated list of integers");
  }
  if (batches.empty() || *std::min_element(batches.begin(), batches.end()) <= 0) {
    return recsys::cli::Fail("bench retrieval: --batch must list positive sizes");
  }
  recsys::LimitThirdPartyThreads();
  recsys::ThreadLimit limit(a.threads);
  omp_set_num_threads(a.threads);  // FAISS's team on this thread: same thread count as ours

  Log("generating " + std::to_string(a.items) + " x " + std::to_string(a.dim) + " clustered unit vectors");
  MatrixF items = recsys::ClusteredUnitVectors(a.items, a.dim, a.clusters, a.noise, a.seed, a.seed + 1);
  faiss::IndexFlatIP flat(a.dim);
  flat.add(a.items, items.data());
  if (auto st = a.exact.Validate(); !st.ok()) return recsys::cli::Fail(st);
  recsys::ExactSearcher exact(items.data(), a.items, a.dim, a.exact);
  const auto t_prepare = Clock::now();
  exact.Prepare();
  const double prepass_build_s = Seconds(t_prepare, Clock::now());

  nlohmann::json out;
  out["items"] = a.items;
  out["dim"] = a.dim;
  out["k"] = a.k;
  out["seen"] = a.seen;
  out["threads"] = a.threads;
  out["item_tile"] = a.exact.item_tile;
  out["query_block"] = a.exact.query_block;
  out["prepass_build_s"] = prepass_build_s;
  out["prepass_bytes"] = exact.prepass_bytes();
  out["threads_note"] = "ours (oneTBB) and FAISS (OpenMP) both capped to `threads`";
  Log("measuring sgemm and memory bandwidth");
  const double gflops = SgemmGflops();
  const double gbps = MemoryGbps(items);
  out["sgemm_gflops"] = gflops;
  const double peak = FmaPeakGflops(a.threads);
  if (peak > 0) {
    out["fma_peak_gflops"] = peak;
  } else {
    out["fma_peak_gflops"] = nullptr;
  }
  out["memory_gbps"] = gbps;

  nlohmann::json results = nlohmann::json::array();
  for (int64_t b : batches) {
    Log("batch " + std::to_string(b));
    MatrixF queries = recsys::ClusteredUnitVectors(b, a.dim, a.clusters, a.noise, a.seed, a.seed + 100 + b);
    IdMatrix ids(b, a.k), faiss_ids(b, a.k);
    MatrixF scores(b, a.k);
    nlohmann::json r;
    r["batch"] = b;
    const auto [ours, theirs] = MeasurePairQps(
        b, b, a.min_seconds,
        [&] {
          auto st = exact.Search(queries, a.k, {}, ids, scores);
          if (!st.ok()) throw std::runtime_error(std::string(st.message()));
        },
        [&] { FaissFlat(flat, queries, a.k, &faiss_ids); });
    r["ours_qps"] = ours;
    r["faiss_flat_qps"] = theirs;
    r["speedup"] = ours / theirs;
    r["recall"] = RecallOfIds(ids, faiss_ids);
    // Roofline: max(compute at sgemm speed, one streaming read of the items).
    const double flops = 2.0 * static_cast<double>(b) * static_cast<double>(a.items) * a.dim;
    const double bytes = static_cast<double>(a.items) * a.dim * sizeof(float);
    const double t_roof = std::max(flops / (gflops * 1e9), bytes / (gbps * 1e9));
    const double t_ours = static_cast<double>(b) / ours;
    r["roofline_s"] = t_roof;
    r["roofline_bound"] = flops / (gflops * 1e9) > bytes / (gbps * 1e9) ? "compute" : "memory";
    r["roofline_fraction"] = t_roof / t_ours;
    // Which kernel answered (exact_search.h): batches below prepass_max_batch
    // stream int8 codes (n·(d + 8) bytes), so they can beat the fp32 read.
    const bool prepass = exact.prepass_bytes() > 0 && b < a.exact.prepass_max_batch;
    r["path"] = prepass ? "int8 pre-pass + exact re-score" : "fp32 panels";
    r["bytes_streamed"] = prepass ? static_cast<double>(exact.prepass_bytes()) : bytes;
    r["achieved_gflops"] = flops / t_ours / 1e9;
    if (peak > 0) r["peak_fraction"] = flops / t_ours / 1e9 / peak;

    if (a.seen > 0) {
      std::vector<std::unique_ptr<recsys::SeenItemsFilter>> filters;
      std::vector<const recsys::ItemFilter*> fptr;
      std::vector<std::vector<faiss::Index::idx_t>> seen_lists;
      for (int64_t q = 0; q < b; ++q) {
        recsys::Rng rng(a.seed + 7, static_cast<uint64_t>(q));
        std::vector<recsys::ItemIndex> seen;
        for (int s = 0; s < a.seen; ++s) seen.push_back(static_cast<recsys::ItemIndex>(rng.UniformInt(a.items)));
        // Make the filter bite: also exclude this query's unfiltered top results.
        for (int j = 0; j < std::min(a.k, a.seen) / 2; ++j) seen[static_cast<size_t>(j)] = ids(q, j);
        seen_lists.emplace_back(seen.begin(), seen.end());
        filters.push_back(std::make_unique<recsys::SeenItemsFilter>(seen));
        fptr.push_back(filters.back().get());
      }
      IdMatrix fids(b, a.k);
      // FAISS: IndexFlatIP + IDSelectorNot(IDSelectorBatch(seen)), one call per query.
      const int64_t fq = std::min<int64_t>(b, a.filtered_faiss_queries);
      IdMatrix ffids(fq, a.k);
      const auto [fours, ftheirs] = MeasurePairQps(b, fq, a.min_seconds, [&] {
        auto st = exact.Search(queries, a.k, fptr, fids, scores);
        if (!st.ok()) throw std::runtime_error(std::string(st.message()));
      }, [&] {
        std::vector<faiss::Index::idx_t> labels(static_cast<size_t>(a.k));
        std::vector<float> dist(static_cast<size_t>(a.k));
        for (int64_t q = 0; q < fq; ++q) {
          faiss::IDSelectorBatch batch_sel(seen_lists[static_cast<size_t>(q)].size(),
                                           seen_lists[static_cast<size_t>(q)].data());
          faiss::IDSelectorNot not_seen(&batch_sel);
          faiss::SearchParameters params;
          params.sel = &not_seen;
          flat.search(1, queries.row(q).data(), a.k, dist.data(), labels.data(), &params);
          for (int j = 0; j < a.k; ++j) ffids(q, j) = static_cast<int32_t>(labels[static_cast<size_t>(j)]);
        }
      });
      int64_t violations = 0;
      for (int64_t q = 0; q < b; ++q)
        for (int j = 0; j < a.k; ++j) violations += fids(q, j) >= 0 && !fptr[static_cast<size_t>(q)]->IsAllowed(fids(q, j));
      r["filtered_ours_qps"] = fours;
      r["filtered_faiss_qps"] = ftheirs;
      r["filtered_faiss_queries_timed"] = fq;
      r["filtered_speedup"] = fours / ftheirs;
      r["filtered_recall"] = RecallOfIds(IdMatrix(fids.topRows(fq)), ffids);
      r["filtered_violations"] = violations;
    }
    results.push_back(r);
  }
  out["results"] = results;
  if (results.size() == 1) {
    for (auto& [key, value] : results[0].items()) out[key] = value;
  }

  if (a.hnsw_items > 0) {
    const int64_t hn = std::min(a.hnsw_items, a.items);
    Log("building HNSW32 on " + std::to_string(hn) + " items");
    recsys::AnnIndexConfig config;
    config.factory = "HNSW32";
    config.dim = a.dim;
    config.hnsw_ef_construction = a.hnsw_ef_construction;
    auto index = recsys::AnnIndex::Create(config);
    if (!index.ok()) return recsys::cli::Fail(index.status());
    const auto t0 = Clock::now();
    if (auto st = (*index)->Add(items.topRows(hn)); !st.ok()) return recsys::cli::Fail(st);
    out["hnsw_build_s"] = Seconds(t0, Clock::now());
    out["hnsw_items"] = hn;
    const int64_t nq = 256;
    MatrixF queries = recsys::ClusteredUnitVectors(nq, a.dim, a.clusters, a.noise, a.seed, a.seed + 99);
    IdMatrix truth(nq, a.k), ids(nq, a.k);
    MatrixF scores(nq, a.k);
    recsys::ExactSearcher sub(items.data(), hn, a.dim);
    if (auto st = sub.Search(queries, a.k, {}, truth, scores); !st.ok()) return recsys::cli::Fail(st);
    const double exact_qps = MeasureQps(nq, a.min_seconds, [&] { (void)sub.Search(queries, a.k, {}, truth, scores); });
    int chosen = 0;
    double recall = 0;
    for (int ef : {a.k, 2 * a.k, 4 * a.k, 8 * a.k}) {
      if (auto st = (*index)->Search(queries, a.k, {.ef_search = ef}, {}, ids, scores); !st.ok()) {
        return recsys::cli::Fail(st);
      }
      recall = RecallOfIds(ids, truth);
      chosen = ef;
      if (recall >= 0.95) break;
    }
    out["hnsw_ef_search"] = chosen;
    out["hnsw_recall"] = recall;
    out["hnsw_qps"] = MeasureQps(nq, a.min_seconds, [&] {
      (void)(*index)->Search(queries, a.k, {.ef_search = chosen}, {}, ids, scores);
    });
    out["hnsw_exact_qps_same_items"] = exact_qps;

    // Scored results (AnnSearchParams::scored_results): the beam stays at ef
    // and the answer is the best k of every node scored, against the standard
    // walk whose beam must be k wide (same index, queries, threads).
    if (!a.hnsw_scored_ef.empty()) {
      MatrixF ks(nq, a.k);
      IdMatrix kids(nq, a.k);
      if (chosen == a.k) {  // the row above already is the k-wide beam
        out["hnsw_beam_k_recall"] = out["hnsw_recall"];
        out["hnsw_beam_k_qps"] = out["hnsw_qps"];
      } else {
        if (auto st = (*index)->Search(queries, a.k, {.ef_search = a.k}, {}, kids, ks); !st.ok()) {
          return recsys::cli::Fail(st);
        }
        out["hnsw_beam_k_recall"] = RecallOfIds(kids, truth);
        out["hnsw_beam_k_qps"] = MeasureQps(nq, a.min_seconds, [&] {
          (void)(*index)->Search(queries, a.k, {.ef_search = a.k}, {}, kids, ks);
        });
      }
      nlohmann::json rows = nlohmann::json::array();
      for (const absl::string_view tok : absl::StrSplit(a.hnsw_scored_ef, ',')) {
        int ef = 0;
        if (!absl::SimpleAtoi(tok, &ef) || ef < 1) return recsys::cli::Fail("--hnsw-scored-ef: bad value " + std::string(tok));
        const recsys::AnnSearchParams p{.ef_search = ef, .scored_results = true};
        if (auto st = (*index)->Search(queries, a.k, p, {}, kids, ks); !st.ok()) return recsys::cli::Fail(st);
        const double r = RecallOfIds(kids, truth);
        const double qps = MeasureQps(nq, a.min_seconds, [&] { (void)(*index)->Search(queries, a.k, p, {}, kids, ks); });
        rows.push_back({{"ef_search", ef},
                        {"recall", r},
                        {"qps", qps},
                        {"speedup_vs_beam_k", qps / out["hnsw_beam_k_qps"].get<double>()}});
      }
      out["hnsw_scored"] = rows;
    }

    // Reference: FAISS's own IndexHNSWFlat as Debian ships it (scalar flat
    // distances), same M, efConstruction, items, queries, efSearch, threads.
    Log("building FAISS IndexHNSWFlat (reference) on " + std::to_string(hn) + " items");
    faiss::IndexHNSWFlat ref(a.dim, 32, faiss::METRIC_INNER_PRODUCT);
    ref.hnsw.efConstruction = a.hnsw_ef_construction;
    omp_set_num_threads(std::max(1, recsys::NumThreads()));
    const auto t1 = Clock::now();
    ref.add(hn, items.data());
    out["faiss_hnsw_build_s"] = Seconds(t1, Clock::now());
    out["hnsw_build_speedup"] = out["faiss_hnsw_build_s"].get<double>() / out["hnsw_build_s"].get<double>();
    omp_set_num_threads(a.threads);
    ref.hnsw.efSearch = chosen;
    std::vector<faiss::Index::idx_t> labels(static_cast<size_t>(nq * a.k));
    std::vector<float> dist(static_cast<size_t>(nq * a.k));
    ref.search(nq, queries.data(), a.k, dist.data(), labels.data());
    IdMatrix ref_ids(nq, a.k);
    for (int64_t i = 0; i < nq * a.k; ++i) ref_ids.data()[i] = static_cast<int32_t>(labels[static_cast<size_t>(i)]);
    out["faiss_hnsw_recall"] = RecallOfIds(ref_ids, truth);
    out["faiss_hnsw_qps"] = MeasureQps(nq, a.min_seconds, [&] {
      ref.search(nq, queries.data(), a.k, dist.data(), labels.data());
    });
    out["hnsw_speedup"] = out["hnsw_qps"].get<double>() / out["faiss_hnsw_qps"].get<double>();
  }
  if (a.ivf_lists > 0) {
    // IVF-Flat: our grouped list scan vs FAISS's IndexIVFFlat search over the
    // same lists (both trained by FAISS with its fixed k-means seed on the
    // same items: identical centroids and lists), 5 queries per call — one
    // user's interest vectors — and recall@k against exact search.
    const std::string factory = "IVF" + std::to_string(a.ivf_lists) + ",Flat";
    Log("building " + factory + " on " + std::to_string(a.items) + " items (ours and the FAISS reference)");
    recsys::AnnIndexConfig config;
    config.factory = factory;
    config.dim = a.dim;
    auto index = recsys::AnnIndex::Create(config);
    if (!index.ok()) return recsys::cli::Fail(index.status());
    const auto t0 = Clock::now();
    if (auto st = (*index)->Add(items); !st.ok()) return recsys::cli::Fail(st);
    out["ivf_build_s"] = Seconds(t0, Clock::now());
    std::unique_ptr<faiss::Index> ref(faiss::index_factory(a.dim, factory.c_str(), faiss::METRIC_INNER_PRODUCT));
    omp_set_num_threads(std::max(1, recsys::NumThreads()));
    ref->train(a.items, items.data());
    ref->add(a.items, items.data());
    omp_set_num_threads(a.threads);
    auto* ref_ivf = dynamic_cast<faiss::IndexIVF*>(ref.get());
    const int64_t nq = 64, per_call = 5;
    MatrixF queries = recsys::ClusteredUnitVectors(nq, a.dim, a.clusters, a.noise, a.seed, a.seed + 77);
    IdMatrix truth(nq, a.k), ids(nq, a.k);
    MatrixF scores(nq, a.k);
    recsys::ExactSearcher exact(items.data(), a.items, a.dim);
    if (auto st = exact.Search(queries, a.k, {}, truth, scores); !st.ok()) return recsys::cli::Fail(st);
    nlohmann::json rows = nlohmann::json::array();
    for (const absl::string_view tok : absl::StrSplit(a.ivf_nprobe, ',')) {
      int nprobe = 0;
      if (!absl::SimpleAtoi(tok, &nprobe) || nprobe < 1) {
        return recsys::cli::Fail("--ivf-nprobe: bad value " + std::string(tok));
      }
      if (auto st = (*index)->Search(queries, a.k, {.nprobe = nprobe}, {}, ids, scores); !st.ok()) {
        return recsys::cli::Fail(st);
      }
      const double recall = RecallOfIds(ids, truth);
      ref_ivf->nprobe = static_cast<size_t>(nprobe);
      std::vector<faiss::Index::idx_t> labels(static_cast<size_t>(nq * a.k));
      std::vector<float> dist(static_cast<size_t>(nq * a.k));
      ref->search(nq, queries.data(), a.k, dist.data(), labels.data());
      IdMatrix ref_ids(nq, a.k);
      for (int64_t i = 0; i < nq * a.k; ++i) ref_ids.data()[i] = static_cast<int32_t>(labels[static_cast<size_t>(i)]);
      int64_t next = 0;
      const auto [ours, theirs] = MeasurePairQps(
          per_call, per_call, a.min_seconds,
          [&] {
            const int64_t q = (next++ % (nq / per_call)) * per_call;
            (void)(*index)->Search(queries.middleRows(q, per_call), a.k, {.nprobe = nprobe}, {},
                                   ids.topRows(per_call), scores.topRows(per_call));
          },
          [&] {
            const int64_t q = (next++ % (nq / per_call)) * per_call;
            ref->search(per_call, queries.data() + q * a.dim, a.k, dist.data(), labels.data());
          });
      rows.push_back({{"nprobe", nprobe}, {"recall", recall}, {"faiss_recall", RecallOfIds(ref_ids, truth)},
                      {"qps", ours}, {"faiss_qps", theirs}, {"speedup", ours / theirs},
                      {"ms_per_5_queries", 5e3 / ours}});
      Log(absl::StrFormat("IVF%d nprobe %d: ours %.0f q/s, FAISS %.0f q/s (%.2fx), recall@%d %.3f (FAISS %.3f)",
                          a.ivf_lists, nprobe, ours, theirs, ours / theirs, a.k, recall,
                          RecallOfIds(ref_ids, truth)));
    }
    out["ivf_lists"] = a.ivf_lists;
    out["ivf"] = rows;
  }
  recsys::cli::Emit(g, out);
  return 0;
}

}  // namespace

RECSYS_CLI_COMMAND(retrieval, "bench", "Stage-1 retrieval: ours vs FAISS Flat/IDSelector, HNSW, rooflines",
                   ([](CLI::App* app) -> recsys::cli::RunFn {
                     auto a = std::make_shared<Args>();
                     app->add_option("--items", a->items, "catalogue size N (default 1e6)");
                     app->add_option("--dim", a->dim, "embedding dimension D (default 64)");
                     app->add_option("--batch", a->batch, "batch sizes, comma-separated (default 1,32,1024)");
                     app->add_option("--k", a->k, "results per query (default 100)");
                     app->add_option("--seen", a->seen, "seen items filtered per query (default 200; 0 = skip)");
                     app->add_option("--threads", a->threads, "threads for ours and FAISS alike (default 1)");
                     app->add_option("--clusters", a->clusters, "clusters of the synthetic vectors (default 1000)");
                     app->add_option("--hnsw-items", a->hnsw_items,
                                     "items in the HNSW32 index (default 100000; 0 = skip)");
                     app->add_option("--hnsw-ef-construction", a->hnsw_ef_construction, "HNSW efConstruction");
                     app->add_option("--ivf-lists", a->ivf_lists, "IVF-Flat section: lists (0 = skip)");
                     app->add_option("--ivf-nprobe", a->ivf_nprobe, "IVF-Flat section: nprobe values, comma-separated");
                     app->add_option("--hnsw-scored-ef", a->hnsw_scored_ef,
                                     "HNSW scored-results rows: efSearch values, comma-separated (\"\" = skip)");
                     app->add_option("--min-seconds", a->min_seconds, "time per measurement (default 0.5)");
                     app->add_option("--filtered-faiss-queries", a->filtered_faiss_queries,
                                     "queries timed for FAISS's filtered search (slow; default 32)");
                     app->add_option("--seed", a->seed, "random seed");
                     app->add_option("--item-tile", a->exact.item_tile, "exact kernel: items per tile");
                     app->add_option("--query-block", a->exact.query_block, "exact kernel: queries per block");
                     app->add_option("--item-shard", a->exact.item_shard, "exact kernel: items per shard");
                     return [a](const recsys::cli::GlobalFlags& g) -> int {
                       try {
                         return Run(*a, g);
                       } catch (const std::exception& e) {
                         return recsys::cli::Fail(std::string("bench retrieval: ") + e.what());
                       }
                     };
                   }));

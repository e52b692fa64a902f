// FAISS-backed AnnIndex (CPU; GPU behind RECSYS_USE_FAISS_GPU).
//
// Shape legend: n items, d dims, b queries, k results, kf = over-fetched k.
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>

#if defined(RECSYS_USE_FAISS_GPU)
#include <faiss/gpu/GpuCloner.h>
#include <faiss/gpu/StandardGpuResources.h>
#include <faiss/gpu/utils/DeviceUtils.h>
#endif

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <typeinfo>
#include <vector>

#include "absl/strings/str_cat.h"
#include "recsys/candidates/ann_index.h"
#include "recsys/candidates/exact_search.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "hnsw_search.h"
#include "ivf_search.h"

namespace recsys {
namespace {

using faiss_idx_t = faiss::Index::idx_t;

// ---- file format -----------------------------------------------------------
// Version 2 (written):
//   magic "RSYSANN\0" | u32 version | u32 dim | i64 ntotal | i32 max_overfetch |
//   u32 factory_len | factory bytes | u64 order_count (0, or ntotal: the
//   graph is stored in locality order) | u64 payload_size | u64 checksum |
//   payload = faiss::write_index bytes, then order_count i32 item ids (row →
//   id); the checksum covers the whole payload.
// Version 1 (read): the same without order_count; the payload is the FAISS
//   bytes alone (rows are ids).
constexpr char kMagic[8] = {'R', 'S', 'Y', 'S', 'A', 'N', 'N', '\0'};
constexpr uint32_t kFormatVersion = 2;
constexpr uint32_t kOldestFormatVersion = 1;

uint64_t Checksum(const uint8_t* data, size_t size) {
  // FNV-1a over 64-bit words, then the tail bytes.
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  for (; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

template <typename T>
void Put(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

class Reader {
 public:
  Reader(const std::vector<uint8_t>& data, const std::string& path) : data_(data), path_(path) {}
  template <typename T>
  absl::Status Get(T* v, const char* field) {
    if (pos_ + sizeof(T) > data_.size()) {
      return absl::DataLossError(absl::StrCat(path_, ": truncated file (reading ", field, " at byte ", pos_, ")"));
    }
    std::memcpy(v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }
  size_t pos() const { return pos_; }
  void Skip(size_t n) { pos_ += n; }
  size_t remaining() const { return data_.size() - pos_; }

 private:
  const std::vector<uint8_t>& data_;
  std::string path_;
  size_t pos_ = 0;
};

// ---- SIMD flat storage for graph indexes -------------------------------------
// Debian's FAISS 1.7.3 is compiled for baseline x86-64 (no SSE3/AVX), so its
// flat distance computer runs the scalar fvec_inner_product_ref loop; in an
// HNSW index that loop was ~75% of both graph construction and search time.
// SimdIndexFlat keeps the exact same storage (and serialises as a plain
// IndexFlat, so files stay readable by any FAISS) but hands HNSW a distance
// computer built on the graph walk's InnerProduct kernel (hnsw_search.h),
// compiled for this host.
class SimdFlatDistance final : public faiss::FlatCodesDistanceComputer {
 public:
  explicit SimdFlatDistance(const faiss::IndexFlat& index)
      : faiss::FlatCodesDistanceComputer(index.codes.data(), index.code_size),
        d_(static_cast<Eigen::Index>(index.d)),
        xb_(index.get_xb()),
        l2_(index.metric_type == faiss::METRIC_L2) {}
  void set_query(const float* x) override { q_ = x; }
  float distance_to_code(const uint8_t* code) override { return Dist(q_, reinterpret_cast<const float*>(code)); }
  float symmetric_dis(idx_t i, idx_t j) override { return Dist(xb_ + i * d_, xb_ + j * d_); }

 private:
  float Dist(const float* a, const float* b) const {
    if (!l2_) return internal::InnerProduct(a, b, static_cast<int>(d_));
    const Eigen::Map<const Eigen::VectorXf> va(a, d_), vb(b, d_);
    return (va - vb).squaredNorm();
  }
  Eigen::Index d_;
  const float* xb_;
  bool l2_;
  const float* q_ = nullptr;
};

struct SimdIndexFlat final : faiss::IndexFlat {
  SimdIndexFlat(faiss_idx_t d, faiss::MetricType metric) : faiss::IndexFlat(d, metric) {}
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override {
    if (metric_type != faiss::METRIC_L2 && metric_type != faiss::METRIC_INNER_PRODUCT) {
      return faiss::IndexFlat::get_FlatCodesDistanceComputer();
    }
    return new SimdFlatDistance(*this);
  }
};

// Replaces the plain IndexFlat storage of an HNSW index by SimdIndexFlat
// (moving the vectors, not copying them). Other index types are left as is.
void UseSimdStorage(faiss::Index* index) {
  auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index);
  if (hnsw == nullptr || hnsw->storage == nullptr) return;
  faiss::Index* old = hnsw->storage;
  const std::type_info& t = typeid(*old);
  if (t != typeid(faiss::IndexFlat) && t != typeid(faiss::IndexFlatIP) && t != typeid(faiss::IndexFlatL2)) return;
  auto* flat = static_cast<faiss::IndexFlat*>(old);
  auto simd = std::make_unique<SimdIndexFlat>(flat->d, flat->metric_type);
  simd->metric_arg = flat->metric_arg;
  simd->codes = std::move(flat->codes);
  simd->ntotal = flat->ntotal;
  simd->is_trained = flat->is_trained;
  simd->verbose = flat->verbose;
  flat->ntotal = 0;
  if (hnsw->own_fields) delete old;
  hnsw->storage = simd.release();
  hnsw->own_fields = true;
}

// ---- locality order for graph indexes (AnnIndexConfig::locality_order) -----
// Breadth-first order of layer 0 from the entry point: a node's not yet
// placed neighbours get consecutive rows, so the vectors a walk scores after
// expanding it are mostly adjacent. Nodes the search from the entry point
// cannot reach (HNSW does not guarantee a connected layer 0) follow, each
// unplaced one starting a breadth-first pass of its own. order[new] = old.
std::vector<int32_t> BreadthFirstOrder(const faiss::HNSW& h, int64_t n) {
  std::vector<int32_t> order;
  order.reserve(static_cast<size_t>(n));
  std::vector<uint8_t> placed(static_cast<size_t>(n), 0);
  const int level0_links = h.cum_nneighbor_per_level[1];
  auto search_from = [&](int32_t root) {
    size_t head = order.size();
    placed[static_cast<size_t>(root)] = 1;
    order.push_back(root);
    while (head < order.size()) {
      const int32_t* links = h.neighbors.data() + h.offsets[static_cast<size_t>(order[head++])];
      for (int j = 0; j < level0_links && links[j] >= 0; ++j) {
        if (placed[static_cast<size_t>(links[j])]) continue;
        placed[static_cast<size_t>(links[j])] = 1;
        order.push_back(links[j]);
      }
    }
  };
  if (h.entry_point >= 0 && h.entry_point < n) search_from(h.entry_point);
  for (int64_t i = 0; i < n; ++i) {
    if (!placed[static_cast<size_t>(i)]) search_from(static_cast<int32_t>(i));
  }
  return order;
}

// Moves node order[j] of the graph (its vector, level, links on every level)
// to row j and renames every link accordingly.
void PermuteGraph(faiss::IndexHNSW* index, faiss::IndexFlat* storage, const std::vector<int32_t>& order) {
  faiss::HNSW& h = index->hnsw;
  const size_t n = order.size();
  std::vector<int32_t> row_of(n);
  for (size_t j = 0; j < n; ++j) row_of[static_cast<size_t>(order[j])] = static_cast<int32_t>(j);
  const size_t code_size = storage->code_size;
  std::vector<uint8_t> codes(storage->codes.size());
  for (size_t j = 0; j < n; ++j) {
    std::memcpy(codes.data() + j * code_size, storage->codes.data() + static_cast<size_t>(order[j]) * code_size,
                code_size);
  }
  std::vector<int> levels(n);
  std::vector<size_t> offsets(n + 1, 0);
  std::vector<faiss::HNSW::storage_idx_t> neighbors(h.neighbors.size(), -1);
  for (size_t j = 0; j < n; ++j) {
    const auto old = static_cast<size_t>(order[j]);
    levels[j] = h.levels[old];
    const size_t begin = h.offsets[old], end = h.offsets[old + 1];
    offsets[j + 1] = offsets[j] + (end - begin);
    for (size_t t = begin; t < end; ++t) {
      const int32_t nb = h.neighbors[t];
      neighbors[offsets[j] + (t - begin)] = nb < 0 ? nb : row_of[static_cast<size_t>(nb)];
    }
  }
  storage->codes.swap(codes);
  h.levels.swap(levels);
  h.offsets.swap(offsets);
  h.neighbors.swap(neighbors);
  if (h.entry_point >= 0) h.entry_point = row_of[static_cast<size_t>(h.entry_point)];
}

// ---- per-request efSearch (see ann_index.h) ---------------------------------
// Searches with the same efSearch share the index; a different value waits for
// them to drain, then rewrites hnsw.efSearch while nobody reads it.
class EfPhaseLock {
 public:
  void Acquire(int ef, faiss::HNSW* hnsw) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return active_ == 0 || hnsw->efSearch == ef; });
    if (hnsw->efSearch != ef) hnsw->efSearch = ef;
    ++active_;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--active_ == 0) cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int active_ = 0;
};

// FAISS selector over a compiled plan (used only on FAISS's own filtered path).
struct PlanSelector : faiss::IDSelector {
  explicit PlanSelector(const FilterPlan* p) : plan(p) {}
  bool is_member(faiss_idx_t id) const override {
    return plan == nullptr || plan->IsAllowed(static_cast<ItemIndex>(id));
  }
  const FilterPlan* plan;
};

class FaissAnnIndex final : public AnnIndex {
 public:
  FaissAnnIndex(AnnIndexConfig config, std::unique_ptr<faiss::Index> index)
      : config_(std::move(config)), index_(std::move(index)) {
    UseSimdStorage(index_.get());
    Bind();
  }

  int dim() const override { return config_.dim; }
  int64_t size() const override { return index_->ntotal; }
  const std::string& factory() const override { return config_.factory; }
  bool is_exact() const override { return exact_only_; }
  bool cost_grows_with_k() const override { return !exact_only_ && ivf_view_.ivf == nullptr; }
  bool locality_ordered() const override { return !external_.empty(); }
  bool on_gpu() const override {
#if defined(RECSYS_USE_FAISS_GPU)
    return gpu_index_ != nullptr;
#else
    return false;
#endif
  }

  absl::Status Add(ConstMatrixRef items) override {
    if (items.cols() != config_.dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("AnnIndex::Add: items have ", items.cols(), " columns, index dim is ", config_.dim));
    }
    if (items.rows() == 0) return absl::OkStatus();
    if (index_->ntotal + items.rows() > std::numeric_limits<int32_t>::max()) {
      return absl::OutOfRangeError("AnnIndex::Add: more than 2^31-1 items");
    }
    MatrixF copy;
    const float* x = items.data();
    if (items.outerStride() != items.cols()) {
      copy = items;
      x = copy.data();
    }
    LimitThirdPartyThreads();
    // Building is not inside our tasks: let FAISS use as many threads as TBB
    // may. Under ThreadSanitizer it builds on this thread: libgomp is not
    // instrumented, so TSan cannot see the OpenMP joins and locks that order
    // the graph writes before later reads (see core/parallel.h).
#if defined(__SANITIZE_THREAD__)
    omp_set_num_threads(1);
#else
    omp_set_num_threads(std::max(1, NumThreads()));
#endif
    absl::Status st = CatchExceptions("AnnIndex::Add(" + config_.factory + ")", [&]() -> absl::Status {
      if (!index_->is_trained) index_->train(items.rows(), x);
      index_->add(items.rows(), x);
      return absl::OkStatus();
    });
    SingleThreadedOpenMP();
    RECSYS_RETURN_IF_ERROR(st);
    Bind();
    if (config_.locality_order && graph_.hnsw != nullptr && !config_.use_gpu) ApplyLocalityOrder();
    return MaybeToGpu();
  }

  absl::Status Search(ConstMatrixRef queries, int k, const AnnSearchParams& params,
                      std::span<const ItemFilter* const> filters, Eigen::Ref<Matrix<int32_t>> ids,
                      MatrixRef scores) const override;

  absl::Status Save(const std::string& path) const override {
    std::vector<uint8_t> payload;
    RECSYS_RETURN_IF_ERROR(CatchExceptions("AnnIndex::Save(" + path + ")", [&]() -> absl::Status {
      faiss::VectorIOWriter writer;
      faiss::write_index(index_.get(), &writer);
      payload = std::move(writer.data);
      return absl::OkStatus();
    }));
    std::vector<uint8_t> header;
    header.insert(header.end(), kMagic, kMagic + 8);
    Put(header, kFormatVersion);
    Put(header, static_cast<uint32_t>(config_.dim));
    Put(header, static_cast<int64_t>(index_->ntotal));
    Put(header, static_cast<int32_t>(config_.max_overfetch));
    Put(header, static_cast<uint32_t>(config_.factory.size()));
    header.insert(header.end(), config_.factory.begin(), config_.factory.end());
    Put(header, static_cast<uint64_t>(external_.size()));
    const auto* order = reinterpret_cast<const uint8_t*>(external_.data());
    payload.insert(payload.end(), order, order + external_.size() * sizeof(int32_t));
    Put(header, static_cast<uint64_t>(payload.size()));
    Put(header, Checksum(payload.data(), payload.size()));
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat("AnnIndex::Save: cannot open ", path, " for writing"));
    out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
    out.close();
    if (!out) return absl::DataLossError(absl::StrCat("AnnIndex::Save: writing ", path, " failed"));
    return absl::OkStatus();
  }

  absl::Status MaybeToGpu();
  // Whether searches walk the graph ourselves (HNSW, flat storage, inner product).
  bool walks_graph() const { return graph_.hnsw != nullptr; }

  // Installs a row → id permutation read from a file (a permutation of
  // [0, size()), checked by the caller).
  void SetOrder(std::vector<int32_t> external) {
    external_ = std::move(external);
    row_of_.assign(external_.size(), 0);
    for (size_t r = 0; r < external_.size(); ++r) row_of_[static_cast<size_t>(external_[r])] = static_cast<int32_t>(r);
    Bind();
  }

 private:
  // Re-stores the whole graph in breadth-first order (after an Add, which
  // appended its items in insertion order) and composes the permutation.
  void ApplyLocalityOrder() {
    const int64_t n = index_->ntotal;
    const std::vector<int32_t> order = BreadthFirstOrder(hnsw_->hnsw, n);
    PermuteGraph(hnsw_, static_cast<faiss::IndexFlat*>(hnsw_->storage), order);
    std::vector<int32_t> external(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      const auto old = static_cast<size_t>(order[static_cast<size_t>(j)]);
      external[static_cast<size_t>(j)] = old < external_.size() ? external_[old] : static_cast<int32_t>(old);
    }
    SetOrder(std::move(external));
  }

  // A filter plan over item ids as a plan over the stored rows.
  FilterPlan PlanOverRows(const FilterPlan& plan) const {
    FilterPlan out;
    out.kind = plan.kind;
    out.num_items = plan.num_items;
    if (plan.kind == FilterPlan::Kind::kExcludeSorted) {
      out.excluded.reserve(plan.excluded.size());
      for (const ItemIndex i : plan.excluded) out.excluded.push_back(row_of_[static_cast<size_t>(i)]);
      std::sort(out.excluded.begin(), out.excluded.end());
    } else if (plan.kind == FilterPlan::Kind::kAllowMask) {
      out.allow_bits.assign(plan.allow_bits.size(), 0);
      for (size_t r = 0; r < external_.size(); ++r) {
        if (plan.IsAllowed(external_[r])) out.allow_bits[r >> 6] |= uint64_t{1} << (r & 63);
      }
    }
    return out;
  }

  // Finds the structures behind the generic faiss::Index.
  void Bind() {
    hnsw_ = dynamic_cast<faiss::IndexHNSW*>(index_.get());
    ivf_ = dynamic_cast<faiss::IndexIVF*>(index_.get());
    flat_ = dynamic_cast<const faiss::IndexFlat*>(index_.get());
    exact_only_ = flat_ != nullptr;
    if (hnsw_ != nullptr) flat_ = dynamic_cast<const faiss::IndexFlat*>(hnsw_->storage);
    graph_ = {};
    if (hnsw_ != nullptr && flat_ != nullptr && flat_->metric_type == faiss::METRIC_INNER_PRODUCT) {
      graph_ = {.hnsw = &hnsw_->hnsw, .vectors = flat_->get_xb(), .n = flat_->ntotal, .dim = config_.dim,
                .external = external_.empty() ? nullptr : external_.data()};
    }
    if (flat_ != nullptr) {
      exact_ = std::make_unique<ExactSearcher>(flat_->get_xb(), flat_->ntotal, config_.dim);
    } else {
      exact_.reset();
    }
    // IVF-Flat (raw vectors in the lists) under inner product with a flat
    // quantizer: our grouped list scan (ivf_search.h).
    ivf_view_ = {};
    auto* ivf_flat = dynamic_cast<faiss::IndexIVFFlat*>(index_.get());
    if (ivf_flat != nullptr && dynamic_cast<faiss::IndexIVFFlatDedup*>(index_.get()) == nullptr &&
        ivf_flat->metric_type == faiss::METRIC_INNER_PRODUCT && ivf_flat->is_trained) {
      const auto* quantizer = dynamic_cast<const faiss::IndexFlat*>(ivf_flat->quantizer);
      if (quantizer != nullptr && quantizer->ntotal == static_cast<faiss_idx_t>(ivf_flat->nlist) &&
          quantizer->d == config_.dim) {
        const bool l2 = quantizer->metric_type == faiss::METRIC_L2;
        centroid_norms_.clear();
        if (l2) {
          const Eigen::Map<const Matrix<float>> c(quantizer->get_xb(), quantizer->ntotal, config_.dim);
          centroid_norms_.resize(static_cast<size_t>(quantizer->ntotal));
          for (Eigen::Index i = 0; i < c.rows(); ++i) centroid_norms_[static_cast<size_t>(i)] = c.row(i).squaredNorm();
        }
        if (l2 || quantizer->metric_type == faiss::METRIC_INNER_PRODUCT) {
          ivf_view_ = {.ivf = ivf_flat, .centroids = quantizer->get_xb(), .centroids_l2 = l2,
                       .centroid_norms = centroid_norms_, .nlist = static_cast<int64_t>(ivf_flat->nlist),
                       .dim = config_.dim};
        }
      }
    }
  }

  // IVF-Flat: our grouped list scan; rows that come up short (or exclude
  // most of the catalogue) scan every list, which is exact.
  absl::Status ListSearch(ConstMatrixRef queries, int k, int nprobe, const std::vector<const FilterPlan*>& plans,
                          Eigen::Ref<Matrix<int32_t>>& ids, MatrixRef& scores) const;

  // Exact search of the queries in `rows` (FAISS's filtered search where the
  // index has no flat storage), written into ids/scores rows.
  absl::Status ExactRows(ConstMatrixRef queries, const std::vector<int64_t>& rows, int k,
                         const std::vector<const FilterPlan*>& plans, int ef, int nprobe,
                         Eigen::Ref<Matrix<int32_t>>& ids, MatrixRef& scores) const;

  // HNSW with flat storage: our walk over the graph (hnsw_search.h), the
  // filter applied during the walk; rows that come up short (or exclude most
  // of the catalogue) are answered exactly.
  absl::Status GraphSearch(ConstMatrixRef queries, int k, int ef, bool scored, int group,
                           const std::vector<const FilterPlan*>& plans,
                           Eigen::Ref<Matrix<int32_t>>& ids, MatrixRef& scores) const;

  // FAISS search of queries (b × d) with kf results: labels/distances b × kf.
  absl::Status FaissSearch(const float* queries, int64_t b, int64_t kf, int ef, int nprobe,
                           const FilterPlan* const* plans, std::vector<faiss_idx_t>* labels,
                           std::vector<float>* distances) const;

  AnnIndexConfig config_;
  std::unique_ptr<faiss::Index> index_;
  faiss::IndexHNSW* hnsw_ = nullptr;
  faiss::IndexIVF* ivf_ = nullptr;
  const faiss::IndexFlat* flat_ = nullptr;  // exact vectors (Flat, or HNSW storage)
  internal::HnswGraphView graph_;            // set when our own HNSW walk applies
  internal::IvfView ivf_view_;               // set when our own IVF-Flat scan applies
  std::vector<float> centroid_norms_;        // ‖c‖² of an L2 quantizer's centroids
  // Graph stored in locality order: row → item id and item id → row (empty:
  // rows are ids). Only HNSW with flat storage is reordered.
  std::vector<int32_t> external_;
  std::vector<int32_t> row_of_;
  bool exact_only_ = false;
  std::unique_ptr<ExactSearcher> exact_;
  mutable EfPhaseLock ef_lock_;
#if defined(RECSYS_USE_FAISS_GPU)
  std::unique_ptr<faiss::gpu::StandardGpuResources> gpu_res_;
  std::unique_ptr<faiss::Index> gpu_index_;
  mutable std::mutex gpu_mu_;  // GPU resources are not shared between host threads
#endif
};

absl::Status FaissAnnIndex::MaybeToGpu() {
  if (!config_.use_gpu) return absl::OkStatus();
#if defined(RECSYS_USE_FAISS_GPU)
  return CatchExceptions("AnnIndex: moving " + config_.factory + " to the GPU", [&]() -> absl::Status {
    if (!gpu_res_) gpu_res_ = std::make_unique<faiss::gpu::StandardGpuResources>();
    gpu_index_.reset(faiss::gpu::index_cpu_to_gpu(gpu_res_.get(), config_.gpu_device, index_.get()));
    return absl::OkStatus();
  });
#else
  return absl::FailedPreconditionError(
      "AnnIndexConfig.use_gpu: this build has no FAISS GPU support (configure with RECSYS_USE_FAISS_GPU=ON)");
#endif
}

absl::Status FaissAnnIndex::FaissSearch(const float* queries, int64_t b, int64_t kf, int ef, int nprobe,
                                        const FilterPlan* const* plans, std::vector<faiss_idx_t>* labels,
                                        std::vector<float>* distances) const {
  labels->assign(static_cast<size_t>(b * kf), -1);
  distances->assign(static_cast<size_t>(b * kf), kNegInf);
  if (b == 0) return absl::OkStatus();
  const int64_t d = config_.dim;
#if defined(RECSYS_USE_FAISS_GPU)
  if (gpu_index_ != nullptr && plans == nullptr) {
    std::lock_guard<std::mutex> lock(gpu_mu_);
    return CatchExceptions("AnnIndex::Search (GPU)", [&]() -> absl::Status {
      gpu_index_->search(b, queries, kf, distances->data(), labels->data());
      return absl::OkStatus();
    });
  }
#endif
  if (hnsw_ != nullptr) ef_lock_.Acquire(ef, &hnsw_->hnsw);
  std::vector<absl::Status> errors(static_cast<size_t>((b + 15) / 16));
  ParallelFor(0, b, 16, [&](int64_t qb, int64_t qe) {
    SingleThreadedOpenMP();
    errors[static_cast<size_t>(qb / 16)] = CatchExceptions("AnnIndex::Search(" + config_.factory + ")", [&]() {
      const float* x = queries + qb * d;
      faiss_idx_t* lab = labels->data() + qb * kf;
      float* dis = distances->data() + qb * kf;
      if (plans == nullptr) {
        if (ivf_ != nullptr) {
          faiss::SearchParametersIVF p;
          p.nprobe = static_cast<size_t>(nprobe);
          index_->search(qe - qb, x, kf, dis, lab, &p);
        } else {
          index_->search(qe - qb, x, kf, dis, lab);
        }
        return absl::OkStatus();
      }
      // FAISS's own filtered path: one query at a time (its selector is per call).
      for (int64_t q = qb; q < qe; ++q) {
        PlanSelector sel(plans[q]);
        const float* xq = queries + q * d;
        faiss_idx_t* lq = labels->data() + q * kf;
        float* dq = distances->data() + q * kf;
        if (ivf_ != nullptr) {
          faiss::SearchParametersIVF p;
          p.nprobe = static_cast<size_t>(nprobe);
          p.sel = &sel;
          index_->search(1, xq, kf, dq, lq, &p);
        } else if (hnsw_ != nullptr) {
          faiss::SearchParametersHNSW p;
          p.efSearch = ef;
          p.sel = &sel;
          index_->search(1, xq, kf, dq, lq, &p);
        } else {
          faiss::SearchParameters p;
          p.sel = &sel;
          index_->search(1, xq, kf, dq, lq, &p);
        }
      }
      return absl::OkStatus();
    });
  });
  if (hnsw_ != nullptr) ef_lock_.Release();
  for (const auto& e : errors) RECSYS_RETURN_IF_ERROR(e);
  return absl::OkStatus();
}

absl::Status FaissAnnIndex::GraphSearch(ConstMatrixRef queries, int k, int ef, bool scored, int group,
                                        const std::vector<const FilterPlan*>& plans,
                                        Eigen::Ref<Matrix<int32_t>>& ids, MatrixRef& scores) const {
  const int64_t b = queries.rows();
  const auto n = static_cast<int64_t>(index_->ntotal);
  std::vector<char> exact(static_cast<size_t>(b), 0);
  const int64_t g = std::max(group, 1);
  ParallelFor(0, (b + g - 1) / g, 1, [&](int64_t gb, int64_t ge) {
    std::vector<internal::HnswQuery> walk;
    std::vector<int64_t> rows;
    std::vector<int> found;
    for (int64_t gi = gb; gi < ge; ++gi) {
      walk.clear();
      rows.clear();
      for (int64_t q = gi * g; q < std::min(b, (gi + 1) * g); ++q) {
        const FilterPlan* p = plans[static_cast<size_t>(q)];
        if (2 * (p ? p->NumExcluded() : 0) > n) {  // an allow list: the walk would wander; exact is cheaper
          exact[static_cast<size_t>(q)] = 1;
          continue;
        }
        walk.push_back({queries.data() + q * queries.outerStride(), p, ids.data() + q * ids.outerStride(),
                        scores.data() + q * scores.outerStride()});
        rows.push_back(q);
      }
      found.assign(walk.size(), 0);
      internal::HnswSearchGroup(graph_, walk, k, ef, scored, found.data());
      for (size_t j = 0; j < walk.size(); ++j) {
        const internal::HnswQuery& w = walk[j];
        const int64_t want = std::min<int64_t>(k, n - (w.plan ? w.plan->NumExcluded() : 0));
        // Scored results left short (the graph ran out of reachable allowed
        // nodes): a standard walk with a k-wide beam, then exact search.
        if (scored && found[j] < want) {
          found[j] = internal::HnswSearchOne(graph_, w.query, k, ef, w.plan, w.ids, w.scores, false);
        }
        if (found[j] < want) exact[static_cast<size_t>(rows[j])] = 1;
      }
    }
  });
  std::vector<int64_t> exact_rows;
  for (int64_t q = 0; q < b; ++q) {
    if (exact[static_cast<size_t>(q)]) exact_rows.push_back(q);
  }
  return ExactRows(queries, exact_rows, k, plans, ef, 1, ids, scores);
}

absl::Status FaissAnnIndex::ListSearch(ConstMatrixRef queries, int k, int nprobe,
                                       const std::vector<const FilterPlan*>& plans,
                                       Eigen::Ref<Matrix<int32_t>>& ids, MatrixRef& scores) const {
  const int64_t b = queries.rows();
  const auto n = static_cast<int64_t>(index_->ntotal);
  const int all_lists = static_cast<int>(ivf_view_.nlist);
  // Queries are scanned in fixed groups of 16 (a user's interest vectors
  // share lists); groups are the parallel tasks.
  constexpr int64_t kGroup = 16;
  const int64_t groups = (b + kGroup - 1) / kGroup;
  ParallelFor(0, groups, 1, [&](int64_t gb, int64_t ge) {
    for (int64_t gi = gb; gi < ge; ++gi) {
      const int64_t g = gi * kGroup;
      const int64_t m = std::min(kGroup, b - g);
      std::vector<int32_t> row_ids(static_cast<size_t>(m * k));
      std::vector<float> row_scores(static_cast<size_t>(m * k));
      std::vector<int> found(static_cast<size_t>(m));
      const std::span<const FilterPlan* const> group_plans(plans.data() + g, static_cast<size_t>(m));
      internal::IvfSearch(ivf_view_, queries.data() + g * queries.outerStride(), m, queries.outerStride(), k, nprobe,
                          group_plans, row_ids.data(), row_scores.data(), found.data());
      for (int64_t i = 0; i < m; ++i) {
        const FilterPlan* p = plans[static_cast<size_t>(g + i)];
        const int64_t ex = p ? p->NumExcluded() : 0;
        // Short (a filter removed too much of the probed lists): scan every list.
        if (found[static_cast<size_t>(i)] < std::min<int64_t>(k, n - ex) && nprobe < all_lists) {
          int again = 0;
          internal::IvfSearch(ivf_view_, queries.data() + (g + i) * queries.outerStride(), 1, queries.outerStride(),
                              k, all_lists, std::span<const FilterPlan* const>(&p, 1),
                              row_ids.data() + i * k, row_scores.data() + i * k, &again);
        }
        for (int j = 0; j < k; ++j) {
          ids(g + i, j) = row_ids[static_cast<size_t>(i * k + j)];
          scores(g + i, j) = row_scores[static_cast<size_t>(i * k + j)];
        }
      }
    }
  });
  return absl::OkStatus();
}

absl::Status FaissAnnIndex::ExactRows(ConstMatrixRef queries, const std::vector<int64_t>& rows, int k,
                                      const std::vector<const FilterPlan*>& plans, int ef, int nprobe,
                                      Eigen::Ref<Matrix<int32_t>>& ids, MatrixRef& scores) const {
  if (rows.empty()) return absl::OkStatus();
  const auto m = static_cast<int64_t>(rows.size());
  MatrixF sub(m, config_.dim);
  std::vector<const FilterPlan*> sub_plans(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    sub.row(i) = queries.row(rows[static_cast<size_t>(i)]);
    sub_plans[static_cast<size_t>(i)] = plans[static_cast<size_t>(rows[static_cast<size_t>(i)])];
  }
  Matrix<int32_t> sub_ids(m, k);
  MatrixF sub_scores(m, k);
  if (exact_ != nullptr) {
    // Stored rows in locality order: filter rows, then report ids.
    std::vector<FilterPlan> row_plans(external_.empty() ? 0 : static_cast<size_t>(m));
    for (size_t i = 0; i < row_plans.size(); ++i) {
      if (sub_plans[i] == nullptr) continue;
      row_plans[i] = PlanOverRows(*sub_plans[i]);
      sub_plans[i] = &row_plans[i];
    }
    RECSYS_RETURN_IF_ERROR(exact_->SearchWithPlans(sub, k, sub_plans, sub_ids, sub_scores));
    if (!external_.empty()) {
      for (int32_t& id : sub_ids.reshaped()) {
        if (id != kNoItem) id = external_[static_cast<size_t>(id)];
      }
    }
  } else {
    // No exact vectors (e.g. IVF-PQ): FAISS's filtered search of this index.
    std::vector<faiss_idx_t> labels;
    std::vector<float> distances;
    RECSYS_RETURN_IF_ERROR(FaissSearch(sub.data(), m, k, ef, nprobe, sub_plans.data(), &labels, &distances));
    for (int64_t i = 0; i < m; ++i) {
      for (int j = 0; j < k; ++j) {
        const faiss_idx_t l = labels[static_cast<size_t>(i * k + j)];
        sub_ids(i, j) = l < 0 ? kNoItem : static_cast<int32_t>(l);
        sub_scores(i, j) = l < 0 ? kNegInf : distances[static_cast<size_t>(i * k + j)];
      }
    }
  }
  for (int64_t i = 0; i < m; ++i) {
    ids.row(rows[static_cast<size_t>(i)]) = sub_ids.row(i);
    scores.row(rows[static_cast<size_t>(i)]) = sub_scores.row(i);
  }
  return absl::OkStatus();
}

absl::Status FaissAnnIndex::Search(ConstMatrixRef queries, int k, const AnnSearchParams& params,
                                   std::span<const ItemFilter* const> filters, Eigen::Ref<Matrix<int32_t>> ids,
                                   MatrixRef scores) const {
  const int64_t b = queries.rows();
  if (k <= 0) return absl::InvalidArgumentError(absl::StrCat("AnnIndex::Search: k must be > 0, got ", k));
  if (params.walk_group < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("AnnIndex::Search: params.walk_group must be >= 1, got ", params.walk_group));
  }
  if (queries.cols() != config_.dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("AnnIndex::Search: queries have ", queries.cols(), " columns, index dim is ", config_.dim));
  }
  if (ids.rows() != b || ids.cols() != k || scores.rows() != b || scores.cols() != k) {
    return absl::InvalidArgumentError(absl::StrCat("AnnIndex::Search: ids/scores must be ", b, " × ", k));
  }
  if (params.ef_search < 0 || params.nprobe < 0) {
    return absl::InvalidArgumentError("AnnSearchParams: ef_search and nprobe must be >= 0");
  }
  const auto n = static_cast<int32_t>(index_->ntotal);
  std::vector<FilterPlan> storage;
  std::vector<const FilterPlan*> plans;
  if (!CompileFilterBatch(filters, b, n, &storage, &plans)) {
    return absl::InvalidArgumentError(
        absl::StrCat("AnnIndex::Search: ", filters.size(), " filters for ", b, " queries (need 0, 1 or b)"));
  }
  if (exact_only_ && !on_gpu()) return exact_->SearchWithPlans(queries, k, plans, ids, scores);

  const int ef = params.ef_search > 0 ? params.ef_search
                 : config_.default_ef_search > 0 ? config_.default_ef_search
                 : (hnsw_ ? hnsw_->hnsw.efSearch : 16);
  const int nprobe = params.nprobe > 0 ? params.nprobe
                     : config_.default_nprobe > 0 ? config_.default_nprobe
                     : (ivf_ ? static_cast<int>(ivf_->nprobe) : 1);

  if (graph_.hnsw != nullptr && !on_gpu()) {
    return GraphSearch(queries, k, ef, params.scored_results, params.walk_group, plans, ids, scores);
  }
  if (ivf_view_.ivf != nullptr && !on_gpu()) return ListSearch(queries, k, nprobe, plans, ids, scores);

  // Route. A filtered query is answered in up to three passes: (1) the index
  // over-fetches k + min(|excluded|, k) — most excluded items (a user's
  // history) are not among any one query's nearest — and post-filters;
  // (2) rows still short over-fetch k + |excluded|, which cannot come up
  // short on an exact index; (3) rows still short, or whose full over-fetch
  // exceeds max_overfetch, or that exclude most of the catalogue (allow
  // lists), are answered by exact search.
  std::vector<int64_t> exact_rows;
  std::vector<int64_t> excluded(static_cast<size_t>(b), 0);
  std::vector<int64_t> pending;
  std::vector<int64_t> fetch(static_cast<size_t>(b), k);
  for (int64_t q = 0; q < b; ++q) {
    const FilterPlan* p = plans[static_cast<size_t>(q)];
    const int64_t ex = p ? p->NumExcluded() : 0;
    excluded[static_cast<size_t>(q)] = ex;
    if (p != nullptr && (2 * ex > n || k + std::min<int64_t>(ex, k) > config_.max_overfetch)) {
      exact_rows.push_back(q);
    } else {
      fetch[static_cast<size_t>(q)] = k + std::min<int64_t>(ex, k);
      pending.push_back(q);
    }
  }
  for (int pass = 0; pass < 2 && !pending.empty(); ++pass) {
    int64_t max_fetch = k;
    for (int64_t q : pending) max_fetch = std::max(max_fetch, fetch[static_cast<size_t>(q)]);
    const int64_t kf = std::max<int64_t>(1, std::min<int64_t>(max_fetch, std::max<int32_t>(n, 1)));
    MatrixF sub;
    const float* qdata = queries.data();
    if (static_cast<int64_t>(pending.size()) != b || queries.outerStride() != queries.cols()) {
      sub.resize(static_cast<Eigen::Index>(pending.size()), config_.dim);
      for (size_t i = 0; i < pending.size(); ++i) sub.row(static_cast<Eigen::Index>(i)) = queries.row(pending[i]);
      qdata = sub.data();
    }
    std::vector<faiss_idx_t> labels;
    std::vector<float> distances;
    RECSYS_RETURN_IF_ERROR(FaissSearch(qdata, static_cast<int64_t>(pending.size()), kf, ef, nprobe, nullptr,
                                       &labels, &distances));
    std::vector<int64_t> retry;
    for (size_t i = 0; i < pending.size(); ++i) {
      const int64_t q = pending[i];
      const FilterPlan* p = plans[static_cast<size_t>(q)];
      int out = 0;
      for (int64_t j = 0; j < kf && out < k; ++j) {
        const faiss_idx_t l = labels[i * static_cast<size_t>(kf) + static_cast<size_t>(j)];
        if (l < 0 || l >= n) continue;
        if (p != nullptr && !p->IsAllowed(static_cast<ItemIndex>(l))) continue;
        ids(q, out) = static_cast<int32_t>(l);
        scores(q, out) = distances[i * static_cast<size_t>(kf) + static_cast<size_t>(j)];
        ++out;
      }
      const int64_t ex = excluded[static_cast<size_t>(q)];
      const int64_t reachable = std::min<int64_t>(k, n - ex);
      if (out < reachable && p != nullptr) {
        if (pass == 0 && ex > k && k + ex <= config_.max_overfetch) {
          fetch[static_cast<size_t>(q)] = k + ex;
          retry.push_back(q);
        } else {
          exact_rows.push_back(q);
        }
        continue;
      }
      for (; out < k; ++out) {
        ids(q, out) = kNoItem;
        scores(q, out) = kNegInf;
      }
    }
    pending = std::move(retry);
  }
  std::sort(exact_rows.begin(), exact_rows.end());
  return ExactRows(queries, exact_rows, k, plans, ef, nprobe, ids, scores);
}

absl::StatusOr<std::unique_ptr<faiss::Index>> MakeFaissIndex(const AnnIndexConfig& config) {
  std::unique_ptr<faiss::Index> index;
  const absl::Status made =
      CatchExceptions("AnnIndexConfig.factory \"" + config.factory + "\"", [&]() -> absl::Status {
        index.reset(faiss::index_factory(config.dim, config.factory.c_str(), faiss::METRIC_INNER_PRODUCT));
        return absl::OkStatus();
      });
  // FAISS throws a generic exception for a string it cannot parse: that is
  // the caller's argument, not an internal failure.
  if (!made.ok()) return absl::InvalidArgumentError(made.message());
  if (auto* h = dynamic_cast<faiss::IndexHNSW*>(index.get())) {
    if (config.hnsw_ef_construction > 0) h->hnsw.efConstruction = config.hnsw_ef_construction;
    if (config.default_ef_search > 0) h->hnsw.efSearch = config.default_ef_search;
  }
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index.get())) {
    if (config.default_nprobe > 0) ivf->nprobe = static_cast<size_t>(config.default_nprobe);
  }
  return index;
}

}  // namespace

absl::Status AnnIndexConfig::Validate() const {
  if (dim <= 0) return absl::InvalidArgumentError(absl::StrCat("AnnIndexConfig.dim must be > 0, got ", dim));
  if (factory.empty()) return absl::InvalidArgumentError("AnnIndexConfig.factory is empty");
  if (hnsw_ef_construction < 0 || default_ef_search < 0 || default_nprobe < 0) {
    return absl::InvalidArgumentError(
        "AnnIndexConfig: hnsw_ef_construction, default_ef_search and default_nprobe must be >= 0");
  }
  if (max_overfetch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("AnnIndexConfig.max_overfetch must be >= 1, got ", max_overfetch));
  }
  if (use_gpu && gpu_device < 0) return absl::InvalidArgumentError("AnnIndexConfig.gpu_device must be >= 0");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AnnIndex>> AnnIndex::Create(const AnnIndexConfig& config) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
#if !defined(RECSYS_USE_FAISS_GPU)
  if (config.use_gpu) {
    return absl::FailedPreconditionError(
        "AnnIndexConfig.use_gpu: this build has no FAISS GPU support (configure with RECSYS_USE_FAISS_GPU=ON)");
  }
#endif
  LimitThirdPartyThreads();
  RECSYS_ASSIGN_OR_RETURN(std::unique_ptr<faiss::Index> index, MakeFaissIndex(config));
  auto out = std::make_unique<FaissAnnIndex>(config, std::move(index));
  return std::unique_ptr<AnnIndex>(std::move(out));
}

absl::StatusOr<std::unique_ptr<AnnIndex>> AnnIndex::Load(const std::string& path, bool use_gpu, int gpu_device) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("AnnIndex::Load: cannot open ", path));
  const auto file_size = static_cast<size_t>(in.tellg());
  in.seekg(0);
  std::vector<uint8_t> data(file_size);
  in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(file_size));
  if (!in) return absl::DataLossError(absl::StrCat("AnnIndex::Load: reading ", path, " failed"));

  Reader r(data, path);
  char magic[8];
  for (char& c : magic) RECSYS_RETURN_IF_ERROR(r.Get(&c, "magic"));
  if (std::memcmp(magic, kMagic, 8) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a recsys ANN index file (bad magic)"));
  }
  uint32_t version = 0, dim = 0, factory_len = 0;
  int64_t ntotal = 0;
  int32_t max_overfetch = 0;
  uint64_t payload_size = 0, checksum = 0;
  RECSYS_RETURN_IF_ERROR(r.Get(&version, "version"));
  if (version < kOldestFormatVersion || version > kFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": unsupported ANN index format version ", version,
                                                   " (this build reads ", kOldestFormatVersion, " to ",
                                                   kFormatVersion, ")"));
  }
  RECSYS_RETURN_IF_ERROR(r.Get(&dim, "dim"));
  RECSYS_RETURN_IF_ERROR(r.Get(&ntotal, "ntotal"));
  RECSYS_RETURN_IF_ERROR(r.Get(&max_overfetch, "max_overfetch"));
  RECSYS_RETURN_IF_ERROR(r.Get(&factory_len, "factory length"));
  if (factory_len > 4096 || factory_len > r.remaining()) {
    return absl::DataLossError(absl::StrCat(path, ": corrupted header (factory length ", factory_len, ")"));
  }
  std::string factory(reinterpret_cast<const char*>(data.data() + r.pos()), factory_len);
  r.Skip(factory_len);
  uint64_t order_count = 0;
  if (version >= 2) {
    RECSYS_RETURN_IF_ERROR(r.Get(&order_count, "order count"));
    if (order_count != 0 && order_count != static_cast<uint64_t>(ntotal)) {
      return absl::DataLossError(absl::StrCat(path, ": corrupted header (order count ", order_count, " for ", ntotal,
                                              " items)"));
    }
  }
  RECSYS_RETURN_IF_ERROR(r.Get(&payload_size, "payload size"));
  RECSYS_RETURN_IF_ERROR(r.Get(&checksum, "checksum"));
  if (payload_size != r.remaining()) {
    return absl::DataLossError(absl::StrCat(path, ": truncated or padded file: header announces ", payload_size,
                                            " payload bytes, file has ", r.remaining()));
  }
  const uint8_t* payload = data.data() + r.pos();
  if (Checksum(payload, payload_size) != checksum) {
    return absl::DataLossError(absl::StrCat(path, ": checksum mismatch (file corrupted)"));
  }
  // (Compared by count: ntotal comes from the unchecksummed header, and
  // count × 4 could wrap.)
  if (order_count > payload_size / sizeof(int32_t)) {
    return absl::DataLossError(absl::StrCat(path, ": corrupted header (", order_count, " order entries in a ",
                                            payload_size, "-byte payload)"));
  }
  const uint64_t order_bytes = order_count * sizeof(int32_t);
  const uint64_t faiss_size = payload_size - order_bytes;
  std::vector<int32_t> external(order_count);
  if (order_count > 0) {
    std::memcpy(external.data(), payload + faiss_size, order_bytes);
    std::vector<uint8_t> seen(order_count, 0);
    for (const int32_t id : external) {
      if (id < 0 || static_cast<uint64_t>(id) >= order_count || seen[static_cast<size_t>(id)]) {
        return absl::DataLossError(absl::StrCat(path, ": the stored row order is not a permutation of the ", ntotal,
                                                " items"));
      }
      seen[static_cast<size_t>(id)] = 1;
    }
  }
  AnnIndexConfig config;
  config.factory = factory;
  config.dim = static_cast<int>(dim);
  config.max_overfetch = max_overfetch;
  config.locality_order = order_count > 0;
  config.use_gpu = use_gpu;
  config.gpu_device = gpu_device;
  RECSYS_RETURN_IF_ERROR(Annotate(config.Validate(), path));
  std::unique_ptr<faiss::Index> index;
  RECSYS_RETURN_IF_ERROR(CatchExceptions(absl::StrCat(path, ": FAISS payload"), [&]() -> absl::Status {
    faiss::VectorIOReader reader;
    reader.data.assign(payload, payload + faiss_size);
    index.reset(faiss::read_index(&reader));
    return absl::OkStatus();
  }));
  if (index->d != static_cast<int>(dim) || index->ntotal != ntotal) {
    return absl::DataLossError(absl::StrCat(path, ": header (dim ", dim, ", ", ntotal, " items) disagrees with payload (dim ",
                                            index->d, ", ", index->ntotal, " items)"));
  }
#if !defined(RECSYS_USE_FAISS_GPU)
  if (use_gpu) return absl::FailedPreconditionError("AnnIndex::Load: this build has no FAISS GPU support");
#endif
  auto out = std::make_unique<FaissAnnIndex>(config, std::move(index));
  if (order_count > 0) {
    // Only a graph our walk searches is stored in locality order.
    if (!out->walks_graph() || use_gpu) {
      return absl::DataLossError(absl::StrCat(path, ": a stored row order for a ", factory,
                                              " index (only flat-storage HNSW on the CPU is reordered)"));
    }
    out->SetOrder(std::move(external));
  }
  RECSYS_RETURN_IF_ERROR(out->MaybeToGpu());
  return std::unique_ptr<AnnIndex>(std::move(out));
}

bool FaissGpuAvailable() {
#if defined(RECSYS_USE_FAISS_GPU)
  try {
    return faiss::gpu::getNumDevices() > 0;
  } catch (...) {
    return false;
  }
#else
  return false;
#endif
}

}  // namespace recsys

// The one parallel runtime: oneTBB, behind a few helpers with explicit grain
// sizes and deterministic reductions.
//
//   recsys::ThreadLimit limit(2);                 // cap TBB for this scope
//   recsys::ParallelFor(0, n, /*grain=*/64, [&](int64_t b, int64_t e) {
//     for (int64_t i = b; i < e; ++i) Work(i);
//   });
//   double total = recsys::DeterministicReduce<double>(0, n, /*grain=*/1024, 0.0,
//       [&](int64_t b, int64_t e) { double s = 0; for (...) s += x[i]; return s; },
//       [](double a, double b) { return a + b; });   // same result for any thread count
//
// FAISS (OpenMP) and OpenBLAS must not spawn their own threads inside our
// tasks: call LimitThirdPartyThreads() (src/core/parallel.cc) once per process
// and SingleThreadedOpenMP() inside a task that calls FAISS.
//
// Thread safety: all functions are safe to call concurrently.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

namespace recsys {

// Number of worker threads TBB will use from this context.
inline int NumThreads() { return oneapi::tbb::this_task_arena::max_concurrency(); }

// Caps TBB's parallelism for the lifetime of this object (process-wide).
// threads <= 0 leaves the default (all cores).
class ThreadLimit {
 public:
  explicit ThreadLimit(int threads) {
    if (threads > 0) {
      control_ = std::make_unique<oneapi::tbb::global_control>(
          oneapi::tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
    }
  }

 private:
  std::unique_ptr<oneapi::tbb::global_control> control_;
};

// Calls fn(chunk_begin, chunk_end) over [begin, end) in chunks of at most
// `grain` items. Chunk boundaries depend only on (begin, end, grain).
template <typename Fn>
void ParallelFor(int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
  if (end <= begin) return;
  grain = std::max<int64_t>(1, grain);
  if (end - begin <= grain) {
    fn(begin, end);
    return;
  }
  const int64_t chunks = (end - begin + grain - 1) / grain;
#if defined(__SANITIZE_THREAD__)
  // Debian's oneTBB is not built with ThreadSanitizer, so TSan cannot see the
  // happens-before edges of its task scheduler and would report every chunk's
  // writes as racing with the caller's reads. Under TSan the chunks run inline,
  // in order (results are chunk-deterministic anyway); what TSan then checks is
  // our own synchronisation between the caller's threads.
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = begin + c * grain;
    fn(b, std::min(end, b + grain));
  }
  return;
#endif
  oneapi::tbb::parallel_for(
      oneapi::tbb::blocked_range<int64_t>(0, chunks, 1),
      [&](const oneapi::tbb::blocked_range<int64_t>& r) {
        for (int64_t c = r.begin(); c < r.end(); ++c) {
          const int64_t b = begin + c * grain;
          fn(b, std::min(end, b + grain));
        }
      },
      oneapi::tbb::simple_partitioner());
}

// Maps fixed chunks in parallel, then combines the chunk results sequentially
// in chunk order: bit-identical for any thread count.
template <typename T, typename MapFn, typename CombineFn>
T DeterministicReduce(int64_t begin, int64_t end, int64_t grain, T identity, MapFn&& map,
                      CombineFn&& combine) {
  if (end <= begin) return identity;
  grain = std::max<int64_t>(1, grain);
  const int64_t chunks = (end - begin + grain - 1) / grain;
  std::vector<T> partial(static_cast<size_t>(chunks), identity);
  ParallelFor(0, chunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t b = begin + c * grain;
      partial[static_cast<size_t>(c)] = map(b, std::min(end, b + grain));
    }
  });
  T result = std::move(identity);
  for (auto& p : partial) result = combine(std::move(result), std::move(p));
  return result;
}

// Keeps OpenBLAS and OpenMP (FAISS) single-threaded so that oneTBB owns the
// cores, and selects the passive OpenMP wait policy where it still can.
// Idempotent; called by every entry point that may reach FAISS or BLAS.
void LimitThirdPartyThreads();

// Sets the calling thread's OpenMP team size to 1 (per-thread setting; call
// inside each TBB task before calling into FAISS).
void SingleThreadedOpenMP();

}  // namespace recsys

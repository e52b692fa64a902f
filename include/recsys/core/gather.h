// Row gathers from large tables (item embeddings, projections): rows of a
// 10^6-item catalogue are DRAM misses, so the next rows are prefetched while
// the current one is copied.
//
//   recsys::MatrixF rows;
//   recsys::GatherRows(item_table, candidate_ids, &rows);   // rows.row(j) = table.row(ids[j])
//
// Thread safety: a pure function.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "recsys/core/check.h"
#include "recsys/core/eigen.h"
#include "recsys/core/types.h"

namespace recsys {

// Asks the kernel to back [p, p + bytes) with transparent huge pages (Linux
// madvise MADV_HUGEPAGE on the 2 MiB-aligned part; a no-op elsewhere or when
// THP is off). Random row gathers from a table of hundreds of MB otherwise
// pay a TLB miss (a page walk) per row. Call it before the memory is first
// written: pages already faulted in are only collapsed later by khugepaged.
void AdviseHugePages(void* p, int64_t bytes);

// A matrix resized to rows × cols whose storage is advised for huge pages
// when it is large (≥ 4 MiB), before it is filled.
inline void ResizeForGathers(MatrixF* m, Eigen::Index rows, Eigen::Index cols) {
  if (m->rows() == rows && m->cols() == cols) return;
  m->resize(rows, cols);
  const int64_t bytes = static_cast<int64_t>(rows) * cols * static_cast<int64_t>(sizeof(float));
  if (bytes >= (int64_t{4} << 20)) AdviseHugePages(m->data(), bytes);
}

// Prefetches `bytes` bytes from p into cache, one hint per 64-byte line.
inline void PrefetchBytes(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off);
}

// out (resized to ids.size() × table.cols()) gets table.row(ids[j]) in row j.
// Every id must be in [0, table.rows()) (RECSYS_DCHECKed).
inline void GatherRows(const MatrixF& table, std::span<const ItemIndex> ids, MatrixF* out) {
  const auto n = static_cast<Eigen::Index>(ids.size());
  const Eigen::Index d = table.cols();
  out->resize(n, d);
  constexpr Eigen::Index kAhead = 8;
  const int64_t row_bytes = d * static_cast<int64_t>(sizeof(float));
  auto prefetch = [&](Eigen::Index j) {
    PrefetchBytes(table.data() + static_cast<Eigen::Index>(ids[static_cast<size_t>(j)]) * d, row_bytes);
  };
  for (Eigen::Index j = 0; j < std::min(n, kAhead); ++j) prefetch(j);
  for (Eigen::Index j = 0; j < n; ++j) {
    if (j + kAhead < n) prefetch(j + kAhead);
    const ItemIndex id = ids[static_cast<size_t>(j)];
    RECSYS_DCHECK(id >= 0 && id < table.rows());
    out->row(j) = table.row(id);
  }
}

}  // namespace recsys

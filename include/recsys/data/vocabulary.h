// Vocabulary: external int64 ids <-> dense int32 indices.
//
// Indices are assigned in order of first insertion, so building from the same
// input always gives the same mapping.
//
//   recsys::Vocabulary items;
//   int32_t a = items.GetOrAdd(1001);     // 0
//   int32_t b = items.Find(1001);         // 0;  Find(999) == -1 (unknown)
//   int64_t ext = items.External(a);      // 1001
//
// Thread safety: const methods are safe concurrently; GetOrAdd is not.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "recsys/core/check.h"
#include "recsys/core/types.h"

namespace recsys {

class Vocabulary {
 public:
  Vocabulary() = default;

  // Builds a vocabulary whose index i maps to externals[i]. Duplicates keep the
  // first index.
  static Vocabulary FromExternals(std::vector<ExternalId> externals) {
    Vocabulary v;
    v.index_.reserve(externals.size());
    for (size_t i = 0; i < externals.size(); ++i) {
      v.index_.try_emplace(externals[i], static_cast<int32_t>(i));
    }
    v.externals_ = std::move(externals);
    return v;
  }

  int32_t GetOrAdd(ExternalId id) {
    auto [it, inserted] = index_.try_emplace(id, static_cast<int32_t>(externals_.size()));
    if (inserted) externals_.push_back(id);
    return it->second;
  }

  // Dense index of `id`, or -1 when unknown.
  int32_t Find(ExternalId id) const {
    auto it = index_.find(id);
    return it == index_.end() ? -1 : it->second;
  }

  // Find() of every id into out[0..ids.size()): the table slots are
  // prefetched a few lookups ahead (a long history against a large
  // catalogue is otherwise one cache miss per id, one after another).
  void FindMany(std::span<const ExternalId> ids, int32_t* out) const {
    constexpr size_t kAhead = 8;
    const size_t n = ids.size();
    for (size_t i = 0; i < std::min(n, kAhead); ++i) index_.prefetch(ids[i]);
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) index_.prefetch(ids[i + kAhead]);
      out[i] = Find(ids[i]);
    }
  }

  ExternalId External(int32_t index) const {
    RECSYS_DCHECK(index >= 0 && static_cast<size_t>(index) < externals_.size());
    return externals_[static_cast<size_t>(index)];
  }

  int32_t size() const { return static_cast<int32_t>(externals_.size()); }
  const std::vector<ExternalId>& externals() const { return externals_; }

 private:
  std::vector<ExternalId> externals_;
  absl::flat_hash_map<ExternalId, int32_t> index_;
};

}  // namespace recsys

// Internal: candidate provenance grouped by candidate, for the merges that
// build a CandidateList from several ranked lists (MergeQueryLists,
// CandidateMerger). Sources are collected flat as (owner, source) pairs in
// scan order and grouped with one counting sort: a few allocations per merge,
// not a vector per candidate.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "recsys/candidates/candidate_list.h"

namespace recsys::internal {

class SourceGroups {
 public:
  void Reserve(size_t n) {
    owner_.reserve(n);
    flat_.reserve(n);
  }
  void Add(int32_t owner, const CandidateSource& source) {
    owner_.push_back(owner);
    flat_.push_back(source);
  }
  // Groups the sources of owners [0, num_owners), each in the order added.
  void Group(int32_t num_owners) {
    offsets_.assign(static_cast<size_t>(num_owners) + 1, 0);
    for (const int32_t o : owner_) ++offsets_[static_cast<size_t>(o) + 1];
    for (size_t o = 0; o < static_cast<size_t>(num_owners); ++o) offsets_[o + 1] += offsets_[o];
    grouped_.resize(flat_.size());
    std::vector<int32_t> fill(offsets_.begin(), offsets_.end() - 1);
    for (size_t i = 0; i < flat_.size(); ++i) {
      grouped_[static_cast<size_t>(fill[static_cast<size_t>(owner_[i])]++)] = flat_[i];
    }
  }
  // After Group(): the sources of `owner`.
  std::span<const CandidateSource> of(int32_t owner) const {
    const auto b = static_cast<size_t>(offsets_[static_cast<size_t>(owner)]);
    const auto e = static_cast<size_t>(offsets_[static_cast<size_t>(owner) + 1]);
    return std::span<const CandidateSource>(grouped_).subspan(b, e - b);
  }

 private:
  std::vector<int32_t> owner_;
  std::vector<CandidateSource> flat_;
  std::vector<int32_t> offsets_;
  std::vector<CandidateSource> grouped_;
};

}  // namespace recsys::internal

// Candidate lists with provenance, and the batch-first generator interface of
// stage 1.
//
// A CandidateList holds, per candidate, the item, a score and every source
// that produced it (generator, query vector or recent item, rank, score) in a
// CSR layout: no allocation per candidate.
//
//   recsys::CandidateRequest req;
//   req.history_items = ds.items(u);                 // oldest first
//   req.queries = interests.data(); req.num_queries = K + 1; req.query_dim = D;
//   req.filter = &seen;                               // optional
//   std::vector<recsys::CandidateList> out(1);
//   RECSYS_RETURN_IF_ERROR(generator.Generate({&req, 1}, 300, out));
//   for (int i = 0; i < out[0].size(); ++i)
//     for (const recsys::CandidateSource& s : out[0].sources(i)) Explain(s.generator, s.query);
//
// Thread safety: CandidateList is a value; generators are const after
// construction and Generate() may be called concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "recsys/candidates/item_filter.h"
#include "recsys/core/types.h"

namespace recsys {

struct CandidateSource {
  int16_t generator = 0;  // generator index (the merger's list order; 0 when standalone)
  int16_t query = -1;     // query vector (ANN) or recent-item position (item-to-item, 0 = latest); -1 = n/a
  int32_t rank = 0;       // rank in that generator's (or query's) own list, 0 = best
  float score = 0.0f;     // that generator's score
};

class CandidateList {
 public:
  int size() const { return static_cast<int>(items_.size()); }
  bool empty() const { return items_.empty(); }
  void Clear() {
    items_.clear();
    scores_.clear();
    sources_.clear();
    offsets_.assign(1, 0);
  }
  void Reserve(int n) {
    items_.reserve(static_cast<size_t>(n));
    scores_.reserve(static_cast<size_t>(n));
    offsets_.reserve(static_cast<size_t>(n) + 1);
    sources_.reserve(static_cast<size_t>(n));
  }
  void Add(ItemIndex item, float score, const CandidateSource& source) { Add(item, score, {&source, 1}); }
  void Add(ItemIndex item, float score, std::span<const CandidateSource> sources) {
    items_.push_back(item);
    scores_.push_back(score);
    sources_.insert(sources_.end(), sources.begin(), sources.end());
    offsets_.push_back(static_cast<int32_t>(sources_.size()));
  }

  ItemIndex item(int i) const { return items_[static_cast<size_t>(i)]; }
  float score(int i) const { return scores_[static_cast<size_t>(i)]; }
  std::span<const CandidateSource> sources(int i) const {
    const auto b = static_cast<size_t>(offsets_[static_cast<size_t>(i)]);
    const auto e = static_cast<size_t>(offsets_[static_cast<size_t>(i) + 1]);
    return std::span<const CandidateSource>(sources_).subspan(b, e - b);
  }
  std::span<const ItemIndex> items() const { return items_; }
  std::span<const float> scores() const { return scores_; }

 private:
  std::vector<ItemIndex> items_;
  std::vector<float> scores_;
  std::vector<int32_t> offsets_ = {0};  // size() + 1
  std::vector<CandidateSource> sources_;
};

// One user's state for stage 1. Spans and pointers are views; they must stay
// valid during Generate().
struct CandidateRequest {
  std::span<const ItemIndex> history_items;       // oldest first
  std::span<const Timestamp> history_timestamps;  // aligned with history_items, or empty
  Timestamp now = 0;                              // request time; 0 = unknown
  // Interest vectors: num_queries × query_dim, row-major (K long-term + 1
  // short-term for the multi-interest model); null when absent.
  const float* queries = nullptr;
  int num_queries = 0;
  int query_dim = 0;
  // Items that must not be returned (e.g. seen items); null = none.
  const ItemFilter* filter = nullptr;
};

class CandidateGenerator {
 public:
  virtual ~CandidateGenerator() = default;
  virtual std::string name() const = 0;
  // For each request i, replaces out[i] with at most k candidates, best first,
  // unique items, all passing requests[i].filter. out.size() == requests.size().
  virtual absl::Status Generate(std::span<const CandidateRequest> requests, int k,
                                std::span<CandidateList> out) const = 0;
};

}  // namespace recsys

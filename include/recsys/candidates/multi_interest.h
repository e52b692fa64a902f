// Multi-query ANN search for multi-interest users: each user brings Q query
// vectors (K long-term interests + 1 short-term), all queries of a batch go to
// the index in one call, and each user's Q result lists are merged:
//   kUnionQuota  every query gets a quota (k · w_q / Σw, remainder to the first
//                queries), then leftover slots go to the best remaining scores
//   kMaxScore    union of all lists, ranked by the best score any query gave
//   kRoundRobin  rank 0 of query 0, rank 0 of query 1, …, then rank 1, …
// Every candidate lists every query (CandidateSource::query) that returned it.
//
//   recsys::MultiInterestConfig config;
//   config.strategy = recsys::MergeStrategy::kUnionQuota;
//   config.search.ef_search = 128;
//   RECSYS_ASSIGN_OR_RETURN(auto gen, recsys::MultiInterestGenerator::Create(index, config));
//   std::vector<recsys::CandidateList> out(requests.size());
//   RECSYS_RETURN_IF_ERROR(gen->Generate(requests, 300, out));
//
// Thread safety: Generate() is const and may be called concurrently.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/candidates/ann_index.h"
#include "recsys/candidates/candidate_list.h"

namespace recsys {

enum class MergeStrategy { kUnionQuota, kMaxScore, kRoundRobin };

// Merges one user's per-query result lists (Q lists, best first, -1 padded)
// into at most k unique candidates. Exposed for tests and other generators.
// lists[q] = (ids, scores) of query q.
void MergeQueryLists(std::span<const std::span<const int32_t>> ids, std::span<const std::span<const float>> scores,
                     MergeStrategy strategy, std::span<const float> query_weights, int k, int16_t generator_id,
                     CandidateList* out);

struct MultiInterestConfig {
  MergeStrategy strategy = MergeStrategy::kUnionQuota;
  // Per-query weights for kUnionQuota quotas (size Q, or empty = equal). >= 0.
  std::vector<float> query_weights;
  // Results fetched per query; 0 = k (enough to fill k even if all but one
  // query returned duplicates).
  int per_query_k = 0;
  // When per_query_k is 0 and this is > 0: each of a user's Q queries first
  // fetches min(k, ceil(fetch_factor · k / Q)) results (the ANN beam, and so
  // the cost, grows with the fetch); users whose merged list then holds fewer
  // than k candidates while some query still had more to give are searched
  // again with the per-query fetch grown by the shortfall (×1.25, at least +1,
  // at most k), until full. The result equals the per_query_k = f result for
  // the final fetch f whenever the quota-filling merge did not reach past it.
  // Ignored (k per query from the start) for indexes whose search cost does
  // not grow with k (AnnIndex::cost_grows_with_k: exact, IVF scans).
  double fetch_factor = 0.0;
  AnnSearchParams search;
  // Generator index written into CandidateSource::generator.
  int16_t generator_id = 0;

  absl::Status Validate() const;
};

class MultiInterestGenerator : public CandidateGenerator {
 public:
  static absl::StatusOr<std::unique_ptr<MultiInterestGenerator>> Create(std::shared_ptr<const AnnIndex> index,
                                                                        const MultiInterestConfig& config);
  std::string name() const override { return "ann"; }
  absl::Status Generate(std::span<const CandidateRequest> requests, int k,
                        std::span<CandidateList> out) const override;

 private:
  MultiInterestGenerator(std::shared_ptr<const AnnIndex> index, MultiInterestConfig config)
      : index_(std::move(index)), config_(std::move(config)) {}
  // One search of every query with kq results each, then the per-user merge.
  // short_users (if not null) receives the users whose merged list is below k
  // although one of their queries filled all kq slots.
  absl::Status SearchAndMerge(std::span<const CandidateRequest> requests, int k, int kq,
                              std::span<CandidateList> out, std::vector<size_t>* short_users) const;
  std::shared_ptr<const AnnIndex> index_;
  MultiInterestConfig config_;
};

}  // namespace recsys

// CandidateMerger: runs several generators for a batch and merges their lists
// per user — deduplicated, with per-generator quotas, keeping every source of
// every candidate (all generators whose list contained it, with rank, score
// and query).
//
// Selection: generators in the configured order each contribute up to `quota`
// new items (items already taken by an earlier generator do not use quota);
// then, if `fill` is set and fewer than `total` were taken, the remaining
// slots go round-robin over the generators' leftover items in rank order.
// CandidateSource::generator is the generator's position in the config; the
// candidate's score is the score of the list it was taken from.
//
//   recsys::CandidateMergerConfig config;
//   config.sources = {{ann, 200}, {i2i, 80}, {pop, 20}};
//   RECSYS_ASSIGN_OR_RETURN(auto merger, recsys::CandidateMerger::Create(config));
//   RECSYS_RETURN_IF_ERROR(merger->Generate(requests, 300, out));   // k caps total
//
// Thread safety: Generate() is const and may be called concurrently if the
// generators allow it (all recsys generators do).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/candidates/candidate_list.h"

namespace recsys {

struct MergerSource {
  std::shared_ptr<const CandidateGenerator> generator;
  int quota = 100;  // max items this generator contributes in the quota pass, >= 0
  int fetch = 0;    // items requested from it; 0 = max(quota, total) when fill, else quota
};

struct CandidateMergerConfig {
  std::vector<MergerSource> sources;
  int total = 0;      // list length; 0 = sum of quotas
  bool fill = true;   // fill unused quota from other generators' leftovers

  absl::Status Validate() const;
};

class CandidateMerger : public CandidateGenerator {
 public:
  static absl::StatusOr<std::unique_ptr<CandidateMerger>> Create(const CandidateMergerConfig& config);
  std::string name() const override { return "merger"; }
  // k caps the configured total (k >= total returns `total` candidates).
  absl::Status Generate(std::span<const CandidateRequest> requests, int k,
                        std::span<CandidateList> out) const override;
  // Merges ready lists (lists[g] = generator g's list for one user).
  void Merge(std::span<const CandidateList* const> lists, int total, CandidateList* out) const;
  std::vector<std::string> generator_names() const;

 private:
  explicit CandidateMerger(CandidateMergerConfig config) : config_(std::move(config)) {}
  int Total() const;
  CandidateMergerConfig config_;
};

}  // namespace recsys

// Evaluation splits.
//
// An EvalSet is a list of cases: an input history (dense item indices, oldest
// first) and one or more target items. Targets unknown to the training
// vocabulary are kept as kNoItem (-1) and count as misses. Input items unknown
// to the vocabulary are dropped and counted in `unknown_input_items`.
//
//   leave-one-out (DESIGN.md --protocol loo): for each sequence s of length n,
//     train = s[0 .. n-3], valid = (s[0 .. n-3] → s[n-2]), test = (s[0 .. n-2] → s[n-1]).
//   global temporal split (Yambda): train = events with t < T_test − gap,
//     test = per user, history = the user's train events, targets = events in
//     [T_test, T_test + window).
//
//   RECSYS_ASSIGN_OR_RETURN(recsys::LooSplit split, recsys::LeaveOneOutSplit(full));
//   // split.train is a SequenceDataset; split.valid and split.test are EvalSets.
//
// Thread safety: values.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/core/types.h"
#include "recsys/data/sequence_dataset.h"

namespace recsys {

struct EvalSet {
  std::vector<UserIndex> users;          // per case; -1 when the user is unknown
  std::vector<int64_t> input_offsets;    // cases + 1
  std::vector<ItemIndex> input_items;    // concatenated histories
  std::vector<Timestamp> input_timestamps;  // aligned with input_items (may be empty)
  std::vector<int64_t> target_offsets;   // cases + 1
  std::vector<ItemIndex> targets;        // concatenated targets, kNoItem if unknown
  int64_t unknown_input_items = 0;
  int64_t unknown_targets = 0;

  int64_t size() const { return input_offsets.empty() ? 0 : static_cast<int64_t>(input_offsets.size() - 1); }
  HistoryView input(int64_t c) const {
    const auto b = static_cast<size_t>(input_offsets[c]);
    const auto e = static_cast<size_t>(input_offsets[c + 1]);
    std::span<const Timestamp> ts;
    if (!input_timestamps.empty()) ts = std::span<const Timestamp>(input_timestamps).subspan(b, e - b);
    return {std::span<const ItemIndex>(input_items).subspan(b, e - b), ts};
  }
  std::span<const ItemIndex> target(int64_t c) const {
    const auto b = static_cast<size_t>(target_offsets[c]);
    const auto e = static_cast<size_t>(target_offsets[c + 1]);
    return std::span<const ItemIndex>(targets).subspan(b, e - b);
  }
  // Appends one case.
  void Add(UserIndex user, std::span<const ItemIndex> history, std::span<const Timestamp> ts,
           std::span<const ItemIndex> case_targets) {
    if (input_offsets.empty()) input_offsets.push_back(0);
    if (target_offsets.empty()) target_offsets.push_back(0);
    users.push_back(user);
    input_items.insert(input_items.end(), history.begin(), history.end());
    input_timestamps.insert(input_timestamps.end(), ts.begin(), ts.end());
    input_offsets.push_back(static_cast<int64_t>(input_items.size()));
    targets.insert(targets.end(), case_targets.begin(), case_targets.end());
    target_offsets.push_back(static_cast<int64_t>(targets.size()));
  }
};

struct LooSplit {
  SequenceDataset train;  // every user's sequence without its last two events
  EvalSet valid;          // history = train sequence, target = second-to-last
  EvalSet test;           // history = all but last, target = last
};

// Leave-one-out split of a full dataset. Users with fewer than 3 events keep
// what they have in train and contribute no valid/test case (counted in
// `skipped_users` of the returned split's logs). The item vocabulary of the
// split is the full dataset's, so targets are never unknown.
absl::StatusOr<LooSplit> LeaveOneOutSplit(const SequenceDataset& full);

struct TemporalSplitOptions {
  Timestamp test_start = 0;   // T_test
  Timestamp gap = 0;          // train uses t < T_test − gap
  Timestamp test_window = 86400;  // test targets in [T_test, T_test + window)
  bool drop_cold_targets = true;  // targets not in train's items are dropped
};

struct TemporalSplit {
  SequenceDataset train;
  EvalSet test;
};

absl::StatusOr<TemporalSplit> GlobalTemporalSplit(const SequenceDataset& full,
                                                  const TemporalSplitOptions& options);

// Maps external-id histories/targets (e.g. from --input/--targets files) onto
// a vocabulary. Unknown input ids are dropped and counted; unknown targets
// become kNoItem and are counted.
EvalSet MakeEvalSet(const std::vector<std::vector<ExternalId>>& inputs,
                    const std::vector<ExternalId>& targets, const Vocabulary& items);

}  // namespace recsys

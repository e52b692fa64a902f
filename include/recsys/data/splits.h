// Evaluation splits.
//
// An EvalSet is a list of cases: an input history (dense item indices, oldest
// first) and one or more target items. Targets unknown to the training
// vocabulary are kept as kNoItem (-1) and count as misses. Input items unknown
// to the vocabulary are dropped and counted in `unknown_input_items`.
//
//   leave-one-out (DESIGN.md --protocol loo): for each sequence s of length n ≥ 3,
//     train = s[0 .. n-3], valid = (s[0 .. n-3] → s[n-2]), test = (s[0 .. n-2] → s[n-1])
//     (ranges inclusive).
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
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recsys/core/types.h"
#include "recsys/data/sequence_dataset.h"
#include "recsys/data/vocabulary.h"

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
  int64_t skipped_users = 0;  // users with < 3 events: all in train, no cases
};

// Leave-one-out split of a full dataset. Users with fewer than 3 events keep
// what they have in train and contribute no valid/test case (counted in
// `skipped_users`). The user and item vocabularies of train are the full
// dataset's (same dense indices), so targets are never unknown; eval cases
// carry the dense user index and are in user order.
absl::StatusOr<LooSplit> LeaveOneOutSplit(const SequenceDataset& full);

struct TemporalSplitOptions {
  Timestamp test_start = 0;       // T_test: start of the test window
  Timestamp gap = 0;              // ≥ 0; train uses t < T_test − gap (Yambda: 30 min)
  Timestamp test_window = 86400;  // > 0; test targets in [T_test, T_test + window)
  bool drop_cold_targets = true;  // drop targets whose item has no train event
  bool drop_cold_users = true;    // drop cases whose user has no train event
  bool unique_targets = true;     // keep each target item once per user (first time)

  absl::Status Validate() const;
};

struct TemporalSplit {
  // Events with t < T_test − gap. Same user and item vocabularies as the full
  // dataset (users without train events have empty histories).
  SequenceDataset train;
  // One case per user with at least one target: history = the user's train
  // events, targets = items of the user's events in the test window, in time
  // order. Cases are in user order.
  EvalSet test;
  int64_t gap_events = 0;           // events in [T_test − gap, T_test): in neither part
  int64_t after_window_events = 0;  // events at or after T_test + window
  int64_t cold_targets = 0;         // targets dropped by drop_cold_targets
  int64_t cold_users = 0;           // users dropped by drop_cold_users
};

absl::StatusOr<TemporalSplit> GlobalTemporalSplit(const SequenceDataset& full,
                                                  const TemporalSplitOptions& options);

// The train part of GlobalTemporalSplit(full, options) — events with
// t < test_start − gap, the full dataset's vocabularies — written as a binary
// snapshot at `path` without materialising it: each user's train events are a
// prefix of the user's time-ordered history, so only the prefix lengths (8
// bytes a user) are held while the events stream from `full` (typically a
// memory-mapped snapshot) to the file. Training then maps that snapshot
// (LoadSnapshot), so neither step needs the events in RAM. A user with an
// event before the train end after one at or past it (out of time order)
// gives FailedPrecondition naming the user (datasets built by
// SequenceDataset::FromEventLog are always in order). The snapshot
// equals WriteSnapshot(GlobalTemporalSplit(full, options)->train) byte for byte.
struct TemporalTrainSnapshotInfo {
  int64_t train_events = 0;
  int64_t gap_events = 0;           // in [test_start − gap, test_start)
  int64_t test_window_events = 0;   // in [test_start, test_start + window)
  int64_t after_window_events = 0;  // at or after test_start + window
  int32_t users_with_train_events = 0;
};
absl::StatusOr<TemporalTrainSnapshotInfo> WriteTemporalTrainSnapshot(const SequenceDataset& full,
                                                                      const TemporalSplitOptions& options,
                                                                      const std::string& path);

// The test cases of GlobalTemporalSplit(full, options) without its train part
// in memory (what `evaluate --protocol time` needs): three passes over the
// events (typically a memory-mapped snapshot) holding a byte per item and per
// user, then only the chosen cases are gathered. With max_cases > 0 and more
// cases than that, every stride-th case is kept, stride = ⌈cases /
// max_cases⌉ (cases in user order, the first kept): the same cases, histories
// and targets as striding GlobalTemporalSplit(full, options)->test (tested).
struct TemporalTestCases {
  EvalSet test;
  int64_t cases = 0;                // cases before striding
  int64_t train_events = 0;         // t < test_start − gap
  int64_t gap_events = 0;           // in [test_start − gap, test_start)
  int64_t after_window_events = 0;  // at or after test_start + window
  int64_t cold_targets = 0;         // as TemporalSplit
  int64_t cold_users = 0;
};
absl::StatusOr<TemporalTestCases> GlobalTemporalTestCases(const SequenceDataset& full,
                                                          const TemporalSplitOptions& options,
                                                          int64_t max_cases = 0);

// Maps external-id histories/targets (e.g. from --input/--targets files) onto
// a vocabulary. Unknown input ids are dropped and counted; unknown targets
// become kNoItem and are counted. One target per case; `targets` may be empty
// (cases without targets, e.g. for `recommend`), otherwise it must have one
// entry per input (InvalidArgument naming both counts otherwise). Users are -1
// and timestamps are empty (files carry neither).
absl::StatusOr<EvalSet> MakeEvalSet(const std::vector<std::vector<ExternalId>>& inputs,
                    const std::vector<ExternalId>& targets, const Vocabulary& items);

// Reads an --input file (seq) and a --targets file (one id per line) and maps
// them with MakeEvalSet. The two files must have the same number of lines
// (InvalidArgument naming both files and counts otherwise).
absl::StatusOr<EvalSet> ReadEvalSet(const std::string& input_path, const std::string& targets_path,
                                    const Vocabulary& items);

}  // namespace recsys

// Evaluation splits (see include/recsys/data/splits.h).
#include "recsys/data/splits.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "recsys/core/check.h"
#include "recsys/core/status.h"
#include "recsys/data/readers.h"
#include "recsys/data/snapshot.h"

namespace recsys {
namespace {

// Copies the events [b, e) of the full dataset's columns into `c`.
void AppendEvents(const SequenceDataset& full, int64_t b, int64_t e, SequenceDataset::Columns& c) {
  const auto sb = static_cast<size_t>(b);
  const auto n = static_cast<size_t>(e - b);
  auto append = [&](auto& dst, auto src) { dst.insert(dst.end(), src.begin() + sb, src.begin() + sb + n); };
  append(c.items, full.all_items());
  append(c.timestamps, full.all_timestamps());
  append(c.types, full.all_types());
  append(c.weights, full.all_weights());
  append(c.organic, full.all_organic());
}

void ReserveEvents(SequenceDataset::Columns& c, size_t users, size_t events) {
  c.offsets.reserve(users + 1);
  c.items.reserve(events);
  c.timestamps.reserve(events);
  c.types.reserve(events);
  c.weights.reserve(events);
  c.organic.reserve(events);
}

// User u's targets in the test window [test_start, test_end), in time order:
// unique items (first time) with options.unique_targets, items without a train
// event dropped (and counted) with options.drop_cold_targets.
void UserTestTargets(const SequenceDataset& full, UserIndex u, const TemporalSplitOptions& options,
                     Timestamp test_end, const std::vector<uint8_t>& item_in_train,
                     absl::flat_hash_set<ItemIndex>& seen, std::vector<ItemIndex>& targets, int64_t& cold_targets) {
  targets.clear();
  seen.clear();
  const auto ts = full.timestamps(u);
  const auto items = full.items(u);
  for (size_t k = 0; k < ts.size(); ++k) {
    if (ts[k] < options.test_start || ts[k] >= test_end) continue;
    const ItemIndex item = items[k];
    if (options.drop_cold_targets && !item_in_train[static_cast<size_t>(item)]) {
      ++cold_targets;
      continue;
    }
    if (options.unique_targets && !seen.insert(item).second) continue;
    targets.push_back(item);
  }
}

}  // namespace

absl::StatusOr<LooSplit> LeaveOneOutSplit(const SequenceDataset& full) {
  LooSplit split;
  SequenceDataset::Columns c;
  const int32_t num_users = full.num_users();
  ReserveEvents(c, static_cast<size_t>(num_users), static_cast<size_t>(full.num_events()));
  c.offsets.push_back(0);
  for (UserIndex u = 0; u < num_users; ++u) {
    const int64_t b = full.offsets()[u];
    const int64_t n = full.length(u);
    if (n < 3) {
      AppendEvents(full, b, b + n, c);
      ++split.skipped_users;
    } else {
      AppendEvents(full, b, b + n - 2, c);
      const auto items = full.items(u);
      const auto ts = full.timestamps(u);
      const size_t len = static_cast<size_t>(n);
      split.valid.Add(u, items.first(len - 2), ts.first(len - 2), items.subspan(len - 2, 1));
      split.test.Add(u, items.first(len - 1), ts.first(len - 1), items.subspan(len - 1, 1));
    }
    c.offsets.push_back(static_cast<int64_t>(c.items.size()));
  }
  RECSYS_ASSIGN_OR_RETURN(split.train,
                          SequenceDataset::FromColumns(std::move(c), full.user_vocab(), full.item_vocab()));
  return split;
}

absl::Status TemporalSplitOptions::Validate() const {
  if (gap < 0) return absl::InvalidArgumentError(absl::StrCat("TemporalSplitOptions.gap must be >= 0, got ", gap));
  if (test_window <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("TemporalSplitOptions.test_window must be > 0, got ", test_window));
  }
  Timestamp lo = 0, hi = 0;  // __builtin_*_overflow: GCC and Clang (the _p forms are GCC only)
  if (__builtin_sub_overflow(test_start, gap, &lo) || __builtin_add_overflow(test_start, test_window, &hi)) {
    return absl::InvalidArgumentError(absl::StrCat("TemporalSplitOptions: test_start ", test_start, " ± gap ", gap,
                                                   " / window ", test_window, " overflows int64"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TemporalSplit> GlobalTemporalSplit(const SequenceDataset& full,
                                                  const TemporalSplitOptions& options) {
  RECSYS_RETURN_IF_ERROR(options.Validate());
  const Timestamp train_end = options.test_start - options.gap;        // exclusive
  const Timestamp test_end = options.test_start + options.test_window;  // exclusive
  TemporalSplit split;
  SequenceDataset::Columns c;
  const int32_t num_users = full.num_users();
  ReserveEvents(c, static_cast<size_t>(num_users), static_cast<size_t>(full.num_events()));
  c.offsets.push_back(0);
  // Pass 1: train events (users' events are time-sorted, but count with a
  // full scan so that the split does not rely on it beyond the CSR order).
  std::vector<uint8_t> item_in_train(static_cast<size_t>(full.num_items()), 0);
  for (UserIndex u = 0; u < num_users; ++u) {
    const int64_t b = full.offsets()[u];
    const auto ts = full.timestamps(u);
    for (size_t k = 0; k < ts.size(); ++k) {
      if (ts[k] < train_end) {
        AppendEvents(full, b + static_cast<int64_t>(k), b + static_cast<int64_t>(k) + 1, c);
        item_in_train[static_cast<size_t>(full.items(u)[k])] = 1;
      } else if (ts[k] < options.test_start) {
        ++split.gap_events;
      } else if (ts[k] >= test_end) {
        ++split.after_window_events;
      }
    }
    c.offsets.push_back(static_cast<int64_t>(c.items.size()));
  }
  // Pass 2: test cases.
  std::vector<ItemIndex> targets;
  absl::flat_hash_set<ItemIndex> seen;
  for (UserIndex u = 0; u < num_users; ++u) {
    UserTestTargets(full, u, options, test_end, item_in_train, seen, targets, split.cold_targets);
    if (targets.empty()) continue;
    const auto b = static_cast<size_t>(c.offsets[static_cast<size_t>(u)]);
    const auto e = static_cast<size_t>(c.offsets[static_cast<size_t>(u) + 1]);
    if (b == e && options.drop_cold_users) {
      ++split.cold_users;
      continue;
    }
    split.test.Add(u, std::span<const ItemIndex>(c.items).subspan(b, e - b),
                   std::span<const Timestamp>(c.timestamps).subspan(b, e - b), targets);
  }
  RECSYS_ASSIGN_OR_RETURN(split.train,
                          SequenceDataset::FromColumns(std::move(c), full.user_vocab(), full.item_vocab()));
  return split;
}

absl::StatusOr<TemporalTrainSnapshotInfo> WriteTemporalTrainSnapshot(const SequenceDataset& full,
                                                                      const TemporalSplitOptions& options,
                                                                      const std::string& path) {
  RECSYS_RETURN_IF_ERROR(options.Validate());
  const Timestamp train_end = options.test_start - options.gap;        // exclusive
  const Timestamp test_end = options.test_start + options.test_window;  // exclusive
  TemporalTrainSnapshotInfo info;
  const int32_t num_users = full.num_users();
  std::vector<int64_t> keep(static_cast<size_t>(num_users));
  for (UserIndex u = 0; u < num_users; ++u) {
    const auto ts = full.timestamps(u);
    size_t n = 0;
    while (n < ts.size() && ts[n] < train_end) ++n;
    for (size_t k = n; k < ts.size(); ++k) {
      if (ts[k] < train_end) {
        return absl::FailedPreconditionError(absl::StrCat(
            "WriteTemporalTrainSnapshot: user ", full.user_vocab().External(u), " (index ", u,
            ") has events out of time order (event ", k, " at ", ts[k], " follows event ", n, " at ", ts[n],
            ", train ends at ", train_end,
            "); the train part would not be a prefix (GlobalTemporalSplit handles any order)"));
      }
      if (ts[k] < options.test_start) {
        ++info.gap_events;
      } else if (ts[k] < test_end) {
        ++info.test_window_events;
      } else {
        ++info.after_window_events;
      }
    }
    keep[static_cast<size_t>(u)] = static_cast<int64_t>(n);
    info.train_events += static_cast<int64_t>(n);
    if (n > 0) ++info.users_with_train_events;
  }
  RECSYS_RETURN_IF_ERROR(WriteSnapshotPrefix(full, keep, path));
  return info;
}

absl::StatusOr<TemporalTestCases> GlobalTemporalTestCases(const SequenceDataset& full,
                                                          const TemporalSplitOptions& options, int64_t max_cases) {
  RECSYS_RETURN_IF_ERROR(options.Validate());
  const Timestamp train_end = options.test_start - options.gap;        // exclusive
  const Timestamp test_end = options.test_start + options.test_window;  // exclusive
  TemporalTestCases out;
  const int32_t num_users = full.num_users();
  // Pass 1: which items and users have train events (any event order).
  std::vector<uint8_t> item_in_train(static_cast<size_t>(full.num_items()), 0);
  std::vector<uint8_t> user_in_train(static_cast<size_t>(num_users), 0);
  for (UserIndex u = 0; u < num_users; ++u) {
    const auto ts = full.timestamps(u);
    const auto items = full.items(u);
    for (size_t k = 0; k < ts.size(); ++k) {
      if (ts[k] < train_end) {
        item_in_train[static_cast<size_t>(items[k])] = 1;
        user_in_train[static_cast<size_t>(u)] = 1;
        ++out.train_events;
      } else if (ts[k] < options.test_start) {
        ++out.gap_events;
      } else if (ts[k] >= test_end) {
        ++out.after_window_events;
      }
    }
  }
  // Pass 2: which users have a case (the flags reuse user_in_train: bit 1).
  std::vector<ItemIndex> targets;
  absl::flat_hash_set<ItemIndex> seen;
  for (UserIndex u = 0; u < num_users; ++u) {
    UserTestTargets(full, u, options, test_end, item_in_train, seen, targets, out.cold_targets);
    if (targets.empty()) continue;
    if (!user_in_train[static_cast<size_t>(u)] && options.drop_cold_users) {
      ++out.cold_users;
      continue;
    }
    user_in_train[static_cast<size_t>(u)] |= 2;
    ++out.cases;
  }
  // Pass 3: every stride-th case, gathered.
  const int64_t stride = max_cases > 0 && out.cases > max_cases ? (out.cases + max_cases - 1) / max_cases : 1;
  std::vector<ItemIndex> history;
  std::vector<Timestamp> history_ts;
  int64_t unused_cold = 0;
  int64_t c = 0;  // cases so far
  for (UserIndex u = 0; u < num_users; ++u) {
    if (!(user_in_train[static_cast<size_t>(u)] & 2)) continue;
    if (c++ % stride != 0) continue;
    UserTestTargets(full, u, options, test_end, item_in_train, seen, targets, unused_cold);
    history.clear();
    history_ts.clear();
    const auto ts = full.timestamps(u);
    const auto items = full.items(u);
    for (size_t k = 0; k < ts.size(); ++k) {
      if (ts[k] < train_end) {
        history.push_back(items[k]);
        history_ts.push_back(ts[k]);
      }
    }
    out.test.Add(u, history, history_ts, targets);
  }
  return out;
}

absl::StatusOr<EvalSet> MakeEvalSet(const std::vector<std::vector<ExternalId>>& inputs,
                                    const std::vector<ExternalId>& targets, const Vocabulary& items) {
  if (!targets.empty() && targets.size() != inputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("MakeEvalSet: ", inputs.size(), " inputs but ", targets.size(),
                                                   " targets (need one target per input, or none)"));
  }
  EvalSet set;
  set.input_offsets.push_back(0);
  set.target_offsets.push_back(0);
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (ExternalId id : inputs[i]) {
      const ItemIndex item = items.Find(id);
      if (item < 0) {
        ++set.unknown_input_items;
      } else {
        set.input_items.push_back(item);
      }
    }
    set.input_offsets.push_back(static_cast<int64_t>(set.input_items.size()));
    set.users.push_back(-1);
    if (!targets.empty()) {
      const ItemIndex t = items.Find(targets[i]);
      if (t < 0) ++set.unknown_targets;
      set.targets.push_back(t < 0 ? kNoItem : t);
    }
    set.target_offsets.push_back(static_cast<int64_t>(set.targets.size()));
  }
  return set;
}

absl::StatusOr<EvalSet> ReadEvalSet(const std::string& input_path, const std::string& targets_path,
                                    const Vocabulary& items) {
  RECSYS_ASSIGN_OR_RETURN(auto inputs, ReadSequences(input_path));
  RECSYS_ASSIGN_OR_RETURN(auto targets, ReadIdList(targets_path));
  if (inputs.size() != targets.size()) {
    return absl::InvalidArgumentError(absl::StrCat("--input ", input_path, " has ", inputs.size(),
                                                   " lines but --targets ", targets_path, " has ",
                                                   targets.size(), "; line i of each must describe case i"));
  }
  return MakeEvalSet(inputs, targets, items);
}

}  // namespace recsys

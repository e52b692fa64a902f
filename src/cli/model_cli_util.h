// Helpers shared by `recsys train`, `evaluate` and `recommend`: reading a
// dataset and its leave-one-out split, and turning EvalResult into JSON.
#pragma once

#include <algorithm>
#include <limits>
#include <optional>
#include <vector>
#include <string>

#include "cli_common.h"
#include "recsys/core/status.h"
#include "recsys/data/readers.h"
#include "recsys/data/splits.h"
#include "recsys/eval/evaluator.h"

namespace recsys::cli {

// How --data is split: --protocol loo | time | none and the options of the
// global temporal split (Yambda's protocol: train on events before
// T_test − gap, test on each user's events in [T_test, T_test + window)).
struct SplitFlags {
  std::string protocol = "loo";
  int64_t test_start = -1;      // T_test; -1 = the last `test_window` of the data
  int64_t test_window = 86400;  // seconds of test events
  int64_t gap = 1800;           // seconds between train and test
  int64_t max_eval_users = 0;   // > 0: evaluate every ⌈cases / N⌉-th case only

  void AddTo(CLI::App* app, const std::string& protocols_help) {
    app->add_option("--protocol", protocol, protocols_help)->capture_default_str();
    app->add_option("--test-start", test_start,
                    "time protocol: first test timestamp (default: the last --test-window of the data)");
    app->add_option("--test-window", test_window, "time protocol: test window in timestamp units (seconds)")
        ->capture_default_str();
    app->add_option("--gap", gap, "time protocol: gap between train and test (Yambda: 1800 s)")->capture_default_str();
  }
};

// Keeps every stride-th case so that at most max_cases remain (deterministic).
inline EvalSet SampleCases(const EvalSet& set, int64_t max_cases) {
  if (max_cases <= 0 || set.size() <= max_cases) return set;
  const int64_t stride = (set.size() + max_cases - 1) / max_cases;
  EvalSet out;
  for (int64_t i = 0; i < set.size(); i += stride) {
    const HistoryView h = set.input(i);
    out.Add(set.users[static_cast<size_t>(i)], h.items, h.timestamps, set.target(i));
  }
  return out;
}

// The global temporal split's options from the flags; without --test-start
// the test window is the last --test-window of the data (one pass over the
// timestamps, which are per-user sorted: each user's last event).
inline absl::StatusOr<TemporalSplitOptions> TemporalOptions(const SequenceDataset& full, const std::string& path,
                                                            const SplitFlags& flags) {
  TemporalSplitOptions o;
  o.test_window = flags.test_window;
  o.gap = flags.gap;
  if (flags.test_start >= 0) {
    o.test_start = flags.test_start;
  } else {
    Timestamp last = std::numeric_limits<Timestamp>::min();
    for (UserIndex u = 0; u < full.num_users(); ++u) {
      const auto ts = full.timestamps(u);
      if (!ts.empty()) last = std::max(last, ts.back());
    }
    if (last == std::numeric_limits<Timestamp>::min()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": the time protocol needs timestamps"));
    }
    o.test_start = last - flags.test_window + 1;
  }
  RECSYS_RETURN_IF_ERROR(o.Validate());
  return o;
}

// Reads --data in --format and splits it: "loo" leave-one-out (train, valid,
// test), "time" by global time (train and test; no valid), "none" keeps the
// whole dataset as train (no valid/test cases).
// Loads --data (a snapshot is memory-mapped) and logs its size.
inline absl::StatusOr<SequenceDataset> LoadLogged(const std::string& path, const std::string& format_name) {
  RECSYS_ASSIGN_OR_RETURN(InputFormat format, ParseInputFormat(format_name));
  RECSYS_ASSIGN_OR_RETURN(SequenceDataset full, LoadDataset(path, format));
  Log(absl::StrCat("loaded ", path, ": ", full.num_users(), " users, ", full.num_items(), " items, ",
                   full.num_events(), " events"));
  return full;
}

// The test cases of --protocol time (every ⌈cases / --max-users⌉-th),
// without building the train part (GlobalTemporalTestCases), remapped onto
// `vocab` (the model's items).
inline absl::StatusOr<EvalSet> LoadTemporalTestCases(const std::string& path, const std::string& format_name,
                                                     const SplitFlags& flags, const Vocabulary& vocab) {
  RECSYS_ASSIGN_OR_RETURN(SequenceDataset full, LoadLogged(path, format_name));
  RECSYS_ASSIGN_OR_RETURN(TemporalSplitOptions o, TemporalOptions(full, path, flags));
  RECSYS_ASSIGN_OR_RETURN(TemporalTestCases t, GlobalTemporalTestCases(full, o, flags.max_eval_users));
  Log(absl::StrCat("time split at ", o.test_start, " (gap ", o.gap, ", window ", o.test_window, "): ",
                   t.train_events, " train events, ", t.cases, " test users, ", t.cold_targets,
                   " cold targets dropped"));
  return RemapEvalSet(t.test, full.item_vocab(), vocab);
}

inline absl::StatusOr<LooSplit> LoadSplitData(const std::string& path, const std::string& format_name,
                                              const SplitFlags& flags) {
  const std::string& protocol = flags.protocol;
  if (protocol != "loo" && protocol != "none" && protocol != "time") {
    return absl::InvalidArgumentError(
        absl::StrCat("--protocol: '", protocol, "' is not one of loo, time, none"));
  }
  RECSYS_ASSIGN_OR_RETURN(SequenceDataset full, LoadLogged(path, format_name));
  if (protocol == "none") {
    LooSplit split;
    split.train = std::move(full);
    return split;
  }
  if (protocol == "time") {
    RECSYS_ASSIGN_OR_RETURN(TemporalSplitOptions o, TemporalOptions(full, path, flags));
    RECSYS_ASSIGN_OR_RETURN(TemporalSplit ts, GlobalTemporalSplit(full, o));
    Log(absl::StrCat("time split at ", o.test_start, " (gap ", o.gap, ", window ", o.test_window, "): ",
                     ts.train.num_events(), " train events, ", ts.test.size(), " test users, ", ts.cold_targets,
                     " cold targets dropped"));
    LooSplit split;
    split.train = std::move(ts.train);
    split.test = std::move(ts.test);
    return split;
  }
  return LeaveOneOutSplit(full);
}

inline nlohmann::json EvalJson(const EvalResult& result) {
  return nlohmann::json::parse(EvalResultToJson(result));
}

}  // namespace recsys::cli

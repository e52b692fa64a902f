// Helpers shared by `recsys train`, `evaluate` and `recommend`: reading a
// dataset and its leave-one-out split, and turning EvalResult into JSON.
#pragma once

#include <optional>
#include <string>

#include "cli_common.h"
#include "recsys/core/status.h"
#include "recsys/data/readers.h"
#include "recsys/data/splits.h"
#include "recsys/eval/evaluator.h"

namespace recsys::cli {

// Reads --data in --format and, for protocol "loo", splits it leave-one-out.
// protocol "none" keeps the whole dataset as train (no valid/test cases).
inline absl::StatusOr<LooSplit> LoadSplitData(const std::string& path, const std::string& format_name,
                                              const std::string& protocol) {
  if (protocol != "loo" && protocol != "none") {
    return absl::InvalidArgumentError(absl::StrCat("--protocol: '", protocol, "' is not one of loo, none"));
  }
  RECSYS_ASSIGN_OR_RETURN(InputFormat format, ParseInputFormat(format_name));
  RECSYS_ASSIGN_OR_RETURN(SequenceDataset full, LoadDataset(path, format));
  Log(absl::StrCat("loaded ", path, ": ", full.num_users(), " users, ", full.num_items(), " items, ",
                   full.num_events(), " events"));
  if (protocol == "none") {
    LooSplit split;
    split.train = std::move(full);
    return split;
  }
  return LeaveOneOutSplit(full);
}

inline nlohmann::json EvalJson(const EvalResult& result) {
  return nlohmann::json::parse(EvalResultToJson(result));
}

}  // namespace recsys::cli

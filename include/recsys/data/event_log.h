// EventLog: the columnar form of raw events, before vocabularies and sorting.
//
// One event = (user, item, timestamp, type, weight, organic). Ids are the
// external int64 ids of the source; timestamps may be synthetic (the position
// in a sequence file) when the source has none. Columns `weights` and
// `organic` are either empty (meaning 1.0 / organic for every event) or as
// long as the others.
//
//   recsys::EventLog log;
//   log.Append(/*user=*/7, /*item=*/42, /*timestamp=*/1700000000);
//   RECSYS_ASSIGN_OR_RETURN(auto dataset, recsys::SequenceDataset::FromEventLog(log));
//
// Thread safety: a plain value; concurrent const access is safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "recsys/core/types.h"

namespace recsys {

// Event types (Yambda's vocabulary plus generic ones). kInteraction is the
// default for sources that carry no type.
enum class EventKind : EventType {
  kInteraction = 0,
  kListen = 1,
  kLike = 2,
  kDislike = 3,
  kUnlike = 4,
  kUndislike = 5,
  kView = 6,
  kClick = 7,
  kPurchase = 8,
};

struct EventLog {
  std::vector<ExternalId> users;
  std::vector<ExternalId> items;
  std::vector<Timestamp> timestamps;
  std::vector<EventType> types;
  std::vector<float> weights;     // empty, or one per event (e.g. played ratio)
  std::vector<uint8_t> organic;   // empty, or one per event: 1 organic, 0 recommended

  size_t size() const { return users.size(); }
  bool empty() const { return users.empty(); }

  void Reserve(size_t n) {
    users.reserve(n);
    items.reserve(n);
    timestamps.reserve(n);
    types.reserve(n);
  }

  void Append(ExternalId user, ExternalId item, Timestamp timestamp,
              EventType type = static_cast<EventType>(EventKind::kInteraction)) {
    users.push_back(user);
    items.push_back(item);
    timestamps.push_back(timestamp);
    types.push_back(type);
  }

  // Checks that all columns have consistent lengths.
  absl::Status Validate() const {
    const size_t n = users.size();
    if (items.size() != n || timestamps.size() != n || types.size() != n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "EventLog columns differ in length: users=", n, " items=", items.size(),
          " timestamps=", timestamps.size(), " types=", types.size()));
    }
    if (!weights.empty() && weights.size() != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("EventLog.weights has ", weights.size(), " entries, expected ", n));
    }
    if (!organic.empty() && organic.size() != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("EventLog.organic has ", organic.size(), " entries, expected ", n));
    }
    return absl::OkStatus();
  }
};

}  // namespace recsys

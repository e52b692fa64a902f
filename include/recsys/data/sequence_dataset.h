// SequenceDataset: per-user chronological histories in CSR form.
//
// For user u (dense index), events offsets[u] .. offsets[u+1]-1 are u's events
// in time order (ties keep input order): item indices, timestamps, event types,
// weights and organic flags. Vocabularies map dense indices to external ids.
// The dataset is immutable once built; copies share storage (so a dataset can
// view a memory-mapped snapshot without owning it).
//
//   RECSYS_ASSIGN_OR_RETURN(recsys::SequenceDataset ds,
//                           recsys::SequenceDataset::FromEventLog(log));
//   for (recsys::UserIndex u = 0; u < ds.num_users(); ++u) {
//     std::span<const recsys::ItemIndex> items = ds.items(u);   // oldest first
//   }
//
// Thread safety: immutable; safe for concurrent reads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/core/types.h"
#include "recsys/data/event_log.h"
#include "recsys/data/vocabulary.h"

namespace recsys {

// A read-only view of one history: items oldest first, timestamps aligned (or
// empty when unknown).
struct HistoryView {
  std::span<const ItemIndex> items;
  std::span<const Timestamp> timestamps;
};

struct DatasetBuildOptions {
  // Drop repeated (user, item, timestamp) events, keeping the first.
  bool drop_exact_duplicates = false;
};

class SequenceDataset {
 public:
  // Owned columns; also the layout a snapshot stores.
  struct Columns {
    std::vector<int64_t> offsets;       // num_users + 1
    std::vector<ItemIndex> items;       // num_events
    std::vector<Timestamp> timestamps;  // num_events
    std::vector<EventType> types;       // num_events
    std::vector<float> weights;         // num_events
    std::vector<uint8_t> organic;       // num_events
  };

  SequenceDataset() = default;

  // Groups events by user, assigns dense indices in order of first appearance
  // and stable-sorts each user's events by timestamp.
  static absl::StatusOr<SequenceDataset> FromEventLog(const EventLog& log,
                                                      const DatasetBuildOptions& options = {});

  // Takes ownership of ready CSR columns (validated: offsets monotone, indices
  // within the vocabularies).
  static absl::StatusOr<SequenceDataset> FromColumns(Columns columns, Vocabulary users,
                                                     Vocabulary items);

  // Views external storage (e.g. a memory-mapped snapshot) kept alive by
  // `owner`. Spans must stay valid while `owner` lives. Validated like
  // FromColumns.
  static absl::StatusOr<SequenceDataset> FromViews(
      std::shared_ptr<const void> owner, std::span<const int64_t> offsets,
      std::span<const ItemIndex> items, std::span<const Timestamp> timestamps,
      std::span<const EventType> types, std::span<const float> weights,
      std::span<const uint8_t> organic, Vocabulary users, Vocabulary items_vocab);

  int32_t num_users() const { return offsets_.empty() ? 0 : static_cast<int32_t>(offsets_.size() - 1); }
  int32_t num_items() const { return item_vocab_ ? item_vocab_->size() : 0; }
  int64_t num_events() const { return static_cast<int64_t>(items_.size()); }

  int64_t length(UserIndex u) const { return offsets_[u + 1] - offsets_[u]; }
  std::span<const ItemIndex> items(UserIndex u) const { return Slice(items_, u); }
  std::span<const Timestamp> timestamps(UserIndex u) const { return Slice(timestamps_, u); }
  std::span<const EventType> types(UserIndex u) const { return Slice(types_, u); }
  std::span<const float> weights(UserIndex u) const { return Slice(weights_, u); }
  std::span<const uint8_t> organic(UserIndex u) const { return Slice(organic_, u); }
  HistoryView history(UserIndex u) const { return {items(u), timestamps(u)}; }

  // Whole columns.
  std::span<const int64_t> offsets() const { return offsets_; }
  std::span<const ItemIndex> all_items() const { return items_; }
  std::span<const Timestamp> all_timestamps() const { return timestamps_; }
  std::span<const EventType> all_types() const { return types_; }
  std::span<const float> all_weights() const { return weights_; }
  std::span<const uint8_t> all_organic() const { return organic_; }

  const Vocabulary& user_vocab() const { return *user_vocab_; }
  const Vocabulary& item_vocab() const { return *item_vocab_; }
  std::shared_ptr<const Vocabulary> shared_item_vocab() const { return item_vocab_; }

  // Number of events per item (size num_items()).
  std::vector<int64_t> ItemCounts() const;

 private:
  template <typename T>
  std::span<const T> Slice(std::span<const T> column, UserIndex u) const {
    const auto b = static_cast<size_t>(offsets_[u]);
    const auto e = static_cast<size_t>(offsets_[u + 1]);
    return column.subspan(b, e - b);
  }
  absl::Status Validate() const;

  std::shared_ptr<const void> owner_;
  std::span<const int64_t> offsets_;
  std::span<const ItemIndex> items_;
  std::span<const Timestamp> timestamps_;
  std::span<const EventType> types_;
  std::span<const float> weights_;
  std::span<const uint8_t> organic_;
  std::shared_ptr<const Vocabulary> user_vocab_ = std::make_shared<Vocabulary>();
  std::shared_ptr<const Vocabulary> item_vocab_ = std::make_shared<Vocabulary>();
};

}  // namespace recsys

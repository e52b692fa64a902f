#include "recsys/data/sequence_dataset.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "recsys/core/status.h"

namespace recsys {

absl::StatusOr<SequenceDataset> SequenceDataset::FromEventLog(const EventLog& log,
                                                              const DatasetBuildOptions& options) {
  RECSYS_RETURN_IF_ERROR(log.Validate());
  const size_t n = log.size();
  Vocabulary users;
  Vocabulary items;
  std::vector<int32_t> user_of(n);
  std::vector<int32_t> item_of(n);
  for (size_t i = 0; i < n; ++i) {
    user_of[i] = users.GetOrAdd(log.users[i]);
    item_of[i] = items.GetOrAdd(log.items[i]);
  }
  const size_t num_users = static_cast<size_t>(users.size());

  // Counting sort by user keeps input order within a user; then a stable sort
  // by timestamp per user.
  std::vector<int64_t> offsets(num_users + 1, 0);
  for (size_t i = 0; i < n; ++i) ++offsets[static_cast<size_t>(user_of[i]) + 1];
  std::partial_sum(offsets.begin(), offsets.end(), offsets.begin());
  std::vector<int64_t> order(n);
  {
    std::vector<int64_t> cursor(offsets.begin(), offsets.end() - 1);
    for (size_t i = 0; i < n; ++i) order[static_cast<size_t>(cursor[user_of[i]]++)] = static_cast<int64_t>(i);
  }
  for (size_t u = 0; u < num_users; ++u) {
    std::stable_sort(order.begin() + offsets[u], order.begin() + offsets[u + 1],
                     [&](int64_t a, int64_t b) { return log.timestamps[a] < log.timestamps[b]; });
  }

  Columns c;
  c.offsets.reserve(num_users + 1);
  c.items.reserve(n);
  c.timestamps.reserve(n);
  c.types.reserve(n);
  c.weights.reserve(n);
  c.organic.reserve(n);
  c.offsets.push_back(0);
  for (size_t u = 0; u < num_users; ++u) {
    absl::flat_hash_set<std::tuple<int32_t, Timestamp>> seen;
    for (int64_t p = offsets[u]; p < offsets[u + 1]; ++p) {
      const size_t i = static_cast<size_t>(order[static_cast<size_t>(p)]);
      if (options.drop_exact_duplicates && !seen.insert({item_of[i], log.timestamps[i]}).second) {
        continue;
      }
      c.items.push_back(item_of[i]);
      c.timestamps.push_back(log.timestamps[i]);
      c.types.push_back(log.types[i]);
      c.weights.push_back(log.weights.empty() ? 1.0f : log.weights[i]);
      c.organic.push_back(log.organic.empty() ? uint8_t{1} : log.organic[i]);
    }
    c.offsets.push_back(static_cast<int64_t>(c.items.size()));
  }
  return FromColumns(std::move(c), std::move(users), std::move(items));
}

absl::StatusOr<SequenceDataset> SequenceDataset::FromColumns(Columns columns, Vocabulary users,
                                                             Vocabulary items) {
  auto owned = std::make_shared<Columns>(std::move(columns));
  const Columns& c = *owned;
  return FromViews(owned, c.offsets, c.items, c.timestamps, c.types, c.weights, c.organic,
                   std::move(users), std::move(items));
}

absl::StatusOr<SequenceDataset> SequenceDataset::FromViews(
    std::shared_ptr<const void> owner, std::span<const int64_t> offsets,
    std::span<const ItemIndex> items, std::span<const Timestamp> timestamps,
    std::span<const EventType> types, std::span<const float> weights,
    std::span<const uint8_t> organic, Vocabulary users, Vocabulary items_vocab) {
  SequenceDataset ds;
  ds.owner_ = std::move(owner);
  ds.offsets_ = offsets;
  ds.items_ = items;
  ds.timestamps_ = timestamps;
  ds.types_ = types;
  ds.weights_ = weights;
  ds.organic_ = organic;
  ds.user_vocab_ = std::make_shared<const Vocabulary>(std::move(users));
  ds.item_vocab_ = std::make_shared<const Vocabulary>(std::move(items_vocab));
  RECSYS_RETURN_IF_ERROR(ds.Validate());
  return ds;
}

absl::Status SequenceDataset::Validate() const {
  const size_t n = items_.size();
  if (offsets_.empty()) {
    if (n != 0) return absl::InvalidArgumentError("dataset has events but no offsets");
    return absl::OkStatus();
  }
  if (static_cast<int64_t>(offsets_.size() - 1) != user_vocab_->size()) {
    return absl::InvalidArgumentError(absl::StrCat("dataset has ", offsets_.size() - 1,
                                                   " users in offsets but ", user_vocab_->size(),
                                                   " in the user vocabulary"));
  }
  if (offsets_.front() != 0 || offsets_.back() != static_cast<int64_t>(n)) {
    return absl::InvalidArgumentError(absl::StrCat("dataset offsets span [", offsets_.front(), ", ",
                                                   offsets_.back(), "), expected [0, ", n, ")"));
  }
  for (size_t u = 0; u + 1 < offsets_.size(); ++u) {
    if (offsets_[u + 1] < offsets_[u]) {
      return absl::InvalidArgumentError(absl::StrCat("dataset offsets decrease at user ", u));
    }
  }
  if (timestamps_.size() != n || types_.size() != n || weights_.size() != n || organic_.size() != n) {
    return absl::InvalidArgumentError("dataset columns differ in length");
  }
  const int32_t num_items = item_vocab_->size();
  for (size_t i = 0; i < n; ++i) {
    if (items_[i] < 0 || items_[i] >= num_items) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset event ", i, " has item index ", items_[i], " outside [0, ", num_items, ")"));
    }
  }
  return absl::OkStatus();
}

std::vector<int64_t> SequenceDataset::ItemCounts() const {
  std::vector<int64_t> counts(static_cast<size_t>(num_items()), 0);
  for (ItemIndex i : items_) ++counts[static_cast<size_t>(i)];
  return counts;
}

}  // namespace recsys

#include "recsys/candidates/multi_interest.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/core/topk.h"
#include "source_groups.h"

namespace recsys {
namespace {

struct Entry {
  ItemIndex item;
  float best;
};

}  // namespace

void MergeQueryLists(std::span<const std::span<const int32_t>> ids, std::span<const std::span<const float>> scores,
                     MergeStrategy strategy, std::span<const float> query_weights, int k, int16_t generator_id,
                     CandidateList* out) {
  out->Clear();
  const int num_queries = static_cast<int>(ids.size());
  if (k <= 0 || num_queries == 0) return;
  // One pass builds the entries (first appearance order) and their sources
  // (internal::SourceGroups: in scan order, query then rank).
  size_t total = 0, max_len = 0;
  for (const auto& list : ids) {
    total += list.size();
    max_len = std::max(max_len, list.size());
  }
  std::vector<Entry> entries;
  entries.reserve(total);
  absl::flat_hash_map<ItemIndex, int> where;
  where.reserve(total);
  internal::SourceGroups sources;
  sources.Reserve(total);
  for (int q = 0; q < num_queries; ++q) {
    for (size_t r = 0; r < ids[static_cast<size_t>(q)].size(); ++r) {
      const ItemIndex id = ids[static_cast<size_t>(q)][r];
      if (id < 0) continue;
      const float s = scores[static_cast<size_t>(q)][r];
      auto [it, inserted] = where.try_emplace(id, static_cast<int>(entries.size()));
      if (inserted) entries.push_back({id, s});
      Entry& e = entries[static_cast<size_t>(it->second)];
      e.best = std::max(e.best, s);
      sources.Add(it->second, {generator_id, static_cast<int16_t>(q), static_cast<int32_t>(r), s});
    }
  }
  sources.Group(static_cast<int32_t>(entries.size()));
  std::vector<char> chosen(entries.size(), 0);
  std::vector<int> order;  // indices into entries, in output order
  order.reserve(static_cast<size_t>(k));
  auto by_best = [&](int a, int b) {
    return RanksBefore(entries[static_cast<size_t>(a)].best, entries[static_cast<size_t>(a)].item,
                       entries[static_cast<size_t>(b)].best, entries[static_cast<size_t>(b)].item);
  };
  auto take = [&](ItemIndex id) {
    const int e = where.at(id);
    if (chosen[static_cast<size_t>(e)]) return false;
    chosen[static_cast<size_t>(e)] = 1;
    order.push_back(e);
    return true;
  };
  auto fill_by_best = [&] {
    std::vector<int> rest;
    for (int e = 0; e < static_cast<int>(entries.size()); ++e) {
      if (!chosen[static_cast<size_t>(e)]) rest.push_back(e);
    }
    std::sort(rest.begin(), rest.end(), by_best);
    for (int e : rest) {
      if (static_cast<int>(order.size()) >= k) break;
      chosen[static_cast<size_t>(e)] = 1;
      order.push_back(e);
    }
  };

  switch (strategy) {
    case MergeStrategy::kMaxScore:
      fill_by_best();
      break;
    case MergeStrategy::kRoundRobin:
      for (size_t r = 0; r < max_len && static_cast<int>(order.size()) < k; ++r) {
        for (int q = 0; q < num_queries && static_cast<int>(order.size()) < k; ++q) {
          const auto& list = ids[static_cast<size_t>(q)];
          if (r < list.size() && list[r] >= 0) take(list[r]);
        }
      }
      break;
    case MergeStrategy::kUnionQuota: {
      std::vector<double> w(static_cast<size_t>(num_queries), 1.0);
      if (static_cast<int>(query_weights.size()) == num_queries) {
        for (int q = 0; q < num_queries; ++q) w[static_cast<size_t>(q)] = query_weights[static_cast<size_t>(q)];
      }
      double total = 0;
      for (double x : w) total += x;
      if (total <= 0) {
        std::fill(w.begin(), w.end(), 1.0);
        total = num_queries;
      }
      std::vector<int> quota(static_cast<size_t>(num_queries));
      int assigned = 0;
      for (int q = 0; q < num_queries; ++q) {
        quota[static_cast<size_t>(q)] = static_cast<int>(k * w[static_cast<size_t>(q)] / total);
        assigned += quota[static_cast<size_t>(q)];
      }
      for (int q = 0; assigned < k && q < num_queries; ++q) {
        if (w[static_cast<size_t>(q)] > 0) {
          ++quota[static_cast<size_t>(q)];
          ++assigned;
        }
      }
      for (int q = 0; q < num_queries; ++q) {
        int taken = 0;
        for (ItemIndex id : ids[static_cast<size_t>(q)]) {
          if (taken >= quota[static_cast<size_t>(q)] || static_cast<int>(order.size()) >= k) break;
          if (id >= 0 && take(id)) ++taken;
        }
      }
      fill_by_best();
      // Quotas decide membership; output is best first.
      std::sort(order.begin(), order.end(), by_best);
      break;
    }
  }
  out->Reserve(static_cast<int>(order.size()));
  for (int e : order) {
    const Entry& en = entries[static_cast<size_t>(e)];
    out->Add(en.item, en.best, sources.of(e));
  }
}

absl::Status MultiInterestConfig::Validate() const {
  if (!(fetch_factor >= 0.0) || fetch_factor > 1e6) {
    return absl::InvalidArgumentError(
        absl::StrCat("MultiInterestConfig.fetch_factor must be in [0, 1e6], got ", fetch_factor));
  }
  if (per_query_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("MultiInterestConfig.per_query_k must be >= 0, got ", per_query_k));
  }
  for (size_t i = 0; i < query_weights.size(); ++i) {
    if (!(query_weights[i] >= 0)) {
      return absl::InvalidArgumentError(absl::StrCat("MultiInterestConfig.query_weights[", i, "] must be >= 0"));
    }
  }
  if (search.ef_search < 0 || search.nprobe < 0) {
    return absl::InvalidArgumentError("MultiInterestConfig.search: ef_search and nprobe must be >= 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MultiInterestGenerator>> MultiInterestGenerator::Create(
    std::shared_ptr<const AnnIndex> index, const MultiInterestConfig& config) {
  if (index == nullptr) return absl::InvalidArgumentError("MultiInterestGenerator: index is null");
  RECSYS_RETURN_IF_ERROR(config.Validate());
  return std::unique_ptr<MultiInterestGenerator>(new MultiInterestGenerator(std::move(index), config));
}

absl::Status MultiInterestGenerator::Generate(std::span<const CandidateRequest> requests, int k,
                                              std::span<CandidateList> out) const {
  if (out.size() != requests.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("MultiInterestGenerator: ", out.size(), " outputs for ", requests.size(), " requests"));
  }
  if (k <= 0) return absl::InvalidArgumentError(absl::StrCat("MultiInterestGenerator: k must be > 0, got ", k));
  if (config_.per_query_k > 0 || config_.fetch_factor <= 0.0 || !index_->cost_grows_with_k()) {
    return SearchAndMerge(requests, k, config_.per_query_k > 0 ? config_.per_query_k : k, out, nullptr);
  }
  int kq = 1;
  for (const CandidateRequest& r : requests) {
    const double q = std::max(1, r.num_queries);
    kq = std::max(kq, static_cast<int>(std::min<double>(k, std::ceil(config_.fetch_factor * k / q))));
  }
  std::vector<size_t> short_users;
  RECSYS_RETURN_IF_ERROR(SearchAndMerge(requests, k, kq, out, kq < k ? &short_users : nullptr));
  // Users left short are searched again with a per-query fetch grown by
  // what their merge lacked (×1.25 margin), until full or k per query.
  std::vector<size_t> pending = std::move(short_users);
  while (!pending.empty()) {
    int fewest = k;
    for (size_t i : pending) fewest = std::min(fewest, out[i].size());
    const double grown = std::ceil(1.25 * kq * static_cast<double>(k) / std::max(1, fewest));
    kq = static_cast<int>(std::min<double>(k, std::max<double>(kq + 1, grown)));
    std::vector<CandidateRequest> again;
    std::vector<CandidateList> again_out(pending.size());
    again.reserve(pending.size());
    for (size_t i : pending) again.push_back(requests[i]);
    std::vector<size_t> still;
    RECSYS_RETURN_IF_ERROR(SearchAndMerge(again, k, kq, again_out, kq < k ? &still : nullptr));
    for (size_t j = 0; j < pending.size(); ++j) out[pending[j]] = std::move(again_out[j]);
    std::vector<size_t> next;
    next.reserve(still.size());
    for (size_t j : still) next.push_back(pending[j]);
    pending = std::move(next);
  }
  return absl::OkStatus();
}

absl::Status MultiInterestGenerator::SearchAndMerge(std::span<const CandidateRequest> requests, int k, int kq,
                                                    std::span<CandidateList> out,
                                                    std::vector<size_t>* short_users) const {
  const int d = index_->dim();
  std::vector<int64_t> first(requests.size() + 1, 0);
  bool any_filter = false;
  for (size_t i = 0; i < requests.size(); ++i) {
    const CandidateRequest& r = requests[i];
    if (r.num_queries < 0 || (r.num_queries > 0 && (r.queries == nullptr || r.query_dim != d))) {
      return absl::InvalidArgumentError(absl::StrCat("MultiInterestGenerator: request ", i, " has ", r.num_queries,
                                                     " queries of dim ", r.query_dim, " (index dim ", d, ")"));
    }
    first[i + 1] = first[i] + r.num_queries;
    any_filter |= r.filter != nullptr;
  }
  const int64_t total = first.back();
  MatrixF queries(total, d);
  std::vector<const ItemFilter*> filters(any_filter ? static_cast<size_t>(total) : 0, nullptr);
  for (size_t i = 0; i < requests.size(); ++i) {
    const CandidateRequest& r = requests[i];
    if (r.num_queries > 0) {
      queries.middleRows(first[i], r.num_queries) = ConstMapMatrixF(r.queries, r.num_queries, d);
    }
    if (any_filter) {
      for (int64_t q = first[i]; q < first[i + 1]; ++q) filters[static_cast<size_t>(q)] = r.filter;
    }
  }
  Matrix<int32_t> ids(total, kq);
  MatrixF scores(total, kq);
  if (total > 0) RECSYS_RETURN_IF_ERROR(index_->Search(queries, kq, config_.search, filters, ids, scores));
  ParallelFor(0, static_cast<int64_t>(requests.size()), 16, [&](int64_t b, int64_t e) {
    std::vector<std::span<const int32_t>> id_lists;
    std::vector<std::span<const float>> score_lists;
    for (int64_t i = b; i < e; ++i) {
      id_lists.clear();
      score_lists.clear();
      for (int64_t q = first[static_cast<size_t>(i)]; q < first[static_cast<size_t>(i) + 1]; ++q) {
        id_lists.emplace_back(ids.row(q).data(), static_cast<size_t>(kq));
        score_lists.emplace_back(scores.row(q).data(), static_cast<size_t>(kq));
      }
      MergeQueryLists(id_lists, score_lists, config_.strategy, config_.query_weights, k, config_.generator_id,
                      &out[static_cast<size_t>(i)]);
    }
  });
  if (short_users != nullptr) {
    for (size_t i = 0; i < requests.size(); ++i) {
      if (out[i].size() >= k) continue;
      for (int64_t q = first[i]; q < first[i + 1]; ++q) {
        if (ids(q, kq - 1) != kNoItem) {  // this query had more to give
          short_users->push_back(i);
          break;
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace recsys

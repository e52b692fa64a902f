#include "recsys/eval/evaluator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/core/topk.h"

namespace recsys {

absl::Status ValidateCutoffs(const std::vector<int>& ks, int max_k, const std::string& field) {
  if (ks.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": at least one cutoff required"));
  for (int k : ks) {
    if (k < 1 || k > max_k) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": cutoff ", k, " not in [1, ", max_k, "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status EvalOptions::Validate() const {
  RECSYS_RETURN_IF_ERROR(ValidateCutoffs(ks, 100000, "EvalOptions.ks"));
  if (batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("EvalOptions.batch_size must be >= 1, got ", batch_size));
  }
  if (max_block_bytes < 1) {
    return absl::InvalidArgumentError("EvalOptions.max_block_bytes must be >= 1");
  }
  if (threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("EvalOptions.threads must be >= 0, got ", threads));
  }
  return absl::OkStatus();
}

absl::Status CheckEvalSet(const EvalSet& cases, int32_t num_items) {
  const int64_t n = cases.size();
  if (n > 0 && (cases.input_offsets.size() != static_cast<size_t>(n + 1) ||
                cases.target_offsets.size() != static_cast<size_t>(n + 1) ||
                cases.input_offsets.back() != static_cast<int64_t>(cases.input_items.size()) ||
                cases.target_offsets.back() != static_cast<int64_t>(cases.targets.size()))) {
    return absl::InvalidArgumentError("EvalSet: offsets inconsistent with item/target arrays");
  }
  for (size_t i = 0; i < cases.input_items.size(); ++i) {
    const ItemIndex item = cases.input_items[i];
    if (item < 0 || item >= num_items) {
      return absl::InvalidArgumentError(absl::StrCat("EvalSet.input_items[", i, "] = ", item,
                                                     " outside the model's catalogue [0, ", num_items, ")"));
    }
  }
  for (size_t i = 0; i < cases.targets.size(); ++i) {
    const ItemIndex item = cases.targets[i];
    if (item != kNoItem && (item < 0 || item >= num_items)) {
      return absl::InvalidArgumentError(absl::StrCat("EvalSet.targets[", i, "] = ", item,
                                                     " outside the model's catalogue [0, ", num_items, ")"));
    }
  }
  return absl::OkStatus();
}

std::vector<int> UniqueCutoffs(const std::vector<int>& ks) {
  std::vector<int> unique;
  for (int k : ks) {
    if (std::find(unique.begin(), unique.end(), k) == unique.end()) unique.push_back(k);
  }
  return unique;
}

namespace {

// Cases handled per round: ranked lists of a round are kept (round × max_k
// ids) and then folded into the accumulator in case order.
constexpr int64_t kRoundCases = 16384;

}  // namespace

absl::StatusOr<EvalResult> Evaluate(const SequentialModel& model, const EvalSet& cases,
                                    const EvalOptions& options_in) {
  const auto start = std::chrono::steady_clock::now();
  RECSYS_RETURN_IF_ERROR(options_in.Validate());
  EvalOptions options = options_in;
  options.ks = UniqueCutoffs(options.ks);
  const int32_t num_items = model.num_items();
  RECSYS_RETURN_IF_ERROR(CheckEvalSet(cases, num_items));

  ThreadLimit limit(options.threads);
  const int max_k = *std::max_element(options.ks.begin(), options.ks.end());
  const int64_t n = cases.size();

  // Batch size: all concurrently live blocks (one per worker) within budget.
  const int64_t workers = std::max(1, NumThreads());
  const int64_t row_bytes = std::max<int64_t>(1, int64_t{num_items} * static_cast<int64_t>(sizeof(float)));
  const int64_t batch = std::clamp<int64_t>(options.max_block_bytes / (row_bytes * workers), 1,
                                            options.batch_size);

  MetricsAccumulator acc(options.ks, num_items);
  Matrix<int32_t> ranked;
  absl::Status first_error;
  std::mutex error_mu;

  for (int64_t round_begin = 0; round_begin < n; round_begin += kRoundCases) {
    const int64_t round_end = std::min(n, round_begin + kRoundCases);
    ranked.resize(round_end - round_begin, max_k);
    std::atomic<bool> failed{false};
    ParallelFor(round_begin, round_end, batch, [&](int64_t b, int64_t e) {
      if (failed.load(std::memory_order_relaxed)) return;
      const int64_t rows = e - b;
      std::vector<HistoryView> histories(static_cast<size_t>(rows));
      for (int64_t c = b; c < e; ++c) histories[static_cast<size_t>(c - b)] = cases.input(c);
      MatrixF scores(rows, num_items);
      absl::Status s = CatchExceptions("ScoreAll", [&] { return model.ScoreAll(histories, scores); });
      if (!s.ok()) {
        failed = true;
        std::lock_guard<std::mutex> lock(error_mu);
        if (first_error.ok()) first_error = Annotate(s, absl::StrCat("scoring cases ", b, "..", e - 1));
        return;
      }
      if (options.filter_seen) {
        for (int64_t r = 0; r < rows; ++r) {
          for (ItemIndex item : histories[static_cast<size_t>(r)].items) scores(r, item) = kNegInf;
        }
      }
      Matrix<int32_t> ids(rows, max_k);
      MatrixF values(rows, max_k);
      TopKRows(scores, max_k, ids, values);
      for (int64_t r = 0; r < rows; ++r) {
        for (int j = 0; j < max_k; ++j) {
          // Masked (-inf) entries are padding, not recommendations.
          ranked(b - round_begin + r, j) = values(r, j) == kNegInf ? kNoItem : ids(r, j);
        }
      }
    });
    if (failed) return first_error;
    for (int64_t c = round_begin; c < round_end; ++c) {
      const int32_t* row = ranked.row(c - round_begin).data();
      acc.Add(std::span<const ItemIndex>(row, static_cast<size_t>(max_k)), cases.target(c));
    }
  }

  EvalResult result;
  result.metrics = acc.Result();
  result.unknown_input_items = cases.unknown_input_items;
  result.unknown_targets = cases.unknown_targets;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::string EvalResultToJson(const EvalResult& result) {
  nlohmann::ordered_json j;
  j["users"] = result.users();
  j["skipped"] = result.skipped();
  for (const MetricsAtK& m : result.metrics.at_k) {
    const std::string k = std::to_string(m.k);
    j["hr@" + k] = m.hr;
    j["ndcg@" + k] = m.ndcg;
    j["mrr@" + k] = m.mrr;
    j["recall@" + k] = m.recall;
    j["coverage@" + k] = m.coverage;
  }
  j["unknown_input_items"] = result.unknown_input_items;
  j["unknown_targets"] = result.unknown_targets;
  j["seconds"] = result.seconds;
  return j.dump();
}

EvalSet RemapEvalSet(const EvalSet& cases, const Vocabulary& from, const Vocabulary& to) {
  EvalSet out;
  out.unknown_input_items = cases.unknown_input_items;
  out.unknown_targets = cases.unknown_targets;
  std::vector<ItemIndex> items;
  std::vector<Timestamp> ts;
  std::vector<ItemIndex> targets;
  for (int64_t c = 0; c < cases.size(); ++c) {
    const HistoryView h = cases.input(c);
    items.clear();
    ts.clear();
    for (size_t i = 0; i < h.items.size(); ++i) {
      const ItemIndex mapped = to.Find(from.External(h.items[i]));
      if (mapped < 0) {
        ++out.unknown_input_items;
        continue;
      }
      items.push_back(mapped);
      if (!h.timestamps.empty()) ts.push_back(h.timestamps[i]);
    }
    targets.clear();
    for (ItemIndex t : cases.target(c)) {
      ItemIndex mapped = kNoItem;
      if (t != kNoItem) {
        mapped = to.Find(from.External(t));
        if (mapped < 0) ++out.unknown_targets;
      }
      targets.push_back(mapped < 0 ? kNoItem : mapped);
    }
    out.Add(c < static_cast<int64_t>(cases.users.size()) ? cases.users[static_cast<size_t>(c)] : -1,
            items, ts, targets);
  }
  // Keep timestamps aligned or absent.
  if (out.input_timestamps.size() != out.input_items.size()) out.input_timestamps.clear();
  return out;
}

absl::StatusOr<std::vector<int>> ParseCutoffs(const std::string& text) {
  std::vector<int> ks;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int k = 0;
    if (!absl::SimpleAtoi(part, &k) || k < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--k: '", std::string(part), "' is not a positive integer (expected e.g. 10,20)"));
    }
    ks.push_back(k);
  }
  if (ks.empty()) return absl::InvalidArgumentError("--k: no cutoff given (expected e.g. 10,20)");
  return ks;
}

}  // namespace recsys

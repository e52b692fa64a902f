#include "recsys/candidates/merger.h"

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "source_groups.h"

namespace recsys {

absl::Status CandidateMergerConfig::Validate() const {
  if (sources.empty()) return absl::InvalidArgumentError("CandidateMergerConfig.sources is empty");
  if (sources.size() > 32767) return absl::InvalidArgumentError("CandidateMergerConfig.sources: too many generators");
  for (size_t g = 0; g < sources.size(); ++g) {
    if (sources[g].generator == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("CandidateMergerConfig.sources[", g, "].generator is null"));
    }
    if (sources[g].quota < 0 || sources[g].fetch < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("CandidateMergerConfig.sources[", g, "]: quota and fetch must be >= 0"));
    }
  }
  if (total < 0) return absl::InvalidArgumentError(absl::StrCat("CandidateMergerConfig.total must be >= 0, got ", total));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CandidateMerger>> CandidateMerger::Create(const CandidateMergerConfig& config) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  return std::unique_ptr<CandidateMerger>(new CandidateMerger(config));
}

int CandidateMerger::Total() const {
  if (config_.total > 0) return config_.total;
  int sum = 0;
  for (const auto& s : config_.sources) sum += s.quota;
  return sum;
}

std::vector<std::string> CandidateMerger::generator_names() const {
  std::vector<std::string> names;
  for (const auto& s : config_.sources) names.push_back(s.generator->name());
  return names;
}

void CandidateMerger::Merge(std::span<const CandidateList* const> lists, int total, CandidateList* out) const {
  out->Clear();
  struct Picked {
    ItemIndex item;
    float score;
  };
  // Picks first (an item's slot in `picked` doubles as the "taken" set),
  // then the provenance of the picked items only: every source, generator
  // index rewritten to the list index (internal::SourceGroups).
  absl::flat_hash_map<ItemIndex, int> taken;
  size_t listed = 0;
  for (const CandidateList* l : lists) listed += static_cast<size_t>(l->size());
  taken.reserve(std::min<size_t>(listed, static_cast<size_t>(std::max(total, 0))));
  std::vector<Picked> picked;
  std::vector<int> cursor(lists.size(), 0);
  auto pick = [&](const CandidateList& list, int i) {
    if (!taken.try_emplace(list.item(i), static_cast<int>(picked.size())).second) return false;
    picked.push_back({list.item(i), list.score(i)});
    return true;
  };
  // Quota pass.
  for (size_t g = 0; g < lists.size() && static_cast<int>(picked.size()) < total; ++g) {
    const CandidateList& list = *lists[g];
    const int quota = g < config_.sources.size() ? config_.sources[g].quota : list.size();
    int used = 0;
    int& i = cursor[g];
    for (; i < list.size() && used < quota && static_cast<int>(picked.size()) < total; ++i) {
      if (pick(list, i)) ++used;
    }
  }
  // Fill pass: round-robin over leftovers.
  if (config_.fill) {
    bool progress = true;
    while (static_cast<int>(picked.size()) < total && progress) {
      progress = false;
      for (size_t g = 0; g < lists.size() && static_cast<int>(picked.size()) < total; ++g) {
        const CandidateList& list = *lists[g];
        int& i = cursor[g];
        while (i < list.size() && taken.contains(list.item(i))) ++i;
        if (i < list.size()) {
          pick(list, i);
          ++i;
          progress = true;
        }
      }
    }
  }
  // Provenance of the picked items, in list order then rank order.
  internal::SourceGroups sources;
  sources.Reserve(picked.size());
  for (size_t g = 0; g < lists.size(); ++g) {
    const CandidateList& list = *lists[g];
    for (int i = 0; i < list.size(); ++i) {
      const auto it = taken.find(list.item(i));
      if (it == taken.end()) continue;
      const auto src = list.sources(i);
      if (src.empty()) sources.Add(it->second, {static_cast<int16_t>(g), -1, i, list.score(i)});
      for (CandidateSource c : src) {
        c.generator = static_cast<int16_t>(g);
        sources.Add(it->second, c);
      }
    }
  }
  sources.Group(static_cast<int32_t>(picked.size()));
  out->Reserve(static_cast<int>(picked.size()));
  for (size_t p = 0; p < picked.size(); ++p) out->Add(picked[p].item, picked[p].score, sources.of(static_cast<int32_t>(p)));
}

absl::Status CandidateMerger::Generate(std::span<const CandidateRequest> requests, int k,
                                       std::span<CandidateList> out) const {
  if (out.size() != requests.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CandidateMerger: ", out.size(), " outputs for ", requests.size(), " requests"));
  }
  if (k <= 0) return absl::InvalidArgumentError(absl::StrCat("CandidateMerger: k must be > 0, got ", k));
  const int total = std::min(k, Total());
  const size_t num_gen = config_.sources.size();
  std::vector<std::vector<CandidateList>> lists(num_gen, std::vector<CandidateList>(requests.size()));
  for (size_t g = 0; g < num_gen; ++g) {
    const MergerSource& s = config_.sources[g];
    const int fetch = s.fetch > 0 ? s.fetch : (config_.fill ? std::max(s.quota, total) : s.quota);
    if (fetch == 0) continue;
    RECSYS_RETURN_IF_ERROR(Annotate(s.generator->Generate(requests, fetch, lists[g]),
                                    absl::StrCat("generator ", g, " (", s.generator->name(), ")")));
  }
  ParallelFor(0, static_cast<int64_t>(requests.size()), 16, [&](int64_t b, int64_t e) {
    std::vector<const CandidateList*> per_user(num_gen);
    for (int64_t i = b; i < e; ++i) {
      for (size_t g = 0; g < num_gen; ++g) per_user[g] = &lists[g][static_cast<size_t>(i)];
      Merge(per_user, total, &out[static_cast<size_t>(i)]);
    }
  });
  return absl::OkStatus();
}

}  // namespace recsys

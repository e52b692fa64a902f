// `recsys stats`: dataset statistics of a text file or a snapshot.
//
//   recsys stats --data ml1m/train/input.txt --format seq --json
//   → {"users":6040,"items":3416,"events":987019,"min_length":..., "format":"seq", ...}
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "cli_common.h"
#include "recsys/data/readers.h"
#include "recsys/data/sequence_dataset.h"
#include "recsys/data/snapshot.h"

namespace {

struct StatsArgs {
  std::string data;
  std::string format = "auto";
  bool verify = false;
};

nlohmann::json DatasetStats(const recsys::SequenceDataset& ds) {
  nlohmann::json out;
  const int32_t users = ds.num_users();
  std::vector<int64_t> lengths(static_cast<size_t>(users));
  for (recsys::UserIndex u = 0; u < users; ++u) lengths[static_cast<size_t>(u)] = ds.length(u);
  std::sort(lengths.begin(), lengths.end());
  out["users"] = users;
  out["items"] = ds.num_items();
  out["events"] = ds.num_events();
  if (users > 0) {
    const size_t n = lengths.size();
    out["min_length"] = lengths.front();
    out["max_length"] = lengths.back();
    out["mean_length"] = static_cast<double>(ds.num_events()) / users;
    out["median_length"] = n % 2 ? static_cast<double>(lengths[n / 2])
                                 : 0.5 * static_cast<double>(lengths[n / 2 - 1] + lengths[n / 2]);
  } else {
    out["min_length"] = 0;
    out["max_length"] = 0;
    out["mean_length"] = 0.0;
    out["median_length"] = 0.0;
  }
  const auto counts = ds.ItemCounts();
  int64_t used = 0, max_count = 0;
  for (int64_t c : counts) {
    used += c > 0;
    max_count = std::max(max_count, c);
  }
  out["items_with_events"] = used;
  out["max_item_count"] = max_count;
  out["density"] = (users > 0 && ds.num_items() > 0)
                       ? static_cast<double>(ds.num_events()) / (static_cast<double>(users) * ds.num_items())
                       : 0.0;
  const auto ts = ds.all_timestamps();
  if (!ts.empty()) {
    const auto [lo, hi] = std::minmax_element(ts.begin(), ts.end());
    out["min_timestamp"] = *lo;
    out["max_timestamp"] = *hi;
  }
  std::map<int, int64_t> types;
  for (recsys::EventType t : ds.all_types()) ++types[t];
  nlohmann::json type_counts = nlohmann::json::object();
  for (auto [t, c] : types) type_counts[std::to_string(t)] = c;
  out["event_types"] = type_counts;
  return out;
}

int RunStats(const StatsArgs* a, const recsys::cli::GlobalFlags& g) {
  auto format = recsys::ParseInputFormat(a->format);
  if (!format.ok()) return recsys::cli::Fail(format.status());
  const auto start = std::chrono::steady_clock::now();
  recsys::InputFormat detected = *format;
  absl::StatusOr<recsys::SequenceDataset> ds;
  if (*format == recsys::InputFormat::kAuto) {
    auto f = recsys::DetectFormat(a->data);
    if (!f.ok()) return recsys::cli::Fail(f.status());
    detected = *f;
  }
  if (detected == recsys::InputFormat::kSnapshot) {
    recsys::SnapshotLoadOptions options;
    options.verify_checksums = a->verify;
    ds = recsys::LoadSnapshot(a->data, options);
  } else {
    ds = recsys::LoadDataset(a->data, detected);
  }
  if (!ds.ok()) return recsys::cli::Fail(ds.status());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json out = DatasetStats(*ds);
  out["format"] = recsys::FormatName(detected);
  out["path"] = a->data;
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(a->data, ec);
  if (!ec) out["file_bytes"] = bytes;
  out["load_seconds"] = seconds;
  recsys::cli::Emit(g, out);
  return 0;
}

}  // namespace

RECSYS_CLI_COMMAND(stats, "", "Dataset statistics", [](CLI::App* app) -> recsys::cli::RunFn {
  auto a = std::make_shared<StatsArgs>();
  app->add_option("--data", a->data, "input file (seq, seq-user, csv/tsv or snapshot)")->required();
  app->add_option("--format", a->format, "auto|seq|seq-user|csv|tsv|snapshot")->capture_default_str();
  app->add_flag("--verify-checksums", a->verify, "snapshots: verify every data checksum");
  return [a](const recsys::cli::GlobalFlags& g) -> int { return RunStats(a.get(), g); };
});

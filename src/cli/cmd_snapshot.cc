// `recsys snapshot`: builds a dataset from a text file and writes its binary
// snapshot (memory-mapped by later commands; `stats` reads it too). With
// --protocol time it writes only the train part of the global temporal split
// (events before --test-start − --gap), streamed from the input without a
// copy of the events in memory: `train --data train.rsds --protocol none`
// then trains from the mapped file.
//
//   recsys snapshot --data amazon/beauty.txt --format seq-user --out beauty.rsds --json
//   recsys snapshot --data yambda.rsds --protocol time --test-start 1708640000 --out train.rsds --json
#include <chrono>

#include "model_cli_util.h"
#include "recsys/data/readers.h"
#include "recsys/data/snapshot.h"

namespace {
struct SnapshotArgs {
  std::string data;
  std::string format = "auto";
  std::string out;
  bool drop_duplicates = false;
  recsys::cli::SplitFlags split;  // protocol "none" (default) or "time"
};
double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
int RunSnapshot(const SnapshotArgs* a, const recsys::cli::GlobalFlags& g) {
  auto format = recsys::ParseInputFormat(a->format);
  if (!format.ok()) return recsys::cli::Fail(format.status());
  recsys::DatasetBuildOptions build;
  build.drop_exact_duplicates = a->drop_duplicates;
  recsys::InputFormat detected = *format;
  auto start = std::chrono::steady_clock::now();
  auto ds = recsys::LoadDataset(a->data, *format, {}, build, &detected);
  if (!ds.ok()) return recsys::cli::Fail(ds.status());
  const double read_seconds = Since(start);
  recsys::cli::Log("read " + std::to_string(ds->num_events()) + " events; writing " + a->out);
  start = std::chrono::steady_clock::now();
  nlohmann::json split;
  if (a->split.protocol == "time") {
    auto options = recsys::cli::TemporalOptions(*ds, a->data, a->split);
    if (!options.ok()) return recsys::cli::Fail(options.status());
    auto written = recsys::WriteTemporalTrainSnapshot(*ds, *options, a->out);
    if (!written.ok()) return recsys::cli::Fail(written.status());
    split = {{"protocol", "time"},
             {"test_start", options->test_start},
             {"gap", options->gap},
             {"test_window", options->test_window},
             {"train_events", written->train_events},
             {"gap_events", written->gap_events},
             {"test_window_events", written->test_window_events},
             {"after_window_events", written->after_window_events},
             {"users_with_train_events", written->users_with_train_events}};
  } else if (a->split.protocol == "none") {
    if (auto s = recsys::WriteSnapshot(*ds, a->out); !s.ok()) return recsys::cli::Fail(s);
  } else {
    return recsys::cli::Fail("--protocol: '" + a->split.protocol + "' is not one of none, time");
  }
  const double write_seconds = Since(start);
  auto info = recsys::ReadSnapshotInfo(a->out);
  if (!info.ok()) return recsys::cli::Fail(info.status());
  nlohmann::json out = {{"out", a->out},
                        {"format", recsys::FormatName(detected)},
                        {"users", info->num_users},
                        {"items", info->num_items},
                        {"events", info->num_events},
                        {"input_events", ds->num_events()},
                        {"bytes", info->file_bytes},
                        {"version", info->version},
                        {"read_seconds", read_seconds},
                        {"write_seconds", write_seconds}};
  if (!split.is_null()) out["split"] = split;
  recsys::cli::Emit(g, out);
  return 0;
}
}  // namespace

RECSYS_CLI_COMMAND(snapshot, "", "Write a binary snapshot of a dataset", [](CLI::App* app) -> recsys::cli::RunFn {
  auto a = std::make_shared<SnapshotArgs>();
  app->add_option("--data", a->data, "input file (seq, seq-user, csv/tsv or snapshot)")->required();
  app->add_option("--format", a->format, "auto|seq|seq-user|csv|tsv|snapshot")->capture_default_str();
  app->add_option("--out", a->out, "snapshot file to write")->required();
  app->add_flag("--drop-duplicates", a->drop_duplicates, "drop repeated (user, item, timestamp) events");
  a->split.protocol = "none";
  a->split.AddTo(app, "none (every event) | time (only the train part of the global temporal split, streamed)");
  return [a](const recsys::cli::GlobalFlags& g) -> int { return RunSnapshot(a.get(), g); };
});

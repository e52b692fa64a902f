// `recsys snapshot`: builds a dataset from a text file and writes its binary
// snapshot (memory-mapped by later commands; `stats` reads it too).
//
//   recsys snapshot --data amazon/beauty.txt --format seq-user --out beauty.rsds --json
#include <chrono>

#include "cli_common.h"
#include "recsys/data/readers.h"
#include "recsys/data/snapshot.h"

namespace {
struct SnapshotArgs {
  std::string data;
  std::string format = "auto";
  std::string out;
  bool drop_duplicates = false;
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
  if (auto s = recsys::WriteSnapshot(*ds, a->out); !s.ok()) return recsys::cli::Fail(s);
  const double write_seconds = Since(start);
  auto info = recsys::ReadSnapshotInfo(a->out);
  if (!info.ok()) return recsys::cli::Fail(info.status());
  recsys::cli::Emit(g, {{"out", a->out},
                        {"format", recsys::FormatName(detected)},
                        {"users", ds->num_users()},
                        {"items", ds->num_items()},
                        {"events", ds->num_events()},
                        {"bytes", info->file_bytes},
                        {"version", info->version},
                        {"read_seconds", read_seconds},
                        {"write_seconds", write_seconds}});
  return 0;
}
}  // namespace

RECSYS_CLI_COMMAND(snapshot, "", "Write a binary snapshot of a dataset", [](CLI::App* app) -> recsys::cli::RunFn {
  auto a = std::make_shared<SnapshotArgs>();
  app->add_option("--data", a->data, "input file (seq, seq-user, csv/tsv or snapshot)")->required();
  app->add_option("--format", a->format, "auto|seq|seq-user|csv|tsv|snapshot")->capture_default_str();
  app->add_option("--out", a->out, "snapshot file to write")->required();
  app->add_flag("--drop-duplicates", a->drop_duplicates, "drop repeated (user, item, timestamp) events");
  return [a](const recsys::cli::GlobalFlags& g) -> int { return RunSnapshot(a.get(), g); };
});

// `recsys bench io`: text parsing and snapshot throughput on synthetic data.
//
//   recsys bench io --events 10000000 --json
//   → {"events":…, "seq_parse_mb_per_s":…, "seq_parse_events_per_s":…,
//      "snapshot_write_seconds":…, "snapshot_load_seconds":…, …}
//
// Text parsing is measured on one thread (the readers are single-threaded);
// generation uses all threads. Loads are "warm": the snapshot was just written
// and sits in the page cache.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "recsys/core/parallel.h"
#include "recsys/data/readers.h"
#include "recsys/data/snapshot.h"
#include "recsys/data/synthetic.h"

namespace {

struct IoArgs {
  int64_t events = 10000000;
  int repeat = 3;
  int64_t csv_events = 10000000;
  std::string dir;
  uint64_t seed = 42;
};

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
// CPU time of the calling thread: parsing is single-threaded, so this is the
// per-core figure even on a busy shared host where wall time is inflated.
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void AppendInt(std::string& s, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  s.append(buf, r.ptr);
}

// One line per user, items in time order (the `seq` format).
std::string ToSeqText(const recsys::SequenceDataset& ds) {
  std::string s;
  s.reserve(static_cast<size_t>(ds.num_events()) * 7);
  for (recsys::UserIndex u = 0; u < ds.num_users(); ++u) {
    bool first = true;
    for (recsys::ItemIndex i : ds.items(u)) {
      if (!first) s.push_back(' ');
      first = false;
      AppendInt(s, ds.item_vocab().External(i));
    }
    s.push_back('\n');
  }
  return s;
}

// user,item,timestamp rows of the first `limit` events.
std::string ToCsvText(const recsys::SequenceDataset& ds, int64_t limit) {
  std::string s = "user,item,timestamp\n";
  s.reserve(static_cast<size_t>(std::min(limit, ds.num_events())) * 24);
  int64_t written = 0;
  for (recsys::UserIndex u = 0; u < ds.num_users() && written < limit; ++u) {
    const auto items = ds.items(u);
    const auto ts = ds.timestamps(u);
    for (size_t k = 0; k < items.size() && written < limit; ++k, ++written) {
      AppendInt(s, ds.user_vocab().External(u));
      s.push_back(',');
      AppendInt(s, ds.item_vocab().External(items[k]));
      s.push_back(',');
      AppendInt(s, ts[k]);
      s.push_back('\n');
    }
  }
  return s;
}

int RunIo(const IoArgs* a, const recsys::cli::GlobalFlags& g) {
  using recsys::cli::Log;
  if (a->events < 10 || a->repeat < 1) return recsys::cli::Fail("--events must be >= 10 and --repeat >= 1");
  nlohmann::json out;
  out["events_requested"] = a->events;
  out["threads"] = recsys::NumThreads();

  auto t = Clock::now();
  auto generated = recsys::GenerateSyntheticDataset(recsys::SyntheticConfig::ForEvents(a->events, a->seed));
  if (!generated.ok()) return recsys::cli::Fail(generated.status());
  const recsys::SequenceDataset& ds = generated->dataset;
  out["generate_seconds"] = Since(t);
  out["events"] = ds.num_events();
  out["users"] = ds.num_users();
  out["items"] = ds.num_items();
  Log("generated " + std::to_string(ds.num_events()) + " events");

  // Text parsing, one thread, in memory.
  {
    const std::string text = ToSeqText(ds);
    double best = 1e300, best_cpu = 1e300;
    for (int r = 0; r < a->repeat; ++r) {
      t = Clock::now();
      const double c0 = ThreadCpuSeconds();
      auto log = recsys::ParseEvents(text, recsys::InputFormat::kSeq, "bench");
      const double s = Since(t);
      best_cpu = std::min(best_cpu, ThreadCpuSeconds() - c0);
      if (!log.ok()) return recsys::cli::Fail(log.status());
      if (static_cast<int64_t>(log->size()) != ds.num_events()) return recsys::cli::Fail("parse lost events");
      best = std::min(best, s);
    }
    out["seq_parse_cpu_seconds"] = best_cpu;
    out["seq_parse_mb_per_cpu_s"] = static_cast<double>(text.size()) / 1e6 / best_cpu;
    out["seq_text_bytes"] = text.size();
    out["seq_parse_seconds"] = best;
    out["seq_parse_mb_per_s"] = static_cast<double>(text.size()) / 1e6 / best;
    out["seq_parse_events_per_s"] = static_cast<double>(ds.num_events()) / best;
    Log("seq parse: " + std::to_string(out["seq_parse_mb_per_s"].get<double>()) + " MB/s");
  }
  if (a->csv_events > 0) {
    const std::string text = ToCsvText(ds, a->csv_events);
    const int64_t rows = std::min(a->csv_events, ds.num_events());
    double best = 1e300;
    for (int r = 0; r < a->repeat; ++r) {
      t = Clock::now();
      auto log = recsys::ParseEvents(text, recsys::InputFormat::kCsv, "bench");
      const double s = Since(t);
      if (!log.ok()) return recsys::cli::Fail(log.status());
      best = std::min(best, s);
    }
    out["csv_events"] = rows;
    out["csv_parse_mb_per_s"] = static_cast<double>(text.size()) / 1e6 / best;
    out["csv_parse_events_per_s"] = static_cast<double>(rows) / best;
  }

  // Snapshot write and warm loads.
  const std::string dir = a->dir.empty() ? std::filesystem::temp_directory_path().string() : a->dir;
  const std::string path = dir + "/recsys_bench_io_" + std::to_string(::getpid()) + ".rsds";
  t = Clock::now();
  if (auto s = recsys::WriteSnapshot(ds, path); !s.ok()) return recsys::cli::Fail(s);
  out["snapshot_write_seconds"] = Since(t);
  std::error_code ec;
  out["snapshot_bytes"] = std::filesystem::file_size(path, ec);
  double load_best = 1e300, verify_best = 1e300;
  for (int r = 0; r < a->repeat; ++r) {
    t = Clock::now();
    auto loaded = recsys::LoadSnapshot(path);
    load_best = std::min(load_best, Since(t));
    if (!loaded.ok()) return recsys::cli::Fail(loaded.status());
    if (loaded->num_events() != ds.num_events()) return recsys::cli::Fail("snapshot lost events");
    recsys::SnapshotLoadOptions verify;
    verify.verify_checksums = true;
    t = Clock::now();
    auto checked = recsys::LoadSnapshot(path, verify);
    verify_best = std::min(verify_best, Since(t));
    if (!checked.ok()) return recsys::cli::Fail(checked.status());
  }
  std::filesystem::remove(path, ec);
  out["snapshot_load_seconds"] = load_best;
  out["snapshot_load_events_per_s"] = static_cast<double>(ds.num_events()) / load_best;
  out["snapshot_verified_load_seconds"] = verify_best;
  out["reference"] = {{"seq_parse_mb_per_s_target", 100.0}, {"snapshot_load_seconds_target_1e8", 1.0}};
  recsys::cli::Emit(g, out);
  return 0;
}

}  // namespace

RECSYS_CLI_COMMAND(io, "bench", "Text parsing and snapshot I/O throughput", [](CLI::App* app) -> recsys::cli::RunFn {
  auto a = std::make_shared<IoArgs>();
  app->add_option("--events", a->events, "synthetic events")->capture_default_str();
  app->add_option("--repeat", a->repeat, "timed repetitions (best is reported)")->capture_default_str();
  app->add_option("--csv-events", a->csv_events, "events in the csv parse test (0: skip)")->capture_default_str();
  app->add_option("--dir", a->dir, "scratch directory (default: the system temp dir)");
  app->add_option("--seed", a->seed, "generator seed")->capture_default_str();
  return [a](const recsys::cli::GlobalFlags& g) -> int { return RunIo(a.get(), g); };
});

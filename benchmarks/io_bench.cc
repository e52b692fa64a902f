// Micro-benchmarks of the data layer: text parsing (one thread) and snapshot
// write/load, on synthetic data. Bytes/s counters give MB/s of text;
// items/s counters give events/s. Reference: ≥ 100 MB/s of `seq` text per
// core, snapshot load of 10^8 events < 1 s warm (recsys bench io).
#include <charconv>
#include <cstdlib>
#include <map>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "benchmark/benchmark.h"
#include "recsys/data/readers.h"
#include "recsys/data/snapshot.h"
#include "recsys/data/synthetic.h"

namespace {

const recsys::SequenceDataset& Dataset(int64_t events) {
  static std::map<int64_t, recsys::SequenceDataset> cache;
  auto it = cache.find(events);
  if (it == cache.end()) {
    auto data = recsys::GenerateSyntheticDataset(recsys::SyntheticConfig::ForEvents(events, 1));
    if (!data.ok()) std::abort();
    it = cache.emplace(events, std::move(data->dataset)).first;
  }
  return it->second;
}

std::string SeqText(const recsys::SequenceDataset& ds, bool with_user) {
  std::string s;
  char buf[24];
  for (recsys::UserIndex u = 0; u < ds.num_users(); ++u) {
    if (with_user) s.append(buf, std::to_chars(buf, buf + 24, u + 1).ptr).push_back(' ');
    for (recsys::ItemIndex i : ds.items(u)) s.append(buf, std::to_chars(buf, buf + 24, i).ptr).push_back(' ');
    s.back() = '\n';
  }
  return s;
}

std::string CsvText(const recsys::SequenceDataset& ds) {
  std::string s = "user,item,timestamp\n";
  char buf[24];
  for (recsys::UserIndex u = 0; u < ds.num_users(); ++u) {
    for (int64_t k = 0; k < ds.length(u); ++k) {
      s.append(buf, std::to_chars(buf, buf + 24, u).ptr).push_back(',');
      s.append(buf, std::to_chars(buf, buf + 24, ds.items(u)[k]).ptr).push_back(',');
      s.append(buf, std::to_chars(buf, buf + 24, ds.timestamps(u)[k]).ptr).push_back('\n');
    }
  }
  return s;
}

void RunParse(benchmark::State& state, const std::string& text, recsys::InputFormat format, int64_t events) {
  for (auto _ : state) {
    auto log = recsys::ParseEvents(text, format, "bench");
    if (!log.ok()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(log->items.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
  state.SetItemsProcessed(state.iterations() * events);
}

void BM_ParseText_Seq(benchmark::State& state) {
  const auto& ds = Dataset(state.range(0));
  RunParse(state, SeqText(ds, false), recsys::InputFormat::kSeq, ds.num_events());
}
void BM_ParseText_SeqUser(benchmark::State& state) {
  const auto& ds = Dataset(state.range(0));
  RunParse(state, SeqText(ds, true), recsys::InputFormat::kSeqUser, ds.num_events());
}
void BM_ParseText_Csv(benchmark::State& state) {
  const auto& ds = Dataset(state.range(0));
  RunParse(state, CsvText(ds), recsys::InputFormat::kCsv, ds.num_events());
}
BENCHMARK(BM_ParseText_Seq)->Arg(100000)->Arg(2000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParseText_SeqUser)->Arg(2000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParseText_Csv)->Arg(2000000)->Unit(benchmark::kMillisecond);

std::string ScratchPath() {
  return (std::filesystem::temp_directory_path() / ("recsys_io_bench_" + std::to_string(::getpid()) + ".rsds")).string();
}

void BM_Snapshot_Write(benchmark::State& state) {
  const auto& ds = Dataset(state.range(0));
  const std::string path = ScratchPath();
  for (auto _ : state) {
    if (!recsys::WriteSnapshot(ds, path).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(state.iterations() * ds.num_events());
  std::filesystem::remove(path);
}

void BM_Snapshot_Load(benchmark::State& state) {
  const auto& ds = Dataset(state.range(0));
  const bool verify = state.range(1) != 0;
  const std::string path = ScratchPath();
  if (!recsys::WriteSnapshot(ds, path).ok()) state.SkipWithError("write failed");
  recsys::SnapshotLoadOptions options;
  options.verify_checksums = verify;
  for (auto _ : state) {
    auto loaded = recsys::LoadSnapshot(path, options);
    if (!loaded.ok()) state.SkipWithError("load failed");
    benchmark::DoNotOptimize(loaded->num_events());
  }
  state.SetItemsProcessed(state.iterations() * ds.num_events());
  std::filesystem::remove(path);
}
BENCHMARK(BM_Snapshot_Write)->Arg(2000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Snapshot_Load)->Args({2000000, 0})->Args({2000000, 1})->Unit(benchmark::kMillisecond);

}  // namespace

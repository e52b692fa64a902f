// `recsys generate`: synthetic events with planted structure (data/synthetic.h)
// written as csv, seq-user or a binary snapshot — the demo's default data.
//
//   recsys generate --events 100000 --seed 7 --out synth.csv --json
//   → {"users":…, "items":…, "events":…, "clusters":…, "path":…, "format":…}
#include <charconv>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "cli_common.h"
#include "recsys/core/status.h"
#include "recsys/data/snapshot.h"
#include "recsys/data/synthetic.h"

namespace recsys::cli {
namespace {

struct GenerateArgs {
  int64_t events = 100000;
  int64_t users = 0;
  int32_t items = 0;
  int32_t clusters = 0;
  double mean_length = 0;
  uint64_t seed = 42;
  std::string out;
  std::string format = "auto";
};

// Appends the decimal text of v to buf.
template <typename T>
void AppendNumber(std::string& buf, T v) {
  char tmp[32];
  auto [end, ec] = std::to_chars(tmp, tmp + sizeof(tmp), v);
  buf.append(tmp, end);
}

absl::Status WriteText(const SequenceDataset& ds, const std::string& path, bool csv) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path, " for writing"));
  std::string buf;
  buf.reserve(1 << 20);
  if (csv) buf += "user,item,timestamp,type,weight,is_organic\n";
  auto flush = [&] {
    if (std::fwrite(buf.data(), 1, buf.size(), f) != buf.size()) return false;
    buf.clear();
    return true;
  };
  bool ok = true;
  for (UserIndex u = 0; u < ds.num_users() && ok; ++u) {
    const ExternalId user = ds.user_vocab().External(u);
    auto items = ds.items(u);
    auto ts = ds.timestamps(u);
    auto types = ds.types(u);
    auto weights = ds.weights(u);
    auto organic = ds.organic(u);
    if (csv) {
      for (size_t i = 0; i < items.size(); ++i) {
        AppendNumber(buf, user);
        buf += ',';
        AppendNumber(buf, ds.item_vocab().External(items[i]));
        buf += ',';
        AppendNumber(buf, ts[i]);
        buf += ',';
        AppendNumber(buf, static_cast<int>(types[i]));
        buf += ',';
        AppendNumber(buf, weights[i]);
        buf += ',';
        AppendNumber(buf, static_cast<int>(organic[i]));
        buf += '\n';
      }
    } else {
      AppendNumber(buf, user);
      for (ItemIndex item : items) {
        buf += ' ';
        AppendNumber(buf, ds.item_vocab().External(item));
      }
      buf += '\n';
    }
    if (buf.size() > (1 << 20)) ok = flush();
  }
  ok = ok && flush();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return absl::DataLossError(absl::StrCat("write to ", path, " failed"));
  return absl::OkStatus();
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace
}  // namespace recsys::cli

RECSYS_CLI_COMMAND(generate, "", "Write synthetic events with planted interests (csv, seq-user or snapshot)",
                   [](CLI::App* app) -> recsys::cli::RunFn {
  auto a = std::make_shared<recsys::cli::GenerateArgs>();
  app->add_option("--events", a->events, "approximate number of events (10^4 .. 10^8)");
  app->add_option("--users", a->users, "override: number of users");
  app->add_option("--items", a->items, "override: number of items");
  app->add_option("--clusters", a->clusters, "override: number of interest clusters");
  app->add_option("--mean-length", a->mean_length, "override: mean events per user");
  app->add_option("--seed", a->seed, "random seed");
  app->add_option("--out", a->out, "output file")->required();
  app->add_option("--format", a->format, "csv | seq-user | snapshot | auto (from the extension: .csv, .snap, else seq-user)");
  return [a](const recsys::cli::GlobalFlags& g) -> int {
    using namespace recsys;
    SyntheticConfig config = SyntheticConfig::ForEvents(a->events, a->seed);
    if (a->users > 0) config.num_users = a->users;
    if (a->items > 0) config.num_items = a->items;
    if (a->clusters > 0) config.num_clusters = a->clusters;
    if (a->mean_length > 0) config.mean_events_per_user = a->mean_length;
    if (auto s = config.Validate(); !s.ok()) return cli::Fail(s);
    std::string format = a->format;
    if (format == "auto") {
      format = cli::EndsWith(a->out, ".csv") ? "csv" : cli::EndsWith(a->out, ".snap") ? "snapshot" : "seq-user";
    }
    if (format != "csv" && format != "seq-user" && format != "snapshot") {
      return cli::Fail("--format must be csv, seq-user, snapshot or auto, got '" + format + "'");
    }
    auto data = GenerateSyntheticDataset(config);
    if (!data.ok()) return cli::Fail(data.status());
    const SequenceDataset& ds = data->dataset;
    absl::Status written = format == "snapshot" ? WriteSnapshot(ds, a->out)
                                                : cli::WriteText(ds, a->out, format == "csv");
    if (!written.ok()) return cli::Fail(written);
    cli::Emit(g, {{"users", ds.num_users()},
                  {"items", ds.num_items()},
                  {"events", ds.num_events()},
                  {"clusters", config.num_clusters},
                  {"seed", config.seed},
                  {"format", format},
                  {"path", a->out}});
    return 0;
  };
});

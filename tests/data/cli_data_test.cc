// The data subcommands of the `recsys` binary (stats, snapshot, bench io):
// JSON contract, errors, and the reference-data counts. Skipped when the CLI
// binary has not been built next to the tests.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace recsys {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

std::string Binary() { return std::string(RECSYS_BINARY_DIR) + "/recsys"; }

RunResult RunCli(const std::string& args, const std::string& scratch) {
  const std::string err_path = scratch + "/stderr.txt";
  const std::string cmd = Binary() + " " + args + " 2>" + err_path;
  RunResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), got);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_path);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  return r;
}

#define RECSYS_REQUIRE_CLI()                                                          \
  if (!std::filesystem::exists(Binary())) GTEST_SKIP() << Binary() << " not built; skipping"

TEST(CliData, StatsJsonOnSmallFile) {
  RECSYS_REQUIRE_CLI();
  const std::string dir = testing::TempDir("cli_stats");
  std::ofstream(dir + "/s.txt") << "1 2 3\n4\n\n2 2 5 6\n";
  RunResult r = RunCli("stats --data " + dir + "/s.txt --format seq --json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["users"], 3);
  EXPECT_EQ(j["items"], 6);
  EXPECT_EQ(j["events"], 8);
  EXPECT_EQ(j["min_length"], 1);
  EXPECT_EQ(j["max_length"], 4);
  EXPECT_DOUBLE_EQ(j["median_length"].get<double>(), 3.0);
  EXPECT_NEAR(j["mean_length"].get<double>(), 8.0 / 3.0, 1e-12);
  EXPECT_EQ(j["format"], "seq");
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);  // one JSON object, one line
}

TEST(CliData, StatsErrorsAreOneLineAndNonZero) {
  RECSYS_REQUIRE_CLI();
  const std::string dir = testing::TempDir("cli_err");
  std::ofstream(dir + "/bad.txt") << "1 2\n3 x\n";
  RunResult r = RunCli("stats --data " + dir + "/bad.txt --format seq --json", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_THAT(r.err, HasSubstr("bad.txt:2:3: invalid item id 'x'"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  RunResult missing = RunCli("stats --data " + dir + "/none.txt --json", dir);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("none.txt"));
  RunResult format = RunCli("stats --data " + dir + "/bad.txt --format xml --json", dir);
  EXPECT_EQ(format.exit_code, 1);
  EXPECT_THAT(format.err, HasSubstr("unknown --format 'xml'"));
}

TEST(CliData, RecommendNamesAMissingModelFile) {
  RECSYS_REQUIRE_CLI();
  const std::string dir = testing::TempDir("cli_rec");
  RunResult r = RunCli("recommend --model " + dir + "/none.rsm --history \"1 2\" --json", dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_THAT(r.err, HasSubstr("--model " + dir + "/none.rsm: no such file"));
  EXPECT_THAT(r.err, Not(HasSubstr("pipeline file:")));
}

TEST(CliData, SnapshotThenStatsDetectsSnapshot) {
  RECSYS_REQUIRE_CLI();
  const std::string dir = testing::TempDir("cli_snap");
  std::ofstream(dir + "/u.txt") << "user,item,timestamp\n1,10,5\n1,11,3\n2,10,1\n";
  RunResult w = RunCli("snapshot --data " + dir + "/u.txt --out " + dir + "/u.rsds --json", dir);
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_EQ(nlohmann::json::parse(w.out)["events"], 3);
  RunResult r = RunCli("stats --data " + dir + "/u.rsds --json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "snapshot");
  EXPECT_EQ(j["users"], 2);
  EXPECT_EQ(j["items"], 2);
  EXPECT_EQ(j["events"], 3);
  EXPECT_EQ(j["min_timestamp"], 1);
}

// --protocol time writes only the train part (t < test_start − gap) of the
// time split: user 1 keeps 2 of 3 events, user 2 none; vocabularies stay whole.
TEST(CliData, SnapshotTrainPartOfTimeSplit) {
  RECSYS_REQUIRE_CLI();
  const std::string dir = testing::TempDir("cli_snap_time");
  std::ofstream(dir + "/u.txt") << "user,item,timestamp\n1,10,5\n1,11,3\n1,12,50\n2,10,45\n2,13,60\n";
  RunResult w = RunCli("snapshot --data " + dir + "/u.txt --protocol time --test-start 40 --gap 5 --test-window 20 --out " +
                           dir + "/t.rsds --json",
                       dir);
  ASSERT_EQ(w.exit_code, 0) << w.err;
  const auto j = nlohmann::json::parse(w.out);
  EXPECT_EQ(j["events"], 2);
  EXPECT_EQ(j["input_events"], 5);
  EXPECT_EQ(j["split"]["train_events"], 2);
  EXPECT_EQ(j["split"]["test_window_events"], 2);  // t = 50, 45 in [40, 60)
  EXPECT_EQ(j["split"]["after_window_events"], 1);  // t = 60
  EXPECT_EQ(j["split"]["users_with_train_events"], 1);
  RunResult r = RunCli("stats --data " + dir + "/t.rsds --json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto stats = nlohmann::json::parse(r.out);
  EXPECT_EQ(stats["users"], 2);
  EXPECT_EQ(stats["items"], 4);
  EXPECT_EQ(stats["events"], 2);
  RunResult bad = RunCli("snapshot --data " + dir + "/u.txt --protocol loo --out " + dir + "/x.rsds", dir);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("not one of none, time"));
}

TEST(CliData, BenchIoSmall) {
  RECSYS_REQUIRE_CLI();
  const std::string dir = testing::TempDir("cli_bench");
  if (RunCli("--help", dir).out.find("\n  bench ") == std::string::npos) {
    GTEST_SKIP() << "`recsys bench` not built (RECSYS_BUILD_BENCHMARKS=OFF)";
  }
  RunResult r = RunCli("bench io --events 20000 --repeat 1 --dir " + dir + " --json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["seq_parse_mb_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["snapshot_load_seconds"].get<double>(), 0.0);
  EXPECT_NEAR(j["events"].get<double>(), 20000, 4000);
}

// --protocol time: train on events before T_test − gap, test on each user's
// events in [T_test, T_test + window). Users 1 and 2 have test events; user
// 3's only late event is after the window; item 9 appears only in the test
// window (a cold target, dropped).
TEST(CliData, TimeProtocolTrainAndEvaluate) {
  RECSYS_REQUIRE_CLI();
  const std::string dir = testing::TempDir("cli_time");
  std::ofstream(dir + "/t.csv") << "user,item,timestamp\n"
                                   "1,1,100\n1,2,200\n1,3,300\n1,4,1000\n"   // test: 4 at 1000
                                   "2,2,150\n2,3,250\n2,9,1010\n2,1,1020\n"  // test: 9 (cold), 1
                                   "3,1,120\n3,3,220\n3,2,5000\n"             // 5000: after the window
                                   "4,4,50\n4,1,60\n";
  const std::string split = " --protocol time --test-start 1000 --test-window 100 --gap 50";
  RunResult t = RunCli("train --model-type mostpop --data " + dir + "/t.csv" + split + " --out " + dir +
                           "/m.rsm --json",
                       dir);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  const auto tj = nlohmann::json::parse(t.out);
  EXPECT_EQ(tj["train"]["events"], 9);  // every event before 950
  EXPECT_TRUE(tj["valid"].is_null());
  RunResult e = RunCli("evaluate --model " + dir + "/m.rsm --data " + dir + "/t.csv" + split + " --k 1,3 --json",
                       dir);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const auto ej = nlohmann::json::parse(e.out);
  EXPECT_EQ(ej["users"], 2);
  EXPECT_EQ(ej["protocol"], "time");
  RunResult one = RunCli("evaluate --model " + dir + "/m.rsm --data " + dir + "/t.csv" + split +
                             " --max-users 1 --json",
                         dir);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(nlohmann::json::parse(one.out)["users"], 1);
  // Errors: no validation split under the time protocol; unknown protocols.
  RunResult valid = RunCli("evaluate --model " + dir + "/m.rsm --data " + dir + "/t.csv" + split +
                               " --split valid --json",
                           dir);
  EXPECT_NE(valid.exit_code, 0);
  EXPECT_THAT(valid.err, HasSubstr("--split test"));
  RunResult bad = RunCli("train --model-type mostpop --data " + dir + "/t.csv --protocol weekly --out " + dir +
                             "/x.rsm",
                         dir);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("loo, time, none"));
}

// Two-stage evaluation from the command line: a tiny longshort model, every
// item as a candidate over an exact index equals the full ranking; fewer
// candidates report stage-1 recall; `train --json` reports its run.
TEST(CliData, TwoStageEvaluate) {
  RECSYS_REQUIRE_CLI();
  const std::string dir = testing::TempDir("cli_two_stage");
  {
    std::ofstream seq(dir + "/s.txt");
    for (int u = 0; u < 60; ++u) {
      for (int p = 0; p < 12; ++p) seq << (u + 3 * p) % 40 + 1 << (p + 1 < 12 ? " " : "\n");
    }
  }
  std::ofstream(dir + "/c.json") << R"({"dim": 8, "num_blocks": 1, "max_len": 5, "num_interests": 2,)"
                                    R"( "max_history": 16, "epochs": 2, "batch_size": 32, "log_losses": false})";
  RunResult t = RunCli("train --model-type longshort --config " + dir + "/c.json --data " + dir +
                           "/s.txt --format seq --protocol loo --out " + dir + "/m.rsm --json",
                       dir);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  const auto tj = nlohmann::json::parse(t.out);
  EXPECT_GT(tj["steps"].get<int64_t>(), 0);
  EXPECT_GT(tj["events_per_s"].get<double>(), 0.0);
  EXPECT_GT(tj["peak_rss_bytes"].get<int64_t>(), 1 << 20);
  EXPECT_TRUE(tj["validations"].is_array());
  const std::string data = " --data " + dir + "/s.txt --format seq --protocol loo --split test --k 1,5 --json";
  RunResult full = RunCli("evaluate --model " + dir + "/m.rsm" + data, dir);
  ASSERT_EQ(full.exit_code, 0) << full.err;
  const auto fj = nlohmann::json::parse(full.out);
  EXPECT_EQ(fj["mode"], "full");
  RunResult every = RunCli("evaluate --model " + dir + "/m.rsm --candidates 40 --index Flat" + data, dir);
  ASSERT_EQ(every.exit_code, 0) << every.err;
  const auto ej = nlohmann::json::parse(every.out);
  EXPECT_EQ(ej["mode"], "two_stage");
  EXPECT_EQ(ej["users"], fj["users"]);
  EXPECT_NEAR(ej["ndcg@5"].get<double>(), fj["ndcg@5"].get<double>(), 1e-12);
  RunResult few = RunCli("evaluate --model " + dir + "/m.rsm --candidates 8" + data, dir);
  ASSERT_EQ(few.exit_code, 0) << few.err;
  const auto wj = nlohmann::json::parse(few.out);
  EXPECT_LE(wj["mean_candidates"].get<double>(), 8.0);
  EXPECT_TRUE(wj.contains("stage1_recall@8"));
  // Errors: cutoffs beyond N; a model without interest vectors; --pipeline without --candidates.
  RunResult deep = RunCli("evaluate --model " + dir + "/m.rsm --candidates 3" + data, dir);
  EXPECT_NE(deep.exit_code, 0);
  EXPECT_THAT(deep.err, HasSubstr("cutoff 5"));
  ASSERT_EQ(RunCli("train --model-type mostpop --data " + dir + "/s.txt --format seq --protocol loo --out " + dir +
                       "/p.rsm --json",
                   dir)
                .exit_code,
            0);
  RunResult pop = RunCli("evaluate --model " + dir + "/p.rsm --candidates 8" + data, dir);
  EXPECT_NE(pop.exit_code, 0);
  EXPECT_THAT(pop.err, HasSubstr("interest vectors"));
  RunResult nopipe = RunCli("evaluate --pipeline " + dir + "/none.rsp" + data, dir);
  EXPECT_NE(nopipe.exit_code, 0);
  EXPECT_THAT(nopipe.err, HasSubstr("--candidates"));
}

TEST(CliData, ReferenceDataStats) {
  RECSYS_REQUIRE_CLI();
  RECSYS_REQUIRE_DATA(data);
  const std::string dir = testing::TempDir("cli_ref");
  RunResult ml = RunCli("stats --data " + data + "/ml1m/train/input.txt --format seq --json", dir);
  ASSERT_EQ(ml.exit_code, 0) << ml.err;
  EXPECT_EQ(nlohmann::json::parse(ml.out)["users"], 6040);
  RunResult beauty = RunCli("stats --data " + data + "/amazon/beauty.txt --format seq-user --json", dir);
  ASSERT_EQ(beauty.exit_code, 0) << beauty.err;
  const auto j = nlohmann::json::parse(beauty.out);
  EXPECT_EQ(j["users"], 22363);
  EXPECT_EQ(j["items"], 12101);
  EXPECT_EQ(j["events"], 198502);
  EXPECT_EQ(j["format"], "seq-user");
  RunResult autodetect = RunCli("stats --data " + data + "/amazon/beauty.txt --json", dir);
  ASSERT_EQ(autodetect.exit_code, 0) << autodetect.err;
  EXPECT_EQ(nlohmann::json::parse(autodetect.out)["format"], "seq-user");
}

}  // namespace
}  // namespace recsys

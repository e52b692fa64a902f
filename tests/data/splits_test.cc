// Splits: leave-one-out, global temporal split, eval sets from id files.
#include "recsys/data/splits.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recsys/data/readers.h"
#include "test_util.h"

namespace recsys {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Externals of a span of dense item indices (kNoItem stays -1).
std::vector<ExternalId> Ext(const SequenceDataset& ds, std::span<const ItemIndex> items) {
  std::vector<ExternalId> out;
  for (ItemIndex i : items) out.push_back(i < 0 ? -1 : ds.item_vocab().External(i));
  return out;
}

SequenceDataset FromSeq(const std::string& text) {
  auto log = ParseEvents(text, InputFormat::kSeq, "test");
  RECSYS_CHECK(log.ok()) << log.status();
  auto ds = SequenceDataset::FromEventLog(*log);
  RECSYS_CHECK(ds.ok()) << ds.status();
  return *std::move(ds);
}

TEST(LeaveOneOut, TrainDropsLastTwoValidAndTestTargets) {
  // user 1: 10 11 12 13 14; user 2: 20 21 22; user 3: 30 31 (too short).
  const SequenceDataset full = FromSeq("10 11 12 13 14\n20 21 22\n30 31\n");
  auto split = LeaveOneOutSplit(full);
  ASSERT_TRUE(split.ok()) << split.status();
  const SequenceDataset& train = split->train;
  ASSERT_EQ(train.num_users(), 3);
  EXPECT_EQ(train.num_items(), full.num_items());  // same vocabulary
  EXPECT_THAT(Ext(train, train.items(0)), ElementsAre(10, 11, 12));
  EXPECT_THAT(Ext(train, train.items(1)), ElementsAre(20));
  EXPECT_THAT(Ext(train, train.items(2)), ElementsAre(30, 31));
  EXPECT_THAT(train.timestamps(0), ElementsAre(0, 1, 2));
  EXPECT_EQ(split->skipped_users, 1);

  const EvalSet& valid = split->valid;
  ASSERT_EQ(valid.size(), 2);
  EXPECT_THAT(valid.users, ElementsAre(0, 1));
  EXPECT_THAT(Ext(full, valid.input(0).items), ElementsAre(10, 11, 12));
  EXPECT_THAT(Ext(full, valid.target(0)), ElementsAre(13));
  EXPECT_THAT(Ext(full, valid.input(1).items), ElementsAre(20));
  EXPECT_THAT(Ext(full, valid.target(1)), ElementsAre(21));
  EXPECT_THAT(valid.input(0).timestamps, ElementsAre(0, 1, 2));

  const EvalSet& test = split->test;
  ASSERT_EQ(test.size(), 2);
  EXPECT_THAT(Ext(full, test.input(0).items), ElementsAre(10, 11, 12, 13));
  EXPECT_THAT(Ext(full, test.target(0)), ElementsAre(14));
  EXPECT_THAT(Ext(full, test.input(1).items), ElementsAre(20, 21));
  EXPECT_THAT(Ext(full, test.target(1)), ElementsAre(22));
  EXPECT_EQ(test.unknown_targets, 0);
}

TEST(LeaveOneOut, EmptyDataset) {
  auto split = LeaveOneOutSplit(SequenceDataset());
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->train.num_events(), 0);
  EXPECT_EQ(split->test.size(), 0);
}

SequenceDataset TimedDataset() {
  // user 1: t=1 a, 5 b, 9 c, 10 d, 10 d, 12 e, 30 f ; user 2: t=11 a, 13 g ; user 3: 2 b, 3 c
  EventLog log;
  const std::tuple<ExternalId, ExternalId, Timestamp> events[] = {
      {1, 100, 1}, {1, 101, 5}, {1, 102, 9}, {1, 103, 10}, {1, 103, 10}, {1, 104, 12}, {1, 105, 30},
      {2, 100, 11}, {2, 106, 13}, {3, 101, 2}, {3, 102, 3}};
  for (auto [u, i, t] : events) log.Append(u, i, t);
  auto ds = SequenceDataset::FromEventLog(log);
  RECSYS_CHECK(ds.ok());
  return *std::move(ds);
}

TEST(GlobalTemporalSplit, GapWindowAndMultipleTargets) {
  const SequenceDataset full = TimedDataset();
  TemporalSplitOptions options;
  options.test_start = 10;
  options.gap = 2;          // train: t < 8
  options.test_window = 5;  // test: t in [10, 15)
  options.drop_cold_targets = false;
  options.drop_cold_users = false;
  auto split = GlobalTemporalSplit(full, options);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_THAT(Ext(full, split->train.items(0)), ElementsAre(100, 101));
  EXPECT_EQ(split->train.length(1), 0);
  EXPECT_THAT(Ext(full, split->train.items(2)), ElementsAre(101, 102));
  EXPECT_EQ(split->gap_events, 1);           // t = 9
  EXPECT_EQ(split->after_window_events, 1);  // t = 30
  ASSERT_EQ(split->test.size(), 2);
  EXPECT_THAT(split->test.users, ElementsAre(0, 1));
  EXPECT_THAT(Ext(full, split->test.input(0).items), ElementsAre(100, 101));
  EXPECT_THAT(Ext(full, split->test.target(0)), ElementsAre(103, 104));  // duplicate 103 once
  EXPECT_TRUE(split->test.input(1).items.empty());
  EXPECT_THAT(Ext(full, split->test.target(1)), ElementsAre(100, 106));
}

TEST(GlobalTemporalSplit, DropsColdTargetsAndUsers) {
  const SequenceDataset full = TimedDataset();
  TemporalSplitOptions options;
  options.test_start = 10;
  options.gap = 2;
  options.test_window = 5;
  options.unique_targets = false;
  auto split = GlobalTemporalSplit(full, options);
  ASSERT_TRUE(split.ok()) << split.status();
  // Train items: 100, 101, 102. User 1's targets 103, 103, 104 are cold; user 2 has
  // no train events (target 100 is warm, 106 cold).
  EXPECT_EQ(split->cold_targets, 4);
  EXPECT_EQ(split->cold_users, 1);
  EXPECT_EQ(split->test.size(), 0);
}

TEST(GlobalTemporalSplit, RejectsBadOptions) {
  TemporalSplitOptions options;
  options.test_window = 0;
  auto split = GlobalTemporalSplit(TimedDataset(), options);
  ASSERT_FALSE(split.ok());
  EXPECT_THAT(std::string(split.status().message()), HasSubstr("test_window must be > 0"));
  options.test_window = 10;
  options.gap = -1;
  EXPECT_FALSE(GlobalTemporalSplit(TimedDataset(), options).ok());
}

TEST(MakeEvalSet, UnknownInputsDroppedUnknownTargetsKept) {
  const Vocabulary items = Vocabulary::FromExternals({10, 20, 30});
  const EvalSet set = MakeEvalSet({{10, 99, 20}, {}, {30}}, {30, 77, 10}, items).value();
  ASSERT_EQ(set.size(), 3);
  EXPECT_THAT(set.input(0).items, ElementsAre(0, 1));
  EXPECT_TRUE(set.input(1).items.empty());
  EXPECT_THAT(set.target(0), ElementsAre(2));
  EXPECT_THAT(set.target(1), ElementsAre(kNoItem));
  EXPECT_THAT(set.target(2), ElementsAre(0));
  EXPECT_EQ(set.unknown_input_items, 1);
  EXPECT_EQ(set.unknown_targets, 1);
  EXPECT_THAT(set.users, ElementsAre(-1, -1, -1));
}

TEST(MakeEvalSet, MismatchedCountsAreAnError) {
  const Vocabulary items = Vocabulary::FromExternals({10, 20, 30});
  const auto set = MakeEvalSet({{10}, {20}}, {30}, items);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(set.status().message().find("2 inputs but 1 targets"), std::string::npos) << set.status();
  EXPECT_TRUE(MakeEvalSet({{10}, {20}}, {}, items).ok());  // no targets at all is fine
}

TEST(ReadEvalSet, FilesMustAlign) {
  const std::string dir = testing::TempDir("splits");
  std::ofstream(dir + "/in.txt") << "10 20\n30\n";
  std::ofstream(dir + "/t2.txt") << "20\n10\n";
  std::ofstream(dir + "/t1.txt") << "20\n";
  const Vocabulary items = Vocabulary::FromExternals({10, 20, 30});
  auto ok = ReadEvalSet(dir + "/in.txt", dir + "/t2.txt", items);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), 2);
  auto bad = ReadEvalSet(dir + "/in.txt", dir + "/t1.txt", items);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("has 2 lines but --targets"));
}

TEST(ReferenceData, BeautyLeaveOneOut) {
  RECSYS_REQUIRE_DATA(dir);
  auto full = LoadDataset(dir + "/amazon/beauty.txt", InputFormat::kSeqUser);
  ASSERT_TRUE(full.ok()) << full.status();
  auto split = LeaveOneOutSplit(*full);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->test.size() + split->skipped_users, 22363);
  EXPECT_EQ(split->train.num_events(), 198502 - 2 * split->test.size());
}

}  // namespace
}  // namespace recsys

// Snapshots: round trip, corruption, truncation and version checks.
#include "recsys/data/snapshot.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recsys/data/readers.h"
#include "recsys/data/splits.h"
#include "recsys/data/synthetic.h"
#include "test_util.h"

namespace recsys {
namespace {

using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

SequenceDataset Small() {
  SyntheticConfig config;
  config.num_users = 50;
  config.num_items = 120;
  config.num_clusters = 6;
  config.seed = 3;
  auto data = GenerateSynthetic(config);  // EventLog path: non-identity vocabularies
  RECSYS_CHECK(data.ok());
  auto ds = SequenceDataset::FromEventLog(data->log);
  RECSYS_CHECK(ds.ok());
  return *std::move(ds);
}

template <typename T>
std::vector<T> Vec(std::span<const T> s) {
  return std::vector<T>(s.begin(), s.end());
}

void ExpectSame(const SequenceDataset& a, const SequenceDataset& b) {
  ASSERT_EQ(a.num_users(), b.num_users());
  ASSERT_EQ(a.num_items(), b.num_items());
  ASSERT_EQ(a.num_events(), b.num_events());
  EXPECT_EQ(Vec(a.offsets()), Vec(b.offsets()));
  EXPECT_EQ(Vec(a.all_items()), Vec(b.all_items()));
  EXPECT_EQ(Vec(a.all_timestamps()), Vec(b.all_timestamps()));
  EXPECT_EQ(Vec(a.all_types()), Vec(b.all_types()));
  EXPECT_EQ(Vec(a.all_weights()), Vec(b.all_weights()));
  EXPECT_EQ(Vec(a.all_organic()), Vec(b.all_organic()));
  EXPECT_EQ(a.user_vocab().externals(), b.user_vocab().externals());
  EXPECT_EQ(a.item_vocab().externals(), b.item_vocab().externals());
  EXPECT_EQ(b.item_vocab().Find(a.item_vocab().External(a.num_items() - 1)), a.num_items() - 1);
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir("snapshot");
    path_ = dir_ + "/data.rsds";
    ds_ = Small();
    ASSERT_TRUE(WriteSnapshot(ds_, path_).ok());
    bytes_ = ReadAll(path_);
  }
  std::string dir_, path_, bytes_;
  SequenceDataset ds_;
};

TEST_F(SnapshotTest, RoundTripWithAndWithoutChecksums) {
  auto fast = LoadSnapshot(path_);
  ASSERT_TRUE(fast.ok()) << fast.status();
  ExpectSame(ds_, *fast);
  SnapshotLoadOptions verify;
  verify.verify_checksums = true;
  auto checked = LoadSnapshot(path_, verify);
  ASSERT_TRUE(checked.ok()) << checked.status();
  ExpectSame(ds_, *checked);
  // The dataset keeps the mapping alive after the file is gone.
  std::filesystem::remove(path_);
  EXPECT_EQ(fast->items(3).size(), static_cast<size_t>(ds_.length(3)));
  EXPECT_EQ(fast->items(3)[0], ds_.items(3)[0]);
}

TEST_F(SnapshotTest, InfoAndDetection) {
  auto info = ReadSnapshotInfo(path_);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->version, kSnapshotFormatVersion);
  EXPECT_EQ(info->num_events, ds_.num_events());
  EXPECT_EQ(info->file_bytes, bytes_.size());
  EXPECT_EQ(info->sections.size(), 8u);
  EXPECT_EQ(DetectFormat(path_).value(), InputFormat::kSnapshot);
  InputFormat detected = InputFormat::kAuto;
  auto ds = LoadDataset(path_, InputFormat::kAuto, {}, {}, &detected);
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(detected, InputFormat::kSnapshot);
  auto log = ReadEvents(path_, InputFormat::kAuto);  // snapshot → events with external ids
  ASSERT_TRUE(log.ok());
  auto rebuilt = SequenceDataset::FromEventLog(*log);
  ASSERT_TRUE(rebuilt.ok());
  ExpectSame(ds_, *rebuilt);
}

TEST_F(SnapshotTest, EmptyDatasetRoundTrips) {
  ASSERT_TRUE(WriteSnapshot(SequenceDataset(), path_).ok());
  auto empty = LoadSnapshot(path_);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->num_users(), 0);
  EXPECT_EQ(empty->num_events(), 0);
}

// A prefix snapshot holds the first keep[u] events of every user with the
// same vocabularies; the streaming time split writes exactly the bytes of
// WriteSnapshot(GlobalTemporalSplit(...).train), from a mapped snapshot.
TEST_F(SnapshotTest, PrefixAndStreamingTemporalTrainSnapshot) {
  std::vector<int64_t> keep(static_cast<size_t>(ds_.num_users()));
  SequenceDataset::Columns c;
  c.offsets.push_back(0);
  for (UserIndex u = 0; u < ds_.num_users(); ++u) {
    keep[static_cast<size_t>(u)] = std::min(ds_.length(u), ds_.length(u) * (u % 4) / 3);  // 0, 1/3, 2/3, all
    const auto n = static_cast<size_t>(keep[static_cast<size_t>(u)]);
    auto append = [&](auto& dst, auto src) { dst.insert(dst.end(), src.begin(), src.begin() + n); };
    append(c.items, ds_.items(u));
    append(c.timestamps, ds_.timestamps(u));
    append(c.types, ds_.types(u));
    append(c.weights, ds_.weights(u));
    append(c.organic, ds_.organic(u));
    c.offsets.push_back(static_cast<int64_t>(c.items.size()));
  }
  auto expected = SequenceDataset::FromColumns(std::move(c), ds_.user_vocab(), ds_.item_vocab());
  ASSERT_TRUE(expected.ok()) << expected.status();
  const std::string prefix = dir_ + "/prefix.rsds";
  ASSERT_TRUE(WriteSnapshotPrefix(ds_, keep, prefix).ok());
  SnapshotLoadOptions verify;
  verify.verify_checksums = true;
  auto loaded = LoadSnapshot(prefix, verify);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(*expected, *loaded);
  const std::string copy = dir_ + "/copy.rsds";
  ASSERT_TRUE(WriteSnapshot(*expected, copy).ok());
  EXPECT_EQ(ReadAll(copy), ReadAll(prefix));

  keep.pop_back();
  auto st = WriteSnapshotPrefix(ds_, keep, prefix);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("keep has"));
  keep.push_back(ds_.length(ds_.num_users() - 1) + 1);
  st = WriteSnapshotPrefix(ds_, keep, prefix);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);

  // The streaming time split from the mapped snapshot of the full data.
  auto mapped = LoadSnapshot(path_);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  Timestamp lo = std::numeric_limits<Timestamp>::max(), hi = std::numeric_limits<Timestamp>::min();
  for (Timestamp t : ds_.all_timestamps()) {
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  }
  TemporalSplitOptions options;
  options.test_start = lo + (hi - lo) * 2 / 3;
  options.gap = (hi - lo) / 50;
  options.test_window = (hi - lo) / 10;
  auto split = GlobalTemporalSplit(ds_, options);
  ASSERT_TRUE(split.ok()) << split.status();
  ASSERT_GT(split->train.num_events(), 0);
  ASSERT_LT(split->train.num_events(), ds_.num_events());
  const std::string train_path = dir_ + "/train.rsds", reference = dir_ + "/reference.rsds";
  auto info = WriteTemporalTrainSnapshot(*mapped, options, train_path);
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_TRUE(WriteSnapshot(split->train, reference).ok());
  EXPECT_EQ(ReadAll(train_path), ReadAll(reference));
  EXPECT_EQ(info->train_events, split->train.num_events());
  EXPECT_EQ(info->gap_events, split->gap_events);
  EXPECT_EQ(info->after_window_events, split->after_window_events);
  EXPECT_EQ(info->train_events + info->gap_events + info->test_window_events + info->after_window_events,
            ds_.num_events());
  options.test_window = 0;
  EXPECT_EQ(WriteTemporalTrainSnapshot(*mapped, options, train_path).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Two users (external 70, 71) over items 10, 11, 12 with the given event
// times: user 70 has the first two events, user 71 the last three.
SequenceDataset TwoUsers(std::vector<Timestamp> times) {
  SequenceDataset::Columns c;
  c.offsets = {0, 2, 5};
  c.items = {0, 1, 0, 1, 2};
  c.timestamps = std::move(times);
  c.types.assign(5, 0);
  c.weights.assign(5, 1.0f);
  c.organic.assign(5, 1);
  auto ds = SequenceDataset::FromColumns(std::move(c), Vocabulary::FromExternals({70, 71}),
                                         Vocabulary::FromExternals({10, 11, 12}));
  RECSYS_CHECK(ds.ok()) << ds.status();
  return *std::move(ds);
}

// The streaming split needs each user's train events to be a prefix; it names
// the first user whose are not.
TEST(TemporalTrainSnapshot, OutOfOrderUserIsRefused) {
  TemporalSplitOptions options;
  options.test_start = 6;
  options.gap = 0;
  const std::string dir = testing::TempDir("split_order");
  // User 71: 3, 9, 4 — an event before the train end (6) after one past it.
  auto info = WriteTemporalTrainSnapshot(TwoUsers({1, 2, 3, 9, 4}), options, dir + "/t.rsds");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("user 71"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/t.rsds"));
  // Disorder after the train end does not matter: the train part is still a prefix.
  auto written = WriteTemporalTrainSnapshot(TwoUsers({1, 2, 3, 9, 7}), options, dir + "/t.rsds");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->train_events, 3);
  EXPECT_EQ(written->test_window_events, 2);  // default window: 9 and 7 are in [6, 6 + 86400)
  std::filesystem::remove_all(dir);
}

// The streamed test cases of the time split (what `evaluate --protocol time`
// uses) are GlobalTemporalSplit's cases, strided the same way, for every
// combination of the cold-target/cold-user/unique options and case caps.
TEST_F(SnapshotTest, StreamedTemporalTestCasesMatchTheSplit) {
  // Users who start within ten minutes of each other: their histories overlap
  // in time, so a global window cuts through many of them.
  SyntheticConfig config;
  config.num_users = 80;
  config.num_items = 150;
  config.num_clusters = 6;
  config.time_span = 600;
  config.seed = 5;
  auto data = GenerateSynthetic(config);
  ASSERT_TRUE(data.ok()) << data.status();
  auto full = SequenceDataset::FromEventLog(data->log);
  ASSERT_TRUE(full.ok()) << full.status();
  const SequenceDataset& ds = *full;
  const std::string path = dir_ + "/overlapping.rsds";
  ASSERT_TRUE(WriteSnapshot(ds, path).ok());
  auto mapped = LoadSnapshot(path);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  // Window edges at event-time quantiles: train up to the 45th percentile,
  // test from the 50th to the 80th.
  std::vector<Timestamp> times = Vec(ds.all_timestamps());
  std::sort(times.begin(), times.end());
  const auto quantile = [&](size_t pct) { return times[times.size() * pct / 100]; };
  for (int variant = 0; variant < 8; ++variant) {
    TemporalSplitOptions options;
    options.test_start = quantile(50);
    options.gap = quantile(50) - quantile(45);
    options.test_window = quantile(80) - quantile(50);
    options.drop_cold_targets = (variant & 1) != 0;
    options.drop_cold_users = (variant & 2) != 0;
    options.unique_targets = (variant & 4) != 0;
    auto split = GlobalTemporalSplit(ds, options);
    ASSERT_TRUE(split.ok()) << split.status();
    const EvalSet& all = split->test;
    ASSERT_GT(all.size(), 3);
    for (int64_t cap : {int64_t{0}, int64_t{1}, int64_t{3}, all.size() - 1, all.size(), all.size() + 5}) {
      SCOPED_TRACE(absl::StrCat("variant ", variant, " cap ", cap));
      auto streamed = GlobalTemporalTestCases(*mapped, options, cap);
      ASSERT_TRUE(streamed.ok()) << streamed.status();
      EXPECT_EQ(streamed->cases, all.size());
      EXPECT_EQ(streamed->train_events, split->train.num_events());
      EXPECT_EQ(streamed->gap_events, split->gap_events);
      EXPECT_EQ(streamed->after_window_events, split->after_window_events);
      EXPECT_EQ(streamed->cold_targets, split->cold_targets);
      EXPECT_EQ(streamed->cold_users, split->cold_users);
      const int64_t stride = cap > 0 && all.size() > cap ? (all.size() + cap - 1) / cap : 1;
      const EvalSet& got = streamed->test;
      ASSERT_EQ(got.size(), (all.size() + stride - 1) / stride);
      for (int64_t c = 0; c < got.size(); ++c) {
        const int64_t ref = c * stride;
        EXPECT_EQ(got.users[static_cast<size_t>(c)], all.users[static_cast<size_t>(ref)]);
        EXPECT_EQ(Vec(got.input(c).items), Vec(all.input(ref).items));
        EXPECT_EQ(Vec(got.input(c).timestamps), Vec(all.input(ref).timestamps));
        EXPECT_EQ(Vec(got.target(c)), Vec(all.target(ref)));
      }
    }
  }
  TemporalSplitOptions bad;
  bad.gap = -1;
  EXPECT_EQ(GlobalTemporalTestCases(*mapped, bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SnapshotTest, TruncatedFilesAreRefused) {
  for (size_t keep : {size_t{0}, size_t{4}, size_t{40}, size_t{200}, bytes_.size() / 2, bytes_.size() - 1}) {
    WriteAll(path_, bytes_.substr(0, keep));
    auto ds = LoadSnapshot(path_);
    ASSERT_FALSE(ds.ok()) << "kept " << keep << " bytes";
    if (keep >= 8) {
      EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss) << keep << ": " << ds.status();
      EXPECT_THAT(std::string(ds.status().message()), HasSubstr("truncated")) << keep;
    }
  }
  WriteAll(path_, bytes_ + "extra");
  EXPECT_EQ(LoadSnapshot(path_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SnapshotTest, EveryHeaderBitFlipIsRefused) {
  auto info = ReadSnapshotInfo(path_);
  ASSERT_TRUE(info.ok());
  const size_t header_bytes = 64 + 8 * 32 + 8;
  for (size_t byte = 0; byte < header_bytes; ++byte) {
    std::string flipped = bytes_;
    flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << (byte % 8)));
    WriteAll(path_, flipped);
    auto ds = LoadSnapshot(path_);
    EXPECT_FALSE(ds.ok()) << "flip in header byte " << byte << " went unnoticed";
  }
}

TEST_F(SnapshotTest, DataBitFlipCaughtByChecksums) {
  auto info = ReadSnapshotInfo(path_);
  ASSERT_TRUE(info.ok());
  SnapshotLoadOptions verify;
  verify.verify_checksums = true;
  for (const SnapshotSection& s : info->sections) {
    if (s.bytes == 0) continue;
    std::string flipped = bytes_;
    const size_t at = s.offset + s.bytes / 2;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    WriteAll(path_, flipped);
    auto ds = LoadSnapshot(path_, verify);
    ASSERT_FALSE(ds.ok()) << s.name;
    EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(ds.status().message()), HasSubstr("section '" + s.name + "'"));
  }
}

TEST_F(SnapshotTest, WrongVersionAndNotASnapshot) {
  std::string newer = bytes_;
  newer[8] = 2;  // version field (little-endian uint32 after the 8-byte magic)
  WriteAll(path_, newer);
  auto ds = LoadSnapshot(path_);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(ds.status().message()), HasSubstr("format version 2"));

  WriteAll(path_, "1 2 3\n4 5 6\n");
  auto text = LoadSnapshot(path_);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("not a recsys dataset snapshot"));

  EXPECT_EQ(LoadSnapshot(dir_ + "/missing.rsds").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(WriteSnapshot(ds_, dir_ + "/no/such/dir/x.rsds").ok());
}

TEST(SnapshotChecksum, SensitiveToEveryByteAndSeed) {
  std::string data(100, 'a');
  const uint64_t base = SnapshotChecksum(data.data(), data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    std::string d = data;
    d[i] = 'b';
    EXPECT_NE(SnapshotChecksum(d.data(), d.size()), base) << i;
  }
  EXPECT_NE(SnapshotChecksum(data.data(), data.size(), 1), base);
  EXPECT_NE(SnapshotChecksum(data.data(), 99), base);
}

}  // namespace
}  // namespace recsys

// Readers: seq, seq-user, csv/tsv, format detection and error messages.
#include "recsys/data/readers.h"

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recsys/data/sequence_dataset.h"
#include "test_util.h"

namespace recsys {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<EventLog> Parse(const std::string& text, InputFormat format) {
  return ParseEvents(text, format, "data.txt");
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// ---- seq ---------------------------------------------------------------------

TEST(SeqReader, UsersAreLineNumbersTimestampsArePositions) {
  auto log = Parse("10 20 30\n40 50\n", InputFormat::kSeq);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(log->users, ElementsAre(1, 1, 1, 2, 2));
  EXPECT_THAT(log->items, ElementsAre(10, 20, 30, 40, 50));
  EXPECT_THAT(log->timestamps, ElementsAre(0, 1, 2, 0, 1));
  EXPECT_THAT(log->types, ElementsAre(0, 0, 0, 0, 0));
  EXPECT_TRUE(log->Validate().ok());
}

TEST(SeqReader, EmptyLinesAreUsersWithoutEventsAndKeepNumbering) {
  auto log = Parse("1 2\n\n   \n3\n", InputFormat::kSeq);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(log->users, ElementsAre(1, 1, 4));
  EXPECT_THAT(log->items, ElementsAre(1, 2, 3));
}

TEST(SeqReader, MissingTrailingNewlineCrlfTabsAndBom) {
  auto a = Parse("1 2\r\n3\t4  \r\n5", InputFormat::kSeq);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(a->users, ElementsAre(1, 1, 2, 2, 3));
  EXPECT_THAT(a->items, ElementsAre(1, 2, 3, 4, 5));
  auto b = Parse("\xEF\xBB\xBF" "7 8\n", InputFormat::kSeq);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(b->items, ElementsAre(7, 8));
}

TEST(SeqReader, DuplicateEventsAreKept) {
  auto log = Parse("5 5 5\n", InputFormat::kSeq);
  ASSERT_TRUE(log.ok());
  EXPECT_THAT(log->items, ElementsAre(5, 5, 5));
  EXPECT_THAT(log->timestamps, ElementsAre(0, 1, 2));
  auto ds = SequenceDataset::FromEventLog(*log);
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->num_events(), 3);
  EXPECT_EQ(ds->num_items(), 1);
}

TEST(SeqReader, EmptyInput) {
  for (const char* text : {"", "\n", "\n\n  \n"}) {
    auto log = Parse(text, InputFormat::kSeq);
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_TRUE(log->empty());
  }
}

TEST(SeqReader, Int64RangeAndNegativeIds) {
  auto log = Parse("9223372036854775807 -9223372036854775808 -5 +6\n", InputFormat::kSeq);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(log->items, ElementsAre(INT64_MAX, INT64_MIN, -5, 6));
}

TEST(SeqReader, HugeIdIsAnErrorNamingTheField) {
  auto log = Parse("1 2\n3 9223372036854775808\n", InputFormat::kSeq);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(log.status()),
              HasSubstr("data.txt:2:3: item id does not fit in int64: '9223372036854775808'"));
  auto user = Parse("99999999999999999999999 1\n", InputFormat::kSeqUser);
  ASSERT_FALSE(user.ok());
  EXPECT_THAT(Message(user.status()), HasSubstr("data.txt:1:1: user id does not fit in int64"));
}

TEST(SeqReader, MalformedTokenNamesFileLineColumnAndText) {
  auto log = Parse("1 2 3\n4 x12 5\n", InputFormat::kSeq);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(log.status()), "data.txt:2:3: invalid item id 'x12'");
  for (const char* bad : {"1 2-3\n", "1,2\n", "- 3\n", "1.5\n", "12abc\n"}) {
    auto r = Parse(bad, InputFormat::kSeq);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_THAT(Message(r.status()), HasSubstr("data.txt:1:")) << bad;
  }
}

TEST(SeqReader, NonUtf8BytesAreReportedWithTheirOffset) {
  auto log = Parse("1 2\n3 4\xFF" "5\n", InputFormat::kSeq);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(Message(log.status()), HasSubstr("data.txt:2:3: invalid item id '4\\xFF5'"));
  EXPECT_THAT(Message(log.status()), HasSubstr("invalid UTF-8 byte 0xFF at byte offset 7"));
  // Valid UTF-8 that is not a digit is named differently.
  auto e = Parse("1 \xC3\xA9\n", InputFormat::kSeq);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(Message(e.status()), HasSubstr("non-ASCII byte 0xC3 at byte offset 2"));
}

// ---- seq-user ----------------------------------------------------------------

TEST(SeqUserReader, LeadingUserIdAndRepeatedUsersContinue) {
  auto log = Parse("7 1 2\n9 3\n7 4\n8\n", InputFormat::kSeqUser);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(log->users, ElementsAre(7, 7, 9, 7));
  EXPECT_THAT(log->items, ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(log->timestamps, ElementsAre(0, 1, 0, 2));
  auto ds = SequenceDataset::FromEventLog(*log);
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->num_users(), 2);  // user 8 has no events
  EXPECT_EQ(ds->length(0), 3);
}

// ---- csv ---------------------------------------------------------------------

TEST(CsvReader, HeaderColumnsInAnyOrderWithExtras) {
  const std::string text =
      "timestamp,item_id,title,user_id,type,played_ratio,is_organic\n"
      "100,5,\"Hello, world\",1,listen,0.5,1\n"
      "90,6,\"say \"\"hi\"\"\",1,like,1,0\n"
      "95,5,,2,2,0.25,true\n";
  auto log = Parse(text, InputFormat::kCsv);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(log->users, ElementsAre(1, 1, 2));
  EXPECT_THAT(log->items, ElementsAre(5, 6, 5));
  EXPECT_THAT(log->timestamps, ElementsAre(100, 90, 95));
  EXPECT_THAT(log->types, ElementsAre(static_cast<EventType>(EventKind::kListen),
                                      static_cast<EventType>(EventKind::kLike), 2));
  EXPECT_THAT(log->weights, ElementsAre(0.5f, 1.0f, 0.25f));
  EXPECT_THAT(log->organic, ElementsAre(1, 0, 1));
  EXPECT_TRUE(log->Validate().ok());
}

TEST(CsvReader, OutOfOrderTimestampsAreSortedStablyPerUser) {
  auto log = Parse("user,item,timestamp\n1,10,5\n1,11,3\n2,12,1\n1,13,3\n1,14,1\n", InputFormat::kCsv);
  ASSERT_TRUE(log.ok()) << log.status();
  auto ds = SequenceDataset::FromEventLog(*log);
  ASSERT_TRUE(ds.ok());
  ASSERT_EQ(ds->num_users(), 2);
  std::vector<ExternalId> items;
  for (ItemIndex i : ds->items(0)) items.push_back(ds->item_vocab().External(i));
  EXPECT_THAT(items, ElementsAre(14, 11, 13, 10));  // ties (t=3) keep file order
  EXPECT_THAT(ds->timestamps(0), ElementsAre(1, 3, 3, 5));
}

TEST(CsvReader, DuplicateEventsKeptOrDropped) {
  auto log = Parse("user,item,timestamp\n1,10,5\n1,10,5\n1,10,6\n", InputFormat::kCsv);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->size(), 3u);
  auto keep = SequenceDataset::FromEventLog(*log);
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(keep->num_events(), 3);
  DatasetBuildOptions drop;
  drop.drop_exact_duplicates = true;
  auto dropped = SequenceDataset::FromEventLog(*log, drop);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->num_events(), 2);
}

TEST(CsvReader, TsvDetectedFromHeaderCrlfAndNoTrailingNewline) {
  auto log = Parse("user\titem\ttimestamp\r\n1\t2\t3\r\n\r\n4\t5\t6", InputFormat::kCsv);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(log->users, ElementsAre(1, 4));
  EXPECT_THAT(log->items, ElementsAre(2, 5));
  EXPECT_THAT(log->timestamps, ElementsAre(3, 6));
}

TEST(CsvReader, ConfigurableColumnNames) {
  CsvOptions options;
  options.user_column = "Listener";
  options.item_column = "track";
  options.timestamp_column = "when";
  auto log = ParseEvents("listener;track;when\n1;2;3\n", InputFormat::kCsv, "x.csv", options);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(log->items, ElementsAre(2));
  CsvOptions no_ts;
  no_ts.require_timestamp = false;
  auto rows = ParseEvents("user,item\n1,2\n1,3\n", InputFormat::kCsv, "x.csv", no_ts);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(rows->timestamps, ElementsAre(0, 1));
}

TEST(CsvReader, WrongColumnCountNamesLine) {
  auto log = Parse("user,item,timestamp\n1,2,3\n4,5\n", InputFormat::kCsv);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(Message(log.status()),
            "data.txt:3:1: expected 3 fields as in the header 'user,item,timestamp', found 2");
  auto more = Parse("user,item,timestamp\n1,2,3,4\n", InputFormat::kCsv);
  ASSERT_FALSE(more.ok());
  EXPECT_THAT(Message(more.status()), HasSubstr("data.txt:2:1: expected 3 fields"));
}

TEST(CsvReader, MissingColumnsAndBadHeaders) {
  auto no_ts = Parse("user,item\n1,2\n", InputFormat::kCsv);
  ASSERT_FALSE(no_ts.ok());
  EXPECT_THAT(Message(no_ts.status()), HasSubstr("data.txt:1:1: bad header 'user,item': no timestamp column"));
  auto no_header = Parse("1,2,3\n4,5,6\n", InputFormat::kCsv);
  ASSERT_FALSE(no_header.ok());
  EXPECT_THAT(Message(no_header.status()), HasSubstr("is the header missing?"));
  auto dup = Parse("user,item,item,timestamp\n", InputFormat::kCsv);
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(Message(dup.status()), HasSubstr("duplicate column 'item'"));
  auto empty_name = Parse("user,,item,timestamp\n", InputFormat::kCsv);
  ASSERT_FALSE(empty_name.ok());
  EXPECT_THAT(Message(empty_name.status()), HasSubstr("column 2 has no name"));
  auto bad_utf8 = Parse("user,item,timestamp,ti\xC3tle\n", InputFormat::kCsv);
  ASSERT_FALSE(bad_utf8.ok());
  EXPECT_THAT(Message(bad_utf8.status()), HasSubstr("invalid UTF-8 byte 0xC3 at byte offset 22 in the header"));
}

TEST(CsvReader, BadFieldsNameColumnAndText) {
  auto item = Parse("user,item,timestamp\n1,abc,3\n", InputFormat::kCsv);
  ASSERT_FALSE(item.ok());
  EXPECT_EQ(Message(item.status()), "data.txt:2:3: invalid item id 'abc' in column 'item'");
  auto huge = Parse("user,item,timestamp\n1,2,123456789012345678901234\n", InputFormat::kCsv);
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(Message(huge.status()), HasSubstr("timestamp does not fit in int64: '123456789012345678901234' in column 'timestamp'"));
  auto type = Parse("user,item,timestamp,type\n1,2,3,skip\n", InputFormat::kCsv);
  ASSERT_FALSE(type.ok());
  EXPECT_THAT(Message(type.status()), HasSubstr("unknown event type"));
  auto weight = Parse("user,item,timestamp,weight\n1,2,3,nan\n", InputFormat::kCsv);
  ASSERT_FALSE(weight.ok());
  EXPECT_THAT(Message(weight.status()), HasSubstr("data.txt:2:7: invalid weight"));
  auto quote = Parse("user,item,timestamp,title\n1,2,3,\"open\n", InputFormat::kCsv);
  ASSERT_FALSE(quote.ok());
  EXPECT_THAT(Message(quote.status()), HasSubstr("data.txt:2:7: unterminated quoted field"));
  auto utf8 = Parse("user,item,timestamp,title\n1,2,3,caf\xE9\n", InputFormat::kCsv);
  ASSERT_FALSE(utf8.ok());
  EXPECT_THAT(Message(utf8.status()), HasSubstr("invalid UTF-8 byte 0xE9 at byte offset 35 in column 'title'"));
  auto ok_utf8 = Parse("user,item,timestamp,title\n1,2,3,caf\xC3\xA9\n", InputFormat::kCsv);
  EXPECT_TRUE(ok_utf8.ok()) << ok_utf8.status();
}

// ---- detection, files, id lists -----------------------------------------------

TEST(DetectFormat, FromText) {
  EXPECT_EQ(DetectFormatOfText("user,item,timestamp\n1,2,3\n"), InputFormat::kCsv);
  EXPECT_EQ(DetectFormatOfText("u\ti\tt\n"), InputFormat::kCsv);
  EXPECT_EQ(DetectFormatOfText("1 5 6\n2 7 8 9\n3 5\n"), InputFormat::kSeqUser);
  EXPECT_EQ(DetectFormatOfText("1 2 3\n80 81 82\n4 5\n"), InputFormat::kSeq);
  EXPECT_EQ(DetectFormatOfText("5 6 7\n"), InputFormat::kSeq);  // one line: ambiguous → seq
  EXPECT_EQ(DetectFormatOfText(""), InputFormat::kSeq);
  EXPECT_EQ(DetectFormatOfText("RSYSDSET...."), InputFormat::kSnapshot);
}

TEST(ParseInputFormat, NamesRoundTrip) {
  for (InputFormat f : {InputFormat::kAuto, InputFormat::kSeq, InputFormat::kSeqUser, InputFormat::kCsv,
                        InputFormat::kSnapshot}) {
    auto parsed = ParseInputFormat(FormatName(f));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, f);
  }
  EXPECT_EQ(*ParseInputFormat("TSV"), InputFormat::kCsv);
  auto bad = ParseInputFormat("parquet");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Message(bad.status()), HasSubstr("unknown --format 'parquet'"));
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(ReadEvents, FilesAndErrorsNameThePath) {
  const std::string dir = testing::TempDir("readers");
  const std::string path = dir + "/seq.txt";
  WriteFile(path, "1 5 6\n2 7\n3 5 9\n");
  auto log = ReadEvents(path, InputFormat::kAuto);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(log->users, ElementsAre(1, 1, 2, 3, 3));  // detected as seq-user
  InputFormat detected = InputFormat::kAuto;
  auto ds = LoadDataset(path, InputFormat::kSeq, {}, {}, &detected);
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(detected, InputFormat::kSeq);
  EXPECT_EQ(ds->num_users(), 3);

  auto missing = ReadEvents(dir + "/nope.txt", InputFormat::kSeq);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()), HasSubstr("nope.txt"));
  auto directory = ReadEvents(dir, InputFormat::kSeq);
  EXPECT_FALSE(directory.ok());

  WriteFile(path, "1 2\n3 oops\n");
  auto bad = ReadEvents(path, InputFormat::kSeq);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Message(bad.status()), path + ":2:3: invalid item id 'oops'");
}

TEST(ReadSequencesAndIdList, LinesMapToCases) {
  auto seqs = ParseSequences("1 2 3\n\n4\n", "in.txt");
  ASSERT_TRUE(seqs.ok());
  ASSERT_EQ(seqs->size(), 3u);
  EXPECT_THAT((*seqs)[0], ElementsAre(1, 2, 3));
  EXPECT_TRUE((*seqs)[1].empty());
  EXPECT_THAT((*seqs)[2], ElementsAre(4));
  auto no_newline = ParseSequences("1\n2", "in.txt");
  ASSERT_TRUE(no_newline.ok());
  EXPECT_EQ(no_newline->size(), 2u);

  auto ids = ParseIdList("5\r\n6\n 7 \n", "t.txt");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(5, 6, 7));
  auto two = ParseIdList("5\n6 7\n", "t.txt");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(Message(two.status()), "t.txt:2:1: expected exactly one id on the line, found 2");
  auto empty_line = ParseIdList("5\n\n7\n", "t.txt");
  ASSERT_FALSE(empty_line.ok());
  EXPECT_THAT(Message(empty_line.status()), HasSubstr("t.txt:2:1"));
}

// ---- reference data (skipped when absent) ---------------------------------------

TEST(ReferenceData, Ml1mTrainHas6040Users) {
  RECSYS_REQUIRE_DATA(dir);
  auto ds = LoadDataset(dir + "/ml1m/train/input.txt", InputFormat::kSeq);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->num_users(), 6040);
  EXPECT_EQ(ds->num_events(), 987019);
  EXPECT_EQ(DetectFormat(dir + "/ml1m/train/input.txt").value(), InputFormat::kSeq);
}

TEST(ReferenceData, BeautyCounts) {
  RECSYS_REQUIRE_DATA(dir);
  auto ds = LoadDataset(dir + "/amazon/beauty.txt", InputFormat::kSeqUser);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->num_users(), 22363);
  EXPECT_EQ(ds->num_items(), 12101);
  EXPECT_EQ(ds->num_events(), 198502);
  EXPECT_EQ(DetectFormat(dir + "/amazon/beauty.txt").value(), InputFormat::kSeqUser);
}

TEST(ReferenceData, Ml1mValidationFilesAlign) {
  RECSYS_REQUIRE_DATA(dir);
  auto inputs = ReadSequences(dir + "/ml1m/val/input.txt");
  auto targets = ReadIdList(dir + "/ml1m/val/output.txt");
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  ASSERT_TRUE(targets.ok()) << targets.status();
  EXPECT_EQ(inputs->size(), 512u);
  EXPECT_EQ(targets->size(), 512u);
}

}  // namespace
}  // namespace recsys

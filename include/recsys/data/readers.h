// Readers for the input formats of DESIGN.md §2.
//
//   seq       one user per line, whitespace-separated item ids in time order.
//             The user id is the 1-based line number; the timestamp of an
//             event is its 0-based position in the line. An empty (or
//             whitespace-only) line is a user without events: it produces no
//             event but still counts for the numbering, so line 7 is always
//             user 7.
//   seq-user  the same with a leading user id per line. Timestamps are
//             positions; when a user id appears on several lines, the later
//             lines continue that user's positions (lines are concatenated).
//             A line with only a user id yields no event.
//   csv       header line, then user,item,timestamp[,type][,weight][,organic]
//             in any order, extra columns ignored; the column mapping is
//             configurable (CsvOptions). TSV: delimiter '\t' (auto-detected
//             from the header by default). Fields may be double-quoted ("a,b",
//             "" escapes a quote) but may not span lines.
//   snapshot  a binary snapshot (snapshot.h), recognised by its magic.
//
// Common rules: ids are decimal int64 (a leading '-' is accepted: external
// ids are opaque labels and hashed ids are often negative); an id that does
// not fit in int64 is an error naming the field. Lines may end in "\n" or
// "\r\n"; the last line needs no newline; a UTF-8 byte-order mark at the start
// is skipped. Duplicate events are kept (DatasetBuildOptions can drop exact
// duplicates); csv rows may come in any order (SequenceDataset sorts each
// user's events stably by timestamp).
//
// Malformed input returns InvalidArgument naming file, line, column and the
// offending text: "data.txt:17:5: invalid item id 'x12'"; bytes that are not
// valid UTF-8 are reported with their byte offset. Never a crash.
//
//   RECSYS_ASSIGN_OR_RETURN(recsys::EventLog log,
//                           recsys::ReadEvents("ml1m/train/input.txt", recsys::InputFormat::kSeq));
//   RECSYS_ASSIGN_OR_RETURN(auto ds, recsys::SequenceDataset::FromEventLog(log));
//   // or in one step, any format including snapshots:
//   RECSYS_ASSIGN_OR_RETURN(auto ds2, recsys::LoadDataset("beauty.txt", recsys::InputFormat::kAuto));
//
// Thread safety: free functions without shared state. Parsing is
// single-threaded (≈ 300+ MB/s of `seq` text on one core).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/data/event_log.h"
#include "recsys/data/sequence_dataset.h"

namespace recsys {

enum class InputFormat { kAuto, kSeq, kSeqUser, kCsv, kSnapshot };

// "auto" | "seq" | "seq-user" | "csv" | "tsv" (= csv, tab detected from the
// header) | "snapshot". InvalidArgument otherwise.
absl::StatusOr<InputFormat> ParseInputFormat(const std::string& name);

// The canonical name of a format ("seq", "seq-user", "csv", "snapshot", "auto").
std::string FormatName(InputFormat format);

// Guesses the format of a file from its first bytes: snapshot magic →
// snapshot; a first non-empty line holding anything other than digits, '-'
// and whitespace (a header) → csv; lines whose first ids strictly increase
// over the sampled lines (at least two of them) → seq-user; otherwise seq.
// A heuristic: pass the format explicitly when it matters.
absl::StatusOr<InputFormat> DetectFormat(const std::string& path);

// Same rules on a buffer (the first 64 KiB are inspected).
InputFormat DetectFormatOfText(std::string_view text);

struct CsvOptions {
  // Field delimiter: ',' or '\t' (or any single byte); '\0' = detect from the
  // header line (tab if it contains one, else ';' if it contains one and no
  // comma, else ',').
  char delimiter = '\0';
  // Column names (matched case-insensitively). When the configured name is
  // absent, common aliases are tried: user_id/uid/userid, item_id/iid/itemid,
  // ts/time/datetime... for the timestamp.
  std::string user_column = "user";
  std::string item_column = "item";
  std::string timestamp_column = "timestamp";
  std::string type_column = "type";          // optional: integer or name (listen, like, ...)
  std::string weight_column = "weight";      // optional: float (e.g. played ratio)
  std::string organic_column = "is_organic";  // optional: 0/1/true/false
  // When false, a missing timestamp column is allowed and the row index
  // (0-based, in file order) is used as the timestamp.
  bool require_timestamp = true;
};

// Reads a file in the given format into an EventLog (kAuto: DetectFormat;
// kSnapshot: the snapshot's events with external ids).
absl::StatusOr<EventLog> ReadEvents(const std::string& path, InputFormat format,
                                    const CsvOptions& csv = {});

// Same, from an in-memory buffer; `name` is used in error messages. kAuto
// uses DetectFormatOfText; kSnapshot is not accepted here.
absl::StatusOr<EventLog> ParseEvents(std::string_view text, InputFormat format,
                                     const std::string& name, const CsvOptions& csv = {});

// Reads a dataset in any format: snapshots are memory-mapped (LoadSnapshot),
// text formats go through ReadEvents + SequenceDataset::FromEventLog.
// `detected` (optional) receives the format actually read.
absl::StatusOr<SequenceDataset> LoadDataset(const std::string& path, InputFormat format,
                                            const CsvOptions& csv = {},
                                            const DatasetBuildOptions& build = {},
                                            InputFormat* detected = nullptr);

// Reads a `seq` file as a list of sequences of external ids (line i → entry i;
// empty lines give empty sequences; a final newline does not add an entry).
// Used for --input files.
absl::StatusOr<std::vector<std::vector<ExternalId>>> ReadSequences(const std::string& path);
absl::StatusOr<std::vector<std::vector<ExternalId>>> ParseSequences(std::string_view text,
                                                                    const std::string& name);

// Reads a file with exactly one external id per line (--targets files). An
// empty line or a line with two ids is an error naming the line.
absl::StatusOr<std::vector<ExternalId>> ReadIdList(const std::string& path);
absl::StatusOr<std::vector<ExternalId>> ParseIdList(std::string_view text, const std::string& name);

}  // namespace recsys

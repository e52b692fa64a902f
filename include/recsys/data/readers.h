// Readers for the input formats of DESIGN.md §2.
//
//   seq       one user per line, space-separated item ids in time order; the
//             user id is the 1-based line number; timestamps are positions.
//   seq-user  the same with a leading user id.
//   csv       header line, then user,item,timestamp[,type][,weight][,organic];
//             the column mapping is configurable (CsvOptions). TSV via
//             delimiter '\t'.
//
// Malformed input returns InvalidArgument naming file, line, column and the
// offending text: "data.txt:17:5: invalid item id 'x12'". Never a crash.
//
//   RECSYS_ASSIGN_OR_RETURN(recsys::EventLog log,
//                           recsys::ReadEvents("ml1m/train/input.txt", recsys::InputFormat::kSeq));
//   RECSYS_ASSIGN_OR_RETURN(auto ds, recsys::SequenceDataset::FromEventLog(log));
//
// Thread safety: free functions without shared state.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/data/event_log.h"
#include "recsys/data/sequence_dataset.h"

namespace recsys {

enum class InputFormat { kAuto, kSeq, kSeqUser, kCsv };

// "auto" | "seq" | "seq-user" | "csv" (also "tsv").
absl::StatusOr<InputFormat> ParseInputFormat(const std::string& name);

// Guesses the format of a file from its first lines (header → csv; a line
// whose first token never reappears as an item and lines start with distinct
// increasing ids → seq-user; otherwise seq).
absl::StatusOr<InputFormat> DetectFormat(const std::string& path);

struct CsvOptions {
  char delimiter = ',';  // ',' or '\t'
  std::string user_column = "user";  // also accepted: user_id, uid
  std::string item_column = "item";  // also accepted: item_id
  std::string timestamp_column = "timestamp";
  std::string type_column = "type";      // optional
  std::string weight_column = "weight";  // optional
  std::string organic_column = "is_organic";  // optional
};

// Reads a file in the given format into an EventLog.
absl::StatusOr<EventLog> ReadEvents(const std::string& path, InputFormat format,
                                    const CsvOptions& csv = {});

// Same, from an in-memory buffer; `name` is used in error messages.
absl::StatusOr<EventLog> ParseEvents(std::string_view text, InputFormat format,
                                     const std::string& name, const CsvOptions& csv = {});

// Reads a `seq` file as a list of sequences of external ids (line i → entry i;
// empty lines give empty sequences). Used for --input files.
absl::StatusOr<std::vector<std::vector<ExternalId>>> ReadSequences(const std::string& path);

// Reads a file with one external id per line (--targets files).
absl::StatusOr<std::vector<ExternalId>> ReadIdList(const std::string& path);

}  // namespace recsys

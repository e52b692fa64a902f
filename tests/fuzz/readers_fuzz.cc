// Fuzz target: text readers (seq, seq-user, csv) through ParseEvents, and the
// --input / --targets parsers. The first byte picks the format.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "recsys/data/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  static constexpr recsys::InputFormat kFormats[] = {recsys::InputFormat::kAuto, recsys::InputFormat::kSeq,
                                                     recsys::InputFormat::kSeqUser, recsys::InputFormat::kCsv};
  const recsys::InputFormat format = kFormats[data[0] % 4];
  recsys::CsvOptions csv;
  csv.require_timestamp = (data[0] & 4) != 0;
  auto log = recsys::ParseEvents(text, format, "fuzz", csv);
  if (log.ok()) {
    auto ds = recsys::SequenceDataset::FromEventLog(*log);
    (void)ds;
  }
  (void)recsys::ParseSequences(text, "fuzz");
  (void)recsys::ParseIdList(text, "fuzz");
  return 0;
}

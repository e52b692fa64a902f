// Private text-parsing helpers of the data layer (readers.cc and the CLI
// benchmarks): locating a byte offset as line:column, describing offending
// tokens (escaping bytes, checking UTF-8), and fast int64 parsing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace recsys::internal {

// 1-based line and byte column of `offset` in `text`.
struct TextPosition {
  int64_t line = 1;
  int64_t column = 1;
};
TextPosition Locate(std::string_view text, size_t offset);

// Length of the valid UTF-8 sequence starting at text[offset], or 0 when the
// bytes there are not valid UTF-8 (overlong forms and surrogates rejected).
size_t Utf8SequenceLength(std::string_view text, size_t offset);

// Offset of the first byte in [begin, end) that starts invalid UTF-8, or npos.
size_t FindInvalidUtf8(std::string_view text, size_t begin, size_t end);

// The token at `offset` (up to whitespace / delimiter / end of line), at most
// 40 bytes, with non-printable and non-ASCII bytes escaped as \xNN.
std::string DescribeToken(std::string_view text, size_t offset, char delimiter = ' ');

// "name:line:col: <what> '<token>'<suffix>" — plus, when the token holds a byte that
// is not valid UTF-8, "(invalid UTF-8 byte 0xNN at byte offset K)", or for
// other non-ASCII text "(non-ASCII byte 0xNN at byte offset K)".
absl::Status TokenError(std::string_view text, size_t offset, const std::string& name,
                        const std::string& what, char delimiter = ' ', const std::string& suffix = "");

// "name:line:col: <message>" as InvalidArgument.
absl::Status ErrorAt(std::string_view text, size_t offset, const std::string& name,
                     const std::string& message);

// Exact decimal int64 parse of [p, end) (optional leading '+'/'-', then
// digits only). Returns false on syntax errors; sets *overflow when the
// digits are fine but the value does not fit in int64.
bool ParseInt64Exact(const char* p, const char* end, int64_t* out, bool* overflow);

}  // namespace recsys::internal

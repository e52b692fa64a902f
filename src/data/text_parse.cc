#include "text_parse.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace recsys::internal {

TextPosition Locate(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  TextPosition pos;
  size_t line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++pos.line;
      line_start = i + 1;
    }
  }
  pos.column = static_cast<int64_t>(offset - line_start) + 1;
  return pos;
}

size_t Utf8SequenceLength(std::string_view text, size_t offset) {
  const auto byte = [&](size_t i) -> unsigned {
    return i < text.size() ? static_cast<unsigned char>(text[i]) : 0u;
  };
  const unsigned b0 = byte(offset);
  if (offset >= text.size()) return 0;
  if (b0 < 0x80) return 1;
  size_t len = 0;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  const unsigned b1 = byte(offset + 1);
  if (offset + 1 >= text.size() || b1 < lo || b1 > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    const unsigned b = byte(offset + k);
    if (offset + k >= text.size() || b < 0x80 || b > 0xBF) return 0;
  }
  return len;
}

size_t FindInvalidUtf8(std::string_view text, size_t begin, size_t end) {
  end = std::min(end, text.size());
  size_t i = begin;
  while (i < end) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

namespace {
bool IsTokenEnd(char c, char delimiter) {
  return c == '\n' || c == '\r' || c == delimiter || (delimiter == ' ' && c == '\t');
}
}  // namespace

std::string DescribeToken(std::string_view text, size_t offset, char delimiter) {
  std::string out;
  size_t i = offset;
  for (; i < text.size() && i < offset + 40 && !IsTokenEnd(text[i], delimiter); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrFormat("\\x%02X", c);
    }
  }
  if (i < text.size() && i == offset + 40 && !IsTokenEnd(text[i], delimiter)) out += "...";
  return out;
}

absl::Status ErrorAt(std::string_view text, size_t offset, const std::string& name,
                     const std::string& message) {
  const TextPosition pos = Locate(text, offset);
  return absl::InvalidArgumentError(absl::StrCat(name, ":", pos.line, ":", pos.column, ": ", message));
}

absl::Status TokenError(std::string_view text, size_t offset, const std::string& name,
                        const std::string& what, char delimiter, const std::string& suffix) {
  std::string message = absl::StrCat(what, " '", DescribeToken(text, offset, delimiter), "'", suffix);
  size_t end = offset;
  while (end < text.size() && !IsTokenEnd(text[end], delimiter)) ++end;
  for (size_t i = offset; i < end; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) continue;
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      absl::StrAppend(&message, absl::StrFormat(" (invalid UTF-8 byte 0x%02X at byte offset %d)", c, i));
    } else {
      absl::StrAppend(&message, absl::StrFormat(" (non-ASCII byte 0x%02X at byte offset %d)", c, i));
    }
    break;
  }
  return ErrorAt(text, offset, name, message);
}

bool ParseInt64Exact(const char* p, const char* end, int64_t* out, bool* overflow) {
  *overflow = false;
  bool negative = false;
  if (p < end && (*p == '-' || *p == '+')) {
    negative = *p == '-';
    ++p;
  }
  if (p == end) return false;
  uint64_t v = 0;
  const uint64_t limit = negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
  for (; p < end; ++p) {
    const unsigned d = static_cast<unsigned>(*p - '0');
    if (d > 9) return false;
    if (*overflow) continue;  // keep validating the syntax
    if (v > (limit - d) / 10) {
      *overflow = true;
      continue;
    }
    v = v * 10 + d;
  }
  if (*overflow) return true;
  *out = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

}  // namespace recsys::internal

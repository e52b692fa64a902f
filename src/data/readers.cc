// Text readers: seq, seq-user, csv/tsv (see include/recsys/data/readers.h).
//
// The file is memory-mapped and parsed in one pass by hand-written loops: the
// hot path touches each byte once and appends ids to one vector; line
// numbers and columns are only computed again when an error is reported.
#include "recsys/data/readers.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "file_util.h"
#include "recsys/core/status.h"
#include "recsys/data/snapshot.h"
#include "text_parse.h"

namespace recsys {
namespace {

using internal::ErrorAt;
using internal::TokenError;

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

size_t SkipBom(std::string_view text) {
  return text.substr(0, 3) == kUtf8Bom ? 3 : 0;
}

inline bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }
inline bool IsDigit(char c) { return static_cast<unsigned>(c - '0') < 10; }

// Whitespace-separated int64 tokens of every line. `ends[l]` is the number of
// tokens after line l (CSR offsets without the leading 0), one entry per line
// including empty ones; a final newline does not start a new line.
struct TokenizedLines {
  std::vector<int64_t> tokens;
  std::vector<int64_t> ends;
};

// `first_what` names the first token of a line (e.g. "user id"), `rest_what`
// the others ("item id").
absl::Status TokenizeLines(std::string_view text, const std::string& name, const char* first_what,
                           const char* rest_what, TokenizedLines* out) {
  const char* const base = text.data();
  const char* p = base + SkipBom(text);
  const char* const end = base + text.size();
  std::vector<int64_t>& tokens = out->tokens;
  std::vector<int64_t>& ends = out->ends;
  tokens.reserve(text.size() / 4 + 16);
  const char* line_start = p;
  int64_t line_first_token = 0;
  while (true) {
    while (p < end && IsBlank(*p)) ++p;
    if (p == end) {
      if (p != line_start) ends.push_back(static_cast<int64_t>(tokens.size()));
      break;
    }
    if (*p == '\n') {
      ends.push_back(static_cast<int64_t>(tokens.size()));
      ++p;
      line_start = p;
      line_first_token = static_cast<int64_t>(tokens.size());
      continue;
    }
    const char* token = p;
    bool negative = false;
    if (*p == '-' || *p == '+') {
      negative = *p == '-';
      ++p;
    }
    const char* digits = p;
    uint64_t v = 0;
    while (p < end && IsDigit(*p)) {
      v = v * 10 + static_cast<unsigned>(*p - '0');
      ++p;
    }
    const char* what =
        static_cast<int64_t>(tokens.size()) == line_first_token ? first_what : rest_what;
    if (p == digits || (p < end && !IsBlank(*p) && *p != '\n')) {
      return TokenError(text, static_cast<size_t>(token - base), name, absl::StrCat("invalid ", what));
    }
    if (p - digits > 18) {  // may not fit: redo exactly
      int64_t exact = 0;
      bool overflow = false;
      internal::ParseInt64Exact(token, p, &exact, &overflow);
      if (overflow) {
        return TokenError(text, static_cast<size_t>(token - base), name,
                          absl::StrCat(what, " does not fit in int64:"));
      }
      tokens.push_back(exact);
    } else {
      tokens.push_back(negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v));
    }
  }
  return absl::OkStatus();
}

EventLog SeqToEvents(TokenizedLines lines) {
  EventLog log;
  const int64_t n = static_cast<int64_t>(lines.tokens.size());
  log.items = std::move(lines.tokens);
  log.users.resize(static_cast<size_t>(n));
  log.timestamps.resize(static_cast<size_t>(n));
  log.types.assign(static_cast<size_t>(n), static_cast<EventType>(EventKind::kInteraction));
  int64_t b = 0;
  for (size_t l = 0; l < lines.ends.size(); ++l) {
    const int64_t e = lines.ends[l];
    const ExternalId user = static_cast<ExternalId>(l) + 1;
    for (int64_t i = b; i < e; ++i) {
      log.users[static_cast<size_t>(i)] = user;
      log.timestamps[static_cast<size_t>(i)] = i - b;
    }
    b = e;
  }
  return log;
}

EventLog SeqUserToEvents(TokenizedLines lines) {
  EventLog log;
  std::vector<int64_t>& t = lines.tokens;
  const size_t num_lines = lines.ends.size();
  size_t num_events = 0;
  {
    int64_t b = 0;
    for (size_t l = 0; l < num_lines; ++l) {
      if (lines.ends[l] > b) num_events += static_cast<size_t>(lines.ends[l] - b - 1);
      b = lines.ends[l];
    }
  }
  log.users.resize(num_events);
  log.timestamps.resize(num_events);
  log.types.assign(num_events, static_cast<EventType>(EventKind::kInteraction));
  absl::flat_hash_map<ExternalId, int64_t> next_position;  // users seen on earlier lines
  next_position.reserve(num_lines);
  // Compact in place: item tokens move left over the user tokens.
  size_t w = 0;
  int64_t b = 0;
  for (size_t l = 0; l < num_lines; ++l) {
    const int64_t e = lines.ends[l];
    if (e > b) {
      const ExternalId user = t[static_cast<size_t>(b)];
      auto [it, inserted] = next_position.try_emplace(user, 0);
      int64_t pos = it->second;
      for (int64_t i = b + 1; i < e; ++i) {
        t[w] = t[static_cast<size_t>(i)];
        log.users[w] = user;
        log.timestamps[w] = pos++;
        ++w;
      }
      it->second = pos;
    }
    b = e;
  }
  t.resize(w);
  log.items = std::move(t);
  return log;
}

// ---- CSV --------------------------------------------------------------------

enum class Role : uint8_t { kNone, kUser, kItem, kTimestamp, kType, kWeight, kOrganic };

const char* RoleName(Role r) {
  switch (r) {
    case Role::kUser: return "user id";
    case Role::kItem: return "item id";
    case Role::kTimestamp: return "timestamp";
    case Role::kType: return "event type";
    case Role::kWeight: return "weight";
    case Role::kOrganic: return "organic flag";
    default: return "field";
  }
}

struct FieldRange {
  size_t begin = 0;  // offsets into the text, quotes and outer blanks removed
  size_t end = 0;
};

// Splits the line starting at `pos` into fields. On return `pos` is at the
// start of the next line. Returns an error for an unterminated quote.
absl::Status SplitCsvLine(std::string_view text, size_t& pos, char delim, const std::string& name,
                          std::vector<FieldRange>* fields) {
  fields->clear();
  const size_t n = text.size();
  size_t i = pos;
  while (true) {
    // One field.
    size_t b = i;
    while (b < n && (text[b] == ' ' || (text[b] == '\t' && delim != '\t'))) ++b;
    FieldRange f;
    if (b < n && text[b] == '"') {
      size_t j = b + 1;
      while (true) {
        if (j >= n || text[j] == '\n') {
          return ErrorAt(text, b, name, "unterminated quoted field (quotes may not span lines)");
        }
        if (text[j] == '"') {
          if (j + 1 < n && text[j + 1] == '"') {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      f.begin = b + 1;
      f.end = j;
      i = j + 1;
      while (i < n && (text[i] == ' ' || text[i] == '\r' || (text[i] == '\t' && delim != '\t'))) ++i;
      if (i < n && text[i] != delim && text[i] != '\n') {
        return ErrorAt(text, i, name, "unexpected text after a closing quote");
      }
    } else {
      size_t j = b;
      while (j < n && text[j] != delim && text[j] != '\n') ++j;
      size_t e = j;
      while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\r' || (text[e - 1] == '\t' && delim != '\t'))) --e;
      f.begin = b;
      f.end = e;
      i = j;
    }
    fields->push_back(f);
    if (i < n && text[i] == delim) {
      ++i;
      continue;
    }
    break;  // end of line or text
  }
  pos = (i < n) ? i + 1 : n;  // skip '\n'
  return absl::OkStatus();
}

bool LineIsBlank(std::string_view text, size_t pos, size_t* next) {
  size_t i = pos;
  while (i < text.size() && IsBlank(text[i])) ++i;
  if (i == text.size() || text[i] == '\n') {
    *next = i < text.size() ? i + 1 : i;
    return true;
  }
  return false;
}

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(std::string(s)); }

absl::StatusOr<EventType> ParseEventTypeName(std::string_view s) {
  static const std::pair<const char*, EventKind> kNames[] = {
      {"interaction", EventKind::kInteraction}, {"listen", EventKind::kListen},
      {"like", EventKind::kLike},               {"dislike", EventKind::kDislike},
      {"unlike", EventKind::kUnlike},           {"undislike", EventKind::kUndislike},
      {"view", EventKind::kView},               {"click", EventKind::kClick},
      {"purchase", EventKind::kPurchase},
  };
  const std::string lower = Lower(s);
  for (const auto& [n, k] : kNames) {
    if (lower == n) return static_cast<EventType>(k);
  }
  return absl::InvalidArgumentError("unknown");
}

absl::StatusOr<EventLog> ParseCsv(std::string_view text, const std::string& name, const CsvOptions& options) {
  const size_t n = text.size();
  size_t pos = SkipBom(text);
  size_t next = 0;
  while (pos < n && LineIsBlank(text, pos, &next)) pos = next;
  if (pos >= n) return EventLog{};  // empty file: no events

  // Header.
  const size_t header_pos = pos;
  size_t header_end = text.find('\n', pos);
  if (header_end == std::string_view::npos) header_end = n;
  if (size_t bad = internal::FindInvalidUtf8(text, pos, header_end); bad != std::string_view::npos) {
    return ErrorAt(text, bad, name,
                   absl::StrFormat("invalid UTF-8 byte 0x%02X at byte offset %d in the header",
                                   static_cast<unsigned char>(text[bad]), bad));
  }
  char delim = options.delimiter;
  if (delim == '\0') {
    const std::string_view header = text.substr(pos, header_end - pos);
    if (header.find('\t') != std::string_view::npos) {
      delim = '\t';
    } else if (header.find(';') != std::string_view::npos && header.find(',') == std::string_view::npos) {
      delim = ';';
    } else {
      delim = ',';
    }
  }
  std::vector<FieldRange> fields;
  RECSYS_RETURN_IF_ERROR(SplitCsvLine(text, pos, delim, name, &fields));
  const size_t num_columns = fields.size();
  std::vector<std::string> names;
  for (const FieldRange& f : fields) names.push_back(Lower(text.substr(f.begin, f.end - f.begin)));
  const std::string columns_text = absl::StrCat("'", absl::StrJoin(names, std::string(1, delim)), "'");
  for (size_t c = 0; c < names.size(); ++c) {
    if (names[c].empty()) {
      return ErrorAt(text, fields[c].begin, name, absl::StrCat("bad header ", columns_text, ": column ", c + 1, " has no name"));
    }
    for (size_t d = 0; d < c; ++d) {
      if (names[d] == names[c]) {
        return ErrorAt(text, fields[c].begin, name,
                       absl::StrCat("bad header ", columns_text, ": duplicate column '", names[c], "'"));
      }
    }
  }
  bool numeric_header = true;
  for (const std::string& s : names) {
    int64_t v;
    bool overflow;
    if (!internal::ParseInt64Exact(s.data(), s.data() + s.size(), &v, &overflow)) numeric_header = false;
  }
  auto find_column = [&](const std::string& configured, std::initializer_list<const char*> aliases) -> int {
    const std::string want = Lower(configured);
    for (size_t c = 0; c < names.size(); ++c) if (names[c] == want) return static_cast<int>(c);
    for (const char* a : aliases) {
      for (size_t c = 0; c < names.size(); ++c) if (names[c] == a) return static_cast<int>(c);
    }
    return -1;
  };
  std::vector<Role> roles(num_columns, Role::kNone);
  const int user_col = find_column(options.user_column, {"user", "user_id", "userid", "uid"});
  const int item_col = find_column(options.item_column, {"item", "item_id", "itemid", "iid"});
  const int ts_col = find_column(options.timestamp_column, {"timestamp", "ts", "time", "datetime", "unixtime"});
  const int type_col = find_column(options.type_column, {"type", "event_type", "event"});
  const int weight_col = find_column(options.weight_column, {"weight", "played_ratio", "played_ratio_pct"});
  const int organic_col = find_column(options.organic_column, {"is_organic", "organic"});
  auto missing = [&](const std::string& what, const std::string& col) {
    std::string hint = numeric_header ? " (the first line looks like data: is the header missing?)" : "";
    return ErrorAt(text, header_pos, name,
                   absl::StrCat("bad header ", columns_text, ": no ", what, " column '", col, "'", hint));
  };
  if (user_col < 0) return missing("user", options.user_column);
  if (item_col < 0) return missing("item", options.item_column);
  if (ts_col < 0 && options.require_timestamp) return missing("timestamp", options.timestamp_column);
  roles[static_cast<size_t>(user_col)] = Role::kUser;
  roles[static_cast<size_t>(item_col)] = Role::kItem;
  if (ts_col >= 0) roles[static_cast<size_t>(ts_col)] = Role::kTimestamp;
  if (type_col >= 0) roles[static_cast<size_t>(type_col)] = Role::kType;
  if (weight_col >= 0) roles[static_cast<size_t>(weight_col)] = Role::kWeight;
  if (organic_col >= 0) roles[static_cast<size_t>(organic_col)] = Role::kOrganic;

  EventLog log;
  log.Reserve(n / 16 + 16);
  int64_t row = 0;
  while (pos < n) {
    if (LineIsBlank(text, pos, &next)) {
      pos = next;
      continue;
    }
    const size_t line_pos = pos;
    RECSYS_RETURN_IF_ERROR(SplitCsvLine(text, pos, delim, name, &fields));
    if (fields.size() != num_columns) {
      return ErrorAt(text, line_pos, name,
                     absl::StrCat("expected ", num_columns, " fields as in the header ", columns_text,
                                  ", found ", fields.size()));
    }
    ExternalId user = 0, item = 0;
    Timestamp ts = row;
    EventType type = static_cast<EventType>(EventKind::kInteraction);
    float weight = 1.0f;
    uint8_t organic = 1;
    for (size_t c = 0; c < num_columns; ++c) {
      const FieldRange f = fields[c];
      const Role role = roles[c];
      const char* fb = text.data() + f.begin;
      const char* fe = text.data() + f.end;
      auto bad = [&](const std::string& what) {
        return TokenError(text, f.begin, name, what, delim, absl::StrCat(" in column '", names[c], "'"));
      };
      switch (role) {
        case Role::kNone: {
          if (size_t b = internal::FindInvalidUtf8(text, f.begin, f.end); b != std::string_view::npos) {
            return ErrorAt(text, b, name,
                           absl::StrFormat("invalid UTF-8 byte 0x%02X at byte offset %d in column '%s'",
                                           static_cast<unsigned char>(text[b]), b, names[c]));
          }
          break;
        }
        case Role::kUser:
        case Role::kItem:
        case Role::kTimestamp: {
          int64_t v = 0;
          bool overflow = false;
          if (!internal::ParseInt64Exact(fb, fe, &v, &overflow)) {
            return bad(absl::StrCat("invalid ", RoleName(role)));
          }
          if (overflow) return bad(absl::StrCat(RoleName(role), " does not fit in int64:"));
          if (role == Role::kUser) user = v;
          else if (role == Role::kItem) item = v;
          else ts = v;
          break;
        }
        case Role::kType: {
          int64_t v = 0;
          bool overflow = false;
          if (internal::ParseInt64Exact(fb, fe, &v, &overflow)) {
            if (overflow || v < 0 || v > 255) return bad("event type outside [0, 255]:");
            type = static_cast<EventType>(v);
          } else {
            auto t = ParseEventTypeName(std::string_view(fb, static_cast<size_t>(fe - fb)));
            if (!t.ok()) return bad("unknown event type (expected 0..255 or listen, like, dislike, unlike, undislike, view, click, purchase, interaction)");
            type = *t;
          }
          break;
        }
        case Role::kWeight: {
          float w = 0;
          auto r = std::from_chars(fb, fe, w);
          if (fb == fe || r.ec != std::errc() || r.ptr != fe || !std::isfinite(w)) {
            return bad("invalid weight (expected a finite number)");
          }
          weight = w;
          break;
        }
        case Role::kOrganic: {
          const std::string s = Lower(std::string_view(fb, static_cast<size_t>(fe - fb)));
          if (s == "1" || s == "true") organic = 1;
          else if (s == "0" || s == "false") organic = 0;
          else return bad("invalid organic flag (expected 0, 1, true or false)");
          break;
        }
      }
    }
    log.Append(user, item, ts, type);
    if (weight_col >= 0) log.weights.push_back(weight);
    if (organic_col >= 0) log.organic.push_back(organic);
    ++row;
  }
  return log;
}

absl::StatusOr<EventLog> DatasetToEvents(const SequenceDataset& ds) {
  EventLog log;
  const size_t n = static_cast<size_t>(ds.num_events());
  log.users.resize(n);
  log.items.resize(n);
  log.timestamps.assign(ds.all_timestamps().begin(), ds.all_timestamps().end());
  log.types.assign(ds.all_types().begin(), ds.all_types().end());
  log.weights.assign(ds.all_weights().begin(), ds.all_weights().end());
  log.organic.assign(ds.all_organic().begin(), ds.all_organic().end());
  for (UserIndex u = 0; u < ds.num_users(); ++u) {
    const ExternalId ext = ds.user_vocab().External(u);
    for (int64_t i = ds.offsets()[u]; i < ds.offsets()[u + 1]; ++i) log.users[static_cast<size_t>(i)] = ext;
  }
  const auto items = ds.all_items();
  for (size_t i = 0; i < n; ++i) log.items[i] = ds.item_vocab().External(items[i]);
  return log;
}

}  // namespace

absl::StatusOr<InputFormat> ParseInputFormat(const std::string& name) {
  const std::string s = Lower(name);
  if (s == "auto") return InputFormat::kAuto;
  if (s == "seq") return InputFormat::kSeq;
  if (s == "seq-user" || s == "seq_user") return InputFormat::kSeqUser;
  if (s == "csv" || s == "tsv") return InputFormat::kCsv;
  if (s == "snapshot") return InputFormat::kSnapshot;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown --format '", name, "' (expected auto, seq, seq-user, csv, tsv or snapshot)"));
}

std::string FormatName(InputFormat format) {
  switch (format) {
    case InputFormat::kAuto: return "auto";
    case InputFormat::kSeq: return "seq";
    case InputFormat::kSeqUser: return "seq-user";
    case InputFormat::kCsv: return "csv";
    case InputFormat::kSnapshot: return "snapshot";
  }
  return "unknown";
}

InputFormat DetectFormatOfText(std::string_view text) {
  if (IsSnapshotHeader(text)) return InputFormat::kSnapshot;
  text = text.substr(0, size_t{64} << 10);
  size_t pos = SkipBom(text);
  std::vector<int64_t> first_ids;
  bool first_line = true;
  while (pos < text.size() && first_ids.size() < 1000) {
    size_t eol = text.find('\n', pos);
    const bool complete = eol != std::string_view::npos;
    if (!complete) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    pos = complete ? eol + 1 : text.size();
    size_t b = 0;
    while (b < line.size() && IsBlank(line[b])) ++b;
    if (b == line.size()) continue;  // blank line
    if (first_line) {
      for (char c : line) {
        if (!IsDigit(c) && !IsBlank(c) && c != '-' && c != '+') return InputFormat::kCsv;
      }
      first_line = false;
    }
    if (!complete && pos == text.size() && text.size() == (size_t{64} << 10)) break;  // cut line
    size_t e = b;
    while (e < line.size() && !IsBlank(line[e])) ++e;
    int64_t v = 0;
    bool overflow = false;
    if (!internal::ParseInt64Exact(line.data() + b, line.data() + e, &v, &overflow) || overflow) {
      return InputFormat::kSeq;  // the reader will report the bad token
    }
    first_ids.push_back(v);
  }
  if (first_ids.size() < 2) return InputFormat::kSeq;
  for (size_t i = 1; i < first_ids.size(); ++i) {
    if (first_ids[i] <= first_ids[i - 1]) return InputFormat::kSeq;
  }
  return InputFormat::kSeqUser;
}

absl::StatusOr<InputFormat> DetectFormat(const std::string& path) {
  RECSYS_ASSIGN_OR_RETURN(auto file, internal::MappedFile::Open(path));
  return DetectFormatOfText(file->view());
}

absl::StatusOr<EventLog> ParseEvents(std::string_view text, InputFormat format, const std::string& name,
                                     const CsvOptions& csv) {
  if (format == InputFormat::kAuto) format = DetectFormatOfText(text);
  switch (format) {
    case InputFormat::kSeq: {
      TokenizedLines lines;
      RECSYS_RETURN_IF_ERROR(TokenizeLines(text, name, "item id", "item id", &lines));
      return SeqToEvents(std::move(lines));
    }
    case InputFormat::kSeqUser: {
      TokenizedLines lines;
      RECSYS_RETURN_IF_ERROR(TokenizeLines(text, name, "user id", "item id", &lines));
      return SeqUserToEvents(std::move(lines));
    }
    case InputFormat::kCsv:
      return ParseCsv(text, name, csv);
    case InputFormat::kSnapshot:
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": snapshots are read from files (ReadEvents / LoadDataset), not parsed from text"));
    case InputFormat::kAuto:
      break;
  }
  return absl::InternalError("unreachable input format");
}

absl::StatusOr<EventLog> ReadEvents(const std::string& path, InputFormat format, const CsvOptions& csv) {
  RECSYS_ASSIGN_OR_RETURN(auto file, internal::MappedFile::Open(path, /*populate=*/true));
  if (format == InputFormat::kAuto) format = DetectFormatOfText(file->view());
  if (format == InputFormat::kSnapshot) {
    RECSYS_ASSIGN_OR_RETURN(SequenceDataset ds, LoadSnapshot(path));
    return DatasetToEvents(ds);
  }
  return ParseEvents(file->view(), format, path, csv);
}

absl::StatusOr<SequenceDataset> LoadDataset(const std::string& path, InputFormat format, const CsvOptions& csv,
                                            const DatasetBuildOptions& build, InputFormat* detected) {
  if (format == InputFormat::kAuto) {
    RECSYS_ASSIGN_OR_RETURN(format, DetectFormat(path));
  }
  if (detected != nullptr) *detected = format;
  if (format == InputFormat::kSnapshot) return LoadSnapshot(path);
  RECSYS_ASSIGN_OR_RETURN(EventLog log, ReadEvents(path, format, csv));
  return SequenceDataset::FromEventLog(log, build);
}

absl::StatusOr<std::vector<std::vector<ExternalId>>> ParseSequences(std::string_view text,
                                                                    const std::string& name) {
  TokenizedLines lines;
  RECSYS_RETURN_IF_ERROR(TokenizeLines(text, name, "item id", "item id", &lines));
  std::vector<std::vector<ExternalId>> out(lines.ends.size());
  int64_t b = 0;
  for (size_t l = 0; l < lines.ends.size(); ++l) {
    out[l].assign(lines.tokens.begin() + b, lines.tokens.begin() + lines.ends[l]);
    b = lines.ends[l];
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<ExternalId>>> ReadSequences(const std::string& path) {
  RECSYS_ASSIGN_OR_RETURN(auto file, internal::MappedFile::Open(path));
  return ParseSequences(file->view(), path);
}

absl::StatusOr<std::vector<ExternalId>> ParseIdList(std::string_view text, const std::string& name) {
  TokenizedLines lines;
  RECSYS_RETURN_IF_ERROR(TokenizeLines(text, name, "id", "id", &lines));
  std::vector<ExternalId> out;
  out.reserve(lines.ends.size());
  int64_t b = 0;
  for (size_t l = 0; l < lines.ends.size(); ++l) {
    const int64_t count = lines.ends[l] - b;
    if (count != 1) {
      // Find the start of line l for the message.
      size_t off = SkipBom(text);
      for (size_t k = 0; k < l; ++k) off = text.find('\n', off) + 1;
      return ErrorAt(text, off, name,
                     absl::StrCat("expected exactly one id on the line, found ", count));
    }
    out.push_back(lines.tokens[static_cast<size_t>(b)]);
    b = lines.ends[l];
  }
  return out;
}

absl::StatusOr<std::vector<ExternalId>> ReadIdList(const std::string& path) {
  RECSYS_ASSIGN_OR_RETURN(auto file, internal::MappedFile::Open(path));
  return ParseIdList(file->view(), path);
}

}  // namespace recsys

#include "recsys/io/tensor_file.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "recsys/core/status.h"

namespace recsys {

static_assert(std::endian::native == std::endian::little, "tensor files assume a little-endian host");

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kI32:
      return "I32";
    case DType::kI64:
      return "I64";
  }
  return "?";
}

int DTypeSize(DType dtype) { return dtype == DType::kI64 ? 8 : 4; }

namespace {

constexpr char kHeaderCrcKey[] = "header_crc32c";
constexpr char kDataCrcKey[] = "data_crc32c";
constexpr char kCrcPlaceholder[] = "00000000";
// Headers beyond this are refused (safetensors uses 100 MB as well).
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

std::string Hex32(uint32_t v) { return absl::StrFormat("%08x", v); }

bool ParseHex32(const std::string& s, uint32_t* out) {
  if (s.size() != 8) return false;
  uint32_t v = 0;
  for (char ch : s) {
    int d;
    if (ch >= '0' && ch <= '9') {
      d = ch - '0';
    } else if (ch >= 'a' && ch <= 'f') {
      d = ch - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  *out = v;
  return true;
}

// Position of the header checksum's 8 hex digits in the raw header, or npos.
size_t FindHeaderCrc(std::string_view header) {
  const std::string needle = absl::StrCat("\"", kHeaderCrcKey, "\":\"");
  const size_t pos = header.find(needle);
  if (pos == std::string_view::npos) return pos;
  if (header.find(needle, pos + 1) != std::string_view::npos) return std::string_view::npos;
  const size_t digits = pos + needle.size();
  if (digits + 9 > header.size() || header[digits + 8] != '"') return std::string_view::npos;
  return digits;
}

absl::Status Corrupt(const std::string& name, const std::string& what) {
  return absl::DataLossError(absl::StrCat(name, ": corrupted or truncated model file: ", what));
}

}  // namespace

uint32_t Crc32c(const void* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

absl::StatusOr<std::string> SerializeTensorFile(const TensorFile& file) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  uint64_t offset = 0;
  uint32_t data_crc = 0;
  for (const auto& [name, t] : file.tensors) {
    if (name == "__metadata__" || name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor name '", name, "' is reserved or empty"));
    }
    if (static_cast<int64_t>(t.bytes.size()) != t.num_elements() * DTypeSize(t.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ", t.bytes.size(),
                                                     " bytes do not match shape ", ShapeString(t.shape)));
    }
    nlohmann::ordered_json entry;
    entry["dtype"] = DTypeName(t.dtype);
    entry["shape"] = t.shape;
    entry["data_offsets"] = {offset, offset + t.bytes.size()};
    header[name] = std::move(entry);
    offset += t.bytes.size();
    data_crc = Crc32c(t.bytes.data(), t.bytes.size(), data_crc);
  }
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [k, v] : file.metadata) {
    if (k == kHeaderCrcKey || k == kDataCrcKey || k == "format" || k == "format_version") continue;
    meta[k] = v;
  }
  meta["format"] = kTensorFileFormat;
  meta["format_version"] = kTensorFileVersion;
  meta[kDataCrcKey] = Hex32(data_crc);
  meta[kHeaderCrcKey] = kCrcPlaceholder;
  header["__metadata__"] = std::move(meta);

  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const size_t crc_pos = FindHeaderCrc(text);
  if (crc_pos == std::string::npos) return absl::InternalError("header checksum field not found");
  const std::string header_crc = Hex32(Crc32c(text.data(), text.size()));
  text.replace(crc_pos, 8, header_crc);

  std::string out;
  out.reserve(8 + text.size() + offset);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  out += text;
  for (const auto& [name, t] : file.tensors) {
    out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  }
  return out;
}

absl::Status WriteTensorFile(const std::string& path, const TensorFile& file) {
  RECSYS_ASSIGN_OR_RETURN(std::string bytes, SerializeTensorFile(file));
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open for writing"));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) return absl::DataLossError(absl::StrCat(tmp, ": write failed (disk full?)"));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot rename from ", tmp, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<TensorFile> ParseTensorFile(std::string_view bytes, const std::string& name,
                                           const TensorReadOptions& options) {
  if (bytes.size() < 8) return Corrupt(name, absl::StrCat("file has ", bytes.size(), " bytes, header length needs 8"));
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= uint64_t{static_cast<uint8_t>(bytes[static_cast<size_t>(i)])} << (8 * i);
  if (header_len > kMaxHeaderBytes || header_len > bytes.size() - 8) {
    return Corrupt(name, absl::StrCat("header length ", header_len, " exceeds the file (", bytes.size(), " bytes)"));
  }
  const std::string_view header = bytes.substr(8, header_len);
  const std::string_view data = bytes.substr(8 + header_len);
  if (header.empty() || header.front() != '{') return Corrupt(name, "header is not a JSON object");

  // Header checksum first: nothing in a damaged header is interpreted.
  const size_t crc_pos = FindHeaderCrc(header);
  bool has_header_crc = false;
  if (crc_pos != std::string_view::npos) {
    uint32_t stored = 0;
    if (!ParseHex32(std::string(header.substr(crc_pos, 8)), &stored)) {
      return Corrupt(name, "header checksum is not 8 hex digits");
    }
    std::string copy(header);
    copy.replace(crc_pos, 8, kCrcPlaceholder);
    const uint32_t actual = Crc32c(copy.data(), copy.size());
    if (actual != stored) {
      return Corrupt(name, absl::StrCat("header checksum mismatch (stored ", Hex32(stored), ", computed ",
                                        Hex32(actual), ")"));
    }
    has_header_crc = true;
  } else if (options.require_recsys) {
    // Either damaged or not a recsys file; tell which when possible.
    if (header.find("\"format\":\"recsys\"") == std::string_view::npos) {
      return absl::FailedPreconditionError(absl::StrCat(name, ": not a recsys model file (no recsys metadata)"));
    }
    return Corrupt(name, "header checksum missing");
  }

  const nlohmann::json parsed = nlohmann::json::parse(header.begin(), header.end(), nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return Corrupt(name, "header is not valid JSON");

  TensorFile file;
  if (auto it = parsed.find("__metadata__"); it != parsed.end()) {
    if (!it->is_object()) return Corrupt(name, "__metadata__ is not an object");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) return Corrupt(name, absl::StrCat("metadata '", k, "' is not a string"));
      file.metadata[k] = v.get<std::string>();
    }
  }
  auto meta = [&](const char* key) -> std::string {
    auto it = file.metadata.find(key);
    return it == file.metadata.end() ? std::string() : it->second;
  };
  if (options.require_recsys || file.metadata.count("format") > 0) {
    if (meta("format") != kTensorFileFormat) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, ": not a recsys model file (format '", meta("format"), "')"));
    }
    if (meta("format_version") != kTensorFileVersion) {
      return absl::FailedPreconditionError(absl::StrCat(name, ": unsupported format_version '", meta("format_version"),
                                                        "' (this build reads version ", kTensorFileVersion, ")"));
    }
    if (!has_header_crc) return Corrupt(name, "header checksum missing");
    if (meta(kDataCrcKey).empty()) return Corrupt(name, "data checksum missing");
  }

  struct Range {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (const auto& [tname, entry] : parsed.items()) {
    if (tname == "__metadata__") continue;
    const std::string where = absl::StrCat("tensor '", tname, "'");
    if (!entry.is_object()) return Corrupt(name, absl::StrCat(where, " is not an object"));
    auto dt = entry.find("dtype");
    auto sh = entry.find("shape");
    auto off = entry.find("data_offsets");
    if (dt == entry.end() || sh == entry.end() || off == entry.end() || !dt->is_string() || !sh->is_array() ||
        !off->is_array() || off->size() != 2) {
      return Corrupt(name, absl::StrCat(where, " lacks dtype/shape/data_offsets"));
    }
    Tensor t;
    const std::string dtype = dt->get<std::string>();
    if (dtype == "F32") {
      t.dtype = DType::kF32;
    } else if (dtype == "I32") {
      t.dtype = DType::kI32;
    } else if (dtype == "I64") {
      t.dtype = DType::kI64;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", where, " has unsupported dtype '", dtype,
                                                     "' (F32, I32, I64)"));
    }
    uint64_t elements = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) return Corrupt(name, absl::StrCat(where, " has an invalid dimension"));
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && elements > (uint64_t{1} << 62) / dim) {
        return Corrupt(name, absl::StrCat(where, " shape overflows"));
      }
      elements *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    if (!(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned()) {
      return Corrupt(name, absl::StrCat(where, " has invalid data_offsets"));
    }
    const uint64_t begin = (*off)[0].get<uint64_t>();
    const uint64_t end = (*off)[1].get<uint64_t>();
    if (begin > end || end > data.size()) {
      return Corrupt(name, absl::StrCat(where, " data_offsets [", begin, ", ", end, ") outside the data section (",
                                        data.size(), " bytes)"));
    }
    if (end - begin != elements * static_cast<uint64_t>(DTypeSize(t.dtype))) {
      return Corrupt(name, absl::StrCat(where, " shape ", ShapeString(t.shape), " × ", DTypeSize(t.dtype),
                                        " bytes != data_offsets length ", end - begin));
    }
    t.bytes.assign(reinterpret_cast<const uint8_t*>(data.data()) + begin,
                   reinterpret_cast<const uint8_t*>(data.data()) + end);
    ranges.push_back({begin, end, tname});
    file.tensors[tname] = std::move(t);
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (const Range& r : ranges) {
    if (r.begin != cursor) {
      return Corrupt(name, absl::StrCat("tensor '", r.name, "' starts at ", r.begin, ", expected ", cursor,
                                        " (overlap or gap)"));
    }
    cursor = r.end;
  }
  if (cursor != data.size()) {
    return Corrupt(name, absl::StrCat("data section has ", data.size(), " bytes, tensors cover ", cursor));
  }
  if (const std::string stored_hex = meta(kDataCrcKey); !stored_hex.empty()) {
    uint32_t stored = 0;
    if (!ParseHex32(stored_hex, &stored)) return Corrupt(name, "data checksum is not 8 hex digits");
    const uint32_t actual = Crc32c(data.data(), data.size());
    if (actual != stored) {
      return Corrupt(name, absl::StrCat("data checksum mismatch (stored ", stored_hex, ", computed ", Hex32(actual), ")"));
    }
  }
  return file;
}

absl::StatusOr<TensorFile> ReadTensorFile(const std::string& path, const TensorReadOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  const std::string bytes = buffer.str();
  return ParseTensorFile(bytes, path, options);
}

}  // namespace recsys

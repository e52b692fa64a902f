// Model files: named float32/int32/int64 tensors in the safetensors layout,
// so numpy/PyTorch (`safetensors.numpy.load_file`) read them as they are.
//
// Layout (all little-endian):
//   [8 bytes]  N = length of the header, uint64
//   [N bytes]  JSON header, padded with spaces to a multiple of 8:
//              {"<name>": {"dtype": "F32"|"I32"|"I64", "shape": [..],
//                          "data_offsets": [begin, end]}, ...,
//               "__metadata__": {string: string}}
//   [data]     tensors back to back in header order, offsets relative to the
//              start of the data section, covering it exactly.
// recsys metadata: "format": "recsys", "format_version": "1", "model_type",
// "config" (a JSON string), "data_crc32c" (CRC32C of the data section, 8 hex
// digits) and "header_crc32c" (CRC32C of the header bytes with that field's
// value set to "00000000"). Reading verifies everything — header length,
// JSON, dtypes, shapes × element size = byte ranges, offsets in range,
// ordered and non-overlapping, both checksums, the format version — and
// returns an error instead of a partially loaded file.
//
//   recsys::TensorFile file;
//   file.metadata["model_type"] = "mostpop";
//   RECSYS_RETURN_IF_ERROR(file.Add<float>("scores", {n}, scores));
//   RECSYS_RETURN_IF_ERROR(file.Add<int64_t>("item_ids", {n}, vocab.externals()));
//   RECSYS_RETURN_IF_ERROR(recsys::WriteTensorFile("model.rsm", file));
//   RECSYS_ASSIGN_OR_RETURN(recsys::TensorFile again, recsys::ReadTensorFile("model.rsm"));
//   RECSYS_ASSIGN_OR_RETURN(std::vector<float> s, again.Get<float>("scores", {n}));
//
// Thread safety: TensorFile is a value; the free functions share no state.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace recsys {

enum class DType { kF32, kI32, kI64 };

// "F32", "I32", "I64" (safetensors names).
const char* DTypeName(DType dtype);
int DTypeSize(DType dtype);

template <typename T>
constexpr DType DTypeOf() {
  if constexpr (std::is_same_v<T, float>) {
    return DType::kF32;
  } else if constexpr (std::is_same_v<T, int32_t>) {
    return DType::kI32;
  } else {
    static_assert(std::is_same_v<T, int64_t>, "tensor files hold float, int32_t or int64_t");
    return DType::kI64;
  }
}

struct Tensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // row-major; {} = scalar
  std::vector<uint8_t> bytes;  // little-endian elements, product(shape) × DTypeSize

  int64_t num_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

inline std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

struct TensorFile {
  std::map<std::string, Tensor> tensors;          // written in name order
  std::map<std::string, std::string> metadata;    // "__metadata__"

  // Adds (or replaces) a tensor; values.size() must equal product(shape).
  template <typename T>
  absl::Status Add(const std::string& name, std::vector<int64_t> shape, std::span<const T> values) {
    if (name.empty() || name == "__metadata__") {
      return absl::InvalidArgumentError(absl::StrCat("tensor name '", name, "' is reserved or empty"));
    }
    Tensor t;
    t.dtype = DTypeOf<T>();
    t.shape = std::move(shape);
    for (int64_t d : t.shape) {
      if (d < 0) return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': negative dimension"));
    }
    if (t.num_elements() != static_cast<int64_t>(values.size())) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': shape ", ShapeString(t.shape),
                                                     " holds ", t.num_elements(), " elements, got ",
                                                     values.size()));
    }
    t.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
    tensors[name] = std::move(t);
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Add(const std::string& name, std::vector<int64_t> shape, const std::vector<T>& values) {
    return Add<T>(name, std::move(shape), std::span<const T>(values));
  }

  bool Has(const std::string& name) const { return tensors.count(name) > 0; }

  // Copies tensor `name` out, checking its dtype and, when `expected_shape` is
  // given, its shape. NotFound / InvalidArgument otherwise.
  template <typename T>
  absl::StatusOr<std::vector<T>> Get(const std::string& name,
                                     const std::vector<int64_t>* expected_shape = nullptr) const {
    auto it = tensors.find(name);
    if (it == tensors.end()) return absl::NotFoundError(absl::StrCat("tensor '", name, "' missing"));
    const Tensor& t = it->second;
    if (t.dtype != DTypeOf<T>()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has dtype ", DTypeName(t.dtype),
                                                     ", expected ", DTypeName(DTypeOf<T>())));
    }
    if (expected_shape != nullptr && t.shape != *expected_shape) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has shape ", ShapeString(t.shape),
                                                     ", expected ", ShapeString(*expected_shape)));
    }
    std::vector<T> out(static_cast<size_t>(t.num_elements()));
    if (!out.empty()) std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
    return out;
  }
  template <typename T>
  absl::StatusOr<std::vector<T>> Get(const std::string& name, std::vector<int64_t> expected_shape) const {
    return Get<T>(name, &expected_shape);
  }

  // Shape of tensor `name` (NotFound when absent).
  absl::StatusOr<std::vector<int64_t>> Shape(const std::string& name) const {
    auto it = tensors.find(name);
    if (it == tensors.end()) return absl::NotFoundError(absl::StrCat("tensor '", name, "' missing"));
    return it->second.shape;
  }

  // Metadata value or NotFound.
  absl::StatusOr<std::string> Meta(const std::string& key) const {
    auto it = metadata.find(key);
    if (it == metadata.end()) return absl::NotFoundError(absl::StrCat("metadata '", key, "' missing"));
    return it->second;
  }
};

inline constexpr char kTensorFileFormat[] = "recsys";
inline constexpr char kTensorFileVersion[] = "1";

// CRC32C (Castagnoli) of `size` bytes, continuing from `crc` (0 to start).
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);

// Serialises `file` (adding "format", "format_version" and the checksums to
// its metadata) to bytes / to `path` (written to a temporary file, then
// renamed, so readers never see a half-written file).
absl::StatusOr<std::string> SerializeTensorFile(const TensorFile& file);
absl::Status WriteTensorFile(const std::string& path, const TensorFile& file);

struct TensorReadOptions {
  // Require the recsys metadata (format, version, checksums). False also
  // accepts plain safetensors files (e.g. written by PyTorch); checksums that
  // are present are still verified.
  bool require_recsys = true;
};

// Parses bytes / reads `path`; `name` is used in error messages. Errors:
// NotFound (missing file), DataLoss (truncated, corrupted, checksum
// mismatch), FailedPrecondition (other format or unsupported version).
absl::StatusOr<TensorFile> ParseTensorFile(std::string_view bytes, const std::string& name,
                                           const TensorReadOptions& options = {});
absl::StatusOr<TensorFile> ReadTensorFile(const std::string& path, const TensorReadOptions& options = {});

}  // namespace recsys

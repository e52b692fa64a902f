// Private file helpers of the data layer: whole-file reads and read-only
// memory maps with errors as absl::Status (NotFound / PermissionDenied /
// Internal naming the path and errno text).
//
//   RECSYS_ASSIGN_OR_RETURN(auto file, internal::MappedFile::Open(path));
//   std::string_view bytes = file->view();
//
// Thread safety: a MappedFile is immutable once opened.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace recsys::internal {

// A read-only mapping of a whole file (or, for non-regular files such as
// pipes, an owned buffer with the same interface). Empty files map to an
// empty view.
class MappedFile {
 public:
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // populate: ask the kernel to pre-fault the pages (MAP_POPULATE), which
  // makes a following sequential scan faster for large files.
  static absl::StatusOr<std::shared_ptr<const MappedFile>> Open(const std::string& path,
                                                                bool populate = false);

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view view() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const char* data_ = nullptr;
  size_t size_ = 0;
  void* map_ = nullptr;        // non-null when mmap'ed
  std::string buffer_;         // used when the file cannot be mapped
};

// Maps errno of a failed open()/read() to a status code and message.
absl::Status ErrnoStatus(int err, const std::string& what, const std::string& path);

}  // namespace recsys::internal

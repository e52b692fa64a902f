#include "file_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace recsys::internal {

absl::Status ErrnoStatus(int err, const std::string& what, const std::string& path) {
  const std::string message = absl::StrCat(what, " '", path, "': ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EISDIR:
      return absl::InvalidArgumentError(message);
    case ENOMEM:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

MappedFile::~MappedFile() {
  if (map_ != nullptr) ::munmap(map_, size_);
}

absl::StatusOr<std::shared_ptr<const MappedFile>> MappedFile::Open(const std::string& path,
                                                                   bool populate) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "cannot stat", path);
  if (S_ISDIR(st.st_mode)) return ErrnoStatus(EISDIR, "cannot read", path);

  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  if (S_ISREG(st.st_mode)) {
    file->size_ = static_cast<size_t>(st.st_size);
    if (file->size_ == 0) {
      file->data_ = "";
      return std::shared_ptr<const MappedFile>(std::move(file));
    }
    const int flags = MAP_PRIVATE | (populate ? MAP_POPULATE : 0);
    void* p = ::mmap(nullptr, file->size_, PROT_READ, flags, fd, 0);
    if (p != MAP_FAILED) {
      ::madvise(p, file->size_, MADV_SEQUENTIAL);
      file->map_ = p;
      file->data_ = static_cast<const char*>(p);
      return std::shared_ptr<const MappedFile>(std::move(file));
    }
    // Fall through to a plain read (e.g. file systems without mmap).
    file->size_ = 0;
  }
  // Pipes, character devices, or mmap failure: read until EOF.
  std::string& buf = file->buffer_;
  size_t used = 0;
  buf.resize(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) + 1 : size_t{1} << 20);
  while (true) {
    if (used == buf.size()) buf.resize(buf.size() * 2);
    const ssize_t got = ::read(fd, buf.data() + used, buf.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read", path);
    }
    if (got == 0) break;
    used += static_cast<size_t>(got);
  }
  buf.resize(used);
  file->data_ = buf.data();
  file->size_ = used;
  return std::shared_ptr<const MappedFile>(std::move(file));
}

}  // namespace recsys::internal

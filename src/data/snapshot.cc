// Binary dataset snapshots (see include/recsys/data/snapshot.h for the layout).
#include "recsys/data/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "file_util.h"
#include "recsys/core/status.h"

namespace recsys {
namespace {

static_assert(std::endian::native == std::endian::little, "snapshots are little-endian");

// Fixed part of the header (64 bytes), followed by the section table and the
// header checksum.
struct FixedHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;  // fixed part + table + checksum
  uint64_t file_bytes;
  uint64_t num_users;
  uint64_t num_items;
  uint64_t num_events;
  uint32_t num_sections;
  uint32_t flags;  // reserved, 0
  uint64_t reserved;
};
static_assert(sizeof(FixedHeader) == 64);

struct SectionEntry {
  uint32_t id;
  uint32_t element_size;
  uint64_t offset;
  uint64_t bytes;
  uint64_t checksum;
};
static_assert(sizeof(SectionEntry) == 32);

enum SectionId : uint32_t {
  kOffsets = 1,
  kItems = 2,
  kTimestamps = 3,
  kTypes = 4,
  kWeights = 5,
  kOrganic = 6,
  kUserIds = 7,
  kItemIds = 8,
};
constexpr uint32_t kNumSections = 8;
constexpr uint64_t kAlign = 64;
constexpr uint32_t kMaxSections = 64;
constexpr uint64_t kHeaderSeed = 0x5EED0001;

const char* SectionName(uint32_t id) {
  switch (id) {
    case kOffsets: return "offsets";
    case kItems: return "items";
    case kTimestamps: return "timestamps";
    case kTypes: return "types";
    case kWeights: return "weights";
    case kOrganic: return "organic";
    case kUserIds: return "user_ids";
    case kItemIds: return "item_ids";
    default: return "unknown";
  }
}

uint32_t ElementSize(uint32_t id) {
  switch (id) {
    case kOffsets: return 8;
    case kItems: return 4;
    case kTimestamps: return 8;
    case kTypes: return 1;
    case kWeights: return 4;
    case kOrganic: return 1;
    case kUserIds: return 8;
    case kItemIds: return 8;
    default: return 0;
  }
}

uint64_t ExpectedCount(uint32_t id, const FixedHeader& h) {
  switch (id) {
    case kOffsets: return h.num_users + 1;
    case kItems:
    case kTimestamps:
    case kTypes:
    case kWeights:
    case kOrganic: return h.num_events;
    case kUserIds: return h.num_users;
    case kItemIds: return h.num_items;
    default: return 0;
  }
}

uint64_t AlignUp(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kP3 = 0x165667B19E3779F9ull;

inline uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
inline uint64_t Load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t Round(uint64_t acc, uint64_t word) { return Rotl(acc + word * kP2, 31) * kP1; }
inline uint64_t Avalanche(uint64_t h) {
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

absl::Status DataLoss(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrCat("snapshot '", path, "': ", what));
}

// Writes all of [data, data + bytes) to fd.
absl::Status WriteAll(int fd, const void* data, size_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t w = ::write(fd, p, std::min<size_t>(bytes, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      return internal::ErrnoStatus(errno, "cannot write", path);
    }
    p += w;
    bytes -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

// Parses and verifies the header of a mapped file.
absl::StatusOr<std::pair<FixedHeader, std::vector<SectionEntry>>> ParseHeader(std::string_view file,
                                                                               const std::string& path) {
  if (!IsSnapshotHeader(file)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a recsys dataset snapshot (bad magic)"));
  }
  if (file.size() < sizeof(FixedHeader) + sizeof(uint64_t)) {
    return DataLoss(path, absl::StrCat("truncated: ", file.size(), " bytes, shorter than the header"));
  }
  FixedHeader h;
  std::memcpy(&h, file.data(), sizeof(h));
  if (h.version != kSnapshotFormatVersion) {
    // A version field damaged by a bit flip also lands here; the message says both.
    return absl::UnimplementedError(absl::StrCat(
        "snapshot '", path, "' has format version ", h.version, "; this build reads version ",
        kSnapshotFormatVersion, " (written by a different recsys version, or corrupted)"));
  }
  if (h.num_sections > kMaxSections ||
      h.header_bytes != sizeof(FixedHeader) + h.num_sections * sizeof(SectionEntry) + sizeof(uint64_t)) {
    return DataLoss(path, absl::StrCat("corrupted header (", h.num_sections, " sections, header size ",
                                       h.header_bytes, ")"));
  }
  if (file.size() < h.header_bytes) {
    return DataLoss(path, absl::StrCat("truncated: ", file.size(), " bytes, header needs ", h.header_bytes));
  }
  uint64_t stored = 0;
  std::memcpy(&stored, file.data() + h.header_bytes - sizeof(uint64_t), sizeof(stored));
  const uint64_t actual = SnapshotChecksum(file.data(), h.header_bytes - sizeof(uint64_t), kHeaderSeed);
  if (stored != actual) {
    return DataLoss(path, absl::StrFormat("header checksum mismatch (stored %016x, computed %016x): "
                                          "the file is corrupted",
                                          stored, actual));
  }
  if (h.file_bytes != file.size()) {
    return DataLoss(path, absl::StrCat(file.size() < h.file_bytes ? "truncated" : "unexpected trailing data",
                                       ": the header says ", h.file_bytes, " bytes, the file has ",
                                       file.size()));
  }
  if (h.num_users >= (uint64_t{1} << 31) || h.num_items >= (uint64_t{1} << 31)) {
    return DataLoss(path, "user or item count does not fit in int32");
  }
  std::vector<SectionEntry> sections(h.num_sections);
  std::memcpy(sections.data(), file.data() + sizeof(FixedHeader), h.num_sections * sizeof(SectionEntry));
  for (const SectionEntry& s : sections) {
    if (s.offset % kAlign != 0 || s.offset < h.header_bytes || s.offset > file.size() ||
        s.bytes > file.size() - s.offset) {
      return DataLoss(path, absl::StrCat("section '", SectionName(s.id), "' [", s.offset, ", +", s.bytes,
                                         ") lies outside the file of ", file.size(), " bytes"));
    }
  }
  return std::make_pair(h, std::move(sections));
}

}  // namespace

bool IsSnapshotHeader(std::string_view bytes) {
  return bytes.size() >= sizeof(kSnapshotMagic) &&
         std::memcmp(bytes.data(), kSnapshotMagic, sizeof(kSnapshotMagic)) == 0;
}

uint64_t SnapshotChecksum(const void* data, size_t bytes, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  const unsigned char* const end = p + bytes;
  uint64_t h;
  if (bytes >= 32) {
    uint64_t a = seed + kP1 + kP2, b = seed + kP2, c = seed, d = seed - kP1;
    const unsigned char* const limit = end - 32;
    do {
      a = Round(a, Load64(p));
      b = Round(b, Load64(p + 8));
      c = Round(c, Load64(p + 16));
      d = Round(d, Load64(p + 24));
      p += 32;
    } while (p <= limit);
    h = Rotl(a, 1) + Rotl(b, 7) + Rotl(c, 12) + Rotl(d, 18);
    for (uint64_t lane : {a, b, c, d}) h = (h ^ Round(0, lane)) * kP1 + kP3;
  } else {
    h = seed + kP3;
  }
  h += static_cast<uint64_t>(bytes);
  for (; p + 8 <= end; p += 8) h = Rotl(h ^ Round(0, Load64(p)), 27) * kP1 + kP3;
  for (; p < end; ++p) h = Rotl(h ^ (static_cast<uint64_t>(*p) * kP3), 11) * kP1;
  return Avalanche(h);
}

namespace {

// Appends bytes to a file through a 1 MiB buffer (large blocks go straight
// through), tracking the file position.
class BufferedWriter {
 public:
  BufferedWriter(int fd, const std::string& path) : fd_(fd), path_(path) { buffer_.reserve(kCapacity); }
  absl::Status Append(const void* data, size_t bytes) {
    position_ += bytes;
    if (buffer_.size() + bytes <= kCapacity) {
      const char* p = static_cast<const char*>(data);
      buffer_.insert(buffer_.end(), p, p + bytes);
      return absl::OkStatus();
    }
    RECSYS_RETURN_IF_ERROR(Flush());
    if (bytes >= kCapacity) return WriteAll(fd_, data, bytes, path_);
    const char* p = static_cast<const char*>(data);
    buffer_.insert(buffer_.end(), p, p + bytes);
    return absl::OkStatus();
  }
  // Zero bytes up to file position `offset` (≥ the current position).
  absl::Status PadTo(uint64_t offset) {
    static const char kZeros[kAlign] = {};
    while (position_ < offset) RECSYS_RETURN_IF_ERROR(Append(kZeros, std::min<uint64_t>(kAlign, offset - position_)));
    return absl::OkStatus();
  }
  absl::Status Flush() {
    RECSYS_RETURN_IF_ERROR(WriteAll(fd_, buffer_.data(), buffer_.size(), path_));
    buffer_.clear();
    return absl::OkStatus();
  }
  uint64_t position() const { return position_; }

 private:
  static constexpr size_t kCapacity = size_t{1} << 20;
  int fd_;
  const std::string& path_;
  std::vector<char> buffer_;
  uint64_t position_ = 0;
};

// The snapshot writer behind WriteSnapshot and WriteSnapshotPrefix: keep
// empty = every event, else the first keep[u] events of user u. Sections are
// streamed from the dataset's columns (a prefix snapshot holds no copy of
// the events in memory), then the checksums are computed over a read-only
// mapping of the written file and the header is written last.
absl::Status WriteSnapshotImpl(const SequenceDataset& ds, std::span<const int64_t> keep, const std::string& path) {
  const int32_t users = ds.num_users();
  int64_t events = ds.num_events();
  if (!keep.empty()) {
    if (static_cast<int64_t>(keep.size()) != users) {
      return absl::InvalidArgumentError(absl::StrCat("WriteSnapshotPrefix: keep has ", keep.size(),
                                                     " entries, the dataset has ", users, " users"));
    }
    events = 0;
    for (UserIndex u = 0; u < users; ++u) {
      const int64_t n = keep[static_cast<size_t>(u)];
      if (n < 0 || n > ds.length(u)) {
        return absl::InvalidArgumentError(absl::StrCat("WriteSnapshotPrefix: keep[", u, "] = ", n,
                                                       " but the user has ", ds.length(u), " events"));
      }
      events += n;
    }
  }
  const auto& user_ids = ds.user_vocab().externals();
  const auto& item_ids = ds.item_vocab().externals();

  FixedHeader h{};
  std::memcpy(h.magic, kSnapshotMagic, sizeof(h.magic));
  h.version = kSnapshotFormatVersion;
  h.num_sections = kNumSections;
  h.header_bytes = static_cast<uint32_t>(sizeof(FixedHeader) + kNumSections * sizeof(SectionEntry) + sizeof(uint64_t));
  h.num_users = static_cast<uint64_t>(users);
  h.num_items = static_cast<uint64_t>(ds.num_items());
  h.num_events = static_cast<uint64_t>(events);
  std::vector<SectionEntry> table(kNumSections);
  uint64_t cursor = AlignUp(h.header_bytes);
  for (uint32_t s = 0; s < kNumSections; ++s) {
    const uint32_t id = s + 1;
    table[s].id = id;
    table[s].element_size = ElementSize(id);
    table[s].offset = cursor;
    table[s].bytes = ExpectedCount(id, h) * ElementSize(id);
    cursor = AlignUp(cursor + table[s].bytes);
  }
  h.file_bytes = cursor;

  // One per-event column: whole, or each user's kept prefix.
  auto column = [&](BufferedWriter& w, auto all) -> absl::Status {
    using T = typename decltype(all)::element_type;
    if (keep.empty()) return w.Append(all.data(), all.size_bytes());
    const auto offsets = ds.offsets();
    for (UserIndex u = 0; u < users; ++u) {
      const int64_t n = keep[static_cast<size_t>(u)];
      if (n > 0) RECSYS_RETURN_IF_ERROR(w.Append(all.data() + offsets[u], static_cast<size_t>(n) * sizeof(T)));
    }
    return absl::OkStatus();
  };

  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return internal::ErrnoStatus(errno, "cannot create", tmp);
  absl::Status status = [&]() -> absl::Status {
    BufferedWriter w(fd, tmp);
    for (uint32_t s = 0; s < kNumSections; ++s) {
      RECSYS_RETURN_IF_ERROR(w.PadTo(table[s].offset));
      switch (table[s].id) {
        case kOffsets: {
          int64_t at = 0;
          RECSYS_RETURN_IF_ERROR(w.Append(&at, sizeof(at)));
          for (UserIndex u = 0; u < users; ++u) {
            at += keep.empty() ? ds.length(u) : keep[static_cast<size_t>(u)];
            RECSYS_RETURN_IF_ERROR(w.Append(&at, sizeof(at)));
          }
          break;
        }
        case kItems: RECSYS_RETURN_IF_ERROR(column(w, ds.all_items())); break;
        case kTimestamps: RECSYS_RETURN_IF_ERROR(column(w, ds.all_timestamps())); break;
        case kTypes: RECSYS_RETURN_IF_ERROR(column(w, ds.all_types())); break;
        case kWeights: RECSYS_RETURN_IF_ERROR(column(w, ds.all_weights())); break;
        case kOrganic: RECSYS_RETURN_IF_ERROR(column(w, ds.all_organic())); break;
        case kUserIds: RECSYS_RETURN_IF_ERROR(w.Append(user_ids.data(), user_ids.size() * sizeof(ExternalId))); break;
        case kItemIds: RECSYS_RETURN_IF_ERROR(w.Append(item_ids.data(), item_ids.size() * sizeof(ExternalId))); break;
        default: return absl::InternalError("WriteSnapshot: unknown section");
      }
      if (w.position() != table[s].offset + table[s].bytes) {
        return absl::InternalError(absl::StrCat("WriteSnapshot: section '", SectionName(table[s].id), "' wrote ",
                                                w.position() - table[s].offset, " bytes, expected ", table[s].bytes));
      }
    }
    RECSYS_RETURN_IF_ERROR(w.PadTo(h.file_bytes));
    RECSYS_RETURN_IF_ERROR(w.Flush());
    {
      // Checksums over what reached the file (clean page-cache pages).
      RECSYS_ASSIGN_OR_RETURN(auto written, internal::MappedFile::Open(tmp));
      if (written->size() != h.file_bytes) {
        return absl::DataLossError(absl::StrCat("WriteSnapshot: ", tmp, " has ", written->size(),
                                                " bytes after writing, expected ", h.file_bytes));
      }
      for (SectionEntry& e : table) e.checksum = SnapshotChecksum(written->data() + e.offset, e.bytes, e.id);
    }
    std::string header(h.header_bytes, '\0');
    std::memcpy(header.data(), &h, sizeof(h));
    std::memcpy(header.data() + sizeof(h), table.data(), table.size() * sizeof(SectionEntry));
    const uint64_t header_sum = SnapshotChecksum(header.data(), header.size() - sizeof(uint64_t), kHeaderSeed);
    std::memcpy(header.data() + header.size() - sizeof(uint64_t), &header_sum, sizeof(header_sum));
    size_t done = 0;
    while (done < header.size()) {
      const ssize_t n = ::pwrite(fd, header.data() + done, header.size() - done, static_cast<off_t>(done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return internal::ErrnoStatus(errno, "cannot write", tmp);
      }
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }();
  if (::close(fd) != 0 && status.ok()) status = internal::ErrnoStatus(errno, "cannot close", tmp);
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    status = internal::ErrnoStatus(errno, "cannot rename into place", path);
  }
  if (!status.ok()) std::remove(tmp.c_str());
  return status;
}

}  // namespace

absl::Status WriteSnapshot(const SequenceDataset& ds, const std::string& path) {
  return WriteSnapshotImpl(ds, {}, path);
}

absl::Status WriteSnapshotPrefix(const SequenceDataset& ds, std::span<const int64_t> keep, const std::string& path) {
  return WriteSnapshotImpl(ds, keep, path);
}

absl::StatusOr<SnapshotInfo> ReadSnapshotInfo(const std::string& path) {
  RECSYS_ASSIGN_OR_RETURN(auto file, internal::MappedFile::Open(path));
  RECSYS_ASSIGN_OR_RETURN(auto parsed, ParseHeader(file->view(), path));
  const auto& [h, sections] = parsed;
  SnapshotInfo info;
  info.version = h.version;
  info.file_bytes = h.file_bytes;
  info.num_users = static_cast<int64_t>(h.num_users);
  info.num_items = static_cast<int64_t>(h.num_items);
  info.num_events = static_cast<int64_t>(h.num_events);
  for (const SectionEntry& s : sections) {
    info.sections.push_back({s.id, SectionName(s.id), s.element_size, s.offset, s.bytes, s.checksum});
  }
  return info;
}

absl::StatusOr<SequenceDataset> LoadSnapshot(const std::string& path, const SnapshotLoadOptions& options) {
  RECSYS_ASSIGN_OR_RETURN(auto file, internal::MappedFile::Open(path, options.populate));
  const std::string_view bytes = file->view();
  RECSYS_ASSIGN_OR_RETURN(auto parsed, ParseHeader(bytes, path));
  const auto& [h, sections] = parsed;

  std::array<const SectionEntry*, kNumSections + 1> by_id{};
  for (const SectionEntry& s : sections) {
    if (s.id >= 1 && s.id <= kNumSections) {
      if (by_id[s.id] != nullptr) return DataLoss(path, absl::StrCat("section '", SectionName(s.id), "' appears twice"));
      by_id[s.id] = &s;
    }  // unknown sections: written by a later minor revision; ignored
  }
  for (uint32_t id = 1; id <= kNumSections; ++id) {
    const SectionEntry* s = by_id[id];
    if (s == nullptr) return DataLoss(path, absl::StrCat("section '", SectionName(id), "' is missing"));
    const uint64_t expected = ExpectedCount(id, h) * ElementSize(id);
    if (s->element_size != ElementSize(id) || s->bytes != expected) {
      return DataLoss(path, absl::StrCat("section '", SectionName(id), "' has ", s->bytes, " bytes of ",
                                         s->element_size, "-byte elements, expected ", expected));
    }
    if (options.verify_checksums) {
      const uint64_t sum = SnapshotChecksum(bytes.data() + s->offset, s->bytes, id);
      if (sum != s->checksum) {
        return DataLoss(path, absl::StrFormat("checksum mismatch in section '%s' (bytes %d..%d): the file is corrupted",
                                              SectionName(id), s->offset, s->offset + s->bytes));
      }
    }
  }
  auto span_of = [&](uint32_t id, auto* type_tag) {
    using T = std::remove_pointer_t<decltype(type_tag)>;
    const SectionEntry* s = by_id[id];
    return std::span<const T>(reinterpret_cast<const T*>(bytes.data() + s->offset), s->bytes / sizeof(T));
  };
  const auto user_ids = span_of(kUserIds, static_cast<ExternalId*>(nullptr));
  const auto item_ids = span_of(kItemIds, static_cast<ExternalId*>(nullptr));
  Vocabulary users = Vocabulary::FromExternals(std::vector<ExternalId>(user_ids.begin(), user_ids.end()));
  Vocabulary items = Vocabulary::FromExternals(std::vector<ExternalId>(item_ids.begin(), item_ids.end()));
  // FromExternals keeps the first index of a duplicate: a repeated id would
  // silently alias two users or items.
  for (int32_t u = 0; u < users.size(); ++u) {
    if (users.Find(user_ids[static_cast<size_t>(u)]) != u) return DataLoss(path, "user vocabulary holds duplicate ids");
  }
  for (int32_t i = 0; i < items.size(); ++i) {
    if (items.Find(item_ids[static_cast<size_t>(i)]) != i) return DataLoss(path, "item vocabulary holds duplicate ids");
  }
  auto ds = SequenceDataset::FromViews(
      std::shared_ptr<const void>(file, file.get()), span_of(kOffsets, static_cast<int64_t*>(nullptr)),
      span_of(kItems, static_cast<ItemIndex*>(nullptr)), span_of(kTimestamps, static_cast<Timestamp*>(nullptr)),
      span_of(kTypes, static_cast<EventType*>(nullptr)), span_of(kWeights, static_cast<float*>(nullptr)),
      span_of(kOrganic, static_cast<uint8_t*>(nullptr)), std::move(users), std::move(items));
  if (!ds.ok()) return DataLoss(path, absl::StrCat("inconsistent data: ", ds.status().message()));
  return ds;
}

}  // namespace recsys

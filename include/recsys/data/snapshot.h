// Binary snapshot of a built SequenceDataset: written once, then loaded by
// memory-mapping the file, so a 10^8-event dataset is ready in well under a
// second when the file is in the page cache.
//
// File layout (version 1, little-endian, every section 64-byte aligned):
//   header   magic "RSYSDSET", format version, header size, file size,
//            users / items / events, section count, then a section table
//            {id, element size, offset, bytes, data checksum} and finally a
//            checksum of all preceding header bytes.
//   sections offsets (int64, users + 1), items (int32), timestamps (int64),
//            types (uint8), weights (float32), organic (uint8), user ids and
//            item ids (int64 external ids; index i = dense index i).
// The header checksum is always verified; the per-section data checksums
// only when SnapshotLoadOptions::verify_checksums is set (it reads every
// byte: ≈ 2 GB for 10^8 events). The CSR structure and item range are always
// validated (SequenceDataset::FromViews). Truncated, corrupted or
// wrong-version files are refused with a clear error (DataLoss for damage,
// InvalidArgument for a file that is not a snapshot, Unimplemented for a
// format version this build cannot read).
//
//   RECSYS_RETURN_IF_ERROR(recsys::WriteSnapshot(dataset, "train.rsds"));
//   RECSYS_ASSIGN_OR_RETURN(recsys::SequenceDataset ds, recsys::LoadSnapshot("train.rsds"));
//   // ds views the mapped file; the mapping lives as long as ds or any copy.
//   recsys::SnapshotLoadOptions paranoid;
//   paranoid.verify_checksums = true;
//   RECSYS_ASSIGN_OR_RETURN(auto checked, recsys::LoadSnapshot("train.rsds", paranoid));
//
// Thread safety: free functions; a loaded dataset is immutable. Writing goes
// to a temporary file renamed into place, so readers never see a partial file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "recsys/data/sequence_dataset.h"

namespace recsys {

inline constexpr char kSnapshotMagic[8] = {'R', 'S', 'Y', 'S', 'D', 'S', 'E', 'T'};
inline constexpr uint32_t kSnapshotFormatVersion = 1;

struct SnapshotLoadOptions {
  // Verify the checksum of every data section (reads the whole file).
  bool verify_checksums = false;
  // Pre-fault the mapping (MAP_POPULATE): slower to load, faster first pass.
  bool populate = false;
};

// One entry of the section table.
struct SnapshotSection {
  uint32_t id = 0;
  std::string name;          // "offsets", "items", ...
  uint32_t element_size = 0;
  uint64_t offset = 0;       // bytes from the start of the file
  uint64_t bytes = 0;
  uint64_t checksum = 0;
};

struct SnapshotInfo {
  uint32_t version = 0;
  uint64_t file_bytes = 0;
  int64_t num_users = 0;
  int64_t num_items = 0;
  int64_t num_events = 0;
  std::vector<SnapshotSection> sections;
};

// Writes `dataset` to `path` (via `path`.tmp.<pid> and rename). Sections are
// streamed to the file, then checksummed over a read-only mapping of it.
absl::Status WriteSnapshot(const SequenceDataset& dataset, const std::string& path);

// Writes a snapshot holding only the first keep[u] events of every user u
// (keep.size() == num_users, 0 <= keep[u] <= length(u); InvalidArgument
// otherwise), with the dataset's user and item vocabularies. The events are
// streamed from `dataset`'s columns, so a prefix of a memory-mapped snapshot
// is written without materialising it (e.g. the train part of a global time
// split: WriteTemporalTrainSnapshot in splits.h).
absl::Status WriteSnapshotPrefix(const SequenceDataset& dataset, std::span<const int64_t> keep,
                                 const std::string& path);

// Memory-maps a snapshot and returns a dataset viewing it.
absl::StatusOr<SequenceDataset> LoadSnapshot(const std::string& path,
                                             const SnapshotLoadOptions& options = {});

// Reads and verifies only the header (cheap).
absl::StatusOr<SnapshotInfo> ReadSnapshotInfo(const std::string& path);

// True when `bytes` starts with the snapshot magic.
bool IsSnapshotHeader(std::string_view bytes);

// The 64-bit checksum used by snapshots (a seeded multiply-rotate hash over
// 32-byte blocks). Exposed for tests and tools.
uint64_t SnapshotChecksum(const void* data, size_t bytes, uint64_t seed = 0);

}  // namespace recsys

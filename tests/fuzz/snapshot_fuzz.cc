// Fuzz target: dataset snapshots. LoadSnapshot memory-maps a path, so the
// input goes through a per-process scratch file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "recsys/data/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("recsys_snapshot_fuzz_" + std::to_string(::getpid()))).string();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  (void)recsys::ReadSnapshotInfo(path);
  auto ds = recsys::LoadSnapshot(path);
  if (ds.ok()) {
    for (recsys::UserIndex u = 0; u < ds->num_users(); ++u) (void)ds->length(u);
  }
  return 0;
}

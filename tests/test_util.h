// Helpers shared by the test suites.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <unistd.h>

#include "gtest/gtest.h"

namespace recsys::testing {

// The reference data folder: $RECSYS_DATA_DIR, else ../shared/data next to the
// repository. nullopt when absent (tests then skip, saying so).
inline std::optional<std::string> DataDir() {
  if (const char* env = std::getenv("RECSYS_DATA_DIR"); env && *env) {
    if (std::filesystem::exists(env)) return std::string(env);
    return std::nullopt;
  }
  if (std::filesystem::exists(RECSYS_TEST_DATA_DIR)) return std::string(RECSYS_TEST_DATA_DIR);
  return std::nullopt;
}

// A fresh scratch directory for one test.
inline std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("recsys_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace recsys::testing

#define RECSYS_REQUIRE_DATA(var)                                                             \
  auto var##_opt = ::recsys::testing::DataDir();                                             \
  if (!var##_opt) GTEST_SKIP() << "reference data not found (set RECSYS_DATA_DIR or provide " \
                                  "../shared/data); skipping";                              \
  const std::string var = *var##_opt

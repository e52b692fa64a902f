// Fuzz target: tensor (model) files, with and without the recsys metadata
// requirement; a parsed file is serialised again and must parse.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "recsys/io/tensor_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (bool strict : {true, false}) {
    recsys::TensorReadOptions options;
    options.require_recsys = strict;
    auto file = recsys::ParseTensorFile(bytes, "fuzz", options);
    if (!file.ok()) continue;
    auto again = recsys::SerializeTensorFile(*file);
    if (!again.ok() || !recsys::ParseTensorFile(*again, "fuzz-roundtrip").ok()) std::abort();
  }
  return 0;
}

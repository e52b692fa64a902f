// Fuzz target: pipeline files (recommender.h): nested model and index files
// included. A file that parses must also be accepted or refused cleanly by
// Recommender::Create and serve one request without crashing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "recsys/recommender.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto pipeline = recsys::ParsePipeline(bytes, "fuzz");
  if (!pipeline.ok()) return 0;
  auto rec = recsys::Recommender::Create({}, *std::move(pipeline));
  if (!rec.ok()) return 0;
  recsys::RecommendRequest req;
  req.history = {1, 2, 3};
  (void)(*rec)->Recommend(req);
  return 0;
}

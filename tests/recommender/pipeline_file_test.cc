// Pipeline files: round trip, corruption (truncation, bit flips), wrong
// version, wrong kind, and the committed format-version-1 file.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "recommender_test_util.h"
#include "recsys/io/tensor_file.h"
#include "recsys/recommender.h"
#include "test_util.h"

namespace recsys {
namespace {

using testing::kFirstExternal;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<ExternalId> Items(const Recommendation& r) {
  std::vector<ExternalId> out;
  for (const auto& it : r.items) out.push_back(it.item);
  return out;
}

RecommendRequest FixedRequest() {
  RecommendRequest req;
  req.history = {kFirstExternal + 7 * 3, kFirstExternal + 7 * 11, kFirstExternal + 7 * 19};
  req.options.k = 5;
  req.options.popularity_candidates = 5;
  return req;
}

TEST(PipelineFileTest, RoundTripServesIdentically) {
  const std::string dir = testing::TempDir("pipeline_roundtrip");
  const std::string path = dir + "/p.rsp";
  Pipeline p = testing::MakePipeline(60, 3, "orig", "HNSW32");
  ASSERT_TRUE(SavePipeline(p, path).ok());
  auto loaded = LoadPipeline(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->name, path);
  ASSERT_NE(loaded->index, nullptr);
  EXPECT_EQ(loaded->index->factory(), "HNSW32");
  EXPECT_EQ(loaded->popularity, p.popularity);
  EXPECT_EQ(loaded->categories, p.categories);
  auto a = Recommender::Create({}, std::move(p));
  auto b = Recommender::Create({}, *std::move(loaded));
  ASSERT_TRUE(a.ok() && b.ok());
  auto ra = (*a)->Recommend(FixedRequest());
  auto rb = (*b)->Recommend(FixedRequest());
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(Items(*ra), Items(*rb));
  for (size_t j = 0; j < ra->items.size(); ++j) EXPECT_FLOAT_EQ(ra->items[j].score, rb->items[j].score);
}

TEST(PipelineFileTest, CorruptedFilesAreRefused) {
  const std::string dir = testing::TempDir("pipeline_corrupt");
  const std::string path = dir + "/p.rsp";
  ASSERT_TRUE(SavePipeline(testing::MakePipeline(40, 1, "x"), path).ok());
  const std::string bytes = ReadBytes(path);
  ASSERT_TRUE(ParsePipeline(bytes, "ok").ok());
  for (size_t cut : {size_t{0}, size_t{4}, size_t{8}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
    auto r = ParsePipeline(std::string_view(bytes).substr(0, cut), "cut");
    EXPECT_FALSE(r.ok()) << "truncated at " << cut;
  }
  Rng rng(3, 3);
  for (int trial = 0; trial < 40; ++trial) {
    std::string flipped = bytes;
    const size_t pos = static_cast<size_t>(rng.UniformInt(flipped.size()));
    flipped[pos] = static_cast<char>(flipped[pos] ^ (1 << rng.UniformInt(8)));
    auto r = ParsePipeline(flipped, "flipped");
    EXPECT_FALSE(r.ok()) << "bit flip at " << pos;
  }
  EXPECT_EQ(LoadPipeline(dir + "/missing.rsp").status().code(), absl::StatusCode::kNotFound);
}

TEST(PipelineFileTest, WrongVersionAndKindAreRefused) {
  const std::string dir = testing::TempDir("pipeline_version");
  const std::string path = dir + "/p.rsp";
  ASSERT_TRUE(SavePipeline(testing::MakePipeline(20, 1, "x"), path).ok());
  auto file = ReadTensorFile(path);
  ASSERT_TRUE(file.ok());
  file->metadata["pipeline_version"] = "2";
  ASSERT_TRUE(WriteTensorFile(dir + "/v2.rsp", *file).ok());
  auto v2 = LoadPipeline(dir + "/v2.rsp");
  EXPECT_EQ(v2.status().code(), absl::StatusCode::kFailedPrecondition) << v2.status();
  EXPECT_NE(v2.status().message().find("version 2"), std::string::npos);

  // A plain model file is not a pipeline.
  auto model = testing::MakeLongShort(20, 1);
  ASSERT_TRUE(model->Save(dir + "/m.rsm").ok());
  auto m = LoadPipeline(dir + "/m.rsm");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition) << m.status();
}

// tests/recommender/data/tiny_v1.rsp: written once by the disabled test
// below (format version 1) and committed. It must keep loading and serving
// the same list.
// The list the file served when it was written (printed by the writer test).
#define TINY_V1_EXPECTED 1126, 1014, 1063, 1000, 1049

std::string CommittedFile() {
  return (std::filesystem::path(__FILE__).parent_path() / "data" / "tiny_v1.rsp").string();
}

TEST(PipelineFileTest, CommittedVersion1FileKeepsLoading) {
  auto p = LoadPipeline(CommittedFile());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->model->type(), "longshort");
  EXPECT_EQ(p->model->num_items(), 24);
  ASSERT_NE(p->index, nullptr);
  EXPECT_EQ(p->index->factory(), "Flat");
  auto rec = Recommender::Create({}, *std::move(p));
  ASSERT_TRUE(rec.ok()) << rec.status();
  auto r = (*rec)->Recommend(FixedRequest());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Items(*r), (std::vector<ExternalId>{TINY_V1_EXPECTED}));
}

TEST(PipelineFileTest, DISABLED_WriteCommittedVersion1File) {
  Pipeline p = testing::MakePipeline(24, 2024, "tiny");
  ASSERT_TRUE(SavePipeline(p, CommittedFile()).ok());
  auto rec = Recommender::Create({}, std::move(p));
  auto r = (*rec)->Recommend(FixedRequest());
  ASSERT_TRUE(r.ok());
  for (ExternalId id : Items(*r)) std::printf("%lld, ", static_cast<long long>(id));
  std::printf("\n");
}

}  // namespace
}  // namespace recsys

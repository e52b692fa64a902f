#include "recsys/io/tensor_file.h"

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "test_util.h"

namespace recsys {
namespace {

TensorFile MakeFile() {
  TensorFile f;
  f.metadata["model_type"] = "test";
  f.metadata["config"] = R"({"a": 1, "name": "x\"y"})";
  std::vector<float> w(2 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.5f * static_cast<float>(i) - 1.0f;
  EXPECT_TRUE(f.Add<float>("weights", {2, 3}, w).ok());
  EXPECT_TRUE(f.Add<int32_t>("counts", {3}, std::vector<int32_t>{7, -8, 9}).ok());
  EXPECT_TRUE(f.Add<int64_t>("item_ids", {4}, std::vector<int64_t>{int64_t{1} << 40, 2, 3, -4}).ok());
  EXPECT_TRUE(f.Add<float>("empty", {0, 5}, std::vector<float>{}).ok());
  return f;
}

TEST(TensorFileTest, RoundTrip) {
  const TensorFile f = MakeFile();
  const std::string dir = testing::TempDir("tensor_file_roundtrip");
  const std::string path = dir + "/m.rsm";
  ASSERT_TRUE(WriteTensorFile(path, f).ok());
  auto g = ReadTensorFile(path);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->metadata.at("model_type"), "test");
  EXPECT_EQ(g->metadata.at("config"), f.metadata.at("config"));
  EXPECT_EQ(g->metadata.at("format"), "recsys");
  EXPECT_EQ(g->metadata.at("format_version"), "1");
  auto w = g->Get<float>("weights", {2, 3});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, *f.Get<float>("weights"));
  EXPECT_EQ(*g->Get<int32_t>("counts"), (std::vector<int32_t>{7, -8, 9}));
  EXPECT_EQ((*g->Get<int64_t>("item_ids"))[0], int64_t{1} << 40);
  EXPECT_EQ(*g->Shape("empty"), (std::vector<int64_t>{0, 5}));
  // Typed access checks dtype and shape.
  EXPECT_EQ(g->Get<int32_t>("weights").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g->Get<float>("weights", {3, 2}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g->Get<float>("nope").status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(TensorFileTest, SafetensorsLayout) {
  auto bytes = SerializeTensorFile(MakeFile());
  ASSERT_TRUE(bytes.ok());
  uint64_t n = 0;
  std::memcpy(&n, bytes->data(), 8);
  EXPECT_EQ(n % 8, 0u);
  auto header = nlohmann::json::parse(bytes->substr(8, n));
  EXPECT_EQ(header["weights"]["dtype"], "F32");
  EXPECT_EQ(header["counts"]["dtype"], "I32");
  EXPECT_EQ(header["item_ids"]["dtype"], "I64");
  EXPECT_EQ(header["weights"]["shape"], nlohmann::json::array({2, 3}));
  EXPECT_TRUE(header["__metadata__"]["data_crc32c"].is_string());
  // Data offsets cover the data section exactly.
  uint64_t total = 0;
  for (auto& [k, v] : header.items()) {
    if (k != "__metadata__") total += v["data_offsets"][1].get<uint64_t>() - v["data_offsets"][0].get<uint64_t>();
  }
  EXPECT_EQ(total, bytes->size() - 8 - n);
  // Counts tensor bytes are little-endian int32 at their offsets.
  const uint64_t b = header["counts"]["data_offsets"][0].get<uint64_t>();
  int32_t first = 0;
  std::memcpy(&first, bytes->data() + 8 + n + b, 4);
  EXPECT_EQ(first, 7);
}

TEST(TensorFileTest, Crc32cKnownValue) {
  // RFC 3720 test vector: 32 bytes of zeros.
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
}

TEST(TensorFileTest, RefusesEveryTruncation) {
  auto bytes = SerializeTensorFile(MakeFile());
  ASSERT_TRUE(bytes.ok());
  for (size_t len = 0; len < bytes->size(); ++len) {
    auto r = ParseTensorFile(std::string_view(*bytes).substr(0, len), "t.rsm");
    ASSERT_FALSE(r.ok()) << "truncated to " << len << " bytes was accepted";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << len << ": " << r.status();
  }
  // Trailing garbage is refused too.
  EXPECT_FALSE(ParseTensorFile(*bytes + "x", "t.rsm").ok());
}

TEST(TensorFileTest, RefusesEveryBitFlip) {
  auto bytes = SerializeTensorFile(MakeFile());
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(ParseTensorFile(*bytes, "t.rsm").ok());
  for (size_t pos = 0; pos < bytes->size(); ++pos) {
    for (int bit : {0, 3, 7}) {
      std::string damaged = *bytes;
      damaged[pos] = static_cast<char>(damaged[pos] ^ (1 << bit));
      auto r = ParseTensorFile(damaged, "t.rsm");
      ASSERT_FALSE(r.ok()) << "bit " << bit << " of byte " << pos << " flipped was accepted";
    }
  }
}

// Rewrites the header (recomputing nothing) to test the version check: the
// header checksum then also fails, so the version check must come from a
// correctly checksummed file with another version.
TEST(TensorFileTest, RefusesOtherVersionAndFormat) {
  TensorFile f = MakeFile();
  auto bytes = SerializeTensorFile(f);
  ASSERT_TRUE(bytes.ok());
  std::string text = *bytes;
  const size_t pos = text.find("\"format_version\":\"1\"");
  ASSERT_NE(pos, std::string::npos);
  text[pos + std::strlen("\"format_version\":\"")] = '2';
  // Re-seal the header checksum so that only the version differs.
  uint64_t n = 0;
  std::memcpy(&n, text.data(), 8);
  std::string header = text.substr(8, n);
  const std::string key = "\"header_crc32c\":\"";
  const size_t c = header.find(key) + key.size();
  header.replace(c, 8, "00000000");
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", Crc32c(header.data(), header.size()));
  header.replace(c, 8, hex);
  text.replace(8, n, header);
  auto r = ParseTensorFile(text, "v2.rsm");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(r.status().message()).find("format_version '2'"), std::string::npos) << r.status();

  // A plain safetensors file without recsys metadata.
  std::string plain_header = R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string plain(8, '\0');
  const uint64_t len = plain_header.size();
  std::memcpy(plain.data(), &len, 8);
  plain += plain_header + std::string(4, '\0');
  EXPECT_EQ(ParseTensorFile(plain, "p").status().code(), absl::StatusCode::kFailedPrecondition);
  TensorReadOptions lenient;
  lenient.require_recsys = false;
  auto p = ParseTensorFile(plain, "p", lenient);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p->Get<float>("x"))[0], 0.0f);
}

TEST(TensorFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadTensorFile("/nonexistent/dir/m.rsm").status().code(), absl::StatusCode::kNotFound);
}

TEST(TensorFileTest, AddValidatesShape) {
  TensorFile f;
  EXPECT_FALSE(f.Add<float>("a", {2, 2}, std::vector<float>{1, 2, 3}).ok());
  EXPECT_FALSE(f.Add<float>("__metadata__", {1}, std::vector<float>{1}).ok());
}

}  // namespace
}  // namespace recsys

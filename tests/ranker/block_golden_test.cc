// The pre-norm transformer block against an independent numpy implementation
// (tests/golden/make_golden.py → tests/golden/block_golden.json): forward output,
// input gradient and every parameter gradient within 1e-5 (double), and the
// float instantiation within 2e-4.
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "recsys/ranker/layers/layers.h"

namespace recsys::layers {
namespace {

using Json = nlohmann::json;

template <typename T>
Mat<T> ToMat(const Json& j) {
  const auto& shape = j.at("shape");
  const Eigen::Index rows = shape.size() == 1 ? 1 : shape[0].get<Eigen::Index>();
  const Eigen::Index cols = shape.size() == 1 ? shape[0].get<Eigen::Index>() : shape[1].get<Eigen::Index>();
  const auto& data = j.at("data");
  EXPECT_EQ(static_cast<Eigen::Index>(data.size()), rows * cols);
  Mat<T> m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(data[static_cast<size_t>(i)].get<double>());
  return m;
}

Json LoadGolden() {
  const std::string path = std::string(RECSYS_TEST_SOURCE_DIR) + "/golden/block_golden.json";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return Json::parse(in);
}

// Runs the block on one golden case in scalar T; returns max |error| over all compared tensors.
template <typename T>
double MaxError(const Json& doc, const Json& c, std::string* worst) {
  const Eigen::Index batch = doc["B"], seq = doc["S"];
  std::map<std::string, Mat<T>> w, g;
  for (const auto& [name, value] : c["weights"].items()) {
    w[name] = ToMat<T>(value);
    g[name] = Mat<T>::Zero(w[name].rows(), w[name].cols());
  }
  auto row = [&](std::map<std::string, Mat<T>>& m, const char* k) { return RowRef<T>(m.at(k)); };
  auto crow = [&](const char* k) { return CRowRef<T>(w.at(k)); };
  typename TransformerBlock<T>::Params p{
      {crow("ln1_gamma"), crow("ln1_beta")},
      {w.at("wq"), w.at("wk"), w.at("wv"), w.at("wo"), crow("bq"), crow("bk"), crow("bv"), crow("bo")},
      {crow("ln2_gamma"), crow("ln2_beta")},
      {{w.at("w1"), crow("b1")}, {w.at("w2"), crow("b2")}}};
  typename TransformerBlock<T>::Grads gr{
      {row(g, "ln1_gamma"), row(g, "ln1_beta")},
      {g.at("wq"), g.at("wk"), g.at("wv"), g.at("wo"), row(g, "bq"), row(g, "bk"), row(g, "bv"), row(g, "bo")},
      {row(g, "ln2_gamma"), row(g, "ln2_beta")},
      {{g.at("w1"), row(g, "b1")}, {g.at("w2"), row(g, "b2")}}};
  const std::vector<uint8_t> valid = c["valid"].get<std::vector<uint8_t>>();
  const Mat<T> x = ToMat<T>(c["x"]), r = ToMat<T>(c["r"]);
  BlockOptions opt{.attention = {.heads = doc["H"].get<int>(), .causal = true},
                   .ffn = {.activation = c["activation"] == "relu" ? Activation::kRelu : Activation::kGelu},
                   .dropout = 0.0,
                   .layer_norm_eps = doc["eps"].get<double>()};
  typename TransformerBlock<T>::Cache cache;
  Mat<T> out, dx;
  TransformerBlock<T>::Forward(x, p, opt, batch, seq, valid, /*training=*/false, nullptr, &cache, &out);
  TransformerBlock<T>::Backward(x, r, p, cache, gr, &dx);
  double max_err = 0;
  auto compare = [&](const std::string& name, const Mat<T>& got, const Json& expect) {
    const MatrixD e = ToMat<double>(expect);
    EXPECT_EQ(got.rows(), e.rows()) << name;
    EXPECT_EQ(got.cols(), e.cols()) << name;
    const double err = (got.template cast<double>() - e).cwiseAbs().maxCoeff();
    if (err > max_err) *worst = name;
    max_err = std::max(max_err, err);
  };
  compare("out", out, c["out"]);
  compare("dx", dx, c["dx"]);
  for (const auto& [name, value] : c["grads"].items()) compare("d" + name, g.at(name), value);
  return max_err;
}

TEST(BlockGolden, MatchesNumpyInDouble) {
  const Json doc = LoadGolden();
  ASSERT_EQ(doc["cases"].size(), 2u);
  for (const auto& c : doc["cases"]) {
    std::string worst;
    const double err = MaxError<double>(doc, c, &worst);
    EXPECT_LT(err, 1e-5) << c["activation"] << ": worst " << worst;
    EXPECT_LT(err, 1e-10) << c["activation"] << ": double should agree to round-off; worst " << worst;
  }
}

TEST(BlockGolden, MatchesNumpyInFloat) {
  const Json doc = LoadGolden();
  for (const auto& c : doc["cases"]) {
    std::string worst;
    const double err = MaxError<float>(doc, c, &worst);
    EXPECT_LT(err, 2e-4) << c["activation"] << ": worst " << worst;
  }
}

}  // namespace
}  // namespace recsys::layers

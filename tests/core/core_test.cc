#include <algorithm>
#include <atomic>
#include <numeric>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/core/check.h"
#include "recsys/core/gather.h"
#include "recsys/core/parallel.h"
#include "recsys/core/rng.h"
#include "recsys/core/status.h"
#include "recsys/core/topk.h"

namespace recsys {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}
absl::Status UseHalf(int x, int* out) {
  RECSYS_ASSIGN_OR_RETURN(int h, Half(x));
  RECSYS_RETURN_IF_ERROR(h > 100 ? absl::OutOfRangeError("big") : absl::OkStatus());
  *out = h;
  return absl::OkStatus();
}

TEST(StatusMacros, PropagateErrorsAndValues) {
  int out = 0;
  EXPECT_TRUE(UseHalf(8, &out).ok());
  EXPECT_EQ(out, 4);
  EXPECT_EQ(UseHalf(7, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UseHalf(400, &out).code(), absl::StatusCode::kOutOfRange);
}

TEST(StatusMacros, CatchExceptionsConvertsAtTheSeam) {
  absl::Status s = CatchExceptions("faiss search", []() -> absl::Status { throw std::runtime_error("boom"); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(std::string(s.message()).find("faiss search: boom"), std::string::npos);
}

TEST(CheckDeathTest, AbortsWithCondition) {
  EXPECT_DEATH({ RECSYS_CHECK(1 + 1 == 3) << "arithmetic"; }, "1 \\+ 1 == 3 arithmetic");
}

TEST(Rng, SameSeedAndStreamSameSequence) {
  Rng a(42, 7), b(42, 7), c(42, 8);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs |= x != c.Next();
  }
  EXPECT_TRUE(differs);
}

TEST(Rng, UniformIntIsUnbiasedAndInRange) {
  Rng rng(1);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) {
    const uint64_t v = rng.UniformInt(7);
    ASSERT_LT(v, 7u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
  for (int i = 0; i < 1000; ++i) {
    const float u = rng.Uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
  }
}

TEST(Rng, NormalHasUnitMoments) {
  Rng rng(3);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.Normal();
    s += x;
    s2 += x * x;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.02);
}

TEST(TopK, KeepsBestSortedWithTiesByIndex) {
  TopK<int32_t> top(3);
  const std::vector<float> scores = {1.0f, 5.0f, 3.0f, 5.0f, 3.0f, -1.0f, NAN};
  for (int32_t i = 0; i < static_cast<int32_t>(scores.size()); ++i) top.Push(scores[i], i);
  auto best = top.Extract();
  ASSERT_EQ(best.size(), 3u);
  EXPECT_EQ(best[0].id, 1);
  EXPECT_EQ(best[1].id, 3);
  EXPECT_EQ(best[2].id, 2);  // ties at 3.0 broken by the smaller index
  EXPECT_FLOAT_EQ(best[2].score, 3.0f);
}

TEST(TopK, ZeroAndOversizedK) {
  TopK<int32_t> none(0);
  none.Push(1.0f, 1);
  EXPECT_TRUE(none.Extract().empty());
  TopK<int32_t> many(10);
  many.Push(2.0f, 0);
  many.Push(1.0f, 1);
  auto best = many.Extract();
  ASSERT_EQ(best.size(), 2u);
  EXPECT_EQ(best[0].id, 0);
}

TEST(TopK, RowsMatchSortOracleAndPad) {
  Rng rng(5);
  MatrixF scores(37, 50);
  for (int r = 0; r < scores.rows(); ++r)
    for (int c = 0; c < scores.cols(); ++c) scores(r, c) = static_cast<float>(rng.UniformInt(10));
  const int k = 60;  // larger than the row: padded
  Matrix<int32_t> ids(scores.rows(), k);
  MatrixF values(scores.rows(), k);
  TopKRows(scores, k, ids, values);
  for (int r = 0; r < scores.rows(); ++r) {
    std::vector<int32_t> order(50);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores(r, a) > scores(r, b); });
    for (int i = 0; i < 50; ++i) EXPECT_EQ(ids(r, i), order[i]);
    for (int i = 50; i < k; ++i) {
      EXPECT_EQ(ids(r, i), -1);
      EXPECT_EQ(values(r, i), kNegInf);
    }
  }
}

TEST(Parallel, ForCoversRangeOnceAndReduceIsDeterministic) {
  std::vector<std::atomic<int>> hits(1001);
  ParallelFor(0, 1001, 17, [&](int64_t b, int64_t e) {
    EXPECT_LE(e - b, 17);
    for (int64_t i = b; i < e; ++i) hits[i]++;
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);

  std::vector<float> x(100000);
  Rng rng(9);
  for (auto& v : x) v = rng.Uniform() * 1e3f;
  auto sum = [&] {
    return DeterministicReduce<float>(0, static_cast<int64_t>(x.size()), 1000, 0.0f,
        [&](int64_t b, int64_t e) { float s = 0; for (int64_t i = b; i < e; ++i) s += x[i]; return s; },
        [](float a, float b) { return a + b; });
  };
  float one, two;
  { ThreadLimit limit(1); one = sum(); }
  { ThreadLimit limit(2); two = sum(); }
  EXPECT_EQ(one, two);  // bit-identical
}

}  // namespace
}  // namespace recsys

namespace recsys {
namespace {

TEST(GatherRows, CopiesTheRequestedRowsInOrder) {
  MatrixF table(20, 5);
  for (Eigen::Index r = 0; r < table.rows(); ++r) table.row(r).setConstant(static_cast<float>(r));
  const std::vector<ItemIndex> ids = {7, 0, 19, 7, 3, 11, 12, 13, 14, 15, 16, 2};  // longer than the prefetch distance
  MatrixF out;
  GatherRows(table, ids, &out);
  ASSERT_EQ(out.rows(), static_cast<Eigen::Index>(ids.size()));
  ASSERT_EQ(out.cols(), 5);
  for (size_t j = 0; j < ids.size(); ++j) EXPECT_EQ(out.row(static_cast<Eigen::Index>(j)), table.row(ids[j])) << j;
  GatherRows(table, {}, &out);
  EXPECT_EQ(out.rows(), 0);
}

}  // namespace
}  // namespace recsys

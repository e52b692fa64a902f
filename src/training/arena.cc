#include "recsys/training/arena.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace recsys {

namespace {
constexpr int64_t kAlignFloats = 16;  // 64 bytes
}  // namespace

int ParameterArena::Add(const std::string& name, int64_t rows, int64_t cols, ParamKind kind) {
  RECSYS_CHECK(!allocated_) << "ParameterArena::Add(" << name << ") after Allocate()";
  RECSYS_CHECK(rows > 0 && cols > 0) << "ParameterArena::Add(" << name << "): shape " << rows
                                     << " x " << cols;
  RECSYS_CHECK(!Find(name).has_value()) << "ParameterArena: duplicate tensor name " << name;
  ParamTensor t;
  t.name = name;
  t.rows = rows;
  t.cols = cols;
  t.kind = kind;
  t.offset = size_;
  size_ += (t.size() + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
  tensors_.push_back(std::move(t));
  return static_cast<int>(tensors_.size()) - 1;
}

void ParameterArena::Allocate() {
  RECSYS_CHECK(!allocated_) << "ParameterArena::Allocate() called twice";
  data_.assign(static_cast<size_t>(size_), 0.0f);
  allocated_ = true;
}

std::optional<int> ParameterArena::Find(const std::string& name) const {
  for (size_t i = 0; i < tensors_.size(); ++i)
    if (tensors_[i].name == name) return static_cast<int>(i);
  return std::nullopt;
}

void ParameterArena::Fill(int id, float value) { Value(id).setConstant(value); }

void ParameterArena::FillNormal(int id, float stddev, Rng& rng) {
  MapMatrixF v = Value(id);
  float* p = v.data();
  for (int64_t i = 0; i < v.size(); ++i) p[i] = static_cast<float>(rng.Normal()) * stddev;
}

void ParameterArena::FillUniform(int id, float low, float high, Rng& rng) {
  MapMatrixF v = Value(id);
  float* p = v.data();
  for (int64_t i = 0; i < v.size(); ++i) p[i] = low + (high - low) * rng.Uniform();
}

void ParameterArena::FillXavier(int id, Rng& rng) {
  const ParamTensor& t = tensor(id);
  const float a = std::sqrt(6.0f / static_cast<float>(t.rows + t.cols));
  FillUniform(id, -a, a, rng);
}

uint64_t ParameterArena::LayoutHash() const {
  uint64_t h = 0x5265637379734172ull;  // "RecsysAr"
  auto mix = [&h](uint64_t x) { h = Mix64(h ^ Mix64(x)); };
  for (const ParamTensor& t : tensors_) {
    for (char c : t.name) mix(static_cast<uint8_t>(c));
    mix(static_cast<uint64_t>(t.rows));
    mix(static_cast<uint64_t>(t.cols));
    mix(static_cast<uint64_t>(t.kind));
  }
  return h;
}

GradBuffer::GradBuffer(const ParameterArena& arena) : tensors_(arena.tensors()) {
  RECSYS_CHECK(arena.allocated()) << "GradBuffer needs an allocated ParameterArena";
  data_.assign(static_cast<size_t>(arena.size()), 0.0f);
  sparse_.resize(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (tensors_[i].kind == ParamKind::kEmbedding)
      sparse_[i].mark.assign(static_cast<size_t>(tensors_[i].rows), 0);
  }
}

MapMatrixF GradBuffer::Dense(int id) {
  const ParamTensor& t = tensors_[static_cast<size_t>(id)];
  if (t.kind == ParamKind::kEmbedding) {
    Sparse& s = sparse_[static_cast<size_t>(id)];
    if (!s.all) {
      s.all = true;
      // Untouched rows are already zero; the row list is no longer needed.
      std::fill(s.mark.begin(), s.mark.end(), uint8_t{0});
      s.rows.clear();
    }
  }
  return MapMatrixF(data_.data() + t.offset, t.rows, t.cols);
}

void GradBuffer::Zero() {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const ParamTensor& t = tensors_[i];
    Sparse& s = sparse_[i];
    float* base = data_.data() + t.offset;
    if (t.kind == ParamKind::kDense || s.all) {
      std::memset(base, 0, sizeof(float) * static_cast<size_t>(t.size()));
      s.all = false;
    } else {
      for (int64_t r : s.rows) {
        std::memset(base + r * t.cols, 0, sizeof(float) * static_cast<size_t>(t.cols));
        s.mark[static_cast<size_t>(r)] = 0;
      }
    }
    s.rows.clear();
  }
}

void GradBuffer::AddFrom(const GradBuffer& other) {
  RECSYS_CHECK(other.data_.size() == data_.size() && other.tensors_.size() == tensors_.size())
      << "GradBuffer::AddFrom: layouts differ";
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const ParamTensor& t = tensors_[i];
    const Sparse& o = other.sparse_[i];
    float* dst = data_.data() + t.offset;
    const float* src = other.data_.data() + t.offset;
    if (t.kind == ParamKind::kDense || o.all) {
      if (t.kind == ParamKind::kEmbedding) Dense(static_cast<int>(i));
      for (int64_t j = 0; j < t.size(); ++j) dst[j] += src[j];
    } else {
      for (int64_t r : o.rows) {
        Touch(static_cast<int>(i), r);
        float* d = dst + r * t.cols;
        const float* s = src + r * t.cols;
        for (int64_t j = 0; j < t.cols; ++j) d[j] += s[j];
      }
    }
  }
}

void GradBuffer::Scale(float factor) {
  ForEachLiveSpan([factor](float* p, int64_t n) {
    for (int64_t j = 0; j < n; ++j) p[j] *= factor;
  });
}

double GradBuffer::SquaredNorm() const {
  double total = 0.0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    ForEachLiveSpanOf(static_cast<int>(i), [&total](const float* p, int64_t n) {
      double s = 0.0;
      for (int64_t j = 0; j < n; ++j) s += static_cast<double>(p[j]) * p[j];
      total += s;
    });
  }
  return total;
}

}  // namespace recsys

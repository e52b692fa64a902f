// Parameter arena and gradient buffers (STYLE §7, after llm.c's
// ParameterTensors): every trainable tensor of a model lives in one
// allocation and is reached through a named, row-major Eigen view. Gradient
// buffers and optimizer moments mirror the same flat layout, so zeroing,
// AdamW, clipping and checkpointing are flat loops.
//
//   recsys::ParameterArena arena;
//   const int emb = arena.Add("item_emb", num_items, d, recsys::ParamKind::kEmbedding);
//   const int w = arena.Add("proj.w", d, d);
//   arena.Allocate();                                  // one zeroed allocation
//   recsys::Rng rng(seed, 0);
//   arena.FillNormal(emb, 0.02f, rng);
//   recsys::GradBuffer grads(arena);                   // same layout, zeroed
//   float* g_row = grads.Row(emb, item);               // row-sparse: marks `item`
//   grads.Dense(w).noalias() += x.transpose() * dy;    // dense: d × d view
//
// Embedding tables (ParamKind::kEmbedding) get row-sparse gradients: a
// buffer remembers which rows were touched, so Zero(), AddFrom(), clipping and
// the lazy optimizer only visit those rows. Calling Dense() on an embedding
// table marks the whole table touched (e.g. a tied output embedding under a
// full softmax).
//
// Memory: a GradBuffer is a full mirror of the arena (plus one byte per
// embedding row); the trainer keeps one per shard.
//
// Thread safety: a ParameterArena may be read concurrently once allocated;
// writes (optimizer steps) need exclusive access. A GradBuffer is written by
// one thread at a time (the trainer gives each shard its own).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "recsys/core/check.h"
#include "recsys/core/eigen.h"
#include "recsys/core/rng.h"

namespace recsys {

enum class ParamKind {
  kDense,      // gradients are dense; updated every step
  kEmbedding,  // rows × dim table; row-sparse gradients and lazy updates
};

// One named tensor: rows × cols, row-major, at `offset` floats into the arena.
struct ParamTensor {
  std::string name;
  int64_t offset = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  ParamKind kind = ParamKind::kDense;
  int64_t size() const { return rows * cols; }
};

// Float storage aligned for SIMD; used by the arena, gradients and moments.
using AlignedFloats = std::vector<float, Eigen::aligned_allocator<float>>;

class ParameterArena {
 public:
  ParameterArena() = default;
  ParameterArena(const ParameterArena&) = default;
  ParameterArena& operator=(const ParameterArena&) = default;

  // Declares a rows × cols tensor before Allocate(); returns its id (0, 1,
  // ...). Names must be unique and shapes positive (programming errors:
  // checked).
  int Add(const std::string& name, int64_t rows, int64_t cols,
          ParamKind kind = ParamKind::kDense);

  // Makes the one allocation (zero-filled). Tensor offsets are padded to 16
  // floats (64 bytes). No Add() afterwards.
  void Allocate();
  bool allocated() const { return allocated_; }

  int num_tensors() const { return static_cast<int>(tensors_.size()); }
  const ParamTensor& tensor(int id) const { return tensors_[static_cast<size_t>(id)]; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  std::optional<int> Find(const std::string& name) const;

  // Total floats in the layout (including alignment padding).
  int64_t size() const { return size_; }
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }

  // Named view of a tensor: rows × cols, row-major, over arena memory.
  MapMatrixF Value(int id) {
    const ParamTensor& t = tensor(id);
    RECSYS_DCHECK(allocated_);
    return MapMatrixF(data_.data() + t.offset, t.rows, t.cols);
  }
  ConstMapMatrixF Value(int id) const {
    const ParamTensor& t = tensor(id);
    return ConstMapMatrixF(data_.data() + t.offset, t.rows, t.cols);
  }
  float* Row(int id, int64_t row) {
    RECSYS_DCHECK(row >= 0 && row < tensor(id).rows);
    return data_.data() + tensor(id).offset + row * tensor(id).cols;
  }
  const float* Row(int id, int64_t row) const {
    RECSYS_DCHECK(row >= 0 && row < tensor(id).rows);
    return data_.data() + tensor(id).offset + row * tensor(id).cols;
  }

  // Initialisers (deterministic given the rng state).
  void Fill(int id, float value);
  void FillNormal(int id, float stddev, Rng& rng);
  void FillUniform(int id, float low, float high, Rng& rng);
  // Glorot/Xavier uniform: U(±sqrt(6 / (rows + cols))).
  void FillXavier(int id, Rng& rng);

  // Fingerprint of names, shapes and kinds (checkpoint compatibility).
  uint64_t LayoutHash() const;

 private:
  std::vector<ParamTensor> tensors_;
  AlignedFloats data_;
  int64_t size_ = 0;
  bool allocated_ = false;
};

// Gradients in the arena's layout, with row-sparse bookkeeping for embedding
// tables.
class GradBuffer {
 public:
  GradBuffer() = default;
  // Zeroed buffer mirroring `arena` (which must be allocated).
  explicit GradBuffer(const ParameterArena& arena);

  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  int64_t size() const { return static_cast<int64_t>(data_.size()); }
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }

  // The full gradient of tensor `id` (rows × cols view). On an embedding
  // table this marks every row touched.
  MapMatrixF Dense(int id);
  ConstMapMatrixF Dense(int id) const {
    const ParamTensor& t = tensors_[static_cast<size_t>(id)];
    return ConstMapMatrixF(data_.data() + t.offset, t.rows, t.cols);
  }

  // The gradient of tensor `id` WITHOUT marking rows: for code that writes an
  // embedding table's rows in bulk. Every row left non-zero must then be
  // marked with MarkTouched (rows not marked must stay zero).
  MapMatrixF DenseUntracked(int id) {
    const ParamTensor& t = tensors_[static_cast<size_t>(id)];
    return MapMatrixF(data_.data() + t.offset, t.rows, t.cols);
  }
  // Marks a row of an embedding table touched (no-op for dense tensors).
  void MarkTouched(int id, int64_t row) {
    const ParamTensor& t = tensors_[static_cast<size_t>(id)];
    RECSYS_DCHECK(row >= 0 && row < t.rows) << t.name << " row " << row;
    if (t.kind == ParamKind::kEmbedding) Touch(id, row);
  }

  // Pointer to the `cols` gradient floats of one row (accumulate into it).
  // On an embedding table this marks the row touched.
  float* Row(int id, int64_t row) {
    const ParamTensor& t = tensors_[static_cast<size_t>(id)];
    RECSYS_DCHECK(row >= 0 && row < t.rows) << t.name << " row " << row;
    if (t.kind == ParamKind::kEmbedding) Touch(id, row);
    return data_.data() + t.offset + row * t.cols;
  }
  const float* Row(int id, int64_t row) const {
    const ParamTensor& t = tensors_[static_cast<size_t>(id)];
    return data_.data() + t.offset + row * t.cols;
  }

  // Embedding tables: rows with a gradient, in first-touch order, or all rows.
  bool AllRowsTouched(int id) const { return sparse_[static_cast<size_t>(id)].all; }
  const std::vector<int64_t>& TouchedRows(int id) const {
    return sparse_[static_cast<size_t>(id)].rows;
  }
  bool IsTouched(int id, int64_t row) const {
    const Sparse& s = sparse_[static_cast<size_t>(id)];
    return s.all || s.mark[static_cast<size_t>(row)] != 0;
  }

  // Zeroes dense tensors and the touched rows; forgets touched rows.
  void Zero();
  // this += other (same layout). Embedding rows of `other` are visited in
  // other's touched order, so the result is deterministic.
  void AddFrom(const GradBuffer& other);
  // Multiplies every live gradient (dense + touched rows) by `factor`.
  void Scale(float factor);
  // Σ g² over dense tensors and touched rows, in layout order (double sum).
  double SquaredNorm() const;

  // Calls fn(float* data, int64_t count) for every contiguous live span:
  // dense tensors whole, embedding tables per touched row (or whole when all
  // rows are touched). Layout order; touched rows in touched order.
  template <typename Fn>
  void ForEachLiveSpan(Fn&& fn) {
    for (size_t i = 0; i < tensors_.size(); ++i) ForEachLiveSpanOf(static_cast<int>(i), fn);
  }
  template <typename Fn>
  void ForEachLiveSpanOf(int id, Fn&& fn) const {
    const ParamTensor& t = tensors_[static_cast<size_t>(id)];
    const Sparse& s = sparse_[static_cast<size_t>(id)];
    float* base = const_cast<float*>(data_.data()) + t.offset;
    if (t.kind == ParamKind::kDense || s.all) {
      fn(base, t.size());
    } else {
      for (int64_t r : s.rows) fn(base + r * t.cols, t.cols);
    }
  }

 private:
  struct Sparse {
    std::vector<uint8_t> mark;  // rows; 1 = touched
    std::vector<int64_t> rows;  // touched rows in first-touch order
    bool all = false;
  };
  void Touch(int id, int64_t row) {
    Sparse& s = sparse_[static_cast<size_t>(id)];
    if (s.all || s.mark[static_cast<size_t>(row)]) return;
    s.mark[static_cast<size_t>(row)] = 1;
    s.rows.push_back(row);
  }

  std::vector<ParamTensor> tensors_;
  std::vector<Sparse> sparse_;  // one per tensor (empty for dense tensors)
  AlignedFloats data_;
};

}  // namespace recsys

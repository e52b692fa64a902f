// Item filters: which items a request may return.
//
// A filter is an object answering IsAllowed(item), with a documented cost,
// and a fast path for search kernels: Compile() turns it into a FilterPlan —
// either a sorted list of excluded items (cheap for "seen items", typically a
// few hundred: the exact kernel writes -inf into exactly those score-tile
// cells) or an allow bitmap (for allow lists and composite filters: the kernel
// ANDs 16 bits of it into its threshold mask). Filters combine with And / Or /
// Not without losing the fast path.
//
//   auto seen = std::make_shared<recsys::ExcludeItemsFilter>(history_items);
//   auto in_stock = std::make_shared<recsys::BitmapFilter>(stock_bits, num_items);
//   auto filter = recsys::AndFilter({seen, in_stock});
//   recsys::FilterPlan plan = filter->Compile(num_items);
//   bool ok = plan.IsAllowed(42);          // same answer as filter->IsAllowed(42)
//   exact.Search(queries, k, {filter.get()}, ids, scores);
//
// Thread safety: filters are immutable after construction; IsAllowed and
// Compile are const and safe to call concurrently.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "recsys/core/types.h"

namespace recsys {

// Cost of one IsAllowed() call, and so of Compile() (which may visit each
// listed item once).
enum class FilterCost {
  kConstant,     // one bit test
  kLogarithmic,  // binary search in a sorted list (log2 of its length)
  kComposite,    // sum of the children's costs
};

// The kernel-facing form of a filter over items [0, num_items).
struct FilterPlan {
  enum class Kind {
    kAllowAll,       // nothing excluded
    kExcludeSorted,  // `excluded` lists the excluded items (sorted, unique, in range)
    kAllowMask,      // bit i of `allow_bits` (64 items per word) set = item i allowed
  };
  Kind kind = Kind::kAllowAll;
  int32_t num_items = 0;
  std::vector<ItemIndex> excluded;
  std::vector<uint64_t> allow_bits;  // ceil(num_items / 64) words; bits >= num_items are 0

  bool IsAllowed(ItemIndex item) const {
    if (item < 0 || item >= num_items) return false;
    switch (kind) {
      case Kind::kAllowAll: return true;
      case Kind::kExcludeSorted: return !std::binary_search(excluded.begin(), excluded.end(), item);
      case Kind::kAllowMask: return (allow_bits[static_cast<size_t>(item) >> 6] >> (item & 63)) & 1u;
    }
    return true;
  }
  // Number of excluded items in [0, num_items).
  int64_t NumExcluded() const {
    if (kind == Kind::kAllowAll) return 0;
    if (kind == Kind::kExcludeSorted) return static_cast<int64_t>(excluded.size());
    int64_t allowed = 0;
    for (uint64_t w : allow_bits) allowed += std::popcount(w);
    return num_items - allowed;
  }
  // Converts to kAllowMask (no-op if already one).
  void ToMask();
};

class ItemFilter {
 public:
  virtual ~ItemFilter() = default;
  virtual bool IsAllowed(ItemIndex item) const = 0;
  virtual FilterCost cost() const = 0;
  // The fast path. The default visits every item through IsAllowed (slow;
  // every filter in this file overrides it).
  virtual FilterPlan Compile(int32_t num_items) const;
  virtual std::string DebugString() const = 0;
};

using ItemFilterPtr = std::shared_ptr<const ItemFilter>;

// Excludes a list of items (seen items, an exclusion list). Duplicates and
// out-of-range ids are allowed in the input. Cost: kLogarithmic.
class ExcludeItemsFilter : public ItemFilter {
 public:
  explicit ExcludeItemsFilter(std::span<const ItemIndex> items);
  bool IsAllowed(ItemIndex item) const override {
    return !std::binary_search(sorted_.begin(), sorted_.end(), item);
  }
  FilterCost cost() const override { return FilterCost::kLogarithmic; }
  FilterPlan Compile(int32_t num_items) const override;
  std::string DebugString() const override;
  std::span<const ItemIndex> sorted_items() const { return sorted_; }

 private:
  std::vector<ItemIndex> sorted_;
};

// "Already seen" filter: the same as ExcludeItemsFilter over a history.
using SeenItemsFilter = ExcludeItemsFilter;

// Allows only the listed items. Cost: kLogarithmic.
class AllowItemsFilter : public ItemFilter {
 public:
  explicit AllowItemsFilter(std::span<const ItemIndex> items);
  bool IsAllowed(ItemIndex item) const override {
    return std::binary_search(sorted_.begin(), sorted_.end(), item);
  }
  FilterCost cost() const override { return FilterCost::kLogarithmic; }
  FilterPlan Compile(int32_t num_items) const override;
  std::string DebugString() const override;

 private:
  std::vector<ItemIndex> sorted_;
};

// Allows item i iff bit i is set (64 items per word, little-endian bit order
// within a word); items beyond the bitmap are excluded. Cost: kConstant.
class BitmapFilter : public ItemFilter {
 public:
  BitmapFilter(std::vector<uint64_t> bits, int32_t num_items);
  // From a per-item flag vector (non-zero = allowed).
  static std::shared_ptr<BitmapFilter> FromFlags(std::span<const uint8_t> allowed);
  bool IsAllowed(ItemIndex item) const override {
    return item >= 0 && item < num_items_ && ((bits_[static_cast<size_t>(item) >> 6] >> (item & 63)) & 1u);
  }
  FilterCost cost() const override { return FilterCost::kConstant; }
  FilterPlan Compile(int32_t num_items) const override;
  std::string DebugString() const override;

 private:
  std::vector<uint64_t> bits_;
  int32_t num_items_;
};

// Boolean combinations. Compile() stays on the fast path: And of exclusion
// lists is their union, Or their intersection; anything else combines
// bitmaps word by word. Cost: kComposite.
class CompositeFilter : public ItemFilter {
 public:
  enum class Op { kAnd, kOr, kNot };
  CompositeFilter(Op op, std::vector<ItemFilterPtr> children);
  bool IsAllowed(ItemIndex item) const override;
  FilterCost cost() const override { return FilterCost::kComposite; }
  FilterPlan Compile(int32_t num_items) const override;
  std::string DebugString() const override;

 private:
  Op op_;
  std::vector<ItemFilterPtr> children_;
};

inline ItemFilterPtr AndFilter(std::vector<ItemFilterPtr> children) {
  return std::make_shared<CompositeFilter>(CompositeFilter::Op::kAnd, std::move(children));
}
inline ItemFilterPtr OrFilter(std::vector<ItemFilterPtr> children) {
  return std::make_shared<CompositeFilter>(CompositeFilter::Op::kOr, std::move(children));
}
inline ItemFilterPtr NotFilter(ItemFilterPtr child) {
  return std::make_shared<CompositeFilter>(CompositeFilter::Op::kNot,
                                           std::vector<ItemFilterPtr>{std::move(child)});
}

// Compiles `filters` for a batch of `batch` queries: filters.size() is 0 (no
// filter), 1 (shared by all queries) or `batch` (one per query; null entries =
// no filter). Each distinct filter is compiled once; plans[i] points into
// `storage`. Returns false when filters.size() is none of these.
bool CompileFilterBatch(std::span<const ItemFilter* const> filters, int64_t batch, int32_t num_items,
                        std::vector<FilterPlan>* storage, std::vector<const FilterPlan*>* plans);

}  // namespace recsys

#include "recsys/candidates/item_filter.h"

#include <unordered_map>

#include "absl/strings/str_cat.h"

namespace recsys {
namespace {

std::vector<ItemIndex> SortedUnique(std::span<const ItemIndex> items) {
  std::vector<ItemIndex> v(items.begin(), items.end());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

size_t Words(int32_t num_items) { return (static_cast<size_t>(std::max(0, num_items)) + 63) / 64; }

void ClearTail(std::vector<uint64_t>& bits, int32_t num_items) {
  if (num_items % 64 != 0 && !bits.empty()) bits.back() &= (uint64_t{1} << (num_items % 64)) - 1;
}

}  // namespace

void FilterPlan::ToMask() {
  if (kind == Kind::kAllowMask) return;
  allow_bits.assign(Words(num_items), ~uint64_t{0});
  ClearTail(allow_bits, num_items);
  if (kind == Kind::kExcludeSorted) {
    for (ItemIndex i : excluded) allow_bits[static_cast<size_t>(i) >> 6] &= ~(uint64_t{1} << (i & 63));
  }
  excluded.clear();
  excluded.shrink_to_fit();
  kind = Kind::kAllowMask;
}

FilterPlan ItemFilter::Compile(int32_t num_items) const {
  FilterPlan plan;
  plan.num_items = num_items;
  plan.kind = FilterPlan::Kind::kAllowMask;
  plan.allow_bits.assign(Words(num_items), 0);
  for (ItemIndex i = 0; i < num_items; ++i) {
    if (IsAllowed(i)) plan.allow_bits[static_cast<size_t>(i) >> 6] |= uint64_t{1} << (i & 63);
  }
  return plan;
}

ExcludeItemsFilter::ExcludeItemsFilter(std::span<const ItemIndex> items) : sorted_(SortedUnique(items)) {}

FilterPlan ExcludeItemsFilter::Compile(int32_t num_items) const {
  FilterPlan plan;
  plan.num_items = num_items;
  auto b = std::lower_bound(sorted_.begin(), sorted_.end(), 0);
  auto e = std::lower_bound(sorted_.begin(), sorted_.end(), num_items);
  if (b == e) return plan;
  plan.kind = FilterPlan::Kind::kExcludeSorted;
  plan.excluded.assign(b, e);
  return plan;
}

std::string ExcludeItemsFilter::DebugString() const { return absl::StrCat("Exclude(", sorted_.size(), " items)"); }

AllowItemsFilter::AllowItemsFilter(std::span<const ItemIndex> items) : sorted_(SortedUnique(items)) {}

FilterPlan AllowItemsFilter::Compile(int32_t num_items) const {
  FilterPlan plan;
  plan.num_items = num_items;
  plan.kind = FilterPlan::Kind::kAllowMask;
  plan.allow_bits.assign(Words(num_items), 0);
  for (ItemIndex i : sorted_) {
    if (i >= 0 && i < num_items) plan.allow_bits[static_cast<size_t>(i) >> 6] |= uint64_t{1} << (i & 63);
  }
  return plan;
}

std::string AllowItemsFilter::DebugString() const { return absl::StrCat("Allow(", sorted_.size(), " items)"); }

BitmapFilter::BitmapFilter(std::vector<uint64_t> bits, int32_t num_items)
    : bits_(std::move(bits)), num_items_(std::max(0, num_items)) {
  bits_.resize(Words(num_items_), 0);
  ClearTail(bits_, num_items_);
}

std::shared_ptr<BitmapFilter> BitmapFilter::FromFlags(std::span<const uint8_t> allowed) {
  const auto n = static_cast<int32_t>(allowed.size());
  std::vector<uint64_t> bits(Words(n), 0);
  for (int32_t i = 0; i < n; ++i) {
    if (allowed[static_cast<size_t>(i)]) bits[static_cast<size_t>(i) >> 6] |= uint64_t{1} << (i & 63);
  }
  return std::make_shared<BitmapFilter>(std::move(bits), n);
}

FilterPlan BitmapFilter::Compile(int32_t num_items) const {
  FilterPlan plan;
  plan.num_items = num_items;
  plan.kind = FilterPlan::Kind::kAllowMask;
  plan.allow_bits.assign(Words(num_items), 0);
  const size_t copy = std::min(plan.allow_bits.size(), bits_.size());
  std::copy(bits_.begin(), bits_.begin() + static_cast<std::ptrdiff_t>(copy), plan.allow_bits.begin());
  ClearTail(plan.allow_bits, std::min(num_items, num_items_));
  if (num_items_ < num_items) {
    // Items past the bitmap are excluded: clear every bit from num_items_ on.
    for (size_t w = Words(num_items_); w < plan.allow_bits.size(); ++w) plan.allow_bits[w] = 0;
    if (num_items_ % 64 != 0) plan.allow_bits[Words(num_items_) - 1] &= (uint64_t{1} << (num_items_ % 64)) - 1;
  }
  ClearTail(plan.allow_bits, num_items);
  return plan;
}

std::string BitmapFilter::DebugString() const { return absl::StrCat("Bitmap(", num_items_, " items)"); }

CompositeFilter::CompositeFilter(Op op, std::vector<ItemFilterPtr> children)
    : op_(op), children_(std::move(children)) {}

bool CompositeFilter::IsAllowed(ItemIndex item) const {
  switch (op_) {
    case Op::kAnd:
      for (const auto& c : children_) if (!c->IsAllowed(item)) return false;
      return true;
    case Op::kOr:
      for (const auto& c : children_) if (c->IsAllowed(item)) return true;
      return false;
    case Op::kNot:
      return children_.empty() ? false : !children_[0]->IsAllowed(item);
  }
  return true;
}

FilterPlan CompositeFilter::Compile(int32_t num_items) const {
  std::vector<FilterPlan> plans;
  plans.reserve(children_.size());
  for (const auto& c : children_) plans.push_back(c->Compile(num_items));
  FilterPlan out;
  out.num_items = num_items;
  if (op_ == Op::kNot) {
    if (plans.empty()) {  // Not() of nothing: nothing allowed.
      out.kind = FilterPlan::Kind::kAllowMask;
      out.allow_bits.assign(Words(num_items), 0);
      return out;
    }
    FilterPlan& p = plans[0];
    if (p.kind == FilterPlan::Kind::kAllowAll) {
      out.kind = FilterPlan::Kind::kAllowMask;
      out.allow_bits.assign(Words(num_items), 0);
      return out;
    }
    p.ToMask();
    out.kind = FilterPlan::Kind::kAllowMask;
    out.allow_bits = std::move(p.allow_bits);
    for (auto& w : out.allow_bits) w = ~w;
    ClearTail(out.allow_bits, num_items);
    return out;
  }
  const bool is_and = op_ == Op::kAnd;
  if (plans.empty()) {
    if (is_and) return out;  // And() of nothing: everything allowed.
    out.kind = FilterPlan::Kind::kAllowMask;
    out.allow_bits.assign(Words(num_items), 0);
    return out;
  }
  bool all_lists = true;
  for (const auto& p : plans) all_lists &= p.kind != FilterPlan::Kind::kAllowMask;
  if (all_lists) {
    // Exclusion lists (kAllowAll = empty list): And -> union, Or -> intersection.
    std::vector<ItemIndex> acc = plans[0].excluded;
    for (size_t c = 1; c < plans.size(); ++c) {
      std::vector<ItemIndex> merged;
      const auto& x = plans[c].excluded;
      if (is_and) {
        std::set_union(acc.begin(), acc.end(), x.begin(), x.end(), std::back_inserter(merged));
      } else {
        std::set_intersection(acc.begin(), acc.end(), x.begin(), x.end(), std::back_inserter(merged));
      }
      acc.swap(merged);
    }
    if (!acc.empty()) {
      out.kind = FilterPlan::Kind::kExcludeSorted;
      out.excluded = std::move(acc);
    }
    return out;
  }
  out.kind = FilterPlan::Kind::kAllowMask;
  out.allow_bits.assign(Words(num_items), is_and ? ~uint64_t{0} : 0);
  for (auto& p : plans) {
    p.ToMask();
    for (size_t w = 0; w < out.allow_bits.size(); ++w) {
      if (is_and) out.allow_bits[w] &= p.allow_bits[w];
      else out.allow_bits[w] |= p.allow_bits[w];
    }
  }
  ClearTail(out.allow_bits, num_items);
  return out;
}

std::string CompositeFilter::DebugString() const {
  std::string s = op_ == Op::kAnd ? "And(" : op_ == Op::kOr ? "Or(" : "Not(";
  for (size_t i = 0; i < children_.size(); ++i) {
    if (i) s += ", ";
    s += children_[i]->DebugString();
  }
  return s + ")";
}

bool CompileFilterBatch(std::span<const ItemFilter* const> filters, int64_t batch, int32_t num_items,
                        std::vector<FilterPlan>* storage, std::vector<const FilterPlan*>* plans) {
  plans->assign(static_cast<size_t>(batch), nullptr);
  storage->clear();
  if (filters.empty()) return true;
  if (filters.size() != 1 && static_cast<int64_t>(filters.size()) != batch) return false;
  std::unordered_map<const ItemFilter*, size_t> index;
  for (const ItemFilter* f : filters) {
    if (f != nullptr && !index.count(f)) index.emplace(f, index.size());
  }
  storage->resize(index.size());
  for (const auto& [f, i] : index) (*storage)[i] = f->Compile(num_items);
  for (int64_t q = 0; q < batch; ++q) {
    const ItemFilter* f = filters.size() == 1 ? filters[0] : filters[static_cast<size_t>(q)];
    if (f == nullptr) continue;
    const FilterPlan* p = &(*storage)[index.at(f)];
    (*plans)[static_cast<size_t>(q)] = p->kind == FilterPlan::Kind::kAllowAll ? nullptr : p;
  }
  return true;
}

}  // namespace recsys

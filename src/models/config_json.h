// Private helpers for model configs: strict JSON object parsing (unknown
// fields and wrong types are InvalidArgument naming the field) and the common
// save/load steps of model files.
#pragma once

#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "recsys/data/vocabulary.h"
#include "recsys/io/tensor_file.h"

namespace recsys::internal {

// Reads fields of one JSON object config, remembering which were consumed.
class ConfigReader {
 public:
  // `what` names the config in messages ("mostpop config").
  static absl::StatusOr<ConfigReader> Parse(const std::string& json, const std::string& what) {
    ConfigReader r;
    r.what_ = what;
    if (json.empty()) {
      r.object_ = nlohmann::json::object();
      return r;
    }
    r.object_ = nlohmann::json::parse(json, nullptr, false);
    if (r.object_.is_discarded() || !r.object_.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": not a JSON object: ", json.substr(0, 80)));
    }
    return r;
  }

  // Reads `key` into *value when present; InvalidArgument on a wrong type.
  template <typename T>
  absl::Status Get(const std::string& key, T* value) {
    known_.push_back(key);
    auto it = object_.find(key);
    if (it == object_.end()) return absl::OkStatus();
    if constexpr (std::is_same_v<T, bool>) {
      if (!it->is_boolean()) return TypeError(key, "a boolean");
    } else if constexpr (std::is_integral_v<T>) {
      if (!it->is_number_integer()) return TypeError(key, "an integer");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!it->is_number()) return TypeError(key, "a number");
    } else {
      if (!it->is_string()) return TypeError(key, "a string");
    }
    *value = it->get<T>();
    return absl::OkStatus();
  }

  // InvalidArgument when the object has fields no Get asked for.
  absl::Status CheckNoUnknownFields() const {
    for (const auto& [key, v] : object_.items()) {
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        return absl::InvalidArgumentError(absl::StrCat(what_, ": unknown field '", key, "' (known: ",
                                                       absl::StrJoin(known_, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status TypeError(const std::string& key, const char* expected) const {
    return absl::InvalidArgumentError(
        absl::StrCat(what_, ": field '", key, "' must be ", expected, ", got ", object_[key].dump()));
  }

  std::string what_;
  nlohmann::json object_;
  std::vector<std::string> known_;
};

// Stores the item vocabulary as int64 tensor "item_ids".
inline absl::Status AddItemVocab(const Vocabulary& items, TensorFile& file) {
  return file.Add<int64_t>("item_ids", {items.size()}, items.externals());
}

// Reads "item_ids" back (unique ids required).
inline absl::StatusOr<Vocabulary> GetItemVocab(const TensorFile& file) {
  auto ids = file.Get<int64_t>("item_ids");
  if (!ids.ok()) return ids.status();
  auto shape = file.Shape("item_ids");
  if (shape->size() != 1) return absl::InvalidArgumentError("tensor 'item_ids' must be 1-D");
  Vocabulary v = Vocabulary::FromExternals(*std::move(ids));
  for (int32_t i = 0; i < v.size(); ++i) {
    if (v.Find(v.External(i)) != i) {
      return absl::InvalidArgumentError(absl::StrCat("tensor 'item_ids' repeats id ", v.External(i)));
    }
  }
  return v;
}

}  // namespace recsys::internal

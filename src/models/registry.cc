// The model registry behind TrainModel / LoadModel / ModelTypes (model.h).
//
// Adding a model type is one line in kModels below:
//   Entry<SasRecModel, SasRecConfig>("sasrec"),
// where the model class provides
//   static absl::StatusOr<Config> Config::FromJson(const std::string&);
//   static absl::StatusOr<std::unique_ptr<Model>> Model::Train(const Config&, const TrainContext&);
//     (or Train(const Config&, const SequenceDataset&) for models that need only the data)
//   static absl::StatusOr<std::unique_ptr<Model>> Model::Load(const TensorFile&);
// and its Save writes metadata "model_type" = the registered name.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/io/tensor_file.h"
#include "recsys/models/itemknn.h"
#include "recsys/models/longshort.h"
#include "recsys/models/model.h"
#include "recsys/models/mostpop.h"
#include "recsys/models/sasrec.h"

namespace recsys {
namespace {

using ModelPtr = std::unique_ptr<SequentialModel>;
using TrainFn = absl::StatusOr<ModelPtr> (*)(const std::string& config_json, const TrainContext& context);
using LoadFn = absl::StatusOr<ModelPtr> (*)(const TensorFile& file);

struct ModelEntry {
  const char* type;
  TrainFn train;
  LoadFn load;
};

template <typename Model, typename Config>
absl::StatusOr<ModelPtr> TrainAdapter(const std::string& config_json, const TrainContext& context) {
  RECSYS_ASSIGN_OR_RETURN(Config config, Config::FromJson(config_json));
  if constexpr (requires { Model::Train(config, context); }) {
    RECSYS_ASSIGN_OR_RETURN(auto model, Model::Train(config, context));
    return ModelPtr(std::move(model));
  } else {
    RECSYS_ASSIGN_OR_RETURN(auto model, Model::Train(config, *context.train));
    return ModelPtr(std::move(model));
  }
}

template <typename Model>
absl::StatusOr<ModelPtr> LoadAdapter(const TensorFile& file) {
  RECSYS_ASSIGN_OR_RETURN(auto model, Model::Load(file));
  return ModelPtr(std::move(model));
}

template <typename Model, typename Config>
constexpr ModelEntry Entry(const char* type) {
  return {type, &TrainAdapter<Model, Config>, &LoadAdapter<Model>};
}

// ---- registered model types (one line each) --------------------------------
const ModelEntry kModels[] = {
    Entry<MostPopModel, MostPopConfig>("mostpop"),
    Entry<ItemKnnModel, ItemKnnConfig>("itemknn"),
    Entry<SasRecModel, SasRecConfig>("sasrec"),
    Entry<LongShortModel, LongShortConfig>("longshort"),
};
// -----------------------------------------------------------------------------

const ModelEntry* FindEntry(const std::string& type) {
  for (const ModelEntry& e : kModels) {
    if (type == e.type) return &e;
  }
  return nullptr;
}

std::string KnownTypes() { return absl::StrJoin(ModelTypes(), ", "); }

}  // namespace

std::vector<std::string> ModelTypes() {
  std::vector<std::string> names;
  for (const ModelEntry& e : kModels) names.emplace_back(e.type);
  return names;
}

absl::StatusOr<std::unique_ptr<SequentialModel>> TrainModel(const std::string& type,
                                                            const std::string& config_json,
                                                            const TrainContext& context) {
  const ModelEntry* entry = FindEntry(type);
  if (entry == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown model type '", type, "' (known: ", KnownTypes(), ")"));
  }
  if (context.train == nullptr) return absl::InvalidArgumentError("TrainContext.train is required");
  if (context.threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("TrainContext.threads must be >= 0, got ", context.threads));
  }
  ThreadLimit limit(context.threads);
  absl::StatusOr<ModelPtr> result;
  RECSYS_RETURN_IF_ERROR(CatchExceptions(absl::StrCat("training ", type), [&]() -> absl::Status {
    result = entry->train(config_json.empty() ? std::string("{}") : config_json, context);
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<std::unique_ptr<SequentialModel>> LoadModel(const std::string& path) {
  RECSYS_ASSIGN_OR_RETURN(TensorFile file, ReadTensorFile(path));
  auto type = file.Meta("model_type");
  if (!type.ok()) return absl::DataLossError(absl::StrCat(path, ": model file lacks metadata 'model_type'"));
  const ModelEntry* entry = FindEntry(*type);
  if (entry == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": model type '", *type,
                                                      "' is not available in this build (known: ", KnownTypes(), ")"));
  }
  absl::StatusOr<ModelPtr> model = entry->load(file);
  if (!model.ok()) return Annotate(model.status(), absl::StrCat("loading ", path));
  return model;
}

}  // namespace recsys

// SequentialModel: the interface every recommender model implements
// (mostpop, itemknn, sasrec, longshort, ...). The evaluator, the CLI, the
// Python bindings and the Recommender facade only see this interface.
//
// A model scores the whole catalogue for a batch of histories; neural models
// additionally expose user/item embeddings so that scoring can run through the
// blocked inner-product kernel and the ANN index (stage 1).
//
//   RECSYS_ASSIGN_OR_RETURN(auto model, recsys::TrainModel("mostpop", "{}", ctx));
//   recsys::MatrixF scores(histories.size(), model->num_items());
//   RECSYS_RETURN_IF_ERROR(model->ScoreAll(histories, scores));
//   RECSYS_RETURN_IF_ERROR(model->Save("model.rsm"));
//   RECSYS_ASSIGN_OR_RETURN(auto again, recsys::LoadModel("model.rsm"));
//
// Thread safety: const methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "recsys/core/eigen.h"
#include "recsys/data/sequence_dataset.h"
#include "recsys/data/splits.h"
#include "recsys/data/vocabulary.h"

namespace recsys {

class SequentialModel {
 public:
  virtual ~SequentialModel() = default;

  // Registry name: "mostpop", "itemknn", "sasrec", "longshort", ...
  virtual std::string type() const = 0;

  // The model's configuration as a JSON object string.
  virtual std::string config_json() const = 0;

  // Items the model scores: dense indices 0..num_items()-1 of item_vocab().
  virtual const Vocabulary& item_vocab() const = 0;
  int32_t num_items() const { return item_vocab().size(); }

  // Scores every item for each history. out: histories.size() × num_items(),
  // row-major; higher is better. Histories hold dense item indices, oldest
  // first; they may be empty.
  virtual absl::Status ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const = 0;

  // Optional embedding form (neural models): score(h, i) = max over the
  // user's query vectors (or the target-aware scorer for rankers). Returns
  // false when the model has no such form.
  virtual bool has_embeddings() const { return false; }

  // Writes the model, its config and vocabulary to one file.
  virtual absl::Status Save(const std::string& path) const = 0;
};

// Progress of a training run, reported to stderr by the CLI and to Python
// callbacks.
struct TrainProgress {
  int epoch = 0;
  int64_t step = 0;
  int64_t total_steps = 0;  // 0 when unknown
  double loss = 0.0;
  double events_per_s = 0.0;
  double elapsed_s = 0.0;
  double eta_s = 0.0;
  std::string valid_metric_name;  // e.g. "ndcg@10"; empty when not validated
  double valid_metric = 0.0;
};

struct TrainContext {
  const SequenceDataset* train = nullptr;  // required
  const EvalSet* valid = nullptr;          // optional, for early stopping
  int threads = 0;                         // 0: all cores
  uint64_t seed = 42;
  double max_minutes = 0.0;                // 0: no limit
  // Called after each epoch (and periodically); returning false stops training.
  std::function<bool(const TrainProgress&)> progress;
};

// Trains a model of registered `type` with a JSON config (empty or "{}" =
// defaults). Unknown types or config fields return InvalidArgument.
absl::StatusOr<std::unique_ptr<SequentialModel>> TrainModel(const std::string& type,
                                                            const std::string& config_json,
                                                            const TrainContext& context);

// Loads any saved model; dispatches on the type stored in the file.
absl::StatusOr<std::unique_ptr<SequentialModel>> LoadModel(const std::string& path);

// Registered model type names.
std::vector<std::string> ModelTypes();

}  // namespace recsys

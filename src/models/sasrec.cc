// SASRec model: config parsing, training driver, the per-shard
// forward/backward (float for training, double for gradient checks),
// inference and model files. See include/recsys/models/sasrec.h.
//
// Shape legend (one trainer shard)
//   B  sequences of the shard     S  window (longest training sequence − 1 in
//   the shard, ≤ max_len)         n = B·S encoder rows      D  model dim
//   m  rows with a target (non-padded positions)           N  items
//   C  shared negatives (kBatch)  K  negatives per row (kPosition)
//   states n × D;  H m × D (gathered);  E_out N × D;  logits m × N (CE)
//   scores m × (1 + C or K), column 0 = the target
#include "recsys/models/sasrec.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "config_json.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/eval/evaluator.h"
#include "recsys/training/logq.h"
#include "recsys/training/schedule.h"

namespace recsys {
namespace {

using layers::Mat;

// ---- enum <-> string ------------------------------------------------------

const char* LossName(SasRecLoss l) {
  switch (l) {
    case SasRecLoss::kSoftmax: return "ce";
    case SasRecLoss::kSampledSoftmax: return "sampled_softmax";
    case SasRecLoss::kBce: return "bce";
    case SasRecLoss::kGbce: return "gbce";
  }
  return "?";
}
const char* NegativesName(SasRecNegatives n) {
  switch (n) {
    case SasRecNegatives::kUniform: return "uniform";
    case SasRecNegatives::kInBatch: return "in_batch";
    case SasRecNegatives::kMixed: return "mixed";
  }
  return "?";
}
const char* SharingName(NegativeSharing s) { return s == NegativeSharing::kBatch ? "batch" : "position"; }
const char* LogQName(LogQCorrection c) {
  switch (c) {
    case LogQCorrection::kNone: return "none";
    case LogQCorrection::kStandard: return "standard";
    case LogQCorrection::kRefined: return "refined";
  }
  return "?";
}

template <typename E>
absl::Status ParseEnum(const std::string& field, const std::string& text, std::initializer_list<E> values,
                       const char* (*name)(E), E* out) {
  std::vector<std::string> names;
  for (E v : values) {
    if (text == name(v)) {
      *out = v;
      return absl::OkStatus();
    }
    names.emplace_back(name(v));
  }
  return absl::InvalidArgumentError(absl::StrCat("sasrec config: field '", field, "' must be one of ",
                                                 absl::StrJoin(names, ", "), ", got '", text, "'"));
}

// ---- gradient sinks: where Run() writes parameter gradients -----------------

struct FloatSink {
  GradBuffer& g;
  float* data() { return g.data(); }
  float* Dense(int id) { return g.Dense(id).data(); }  // marks an embedding table fully touched
  float* Row(int id, int64_t row) { return g.Row(id, row); }
};

struct DoubleSink {
  double* base;
  const ParameterArena& arena;
  double* data() { return base; }
  double* Dense(int id) { return base + arena.tensor(id).offset; }
  double* Row(int id, int64_t row) { return base + arena.tensor(id).offset + row * arena.tensor(id).cols; }
};

// Per-thread scratch, reused across shards (no allocation in steady state).
template <typename T>
struct Workspace {
  std::vector<int32_t> inputs, targets, rows, tgt, negs;
  std::vector<uint8_t> valid, seen;  // seen: num_items marks (in-batch dedup)
  typename ShortTermEncoder<T>::Cache enc;
  Mat<T> states, h, logits, dh, dstates, d_rows, eneg, scores, dscores, log_q, deneg;
};

template <typename T>
Workspace<T>& ThreadWorkspace() {
  thread_local Workspace<T> ws;
  return ws;
}

// Full softmax cross-entropy, fused and vectorised (Eigen's packet exp):
// overwrites logits (m × N) with d(Σ loss)/d logits and returns Σ loss.
// Same value as SoftmaxCrossEntropy(..., kSum) (tested), without the second
// m × N buffer and with SIMD exp, which matters at N = 3,416: the exps cost as
// much as the GEMMs when done one by one.
template <typename T>
double FusedSoftmaxCrossEntropy(Mat<T>* logits, std::span<const int32_t> targets) {
  double total = 0.0;
  for (Eigen::Index i = 0; i < logits->rows(); ++i) {
    auto z = logits->row(i);
    const int32_t t = targets[static_cast<size_t>(i)];
    const T zt = z(t);
    const T m = z.maxCoeff();
    z = (z.array() - m).exp().matrix();   // e_j = exp(z_j − max)
    const T sum = z.sum();
    total += static_cast<double>(m + std::log(sum) - zt);  // ℓ = lse − z_t
    z *= T(1) / sum;                      // dℓ/dz = softmax − onehot(t)
    z(t) -= T(1);
  }
  return total;
}

}  // namespace

// ---- config -----------------------------------------------------------------

absl::Status SasRecConfig::Validate() const {
  RECSYS_RETURN_IF_ERROR(encoder.Validate());
  auto bad = [](const std::string& field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("sasrec config: ", field, " ", why));
  };
  const bool sampled = loss != SasRecLoss::kSoftmax;
  if (sampled) {
    if (negatives == SasRecNegatives::kUniform && num_negatives < 1)
      return bad("num_negatives", absl::StrCat("must be >= 1 for uniform negatives, got ", num_negatives));
    if (num_negatives < 0) return bad("num_negatives", absl::StrCat("must be >= 0, got ", num_negatives));
    if (negatives != SasRecNegatives::kUniform && negative_sharing == NegativeSharing::kPosition)
      return bad("negative_sharing", "'position' needs negatives = 'uniform' (in-batch negatives are shared)");
  }
  if (logq != LogQCorrection::kNone && loss != SasRecLoss::kSampledSoftmax)
    return bad("logq", "applies only to loss = 'sampled_softmax'");
  if (!(gbce_t >= 0.0 && gbce_t <= 1.0)) return bad("gbce_t", absl::StrCat("must be in [0, 1], got ", gbce_t));
  if (batch_size < 1) return bad("batch_size", absl::StrCat("must be >= 1, got ", batch_size));
  if (epochs < 0) return bad("epochs", absl::StrCat("must be >= 0, got ", epochs));
  if (max_steps < 0) return bad("max_steps", absl::StrCat("must be >= 0, got ", max_steps));
  if (!(max_minutes >= 0.0)) return bad("max_minutes", absl::StrCat("must be >= 0, got ", max_minutes));
  if (epochs == 0 && max_steps == 0 && max_minutes == 0.0)
    return bad("epochs", "0 needs max_steps or max_minutes (otherwise training never ends)");
  if (!(learning_rate > 0.0)) return bad("learning_rate", absl::StrCat("must be > 0, got ", learning_rate));
  if (!(beta1 >= 0.0 && beta1 < 1.0)) return bad("beta1", absl::StrCat("must be in [0, 1), got ", beta1));
  if (!(beta2 >= 0.0 && beta2 < 1.0)) return bad("beta2", absl::StrCat("must be in [0, 1), got ", beta2));
  if (!(weight_decay >= 0.0)) return bad("weight_decay", absl::StrCat("must be >= 0, got ", weight_decay));
  if (auto s = MakeLrSchedule(warmup_steps, lr_decay, min_lr_ratio, epochs > 0 || max_steps > 0); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("sasrec config: ", s.status().message()));
  }
  if (!(clip_norm >= 0.0)) return bad("clip_norm", absl::StrCat("must be >= 0, got ", clip_norm));
  if (num_shards < 1 || num_shards > 1024) return bad("num_shards", absl::StrCat("must be in [1, 1024], got ", num_shards));
  if (validate_every_steps < 0) return bad("validate_every_steps", "must be >= 0");
  if (patience < 0) return bad("patience", absl::StrCat("must be >= 0, got ", patience));
  if (log_every_steps < 0) return bad("log_every_steps", "must be >= 0");
  return absl::OkStatus();
}

absl::StatusOr<SasRecConfig> SasRecConfig::FromJson(const std::string& json) {
  RECSYS_ASSIGN_OR_RETURN(internal::ConfigReader r, internal::ConfigReader::Parse(json, "sasrec config"));
  SasRecConfig c;
  ShortTermEncoderConfig& e = c.encoder;
  RECSYS_RETURN_IF_ERROR(r.Get("dim", &e.dim));
  RECSYS_RETURN_IF_ERROR(r.Get("num_blocks", &e.num_blocks));
  RECSYS_RETURN_IF_ERROR(r.Get("num_heads", &e.num_heads));
  RECSYS_RETURN_IF_ERROR(r.Get("max_len", &e.max_len));
  RECSYS_RETURN_IF_ERROR(r.Get("ffn_dim", &e.ffn_dim));
  RECSYS_RETURN_IF_ERROR(r.Get("dropout", &e.dropout));
  RECSYS_RETURN_IF_ERROR(r.Get("layer_norm_eps", &e.layer_norm_eps));
  RECSYS_RETURN_IF_ERROR(r.Get("scale_embeddings", &e.scale_embeddings));
  std::string activation = e.activation == layers::Activation::kRelu ? "relu" : "gelu";
  RECSYS_RETURN_IF_ERROR(r.Get("activation", &activation));
  if (activation == "relu") {
    e.activation = layers::Activation::kRelu;
  } else if (activation == "gelu") {
    e.activation = layers::Activation::kGelu;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("sasrec config: field 'activation' must be one of relu, gelu, got '", activation, "'"));
  }
  RECSYS_RETURN_IF_ERROR(r.Get("tied_embeddings", &c.tied_embeddings));
  std::string loss = LossName(c.loss), negatives = NegativesName(c.negatives),
              sharing = SharingName(c.negative_sharing), logq = LogQName(c.logq);
  RECSYS_RETURN_IF_ERROR(r.Get("loss", &loss));
  RECSYS_RETURN_IF_ERROR(r.Get("negatives", &negatives));
  RECSYS_RETURN_IF_ERROR(r.Get("negative_sharing", &sharing));
  RECSYS_RETURN_IF_ERROR(r.Get("logq", &logq));
  RECSYS_RETURN_IF_ERROR(ParseEnum<SasRecLoss>(
      "loss", loss, {SasRecLoss::kSoftmax, SasRecLoss::kSampledSoftmax, SasRecLoss::kBce, SasRecLoss::kGbce},
      &LossName, &c.loss));
  RECSYS_RETURN_IF_ERROR(ParseEnum<SasRecNegatives>(
      "negatives", negatives, {SasRecNegatives::kUniform, SasRecNegatives::kInBatch, SasRecNegatives::kMixed},
      &NegativesName, &c.negatives));
  RECSYS_RETURN_IF_ERROR(ParseEnum<NegativeSharing>(
      "negative_sharing", sharing, {NegativeSharing::kBatch, NegativeSharing::kPosition}, &SharingName,
      &c.negative_sharing));
  RECSYS_RETURN_IF_ERROR(ParseEnum<LogQCorrection>(
      "logq", logq, {LogQCorrection::kNone, LogQCorrection::kStandard, LogQCorrection::kRefined}, &LogQName,
      &c.logq));
  RECSYS_RETURN_IF_ERROR(r.Get("num_negatives", &c.num_negatives));
  RECSYS_RETURN_IF_ERROR(r.Get("gbce_t", &c.gbce_t));
  RECSYS_RETURN_IF_ERROR(r.Get("batch_size", &c.batch_size));
  RECSYS_RETURN_IF_ERROR(r.Get("epochs", &c.epochs));
  RECSYS_RETURN_IF_ERROR(r.Get("max_steps", &c.max_steps));
  RECSYS_RETURN_IF_ERROR(r.Get("max_minutes", &c.max_minutes));
  RECSYS_RETURN_IF_ERROR(r.Get("learning_rate", &c.learning_rate));
  RECSYS_RETURN_IF_ERROR(r.Get("beta1", &c.beta1));
  RECSYS_RETURN_IF_ERROR(r.Get("beta2", &c.beta2));
  RECSYS_RETURN_IF_ERROR(r.Get("weight_decay", &c.weight_decay));
  RECSYS_RETURN_IF_ERROR(r.Get("lazy_embeddings", &c.lazy_embeddings));
  RECSYS_RETURN_IF_ERROR(r.Get("decay_embeddings", &c.decay_embeddings));
  RECSYS_RETURN_IF_ERROR(r.Get("warmup_steps", &c.warmup_steps));
  RECSYS_RETURN_IF_ERROR(r.Get("lr_decay", &c.lr_decay));
  RECSYS_RETURN_IF_ERROR(r.Get("min_lr_ratio", &c.min_lr_ratio));
  RECSYS_RETURN_IF_ERROR(r.Get("clip_norm", &c.clip_norm));
  RECSYS_RETURN_IF_ERROR(r.Get("num_shards", &c.num_shards));
  RECSYS_RETURN_IF_ERROR(r.Get("validate_every_steps", &c.validate_every_steps));
  RECSYS_RETURN_IF_ERROR(r.Get("patience", &c.patience));
  RECSYS_RETURN_IF_ERROR(r.Get("log_every_steps", &c.log_every_steps));
  RECSYS_RETURN_IF_ERROR(r.CheckNoUnknownFields());
  RECSYS_RETURN_IF_ERROR(c.Validate());
  return c;
}

std::string SasRecConfig::ToJson() const {
  nlohmann::json j;
  j["dim"] = encoder.dim;
  j["num_blocks"] = encoder.num_blocks;
  j["num_heads"] = encoder.num_heads;
  j["max_len"] = encoder.max_len;
  j["ffn_dim"] = encoder.ffn_dim;
  j["dropout"] = encoder.dropout;
  j["layer_norm_eps"] = encoder.layer_norm_eps;
  j["scale_embeddings"] = encoder.scale_embeddings;
  j["activation"] = encoder.activation == layers::Activation::kRelu ? "relu" : "gelu";
  j["tied_embeddings"] = tied_embeddings;
  j["loss"] = LossName(loss);
  j["negatives"] = NegativesName(negatives);
  j["num_negatives"] = num_negatives;
  j["negative_sharing"] = SharingName(negative_sharing);
  j["logq"] = LogQName(logq);
  j["gbce_t"] = gbce_t;
  j["batch_size"] = batch_size;
  j["epochs"] = epochs;
  j["max_steps"] = max_steps;
  j["max_minutes"] = max_minutes;
  j["learning_rate"] = learning_rate;
  j["beta1"] = beta1;
  j["beta2"] = beta2;
  j["weight_decay"] = weight_decay;
  j["lazy_embeddings"] = lazy_embeddings;
  j["decay_embeddings"] = decay_embeddings;
  j["warmup_steps"] = warmup_steps;
  j["lr_decay"] = lr_decay;
  j["min_lr_ratio"] = min_lr_ratio;
  j["clip_norm"] = clip_norm;
  j["num_shards"] = num_shards;
  j["validate_every_steps"] = validate_every_steps;
  j["patience"] = patience;
  j["log_every_steps"] = log_every_steps;
  return j.dump();
}

// ---- construction -----------------------------------------------------------

absl::StatusOr<std::unique_ptr<SasRecModel>> SasRecModel::Create(const SasRecConfig& config, Vocabulary items,
                                                                 std::vector<int64_t> item_counts,
                                                                 uint64_t seed) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  if (items.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat("sasrec: needs at least 2 items, got ", items.size()));
  }
  if (!item_counts.empty() && static_cast<int64_t>(item_counts.size()) != items.size()) {
    return absl::InvalidArgumentError(absl::StrCat("sasrec: item_counts has ", item_counts.size(),
                                                   " entries for ", items.size(), " items"));
  }
  std::unique_ptr<SasRecModel> m(new SasRecModel());
  m->config_ = config;
  m->items_ = std::move(items);
  const int64_t n = m->items_.size(), d = config.encoder.dim;
  int64_t total = 0;
  for (int64_t c : item_counts) total += std::max<int64_t>(0, c);
  if (total > 0) {
    m->log_q_counts_ = LogQFromCounts(item_counts);
  } else {
    m->log_q_counts_.assign(static_cast<size_t>(n), static_cast<float>(-std::log(static_cast<double>(n))));
  }
  m->item_counts_ = std::move(item_counts);
  m->item_emb_ = m->arena_.Add("item_emb", n, d, ParamKind::kEmbedding);
  m->out_emb_ = config.tied_embeddings ? m->item_emb_ : m->arena_.Add("out_emb", n, d, ParamKind::kEmbedding);
  m->layout_ = ShortTermEncoderLayout::Register(&m->arena_, config.encoder, "enc.");
  m->arena_.Allocate();
  Rng rng(seed, /*stream=*/0x5a5e);
  m->arena_.FillXavier(m->item_emb_, rng);
  if (!config.tied_embeddings) m->arena_.FillXavier(m->out_emb_, rng);
  m->layout_.Init(&m->arena_, rng);
  return m;
}

void SasRecModel::SetTrainingData(const SequenceDataset* data) {
  train_ = data;
  examples_.clear();
  if (data == nullptr) return;
  for (UserIndex u = 0; u < data->num_users(); ++u) {
    if (data->length(u) >= 2) examples_.push_back(u);
  }
}

TrainerConfig SasRecModel::MakeTrainerConfig(uint64_t seed, int threads, double max_minutes) const {
  TrainerConfig t;
  t.batch_size = config_.batch_size;
  t.num_shards = config_.num_shards;
  t.epochs = config_.epochs;
  t.max_steps = config_.max_steps;
  double minutes = config_.max_minutes;
  if (max_minutes > 0.0) minutes = minutes > 0.0 ? std::min(minutes, max_minutes) : max_minutes;
  t.max_minutes = minutes;
  t.seed = seed;
  t.threads = threads;
  t.optimizer.learning_rate = config_.learning_rate;
  t.optimizer.beta1 = config_.beta1;
  t.optimizer.beta2 = config_.beta2;
  t.optimizer.weight_decay = config_.weight_decay;
  t.optimizer.lazy_embeddings = config_.lazy_embeddings;
  t.optimizer.decay_embeddings = config_.decay_embeddings;
  t.schedule = *MakeLrSchedule(config_.warmup_steps, config_.lr_decay, config_.min_lr_ratio,
                               true);  // validated with the config
  t.clip_norm = config_.clip_norm;
  t.validate_every_steps = config_.validate_every_steps;
  t.patience = config_.patience;
  t.log_every_steps = config_.log_every_steps;
  return t;
}

absl::StatusOr<std::unique_ptr<SasRecModel>> SasRecModel::Train(const SasRecConfig& config,
                                                                const TrainContext& context) {
  if (context.train == nullptr) return absl::InvalidArgumentError("sasrec: TrainContext.train is required");
  const SequenceDataset& data = *context.train;
  RECSYS_ASSIGN_OR_RETURN(auto model, Create(config, data.item_vocab(), data.ItemCounts(), context.seed));
  model->SetTrainingData(&data);
  if (model->num_examples() == 0) {
    return absl::InvalidArgumentError("sasrec: no training user has 2 or more events");
  }
  RECSYS_ASSIGN_OR_RETURN(
      auto trainer, Trainer::Create(model->MakeTrainerConfig(context.seed, context.threads, context.max_minutes),
                                    model.get()));
  SasRecModel* raw = model.get();
  if (context.valid != nullptr && context.valid->size() > 0) {
    const EvalSet* valid = context.valid;
    const int threads = context.threads;
    trainer->SetValidation("ndcg@10", [raw, valid, threads]() -> absl::StatusOr<double> {
      EvalOptions options;
      options.ks = {10};
      options.threads = threads;
      RECSYS_ASSIGN_OR_RETURN(EvalResult r, Evaluate(*raw, *valid, options));
      return r.metrics.at(10).ndcg;
    });
  }
  if (context.progress) {
    auto callback = context.progress;
    trainer->SetProgressCallback([callback](const TrainerProgress& p) {
      TrainProgress out;
      out.epoch = p.epoch;
      out.step = p.step;
      out.total_steps = p.total_steps;
      out.loss = p.loss;
      out.events_per_s = p.events_per_s;
      out.elapsed_s = p.elapsed_s;
      out.eta_s = p.eta_s;
      if (p.validated) {
        out.valid_metric_name = p.valid_metric_name;
        out.valid_metric = p.valid_metric;
      }
      return callback(out);
    });
  }
  absl::StatusOr<TrainResult> result = trainer->Train();
  model->SetTrainingData(nullptr);
  if (!result.ok()) return result.status();
  return model;
}

// ---- training forward/backward ----------------------------------------------

int64_t SasRecModel::NumEvents(std::span<const int64_t> example_ids) const {
  int64_t events = 0;
  const int64_t s = config_.encoder.max_len;
  for (int64_t id : example_ids) {
    events += std::min<int64_t>(s, train_->length(examples_[static_cast<size_t>(id)]) - 1);
  }
  return events;
}

LossSum SasRecModel::ForwardBackward(std::span<const int64_t> example_ids, Rng& rng, GradBuffer& grads) const {
  FloatSink sink{grads};
  return Run<float>(example_ids, rng, /*training=*/true, arena_.data(), sink);
}

double SasRecModel::LossAndGradientDouble(std::span<const int64_t> example_ids, uint64_t seed, bool training,
                                          std::span<const double> theta, std::span<double> grad) const {
  RECSYS_CHECK(static_cast<int64_t>(theta.size()) == arena_.size() &&
               static_cast<int64_t>(grad.size()) == arena_.size());
  Rng rng(seed, 0);
  DoubleSink sink{grad.data(), arena_};
  return Run<double>(example_ids, rng, training, theta.data(), sink).loss;
}

template <typename T, typename Sink>
LossSum SasRecModel::Run(std::span<const int64_t> example_ids, Rng& rng, bool training, const T* theta,
                         Sink& sink) const {
  RECSYS_CHECK(train_ != nullptr) << "sasrec: SetTrainingData() before training";
  Workspace<T>& ws = ThreadWorkspace<T>();
  const int64_t batch = static_cast<int64_t>(example_ids.size());
  if (batch == 0) return {};
  const int64_t num_items = items_.size(), d = config_.encoder.dim;

  // Windows: input = the sequence without its last item, target = without its
  // first, both the last S positions, left-padded; S = the shard's longest.
  int64_t seq_len = 1;
  for (int64_t id : example_ids) {
    seq_len = std::max<int64_t>(seq_len, train_->length(examples_[static_cast<size_t>(id)]) - 1);
  }
  seq_len = std::min<int64_t>(seq_len, config_.encoder.max_len);
  const int64_t n = batch * seq_len;
  ws.inputs.resize(static_cast<size_t>(n));
  ws.targets.resize(static_cast<size_t>(n));
  for (int64_t b = 0; b < batch; ++b) {
    const auto h = train_->items(examples_[static_cast<size_t>(example_ids[static_cast<size_t>(b)])]);
    FillLeftPaddedWindow(h.first(h.size() - 1), seq_len, ws.inputs.data() + b * seq_len);
    FillLeftPaddedWindow(h.subspan(1), seq_len, ws.targets.data() + b * seq_len);
  }

  const auto table = [&](int id) {
    const ParamTensor& t = arena_.tensor(id);
    return Eigen::Map<const Mat<T>>(theta + t.offset, t.rows, t.cols);
  };
  const auto item_table = table(item_emb_);
  const auto out_table = table(out_emb_);
  const auto params = layout_.BindParams<T>(theta, arena_);
  ShortTermEncoder<T>::Forward(item_table, ws.inputs, batch, params, config_.encoder, training, &rng, &ws.enc,
                               &ws.states);

  // H = states at positions with a target.
  ws.rows.clear();
  ws.tgt.clear();
  for (int64_t i = 0; i < n; ++i) {
    if (ws.targets[static_cast<size_t>(i)] >= 0) {
      ws.rows.push_back(static_cast<int32_t>(i));
      ws.tgt.push_back(ws.targets[static_cast<size_t>(i)]);
    }
  }
  const int64_t m = static_cast<int64_t>(ws.rows.size());
  layers::EnsureShape(&ws.h, m, d);
  for (int64_t r = 0; r < m; ++r) ws.h.row(r) = ws.states.row(ws.rows[static_cast<size_t>(r)]);
  layers::EnsureShape(&ws.dh, m, d);

  LossSum result;
  if (config_.loss == SasRecLoss::kSoftmax) {
    // logits = H·E_outᵀ; ℓ = Σ_rows CE(logits, target)
    layers::EnsureShape(&ws.logits, m, num_items);
    ws.logits.noalias() = ws.h * out_table.transpose();
    result.loss = FusedSoftmaxCrossEntropy<T>(&ws.logits, ws.tgt);  // logits ← dℓ/dlogits
    result.count = static_cast<double>(m);
    // dH = dlogits·E_out;  dE_out += dlogitsᵀ·H
    ws.dh.noalias() = ws.logits * out_table;
    Eigen::Map<Mat<T>>(sink.Dense(out_emb_), num_items, d).noalias() += ws.logits.transpose() * ws.h;
  } else {
    const bool shared = config_.negative_sharing == NegativeSharing::kBatch;
    // Negatives and their log Q.
    int64_t in_batch = 0;
    ws.negs.clear();
    if (config_.negatives != SasRecNegatives::kUniform) {
      ws.seen.assign(static_cast<size_t>(num_items), 0);
      for (int32_t t : ws.tgt) {  // distinct targets, in order of first appearance
        if (!ws.seen[static_cast<size_t>(t)]) ws.negs.push_back(t);
        ws.seen[static_cast<size_t>(t)] = 1;
      }
      in_batch = static_cast<int64_t>(ws.negs.size());
    }
    const int64_t k_uniform = config_.negatives == SasRecNegatives::kInBatch ? 0 : config_.num_negatives;
    const int64_t cols = 1 + (shared ? in_batch + k_uniform : k_uniform);
    if (shared) {
      for (int64_t k = 0; k < k_uniform; ++k) {
        ws.negs.push_back(static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(num_items))));
      }
    } else {
      ws.negs.resize(static_cast<size_t>(m * k_uniform));
      for (auto& v : ws.negs) v = static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(num_items)));
    }
    const double log_uniform = -std::log(static_cast<double>(num_items));
    auto log_q = [&](int32_t item) -> T {
      switch (config_.negatives) {
        case SasRecNegatives::kUniform: return static_cast<T>(log_uniform);
        case SasRecNegatives::kInBatch: return static_cast<T>(log_q_counts_[static_cast<size_t>(item)]);
        case SasRecNegatives::kMixed: {
          const double q = (static_cast<double>(in_batch) * std::exp(log_q_counts_[static_cast<size_t>(item)]) +
                            static_cast<double>(k_uniform) / static_cast<double>(num_items)) /
                           static_cast<double>(std::max<int64_t>(1, in_batch + k_uniform));
          return static_cast<T>(std::log(q));
        }
      }
      return T(0);
    };
    auto neg = [&](int64_t r, int64_t c) {  // item of column c ≥ 1 of row r
      return shared ? ws.negs[static_cast<size_t>(c - 1)] : ws.negs[static_cast<size_t>(r * k_uniform + c - 1)];
    };

    // scores: column 0 = ⟨h, E_out[target]⟩, then the negatives.
    layers::EnsureShape(&ws.scores, m, cols);
    for (int64_t r = 0; r < m; ++r) ws.scores(r, 0) = ws.h.row(r).dot(out_table.row(ws.tgt[static_cast<size_t>(r)]));
    if (shared) {
      layers::EnsureShape(&ws.eneg, cols - 1, d);
      for (int64_t c = 1; c < cols; ++c) ws.eneg.row(c - 1) = out_table.row(ws.negs[static_cast<size_t>(c - 1)]);
      ws.scores.rightCols(cols - 1).noalias() = ws.h * ws.eneg.transpose();
    } else {
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 1; c < cols; ++c) ws.scores(r, c) = ws.h.row(r).dot(out_table.row(neg(r, c)));
      }
    }
    ws.valid.assign(static_cast<size_t>(m * cols), 1);
    int64_t terms = 0;
    for (int64_t r = 0; r < m; ++r) {
      const int32_t t = ws.tgt[static_cast<size_t>(r)];
      ++terms;
      for (int64_t c = 1; c < cols; ++c) {
        const bool hit = neg(r, c) == t;  // accidental hit: masked
        ws.valid[static_cast<size_t>(r * cols + c)] = !hit;
        terms += !hit;
      }
    }
    if (config_.loss == SasRecLoss::kSampledSoftmax) {
      const Mat<T>* lq = nullptr;
      if (config_.logq != LogQCorrection::kNone) {
        layers::EnsureShape(&ws.log_q, m, cols);
        for (int64_t r = 0; r < m; ++r) {
          ws.log_q(r, 0) = log_q(ws.tgt[static_cast<size_t>(r)]);
          for (int64_t c = 1; c < cols; ++c) ws.log_q(r, c) = (shared && r > 0) ? ws.log_q(0, c) : log_q(neg(r, c));
        }
        lq = &ws.log_q;
      }
      SampledSoftmaxOptions options;
      options.correction = config_.logq;
      options.reduction = LossReduction::kSum;
      result.loss = SampledSoftmaxLoss(ws.scores, {}, lq, ws.valid, options, &ws.dscores);
      result.count = static_cast<double>(m);
    } else {
      const int64_t k = cols - 1;
      const double beta = config_.loss == SasRecLoss::kGbce && k >= 1 ? GbceBeta(k, num_items, config_.gbce_t) : 1.0;
      result.loss = BinaryCrossEntropy(ws.scores, {}, ws.valid, beta, &ws.dscores, LossReduction::kSum);
      result.count = static_cast<double>(terms);
    }
    // Backward of the scores.
    for (int64_t r = 0; r < m; ++r) {  // column 0: s = ⟨h, E_out[t]⟩
      const T g = ws.dscores(r, 0);
      const int32_t t = ws.tgt[static_cast<size_t>(r)];
      ws.dh.row(r) = g * out_table.row(t);
      Eigen::Map<layers::Row<T>>(sink.Row(out_emb_, t), d) += g * ws.h.row(r);
    }
    if (shared) {  // scores[:, 1:] = H·E_negᵀ
      ws.dh.noalias() += ws.dscores.rightCols(cols - 1) * ws.eneg;
      layers::EnsureShape(&ws.deneg, cols - 1, d);
      ws.deneg.noalias() = ws.dscores.rightCols(cols - 1).transpose() * ws.h;
      for (int64_t c = 1; c < cols; ++c) {
        Eigen::Map<layers::Row<T>>(sink.Row(out_emb_, ws.negs[static_cast<size_t>(c - 1)]), d) += ws.deneg.row(c - 1);
      }
    } else {
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 1; c < cols; ++c) {
          const T g = ws.dscores(r, c);
          if (g == T(0)) continue;
          const int32_t j = neg(r, c);
          ws.dh.row(r) += g * out_table.row(j);
          Eigen::Map<layers::Row<T>>(sink.Row(out_emb_, j), d) += g * ws.h.row(r);
        }
      }
    }
  }

  // Back through the gather and the encoder.
  layers::EnsureShape(&ws.dstates, n, d);
  ws.dstates.setZero();
  for (int64_t r = 0; r < m; ++r) ws.dstates.row(ws.rows[static_cast<size_t>(r)]) = ws.dh.row(r);
  ShortTermEncoder<T>::Backward(ws.dstates, params, config_.encoder, ws.enc,
                                layout_.BindGrads<T>(sink.data(), arena_), &ws.d_rows);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t item = ws.inputs[static_cast<size_t>(i)];
    if (item >= 0) Eigen::Map<layers::Row<T>>(sink.Row(item_emb_, item), d) += ws.d_rows.row(i);
  }
  return result;
}

// ---- inference ---------------------------------------------------------------

void SasRecModel::Encode(std::span<const HistoryView> histories, MatrixF* user) const {
  struct InferenceWorkspace {
    std::vector<int32_t> window;
    ShortTermEncoder<float>::Cache enc;
    MatrixF states;
  };
  thread_local InferenceWorkspace ws;
  const int64_t batch = static_cast<int64_t>(histories.size());
  int64_t seq_len = 1;
  for (const HistoryView& h : histories) seq_len = std::max<int64_t>(seq_len, static_cast<int64_t>(h.items.size()));
  seq_len = std::min<int64_t>(seq_len, config_.encoder.max_len);
  ws.window.resize(static_cast<size_t>(batch * seq_len));
  for (int64_t b = 0; b < batch; ++b) {
    FillLeftPaddedWindow(histories[static_cast<size_t>(b)].items, seq_len, ws.window.data() + b * seq_len);
  }
  const auto params = layout_.BindParams<float>(arena_.data(), arena_);
  ShortTermEncoder<float>::Forward(arena_.Value(item_emb_), ws.window, batch, params, config_.encoder,
                                   /*training=*/false, nullptr, &ws.enc, &ws.states);
  ShortTermEncoder<float>::LastStates(ws.states, batch, user);
}

absl::Status SasRecModel::UserEmbeddings(std::span<const HistoryView> histories, MatrixRef out) const {
  if (out.rows() != static_cast<int64_t>(histories.size()) || out.cols() != config_.encoder.dim) {
    return absl::InvalidArgumentError(absl::StrCat("sasrec UserEmbeddings: out is ", out.rows(), " × ", out.cols(),
                                                   ", expected ", histories.size(), " × ", config_.encoder.dim));
  }
  for (const HistoryView& h : histories) {
    for (ItemIndex i : h.items) {
      if (i < 0 || i >= num_items()) {
        return absl::InvalidArgumentError(absl::StrCat("sasrec: history item index ", i, " outside [0, ",
                                                       num_items(), ")"));
      }
    }
  }
  constexpr int64_t kChunk = 64;
  MatrixF user;
  for (int64_t b = 0; b < out.rows(); b += kChunk) {
    const int64_t e = std::min<int64_t>(out.rows(), b + kChunk);
    if (e == b) break;
    Encode(histories.subspan(static_cast<size_t>(b), static_cast<size_t>(e - b)), &user);
    out.middleRows(b, e - b) = user;
  }
  return absl::OkStatus();
}

absl::Status SasRecModel::ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const {
  if (out.rows() != static_cast<int64_t>(histories.size()) || out.cols() != num_items()) {
    return absl::InvalidArgumentError(absl::StrCat("sasrec ScoreAll: out is ", out.rows(), " × ", out.cols(),
                                                   ", expected ", histories.size(), " × ", num_items()));
  }
  if (histories.empty()) return absl::OkStatus();
  MatrixF user(static_cast<int64_t>(histories.size()), config_.encoder.dim);
  RECSYS_RETURN_IF_ERROR(UserEmbeddings(histories, user));
  out.noalias() = user * ItemEmbeddings().transpose();  // scores = u_s · E_outᵀ
  return absl::OkStatus();
}

// ---- model files -------------------------------------------------------------

absl::Status SasRecModel::Save(const std::string& path) const {
  TensorFile file;
  file.metadata["model_type"] = type();
  file.metadata["config"] = config_json();
  RECSYS_RETURN_IF_ERROR(internal::AddItemVocab(items_, file));
  if (!item_counts_.empty()) RECSYS_RETURN_IF_ERROR(file.Add<int64_t>("item_counts", {num_items()}, item_counts_));
  for (int id = 0; id < arena_.num_tensors(); ++id) {
    const ParamTensor& t = arena_.tensor(id);
    RECSYS_RETURN_IF_ERROR(file.Add<float>(t.name, {t.rows, t.cols},
                                           std::span<const float>(arena_.data() + t.offset, t.size())));
  }
  return WriteTensorFile(path, file);
}

absl::StatusOr<std::unique_ptr<SasRecModel>> SasRecModel::Load(const TensorFile& file) {
  RECSYS_ASSIGN_OR_RETURN(std::string config_text, file.Meta("config"));
  RECSYS_ASSIGN_OR_RETURN(SasRecConfig config, SasRecConfig::FromJson(config_text));
  RECSYS_ASSIGN_OR_RETURN(Vocabulary items, internal::GetItemVocab(file));
  std::vector<int64_t> counts;
  if (file.Has("item_counts")) {
    RECSYS_ASSIGN_OR_RETURN(counts, file.Get<int64_t>("item_counts", {items.size()}));
  }
  RECSYS_ASSIGN_OR_RETURN(auto model, Create(config, std::move(items), std::move(counts), 0));
  for (int id = 0; id < model->arena_.num_tensors(); ++id) {
    const ParamTensor& t = model->arena_.tensor(id);
    RECSYS_ASSIGN_OR_RETURN(std::vector<float> values, file.Get<float>(t.name, {t.rows, t.cols}));
    std::copy(values.begin(), values.end(), model->arena_.data() + t.offset);
  }
  return model;
}

}  // namespace recsys

// LongShortModel: config parsing, training through the Trainer, inference
// (ScoreAll / EncodeUser / ScoreCandidates) and model files.
#include "recsys/models/longshort.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "config_json.h"
#include "recsys/core/check.h"
#include "recsys/core/gather.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"
#include "recsys/eval/evaluator.h"
#include "recsys/training/schedule.h"

namespace recsys {
namespace {

absl::StatusOr<RankLossSpec> ParseLoss(const std::string& name, const std::string& field,
                                       const LongShortConfig& c) {
  RankLossSpec spec;
  spec.gbce_t = c.gbce_t;
  if (c.logq == "none") {
    spec.correction = LogQCorrection::kNone;
  } else if (c.logq == "standard") {
    spec.correction = LogQCorrection::kStandard;
  } else if (c.logq == "refined") {
    spec.correction = LogQCorrection::kRefined;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("longshort config: logq must be none|standard|refined, got '", c.logq, "'"));
  }
  if (name == "ce") {
    spec.kind = RankLossKind::kSoftmaxCE;
  } else if (name == "sampled") {
    spec.kind = RankLossKind::kSampledSoftmax;
  } else if (name == "bce") {
    spec.kind = RankLossKind::kBce;
  } else if (name == "gbce") {
    spec.kind = RankLossKind::kGbce;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("longshort config: ", field, " must be ce|sampled|bce|gbce, got '", name, "'"));
  }
  return spec;
}

absl::StatusOr<SamplerKind> ParseSampler(const std::string& name) {
  if (name == "uniform") return SamplerKind::kUniform;
  if (name == "popularity") return SamplerKind::kPopularity;
  if (name == "inbatch") return SamplerKind::kInBatch;
  if (name == "mixed") return SamplerKind::kMixed;
  return absl::InvalidArgumentError(
      absl::StrCat("longshort config: sampler must be uniform|popularity|inbatch|mixed, got '", name, "'"));
}

absl::StatusOr<MatrixF> ReadContent(const std::string& path, const Vocabulary& items) {
  TensorReadOptions options;
  options.require_recsys = false;
  RECSYS_ASSIGN_OR_RETURN(TensorFile file, ReadTensorFile(path, options));
  RECSYS_ASSIGN_OR_RETURN(std::vector<int64_t> ids, file.Get<int64_t>("item_ids"));
  RECSYS_ASSIGN_OR_RETURN(std::vector<int64_t> shape, file.Shape("embeddings"));
  if (shape.size() != 2 || shape[0] != static_cast<int64_t>(ids.size()) || shape[1] < 1) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": tensor 'embeddings' must be ", ids.size(),
                                                   " × C, got ", ShapeString(shape)));
  }
  RECSYS_ASSIGN_OR_RETURN(std::vector<float> emb, file.Get<float>("embeddings"));
  MatrixF content = MatrixF::Zero(items.size(), shape[1]);
  for (size_t r = 0; r < ids.size(); ++r) {
    const int32_t i = items.Find(ids[r]);
    if (i >= 0) content.row(i) = Eigen::Map<const RowVectorF>(emb.data() + r * shape[1], shape[1]);
  }
  return content;
}

}  // namespace

// ---- config ------------------------------------------------------------------

LongShortNetConfig LongShortConfig::ToNet() const {
  LongShortNetConfig n;
  n.encoder.dim = dim;
  n.encoder.num_blocks = num_blocks;
  n.encoder.num_heads = num_heads;
  n.encoder.max_len = max_len;
  n.encoder.ffn_dim = ffn_dim;
  n.encoder.dropout = dropout;
  n.long_term.num_interests = num_interests;
  n.long_term.heads = long_heads;
  n.max_history = max_history;
  n.recency_buckets = recency_buckets;
  n.recency_by_time = recency_by_time;
  n.recency_time_unit = recency_time_unit;
  n.tau = tau;
  n.short_weight = short_weight;
  n.long_weight = long_weight;
  if (auto s = ParseLoss(short_loss, "short_loss", *this); s.ok()) n.short_loss = *s;
  if (auto s = ParseLoss(long_loss, "long_loss", *this); s.ok()) n.long_loss = *s;
  return n;
}

absl::Status LongShortConfig::Validate() const {
  auto bad = [](const std::string& field, const std::string& rule) {
    return absl::InvalidArgumentError(absl::StrCat("longshort config: ", field, " must be ", rule));
  };
  RECSYS_RETURN_IF_ERROR(ParseLoss(short_loss, "short_loss", *this).status());
  RECSYS_RETURN_IF_ERROR(ParseLoss(long_loss, "long_loss", *this).status());
  RECSYS_ASSIGN_OR_RETURN(SamplerKind kind, ParseSampler(sampler));
  if (short_loss != "ce" && short_weight > 0 && (kind == SamplerKind::kInBatch || kind == SamplerKind::kMixed)) {
    return bad("sampler", "uniform or popularity when short_loss is sampled (in-batch over B·S positions)");
  }
  if (num_negatives < 1) return bad("num_negatives", absl::StrCat(">= 1, got ", num_negatives));
  if (!(popularity_power >= 0)) return bad("popularity_power", ">= 0");
  if (!(delta_max_norm > 0)) return bad("delta_max_norm", "> 0");
  if (window_stride < 0) return bad("window_stride", absl::StrCat(">= 0, got ", window_stride));
  if (max_windows_per_user < 0) return bad("max_windows_per_user", absl::StrCat(">= 0, got ", max_windows_per_user));
  if (long_stride < 0) return bad("long_stride", absl::StrCat(">= 0, got ", long_stride));
  if (batch_size < 1) return bad("batch_size", absl::StrCat(">= 1, got ", batch_size));
  if (num_shards < 1 || num_shards > 1024) return bad("num_shards", absl::StrCat("in [1, 1024], got ", num_shards));
  if (epochs < 0) return bad("epochs", ">= 0");
  if (max_steps < 0) return bad("max_steps", ">= 0");
  if (!(max_minutes >= 0)) return bad("max_minutes", ">= 0");
  if (epochs == 0 && max_steps == 0 && max_minutes == 0) {
    return bad("epochs/max_steps/max_minutes", "set (at least one budget)");
  }
  if (!(learning_rate > 0)) return bad("learning_rate", "> 0");
  if (!(weight_decay >= 0)) return bad("weight_decay", ">= 0");
  if (!(clip_norm >= 0)) return bad("clip_norm", ">= 0");
  if (auto s = MakeLrSchedule(warmup_steps, lr_decay, min_lr_ratio, epochs > 0 || max_steps > 0); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("longshort config: ", s.status().message()));
  }
  if (validate_every_epochs < 1) return bad("validate_every_epochs", ">= 1");
  if (patience < 0) return bad("patience", ">= 0");
  return ToNet().Validate();
}

absl::StatusOr<LongShortConfig> LongShortConfig::FromJson(const std::string& json) {
  RECSYS_ASSIGN_OR_RETURN(internal::ConfigReader r, internal::ConfigReader::Parse(json, "longshort config"));
  LongShortConfig c;
  RECSYS_RETURN_IF_ERROR(r.Get("dim", &c.dim));
  RECSYS_RETURN_IF_ERROR(r.Get("num_blocks", &c.num_blocks));
  RECSYS_RETURN_IF_ERROR(r.Get("num_heads", &c.num_heads));
  RECSYS_RETURN_IF_ERROR(r.Get("max_len", &c.max_len));
  RECSYS_RETURN_IF_ERROR(r.Get("ffn_dim", &c.ffn_dim));
  RECSYS_RETURN_IF_ERROR(r.Get("dropout", &c.dropout));
  RECSYS_RETURN_IF_ERROR(r.Get("num_interests", &c.num_interests));
  RECSYS_RETURN_IF_ERROR(r.Get("long_heads", &c.long_heads));
  RECSYS_RETURN_IF_ERROR(r.Get("max_history", &c.max_history));
  RECSYS_RETURN_IF_ERROR(r.Get("recency_buckets", &c.recency_buckets));
  RECSYS_RETURN_IF_ERROR(r.Get("recency_by_time", &c.recency_by_time));
  RECSYS_RETURN_IF_ERROR(r.Get("recency_time_unit", &c.recency_time_unit));
  RECSYS_RETURN_IF_ERROR(r.Get("tau", &c.tau));
  RECSYS_RETURN_IF_ERROR(r.Get("short_loss", &c.short_loss));
  RECSYS_RETURN_IF_ERROR(r.Get("long_loss", &c.long_loss));
  RECSYS_RETURN_IF_ERROR(r.Get("short_weight", &c.short_weight));
  RECSYS_RETURN_IF_ERROR(r.Get("long_weight", &c.long_weight));
  RECSYS_RETURN_IF_ERROR(r.Get("sampler", &c.sampler));
  RECSYS_RETURN_IF_ERROR(r.Get("num_negatives", &c.num_negatives));
  RECSYS_RETURN_IF_ERROR(r.Get("logq", &c.logq));
  RECSYS_RETURN_IF_ERROR(r.Get("gbce_t", &c.gbce_t));
  RECSYS_RETURN_IF_ERROR(r.Get("popularity_power", &c.popularity_power));
  RECSYS_RETURN_IF_ERROR(r.Get("content_file", &c.content_file));
  RECSYS_RETURN_IF_ERROR(r.Get("delta_max_norm", &c.delta_max_norm));
  RECSYS_RETURN_IF_ERROR(r.Get("window_stride", &c.window_stride));
  RECSYS_RETURN_IF_ERROR(r.Get("max_windows_per_user", &c.max_windows_per_user));
  RECSYS_RETURN_IF_ERROR(r.Get("long_stride", &c.long_stride));
  RECSYS_RETURN_IF_ERROR(r.Get("batch_size", &c.batch_size));
  RECSYS_RETURN_IF_ERROR(r.Get("num_shards", &c.num_shards));
  RECSYS_RETURN_IF_ERROR(r.Get("epochs", &c.epochs));
  RECSYS_RETURN_IF_ERROR(r.Get("max_steps", &c.max_steps));
  RECSYS_RETURN_IF_ERROR(r.Get("max_minutes", &c.max_minutes));
  RECSYS_RETURN_IF_ERROR(r.Get("learning_rate", &c.learning_rate));
  RECSYS_RETURN_IF_ERROR(r.Get("weight_decay", &c.weight_decay));
  RECSYS_RETURN_IF_ERROR(r.Get("decay_embeddings", &c.decay_embeddings));
  RECSYS_RETURN_IF_ERROR(r.Get("clip_norm", &c.clip_norm));
  RECSYS_RETURN_IF_ERROR(r.Get("warmup_steps", &c.warmup_steps));
  RECSYS_RETURN_IF_ERROR(r.Get("lr_decay", &c.lr_decay));
  RECSYS_RETURN_IF_ERROR(r.Get("min_lr_ratio", &c.min_lr_ratio));
  RECSYS_RETURN_IF_ERROR(r.Get("validate_every_epochs", &c.validate_every_epochs));
  RECSYS_RETURN_IF_ERROR(r.Get("patience", &c.patience));
  RECSYS_RETURN_IF_ERROR(r.Get("log_losses", &c.log_losses));
  RECSYS_RETURN_IF_ERROR(r.CheckNoUnknownFields());
  RECSYS_RETURN_IF_ERROR(c.Validate());
  return c;
}

std::string LongShortConfig::ToJson() const {
  nlohmann::json j;
  j["dim"] = dim;
  j["num_blocks"] = num_blocks;
  j["num_heads"] = num_heads;
  j["max_len"] = max_len;
  j["ffn_dim"] = ffn_dim;
  j["dropout"] = dropout;
  j["num_interests"] = num_interests;
  j["long_heads"] = long_heads;
  j["max_history"] = max_history;
  j["recency_buckets"] = recency_buckets;
  j["recency_by_time"] = recency_by_time;
  j["recency_time_unit"] = recency_time_unit;
  j["tau"] = tau;
  j["short_loss"] = short_loss;
  j["long_loss"] = long_loss;
  j["short_weight"] = short_weight;
  j["long_weight"] = long_weight;
  j["sampler"] = sampler;
  j["num_negatives"] = num_negatives;
  j["logq"] = logq;
  j["gbce_t"] = gbce_t;
  j["popularity_power"] = popularity_power;
  j["content_file"] = content_file;
  j["delta_max_norm"] = delta_max_norm;
  j["window_stride"] = window_stride;
  j["max_windows_per_user"] = max_windows_per_user;
  j["long_stride"] = long_stride;
  j["batch_size"] = batch_size;
  j["num_shards"] = num_shards;
  j["epochs"] = epochs;
  j["max_steps"] = max_steps;
  j["max_minutes"] = max_minutes;
  j["learning_rate"] = learning_rate;
  j["weight_decay"] = weight_decay;
  j["decay_embeddings"] = decay_embeddings;
  j["clip_norm"] = clip_norm;
  j["warmup_steps"] = warmup_steps;
  j["lr_decay"] = lr_decay;
  j["min_lr_ratio"] = min_lr_ratio;
  j["validate_every_epochs"] = validate_every_epochs;
  j["patience"] = patience;
  j["log_losses"] = log_losses;
  return j.dump();
}

// ---- construction ---------------------------------------------------------------

absl::Status LongShortModel::Init(const LongShortConfig& config, Vocabulary items, const MatrixF* content,
                                  uint64_t seed) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  if (items.size() < 1) return absl::InvalidArgumentError("longshort: empty item vocabulary");
  config_ = config;
  net_ = config.ToNet();
  items_ = std::move(items);
  if (content != nullptr && content->size() > 0) {
    if (content->rows() != items_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("longshort: content has ", content->rows(), " rows, ",
                                                     items_.size(), " items"));
    }
    if (!content->allFinite()) return absl::InvalidArgumentError("longshort: content has non-finite values");
    content_ = *content;
  }
  layout_ = LongShortLayout::Register(&arena_, net_, items_.size(), static_cast<int>(content_.cols()));
  arena_.Allocate();
  Rng rng(seed, /*stream=*/0x6c6f6e67);
  layout_.Init(&arena_, rng);
  RefreshInference();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LongShortModel>> LongShortModel::Create(const LongShortConfig& config,
                                                                       Vocabulary items, const MatrixF* content,
                                                                       uint64_t seed) {
  std::unique_ptr<LongShortModel> model(new LongShortModel());
  RECSYS_RETURN_IF_ERROR(model->Init(config, std::move(items), content, seed));
  return model;
}

void LongShortModel::RefreshItemTable() {
  const ParameterArena& arena = arena_;
  const ConstMapMatrixF table = arena.Value(layout_.item_emb);
  // Requests gather random rows of this table (history, candidates): huge pages.
  ResizeForGathers(&item_table_, table.rows(), table.cols());
  if (content_.size() > 0) {
    LongShortNet<float>::ItemTable(content_, arena.Value(layout_.content_proj), table, &item_table_);
  } else {
    item_table_ = table;
  }
}

void LongShortModel::RefreshInference() {
  RefreshItemTable();
  if (layout_.has_long()) {
    const auto p = layout_.BindParams<float>(arena_.data(), arena_);
    LongTermEncoder<float>::Precompute(*p.long_term, &proj_);
  }
}

// ---- training -------------------------------------------------------------------

absl::Status LongShortModel::SetTrainingData(const SequenceDataset* train) {
  if (train->num_items() != items_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("longshort: dataset has ", train->num_items(),
                                                   " items, model ", items_.size()));
  }
  train_ = train;
  windows_.clear();
  const int64_t stride = config_.window_stride > 0 ? config_.window_stride : config_.max_len;
  double positions = 0, long_targets = 0;
  for (UserIndex u = 0; u < train->num_users(); ++u) {
    int64_t taken = 0;
    for (int64_t end = train->length(u) - 1; end >= 1; end -= stride) {
      if (config_.max_windows_per_user > 0 && taken == config_.max_windows_per_user) break;
      windows_.push_back({u, static_cast<int32_t>(end)});
      positions += static_cast<double>(std::min<int64_t>(end, config_.max_len));
      long_targets += config_.long_stride > 0
                          ? static_cast<double>(DenseLongRows(end, config_.max_len, config_.long_stride))
                          : 1.0;
      ++taken;
    }
  }
  if (windows_.empty()) {
    return absl::InvalidArgumentError("longshort: no training user has 2 or more events");
  }
  long_scale_ = positions / long_targets;
  if (net_.short_loss.sampled() || net_.long_loss.sampled()) {
    NegativeSamplerConfig sc;
    RECSYS_ASSIGN_OR_RETURN(sc.kind, ParseSampler(config_.sampler));
    sc.num_negatives = config_.num_negatives;
    sc.popularity_power = config_.popularity_power;
    std::vector<int64_t> counts = train->ItemCounts();
    RECSYS_ASSIGN_OR_RETURN(sampler_, NegativeSampler::Create(sc, counts));
  }
  return absl::OkStatus();
}

int64_t LongShortModel::NumEvents(std::span<const int64_t> example_ids) const {
  int64_t n = 0;
  for (int64_t id : example_ids) n += std::min<int64_t>(windows_[static_cast<size_t>(id)].end, config_.max_len);
  return n;
}

LossSum LongShortModel::ForwardBackward(std::span<const int64_t> example_ids, Rng& rng, GradBuffer& grads) const {
  LongShortBatch batch;
  for (int64_t id : example_ids) {
    const Window w = windows_[static_cast<size_t>(id)];
    const auto items = train_->items(w.user);
    const auto ts = train_->timestamps(w.user);
    const size_t t = static_cast<size_t>(w.end);
    const auto prefix_ts = ts.size() == items.size() ? ts.first(t) : ts;
    if (config_.long_stride > 0) {
      AppendDenseExample(items.first(t), prefix_ts, items[t], net_, config_.long_stride, &batch);
    } else {
      AppendExample(items.first(t), prefix_ts, items[t], net_, &batch);
    }
  }
  CandidateSet short_cand, long_cand;
  const bool short_sampled = net_.short_weight > 0 && net_.short_loss.sampled();
  const bool long_sampled = net_.long_weight > 0 && net_.long_loss.sampled();
  if (short_sampled) sampler_->Sample(batch.short_targets, rng, &short_cand);
  if (long_sampled) sampler_->Sample(batch.long_targets, rng, &long_cand);

  const bool has_content = content_.size() > 0;
  const ConstMapMatrixF emb_table = arena_.Value(layout_.item_emb);
  const Eigen::Ref<const MatrixF> items = has_content ? Eigen::Ref<const MatrixF>(item_table_)
                                                      : Eigen::Ref<const MatrixF>(emb_table);
  LongShortNet<float>::Workspace ws;
  auto g = layout_.BindGrads<float>(grads.data(), arena_);
  const bool use_short = net_.short_weight > 0;
  const double long_scale = use_short ? long_scale_ : 1.0;
  const auto params = layout_.BindParams<float>(arena_.data(), arena_);
  // dE: straight into this shard's gradient table (no N × D scratch), or,
  // with content features, a scratch that also feeds the content projection.
  MatrixF d_items;
  if (has_content) d_items = MatrixF::Zero(items.rows(), items.cols());
  MapMatrixF table = has_content ? MapMatrixF(d_items.data(), d_items.rows(), d_items.cols())
                                 : grads.DenseUntracked(layout_.item_emb);
  layers::MatRef<float> d_ref(table);
  const LossParts parts =
      LongShortNet<float>::Run(items, params, net_, batch, short_sampled ? &short_cand : nullptr,
                               long_sampled ? &long_cand : nullptr, /*training=*/true, &rng, &ws, &g, &d_ref,
                               long_scale);
  if (!has_content) {
    // Rows the batch references are flagged, then the non-zero ones are
    // marked touched in ascending order (what a scan of all rows would give)
    // — unless a loss is full softmax, which writes every row.
    const int64_t n = table.rows();
    const bool full_softmax = (use_short && !short_sampled) || (net_.long_weight > 0 && !long_sampled);
    thread_local std::vector<uint8_t> flag;
    if (!full_softmax) {
      flag.resize(static_cast<size_t>(n), 0);
      auto mark = [&](std::span<const int32_t> ids) {
        for (int32_t id : ids) {
          if (id >= 0) flag[static_cast<size_t>(id)] = 1;
        }
      };
      mark(batch.window);
      mark(batch.short_targets);
      mark(batch.long_items);
      mark(batch.long_targets);
      if (short_sampled) mark(short_cand.items);
      if (long_sampled) mark(long_cand.items);
    }
    for (int64_t r = 0; r < n; ++r) {
      if (!full_softmax) {
        if (!flag[static_cast<size_t>(r)]) {
          // An unreferenced row must have stayed zero (the buffer's invariant).
          RECSYS_DCHECK(table.row(r).isZero(0.0f));
          continue;
        }
        flag[static_cast<size_t>(r)] = 0;
      }
      if (table.row(r).cwiseAbs().maxCoeff() != 0.0f) grads.MarkTouched(layout_.item_emb, r);
    }
  } else {
    // Item rows with a gradient (row-sparse for the lazy optimizer).
    const int64_t d = d_items.cols();
    for (Eigen::Index r = 0; r < d_items.rows(); ++r) {
      if (d_items.row(r).cwiseAbs().maxCoeff() == 0.0f) continue;
      Eigen::Map<RowVectorF>(grads.Row(layout_.item_emb, r), d) += d_items.row(r);
    }
  }
  if (has_content) {
    LongShortNet<float>::ItemTableBackward(content_, d_items, grads.Dense(layout_.content_proj));
  }
  {
    std::lock_guard<std::mutex> lock(loss_mu_);
    acc_short_ += parts.short_sum;
    acc_short_n_ += parts.short_count;
    acc_long_ += parts.long_sum;
    acc_long_n_ += parts.long_count;
  }
  return LossSum{parts.total, use_short ? parts.short_count : parts.long_count};
}

void LongShortModel::AfterStep() {
  if (content_.size() == 0) return;
  // ‖δ_i‖ ≤ delta_max_norm, then E = content·Wc + δ for the next step.
  MapMatrixF delta = arena_.Value(layout_.item_emb);
  const float cap = static_cast<float>(config_.delta_max_norm);
  for (Eigen::Index r = 0; r < delta.rows(); ++r) {
    const float norm = delta.row(r).norm();
    if (norm > cap) delta.row(r) *= cap / norm;
  }
  RefreshItemTable();
}

absl::StatusOr<std::unique_ptr<LongShortModel>> LongShortModel::Train(const LongShortConfig& config,
                                                                      const TrainContext& context,
                                                                      const MatrixF* content) {
  if (context.train == nullptr) return absl::InvalidArgumentError("longshort: TrainContext.train is required");
  RECSYS_RETURN_IF_ERROR(config.Validate());
  MatrixF file_content;
  if (content == nullptr && !config.content_file.empty()) {
    RECSYS_ASSIGN_OR_RETURN(file_content, ReadContent(config.content_file, context.train->item_vocab()));
    content = &file_content;
  }
  RECSYS_ASSIGN_OR_RETURN(auto model, Create(config, context.train->item_vocab(), content, context.seed));
  RECSYS_RETURN_IF_ERROR(model->SetTrainingData(context.train));

  TrainerConfig tc;
  tc.batch_size = config.batch_size;
  tc.num_shards = config.num_shards;
  tc.epochs = config.epochs;
  tc.max_steps = config.max_steps;
  tc.max_minutes = context.max_minutes > 0 ? context.max_minutes : config.max_minutes;
  tc.seed = context.seed;
  tc.threads = context.threads;
  tc.optimizer.learning_rate = config.learning_rate;
  tc.optimizer.weight_decay = config.weight_decay;
  tc.optimizer.decay_embeddings = config.decay_embeddings;
  tc.clip_norm = config.clip_norm;
  tc.schedule = *MakeLrSchedule(config.warmup_steps, config.lr_decay, config.min_lr_ratio,
                                true);  // validated with the config
  tc.patience = config.patience;
  tc.log_every_steps = 50;
  const int64_t steps_per_epoch =
      (model->num_examples() + config.batch_size - 1) / static_cast<int64_t>(config.batch_size);
  tc.validate_every_steps = steps_per_epoch * config.validate_every_epochs;
  RECSYS_ASSIGN_OR_RETURN(auto trainer, Trainer::Create(tc, model.get()));
  LongShortModel* m = model.get();
  if (context.valid != nullptr && context.valid->size() > 0) {
    const EvalSet* valid = context.valid;
    trainer->SetValidation("ndcg@10", [m, valid]() -> absl::StatusOr<double> {
      m->RefreshInference();
      EvalOptions eo;
      eo.ks = {10};
      RECSYS_ASSIGN_OR_RETURN(EvalResult r, Evaluate(*m, *valid, eo));
      return r.metrics.at(10).ndcg;
    });
  }
  const bool log_losses = config.log_losses;
  trainer->SetProgressCallback([m, &context, log_losses](const TrainerProgress& p) {
    LongShortLossReport report;
    {
      std::lock_guard<std::mutex> lock(m->loss_mu_);
      report.step = p.step;
      report.short_loss = m->acc_short_n_ > 0 ? m->acc_short_ / m->acc_short_n_ : 0.0;
      report.long_loss = m->acc_long_n_ > 0 ? m->acc_long_ / m->acc_long_n_ : 0.0;
      m->acc_short_ = m->acc_short_n_ = m->acc_long_ = m->acc_long_n_ = 0;
    }
    if (report.short_loss != 0 || report.long_loss != 0) m->loss_history_.push_back(report);
    if (log_losses) {
      std::fprintf(stderr, "longshort: epoch %d step %lld loss %.4f L_short %.4f L_long %.4f%s\n", p.epoch,
                   static_cast<long long>(p.step), p.loss, report.short_loss, report.long_loss,
                   p.validated ? absl::StrCat(" ", p.valid_metric_name, " ", p.valid_metric).c_str() : "");
    }
    if (!context.progress) return true;
    TrainProgress tp;
    tp.epoch = p.epoch;
    tp.step = p.step;
    tp.total_steps = p.total_steps;
    tp.loss = p.loss;
    tp.events_per_s = p.events_per_s;
    tp.elapsed_s = p.elapsed_s;
    tp.eta_s = p.eta_s;
    if (p.validated) {
      tp.valid_metric_name = p.valid_metric_name;
      tp.valid_metric = p.valid_metric;
    }
    return context.progress(tp);
  });
  RECSYS_ASSIGN_OR_RETURN(TrainResult result, trainer->Train());
  (void)result;
  model->RefreshInference();
  model->train_ = nullptr;
  model->sampler_.reset();
  return model;
}

// ---- inference ------------------------------------------------------------------

void LongShortModel::EncodeBatch(std::span<const HistoryView> histories, bool reference, MatrixF* interests) const {
  using Net = LongShortNet<float>;
  LongShortBatch batch;
  for (const HistoryView& h : histories) AppendExample(h.items, h.timestamps, kNoItem, net_, &batch);
  const auto p = layout_.BindParams<float>(arena_.data(), arena_);
  ShortTermEncoder<float>::Cache enc;
  MatrixF states, u_s, v;
  ShortTermEncoder<float>::Forward(item_table_, batch.window, batch.batch, p.encoder, net_.encoder,
                                   /*training=*/false, nullptr, &enc, &states);
  ShortTermEncoder<float>::LastStates(states, batch.batch, &u_s);
  const int k = layout_.has_long() ? net_.num_interests() : 0;
  if (k > 0) {
    LongTermEncoder<float>::Cache lt;
    if (reference) {
      LongTermEncoder<float>::Forward(u_s, item_table_, batch.long_items, batch.long_buckets, batch.long_offsets,
                                      *p.long_term, net_.long_term, &lt, &v);
    } else {
      LongTermEncoder<float>::InferForward(u_s, item_table_, proj_, batch.long_items, batch.long_buckets,
                                           batch.long_offsets, *p.long_term, net_.long_term, &lt, &v);
    }
  }
  Net::StackInterests(u_s, v, k, interests);
}

void LongShortModel::EncodeUsers(std::span<const HistoryView> histories, MatrixF* interests) const {
  EncodeBatch(histories, /*reference=*/false, interests);
}

void LongShortModel::EncodeUsersReference(std::span<const HistoryView> histories, MatrixF* interests) const {
  EncodeBatch(histories, /*reference=*/true, interests);
}

MatrixF LongShortModel::EncodeUser(const HistoryView& history) const {
  MatrixF out;
  EncodeUsers(std::span<const HistoryView>(&history, 1), &out);
  return out;
}

absl::StatusOr<std::vector<float>> LongShortModel::ScoreCandidates(const HistoryView& history,
                                                                   std::span<const ItemIndex> candidates) const {
  for (size_t c = 0; c < candidates.size(); ++c) {
    if (candidates[c] < 0 || candidates[c] >= num_items()) {
      return absl::InvalidArgumentError(absl::StrCat("longshort ScoreCandidates: candidate ", c, " = ",
                                                     candidates[c], " outside [0, ", num_items(), ")"));
    }
  }
  const MatrixF u = EncodeUser(history);
  MatrixF cand;
  GatherRows(item_table_, candidates, &cand);
  TargetScorer<float>::Cache cache;
  TargetScorer<float>::Vec scores;
  TargetScorer<float>::Forward(u, cand, static_cast<float>(net_.tau), &cache, &scores);
  return std::vector<float>(scores.data(), scores.data() + scores.size());
}

absl::Status LongShortModel::ScoreAll(std::span<const HistoryView> histories, MatrixRef out) const {
  const int32_t n = num_items();
  if (out.rows() != static_cast<int64_t>(histories.size()) || out.cols() != n) {
    return absl::InvalidArgumentError(absl::StrCat("longshort ScoreAll: out is ", out.rows(), " × ", out.cols(),
                                                   ", expected ", histories.size(), " × ", n));
  }
  for (size_t r = 0; r < histories.size(); ++r) {
    for (ItemIndex item : histories[r].items) {
      if (item < 0 || item >= n) {
        return absl::InvalidArgumentError(
            absl::StrCat("longshort ScoreAll: history ", r, " has item ", item, " outside [0, ", n, ")"));
      }
    }
  }
  const int64_t m = num_interest_vectors();
  const float tau = static_cast<float>(net_.tau);
  constexpr int64_t kChunk = 16;
  ParallelFor(0, static_cast<int64_t>(histories.size()), kChunk, [&](int64_t b, int64_t e) {
    MatrixF interests, s;
    EncodeUsers(histories.subspan(static_cast<size_t>(b), static_cast<size_t>(e - b)), &interests);
    TargetScorer<float>::ScoreAllBatch(interests, m, item_table_, tau, &s, out.middleRows(b, e - b));
  });
  return absl::OkStatus();
}

// ---- files ----------------------------------------------------------------------

absl::Status LongShortModel::Save(const std::string& path) const {
  TensorFile file;
  file.metadata["model_type"] = type();
  file.metadata["config"] = config_json();
  RECSYS_RETURN_IF_ERROR(internal::AddItemVocab(items_, file));
  if (content_.size() > 0) {
    RECSYS_RETURN_IF_ERROR(file.Add<float>("content", {content_.rows(), content_.cols()},
                                           std::span<const float>(content_.data(), content_.size())));
  }
  for (const ParamTensor& t : arena_.tensors()) {
    RECSYS_RETURN_IF_ERROR(file.Add<float>(
        "param." + t.name, {t.rows, t.cols}, std::span<const float>(arena_.data() + t.offset, t.size())));
  }
  return WriteTensorFile(path, file);
}

absl::StatusOr<std::unique_ptr<LongShortModel>> LongShortModel::Load(const TensorFile& file) {
  RECSYS_ASSIGN_OR_RETURN(std::string config_text, file.Meta("config"));
  RECSYS_ASSIGN_OR_RETURN(LongShortConfig config, LongShortConfig::FromJson(config_text));
  config.content_file.clear();  // the content matrix travels in the file
  RECSYS_ASSIGN_OR_RETURN(Vocabulary items, internal::GetItemVocab(file));
  MatrixF content;
  if (file.Has("content")) {
    RECSYS_ASSIGN_OR_RETURN(std::vector<int64_t> shape, file.Shape("content"));
    if (shape.size() != 2 || shape[0] != items.size()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor 'content' has shape ", ShapeString(shape),
                                                     ", expected [", items.size(), ", C]"));
    }
    RECSYS_ASSIGN_OR_RETURN(std::vector<float> values, file.Get<float>("content"));
    content = Eigen::Map<const MatrixF>(values.data(), shape[0], shape[1]);
  }
  std::unique_ptr<LongShortModel> model(new LongShortModel());
  RECSYS_RETURN_IF_ERROR(model->Init(config, std::move(items), &content, /*seed=*/0));
  for (const ParamTensor& t : model->arena_.tensors()) {
    RECSYS_ASSIGN_OR_RETURN(std::vector<float> values, file.Get<float>("param." + t.name, {t.rows, t.cols}));
    std::copy(values.begin(), values.end(), model->arena_.data() + t.offset);
  }
  model->RefreshInference();
  return model;
}

}  // namespace recsys

#include "recsys/training/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "recsys/core/check.h"
#include "recsys/core/parallel.h"
#include "recsys/core/status.h"

namespace recsys {

namespace {

constexpr uint64_t kEpochStream = 0x45504F4348000000ull;  // "EPOCH"
constexpr uint64_t kShardStreams = 1024;                    // streams per step
constexpr char kMagic[8] = {'R', 'S', 'Y', 'S', 'C', 'K', 'P', 'T'};
constexpr uint32_t kCheckpointVersion = 1;

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

uint64_t Fnv1a(const char* data, size_t n) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint8_t>(data[i]);
    h *= 0x100000001B3ull;
  }
  return h;
}

class Writer {
 public:
  template <typename T>
  void Put(const T& value) {
    buf_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void PutFloats(const float* p, int64_t n) {
    buf_.append(reinterpret_cast<const char*>(p), sizeof(float) * static_cast<size_t>(n));
  }
  std::string& buffer() { return buf_; }

 private:
  std::string buf_;
};

class Reader {
 public:
  Reader(const std::string& buf, size_t end) : buf_(buf), end_(end) {}
  template <typename T>
  bool Get(T* value) {
    if (pos_ + sizeof(T) > end_) return false;
    std::memcpy(value, buf_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool GetFloats(float* p, int64_t n) {
    const size_t bytes = sizeof(float) * static_cast<size_t>(n);
    if (pos_ + bytes > end_) return false;
    std::memcpy(p, buf_.data() + pos_, bytes);
    pos_ += bytes;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  const std::string& buf_;
  size_t end_;
  size_t pos_ = 0;
};

}  // namespace

absl::Status TrainerConfig::Validate() const {
  if (batch_size < 1)
    return absl::InvalidArgumentError(absl::StrCat("trainer.batch_size = ", batch_size, " must be >= 1"));
  if (num_shards < 1 || num_shards > static_cast<int>(kShardStreams))
    return absl::InvalidArgumentError(
        absl::StrCat("trainer.num_shards = ", num_shards, " must be in [1, ", kShardStreams, "]"));
  if (epochs < 0)
    return absl::InvalidArgumentError(absl::StrCat("trainer.epochs = ", epochs, " must be >= 0"));
  if (max_steps < 0)
    return absl::InvalidArgumentError(absl::StrCat("trainer.max_steps = ", max_steps, " must be >= 0"));
  if (!(max_minutes >= 0.0))
    return absl::InvalidArgumentError(
        absl::StrCat("trainer.max_minutes = ", max_minutes, " must be >= 0"));
  if (epochs == 0 && max_steps == 0 && max_minutes == 0.0)
    return absl::InvalidArgumentError(
        "trainer: epochs, max_steps and max_minutes are all 0 (unbounded training)");
  if (!(clip_norm >= 0.0))
    return absl::InvalidArgumentError(absl::StrCat("trainer.clip_norm = ", clip_norm, " must be >= 0"));
  if (validate_every_steps < 0 || patience < 0 || !(min_delta >= 0.0) || log_every_steps < 0 ||
      checkpoint_every_steps < 0)
    return absl::InvalidArgumentError(
        "trainer: validate_every_steps, patience, min_delta, log_every_steps and "
        "checkpoint_every_steps must be >= 0");
  if (checkpoint_every_steps > 0 && checkpoint_path.empty())
    return absl::InvalidArgumentError("trainer.checkpoint_every_steps is set but checkpoint_path is empty");
  RECSYS_RETURN_IF_ERROR(Annotate(optimizer.Validate(), "trainer.optimizer"));
  RECSYS_RETURN_IF_ERROR(Annotate(schedule.Validate(), "trainer.schedule"));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainerConfig& config,
                                                         TrainableModel* model) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  if (model == nullptr) return absl::InvalidArgumentError("Trainer::Create: model is null");
  if (!model->params().allocated())
    return absl::FailedPreconditionError("Trainer::Create: the model's ParameterArena is not allocated");
  if (model->num_examples() < 1)
    return absl::InvalidArgumentError("Trainer::Create: the model has no training examples");
  RECSYS_ASSIGN_OR_RETURN(std::unique_ptr<AdamW> optimizer, AdamW::Create(config.optimizer, model->params()));
  std::unique_ptr<Trainer> trainer(new Trainer(config, model, std::move(optimizer)));
  LrScheduleConfig& sched = trainer->config_.schedule;
  if (sched.decay != LrDecay::kConstant && sched.total_steps == 0) {
    sched.total_steps = trainer->StepBudget();
    if (sched.total_steps == 0)
      return absl::InvalidArgumentError(
          "trainer.schedule: a decaying schedule needs total_steps, max_steps or epochs");
    if (sched.total_steps <= sched.warmup_steps) sched.total_steps = sched.warmup_steps + 1;
  }
  return trainer;
}

Trainer::Trainer(const TrainerConfig& config, TrainableModel* model, std::unique_ptr<AdamW> optimizer)
    : config_(config), model_(model), optimizer_(std::move(optimizer)) {
  shard_grads_.reserve(static_cast<size_t>(config.num_shards));
  for (int s = 0; s < config.num_shards; ++s) shard_grads_.emplace_back(model->params());
}

Trainer::~Trainer() = default;

void Trainer::SetValidation(std::string name, std::function<absl::StatusOr<double>()> metric,
                            bool higher_is_better) {
  metric_name_ = std::move(name);
  metric_ = std::move(metric);
  higher_is_better_ = higher_is_better;
}

void Trainer::SetProgressCallback(std::function<bool(const TrainerProgress&)> callback) {
  progress_ = std::move(callback);
}

int64_t Trainer::steps_per_epoch() const {
  return (model_->num_examples() + config_.batch_size - 1) / config_.batch_size;
}

int64_t Trainer::StepBudget() const {
  if (config_.max_steps > 0) return config_.max_steps;
  if (config_.epochs > 0) return config_.epochs * steps_per_epoch();
  return 0;
}

void Trainer::StartEpochIfNeeded() {
  if (epoch_started_) return;
  const int64_t n = model_->num_examples();
  order_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
  if (config_.shuffle) {
    Rng rng(config_.seed, kEpochStream + static_cast<uint64_t>(epoch_));
    for (int64_t i = n - 1; i > 0; --i) {
      const int64_t j = static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(i + 1)));
      std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(j)]);
    }
  }
  epoch_started_ = true;
}

double Trainer::Step() {
  StartEpochIfNeeded();
  const int64_t n = static_cast<int64_t>(order_.size());
  const int64_t batch = std::min(config_.batch_size, n - pos_in_epoch_);
  const std::span<const int64_t> ids(order_.data() + pos_in_epoch_, static_cast<size_t>(batch));
  const int64_t shards = std::min<int64_t>(config_.num_shards, batch);
  std::vector<LossSum> sums(static_cast<size_t>(shards));
  std::vector<int64_t> events(static_cast<size_t>(shards), 0);
  const uint64_t step_stream = static_cast<uint64_t>(step_) * kShardStreams;
  ParallelFor(0, shards, 1, [&](int64_t sb, int64_t se) {
    for (int64_t s = sb; s < se; ++s) {
      GradBuffer& g = shard_grads_[static_cast<size_t>(s)];
      g.Zero();
      Rng rng(config_.seed, step_stream + static_cast<uint64_t>(s));
      const int64_t b = batch * s / shards, e = batch * (s + 1) / shards;
      const auto slice = ids.subspan(static_cast<size_t>(b), static_cast<size_t>(e - b));
      sums[static_cast<size_t>(s)] = model_->ForwardBackward(slice, rng, g);
      events[static_cast<size_t>(s)] = model_->NumEvents(slice);
    }
  });
  // Reduce in shard order: bit-identical for any thread count.
  // Into shard 0's buffer: 0 + g_0 == g_0 exactly, so this equals a reduction
  // into a zeroed total.
  GradBuffer& total_grad = shard_grads_[0];
  LossSum total;
  last_events_ = 0;
  for (int64_t s = 0; s < shards; ++s) {
    if (s > 0) total_grad.AddFrom(shard_grads_[static_cast<size_t>(s)]);
    total.loss += sums[static_cast<size_t>(s)].loss;
    total.count += sums[static_cast<size_t>(s)].count;
    last_events_ += events[static_cast<size_t>(s)];
  }
  if (total.count > 0.0) total_grad.Scale(static_cast<float>(1.0 / total.count));
  last_grad_norm_ = ClipGradNorm(total_grad, config_.clip_norm);
  optimizer_->Step(model_->params(), total_grad, LrMultiplier(config_.schedule, step_));
  model_->AfterStep();
  ++step_;
  pos_in_epoch_ += batch;
  if (pos_in_epoch_ >= n) {
    ++epoch_;
    pos_in_epoch_ = 0;
    epoch_started_ = false;
  }
  last_loss_ = total.count > 0.0 ? total.loss / total.count : 0.0;
  return last_loss_;
}

absl::StatusOr<bool> Trainer::Validate(TrainResult* result) {
  RECSYS_ASSIGN_OR_RETURN(const double value, metric_());
  last_validated_step_ = step_;
  last_valid_metric_ = value;
  const double sign = higher_is_better_ ? 1.0 : -1.0;
  if (!has_best_ || sign * (value - best_metric_) > config_.min_delta) {
    has_best_ = true;
    best_metric_ = value;
    best_step_ = step_;
    bad_validations_ = 0;
    const ParameterArena& arena = model_->params();
    best_params_.assign(arena.data(), arena.data() + arena.size());
  } else {
    ++bad_validations_;
  }
  result->validated = true;
  result->best_valid_metric = best_metric_;
  result->best_step = best_step_;
  return config_.patience > 0 && bad_validations_ >= config_.patience;
}

absl::StatusOr<TrainResult> Trainer::Train() {
  ThreadLimit limit(config_.threads);
  const auto start = Clock::now();
  TrainResult result;
  if (has_best_) {
    result.validated = true;
    result.best_valid_metric = best_metric_;
    result.best_step = best_step_;
  }
  const int64_t budget = StepBudget();
  double loss_sum = 0.0;
  int64_t loss_steps = 0, window_steps = 0, window_events = 0;
  auto window_start = Clock::now();
  double steps_per_s = 0.0, events_per_s = 0.0;

  auto report = [&](bool validated) -> bool {
    if (!progress_) return true;
    const double window_s = SecondsSince(window_start);
    if (window_steps > 0 && window_s > 0.0) {
      steps_per_s = static_cast<double>(window_steps) / window_s;
      events_per_s = static_cast<double>(window_events) / window_s;
    }
    TrainerProgress p;
    p.epoch = epoch_;
    p.step = step_;
    p.total_steps = budget;
    p.loss = loss_steps > 0 ? loss_sum / static_cast<double>(loss_steps) : last_loss_;
    p.learning_rate = config_.optimizer.learning_rate *
                      LrMultiplier(config_.schedule, std::max<int64_t>(0, step_ - 1));
    p.grad_norm = last_grad_norm_;
    p.steps_per_s = steps_per_s;
    p.events_per_s = events_per_s;
    p.elapsed_s = SecondsSince(start);
    p.eta_s = (budget > 0 && steps_per_s > 0.0)
                  ? static_cast<double>(std::max<int64_t>(0, budget - step_)) / steps_per_s
                  : 0.0;
    p.validated = validated;
    p.valid_metric_name = metric_name_;
    p.valid_metric = last_valid_metric_;
    p.best_valid_metric = best_metric_;
    loss_sum = 0.0;
    loss_steps = 0;
    window_steps = 0;
    window_events = 0;
    window_start = Clock::now();
    return progress_(p);
  };

  while (true) {
    if (config_.max_steps > 0 && step_ >= config_.max_steps) break;
    if (config_.epochs > 0 && epoch_ >= config_.epochs) break;
    if (config_.max_minutes > 0.0 && SecondsSince(start) >= config_.max_minutes * 60.0) {
      result.stopped_by_time = true;
      break;
    }
    const int epoch_before = epoch_;
    const double loss = Step();
    if (!std::isfinite(loss))
      return absl::InternalError(absl::StrCat("training diverged: loss ", loss, " at step ", step_));
    loss_sum += loss;
    ++loss_steps;
    ++window_steps;
    window_events += last_events_;
    const bool epoch_ended = epoch_ != epoch_before;

    bool validated = false;
    if (metric_ && ((config_.validate_every_steps > 0 && step_ % config_.validate_every_steps == 0) ||
                    (config_.validate_every_steps == 0 && epoch_ended))) {
      RECSYS_ASSIGN_OR_RETURN(const bool stop, Validate(&result));
      validated = true;
      if (stop) result.stopped_early = true;
    }
    if (config_.checkpoint_every_steps > 0 && step_ % config_.checkpoint_every_steps == 0)
      RECSYS_RETURN_IF_ERROR(SaveCheckpoint(config_.checkpoint_path));
    const bool log_now = config_.log_every_steps > 0 && step_ % config_.log_every_steps == 0;
    if ((validated || log_now) && !report(validated)) {
      result.stopped_by_callback = true;
      break;
    }
    if (result.stopped_early) break;
  }

  // A validation of the final weights when the last step was not validated;
  // the final report carries it (and only then counts as a validation, so a
  // run's last validation is not reported twice).
  bool final_validation = false;
  if (metric_ && step_ > 0 && last_validated_step_ != step_) {
    RECSYS_ASSIGN_OR_RETURN(const bool stop, Validate(&result));
    (void)stop;
    final_validation = true;
  }
  if (config_.restore_best && has_best_ && best_step_ != step_ &&
      static_cast<int64_t>(best_params_.size()) == model_->params().size()) {
    std::copy(best_params_.begin(), best_params_.end(), model_->params().data());
    model_->AfterStep();
  }
  result.steps = step_;
  result.epochs_completed = epoch_;
  result.last_loss = last_loss_;
  result.seconds = SecondsSince(start);
  report(final_validation);
  return result;
}

absl::Status Trainer::SaveCheckpoint(const std::string& path) const {
  const ParameterArena& arena = model_->params();
  Writer w;
  w.buffer().append(kMagic, sizeof(kMagic));
  w.Put(kCheckpointVersion);
  w.Put(arena.LayoutHash());
  w.Put(arena.size());
  w.Put(model_->num_examples());
  w.Put(config_.seed);
  w.Put(step_);
  w.Put(static_cast<int64_t>(epoch_));
  w.Put(pos_in_epoch_);
  w.Put(optimizer_->step());
  w.Put(static_cast<uint8_t>(has_best_));
  w.Put(best_metric_);
  w.Put(best_step_);
  w.Put(static_cast<int64_t>(bad_validations_));
  w.Put(last_validated_step_);
  const bool with_best = has_best_ && static_cast<int64_t>(best_params_.size()) == arena.size();
  w.Put(static_cast<uint8_t>(with_best));
  w.PutFloats(arena.data(), arena.size());
  w.PutFloats(optimizer_->first_moment().data(), arena.size());
  w.PutFloats(optimizer_->second_moment().data(), arena.size());
  if (with_best) w.PutFloats(best_params_.data(), arena.size());
  const uint64_t checksum = Fnv1a(w.buffer().data(), w.buffer().size());
  w.Put(checksum);

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write checkpoint ", tmp));
    out.write(w.buffer().data(), static_cast<std::streamsize>(w.buffer().size()));
    if (!out) return absl::UnavailableError(absl::StrCat("write failed for checkpoint ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status Trainer::LoadCheckpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open checkpoint ", path));
  const std::string buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto corrupt = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, ": ", what));
  };
  if (buf.size() < sizeof(kMagic) + sizeof(uint64_t) || std::memcmp(buf.data(), kMagic, sizeof(kMagic)) != 0)
    return corrupt("not a recsys checkpoint (bad magic)");
  const size_t body = buf.size() - sizeof(uint64_t);
  uint64_t stored_checksum;
  std::memcpy(&stored_checksum, buf.data() + body, sizeof(uint64_t));
  Reader r(buf, body);
  char magic[sizeof(kMagic)];
  for (char& c : magic) r.Get(&c);
  uint32_t version = 0;
  if (!r.Get(&version)) return corrupt("truncated header");
  if (version != kCheckpointVersion)
    return corrupt(absl::StrCat("unsupported version ", version, " (expected ", kCheckpointVersion, ")"));
  uint64_t layout = 0, seed = 0;
  int64_t size = 0, num_examples = 0, step = 0, epoch = 0, pos = 0, opt_step = 0, best_step = 0,
          bad = 0, last_validated = 0;
  uint8_t has_best = 0, with_best = 0;
  double best_metric = 0.0;
  if (!(r.Get(&layout) && r.Get(&size) && r.Get(&num_examples) && r.Get(&seed) && r.Get(&step) &&
        r.Get(&epoch) && r.Get(&pos) && r.Get(&opt_step) && r.Get(&has_best) && r.Get(&best_metric) &&
        r.Get(&best_step) && r.Get(&bad) && r.Get(&last_validated) && r.Get(&with_best)))
    return corrupt("truncated header");
  const ParameterArena& arena = model_->params();
  const uint64_t expected_bytes =
      r.pos() + sizeof(float) * static_cast<uint64_t>(std::max<int64_t>(0, size)) * (with_best ? 4u : 3u);
  if (size < 0 || expected_bytes != body)
    return corrupt(absl::StrCat("truncated or oversized: ", buf.size(), " bytes"));
  if (Fnv1a(buf.data(), body) != stored_checksum) return corrupt("checksum mismatch");
  if (layout != arena.LayoutHash() || size != arena.size())
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", path, " was written for a different parameter layout"));
  if (num_examples != model_->num_examples())
    return absl::FailedPreconditionError(absl::StrCat("checkpoint ", path, " has ", num_examples,
                                                      " training examples, the model has ",
                                                      model_->num_examples()));
  ParameterArena& params = model_->params();
  r.GetFloats(params.data(), size);
  r.GetFloats(optimizer_->first_moment().data(), size);
  r.GetFloats(optimizer_->second_moment().data(), size);
  if (with_best) {
    best_params_.resize(static_cast<size_t>(size));
    r.GetFloats(best_params_.data(), size);
  } else {
    best_params_.clear();
  }
  optimizer_->set_step(opt_step);
  config_.seed = seed;
  step_ = step;
  epoch_ = static_cast<int>(epoch);
  pos_in_epoch_ = pos;
  epoch_started_ = false;  // the order is regenerated from (seed, epoch)
  has_best_ = has_best != 0;
  best_metric_ = best_metric;
  best_step_ = best_step;
  bad_validations_ = static_cast<int>(bad);
  last_validated_step_ = last_validated;
  model_->AfterStep();
  return absl::OkStatus();
}

}  // namespace recsys

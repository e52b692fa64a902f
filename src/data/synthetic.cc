// Synthetic data generator (see include/recsys/data/synthetic.h).
#include "recsys/data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "recsys/core/parallel.h"
#include "recsys/core/rng.h"
#include "recsys/core/status.h"

namespace recsys {
namespace {

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("SyntheticConfig.", field, " ", why));
}

// Sampling tables of the catalogue.
struct Catalogue {
  std::vector<int32_t> by_rank;        // items ordered by popularity rank
  std::vector<double> global_cdf;      // I: cumulative weights over by_rank
  std::vector<int64_t> cluster_begin;  // C + 1: cluster c's items in cluster_items
  std::vector<int32_t> cluster_items;  // items grouped by cluster, by rank within
  std::vector<double> cluster_cdf;     // aligned with cluster_items, per-cluster cumulative

  // Index of the first cdf entry > u * total in [b, e).
  static int64_t Pick(const std::vector<double>& cdf, int64_t b, int64_t e, double u) {
    const double total = cdf[static_cast<size_t>(e - 1)];
    const auto it = std::upper_bound(cdf.begin() + b, cdf.begin() + e, u * total);
    return std::min<int64_t>(e - 1, it - cdf.begin());
  }
  int32_t SampleGlobal(Rng& rng) const {
    return by_rank[static_cast<size_t>(Pick(global_cdf, 0, static_cast<int64_t>(global_cdf.size()), rng.UniformDouble()))];
  }
  int32_t SampleCluster(int32_t c, Rng& rng) const {
    const int64_t b = cluster_begin[static_cast<size_t>(c)];
    const int64_t e = cluster_begin[static_cast<size_t>(c) + 1];
    return cluster_items[static_cast<size_t>(Pick(cluster_cdf, b, e, rng.UniformDouble()))];
  }
};

Catalogue BuildCatalogue(const SyntheticConfig& config, SyntheticTruth& truth) {
  const int32_t num_items = config.num_items;
  const int32_t num_clusters = config.num_clusters;
  Rng rng(config.seed, 0);
  Catalogue cat;
  cat.by_rank.resize(static_cast<size_t>(num_items));
  std::iota(cat.by_rank.begin(), cat.by_rank.end(), 0);
  std::shuffle(cat.by_rank.begin(), cat.by_rank.end(), rng);
  truth.item_rank.assign(static_cast<size_t>(num_items), 0);
  truth.item_cluster.assign(static_cast<size_t>(num_items), 0);
  cat.global_cdf.resize(static_cast<size_t>(num_items));
  double acc = 0.0;
  for (int32_t r = 0; r < num_items; ++r) {
    const int32_t item = cat.by_rank[static_cast<size_t>(r)];
    truth.item_rank[static_cast<size_t>(item)] = r;
    truth.item_cluster[static_cast<size_t>(item)] = r % num_clusters;
    acc += std::pow(static_cast<double>(r) + 1.0, -config.popularity_exponent);
    cat.global_cdf[static_cast<size_t>(r)] = acc;
  }
  // Cluster c holds ranks c, c + C, c + 2C, ... in rank order.
  cat.cluster_begin.assign(static_cast<size_t>(num_clusters) + 1, 0);
  for (int32_t c = 0; c < num_clusters; ++c) {
    cat.cluster_begin[static_cast<size_t>(c) + 1] =
        cat.cluster_begin[static_cast<size_t>(c)] + (num_items - c + num_clusters - 1) / num_clusters;
  }
  cat.cluster_items.resize(static_cast<size_t>(num_items));
  cat.cluster_cdf.resize(static_cast<size_t>(num_items));
  for (int32_t c = 0; c < num_clusters; ++c) {
    int64_t w = cat.cluster_begin[static_cast<size_t>(c)];
    double cacc = 0.0;
    for (int32_t r = c; r < num_items; r += num_clusters, ++w) {
      cat.cluster_items[static_cast<size_t>(w)] = cat.by_rank[static_cast<size_t>(r)];
      cacc += std::pow(static_cast<double>(r / num_clusters) + 1.0, -config.popularity_exponent);
      cat.cluster_cdf[static_cast<size_t>(w)] = cacc;
    }
  }
  return cat;
}

int64_t DrawLength(const SyntheticConfig& config, Rng& rng) {
  const double extra = config.mean_events_per_user - config.min_events_per_user;
  double u = rng.UniformDouble();
  const double len = config.min_events_per_user + std::floor(-std::log1p(-u) * extra + 0.5);
  return static_cast<int64_t>(std::min<double>(len, config.max_events_per_user));
}

int32_t DrawInterest(std::span<const float> weights, Rng& rng) {
  float u = rng.Uniform();
  for (size_t j = 0; j + 1 < weights.size(); ++j) {
    if (u < weights[j]) return static_cast<int32_t>(j);
    u -= weights[j];
  }
  return static_cast<int32_t>(weights.size() - 1);
}

// Draws user u's interests (into the truth, at the user's slot) and events.
// The stream order is fixed: length, interest count, interests, weights,
// start time, then per event. Called twice per user (count, then fill).
struct UserDraw {
  const SyntheticConfig& config;
  const Catalogue& cat;

  int64_t Length(int64_t u) const {
    Rng rng(config.seed, static_cast<uint64_t>(u) + 1);
    return DrawLength(config, rng);
  }
  int32_t NumInterests(int64_t u) const {
    Rng rng(config.seed, static_cast<uint64_t>(u) + 1);
    DrawLength(config, rng);
    return config.min_interests +
           static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(config.max_interests - config.min_interests + 1)));
  }

  void Fill(int64_t u, std::span<int32_t> interests, std::span<float> weights, ItemIndex* items,
            Timestamp* ts, EventType* types, float* played, uint8_t* organic) const {
    Rng rng(config.seed, static_cast<uint64_t>(u) + 1);
    const int64_t len = DrawLength(config, rng);
    const int32_t k = config.min_interests +
                      static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(config.max_interests - config.min_interests + 1)));
    RECSYS_CHECK(static_cast<size_t>(k) == interests.size());
    for (int32_t j = 0; j < k; ++j) {  // distinct clusters by rejection (k ≤ C)
      while (true) {
        const auto c = static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(config.num_clusters)));
        if (std::find(interests.begin(), interests.begin() + j, c) == interests.begin() + j) {
          interests[static_cast<size_t>(j)] = c;
          break;
        }
      }
    }
    double total = 0.0;
    std::vector<double> raw(static_cast<size_t>(k));
    for (auto& w : raw) {
      w = -std::log1p(-rng.UniformDouble()) + 1e-12;  // Dirichlet(1) via Exp(1)
      total += w;
    }
    for (int32_t j = 0; j < k; ++j) weights[static_cast<size_t>(j)] = static_cast<float>(raw[static_cast<size_t>(j)] / total);

    Timestamp t = config.start_time + static_cast<Timestamp>(rng.UniformInt(static_cast<uint64_t>(config.time_span)));
    int32_t current = DrawInterest(weights, rng);
    const double p_new_session = 1.0 / config.mean_session_length;
    for (int64_t e = 0; e < len; ++e) {
      if (e > 0) {
        if (rng.Bernoulli(p_new_session)) {
          t += 1 + static_cast<Timestamp>(-std::log1p(-rng.UniformDouble()) * config.mean_session_gap);
          if (rng.Bernoulli(config.interest_switch_prob)) current = DrawInterest(weights, rng);
        } else {
          t += 1 + static_cast<Timestamp>(-std::log1p(-rng.UniformDouble()) * config.mean_event_gap);
          if (rng.Bernoulli(config.in_session_drift_prob)) current = DrawInterest(weights, rng);
        }
      }
      const bool noise = rng.Bernoulli(config.noise_prob);
      items[e] = noise ? cat.SampleGlobal(rng) : cat.SampleCluster(interests[static_cast<size_t>(current)], rng);
      ts[e] = t;
      if (config.yambda_extras) {
        const double v = rng.UniformDouble();
        const double p_like = noise ? config.like_prob * 0.2 : config.like_prob;
        const double p_dislike = noise ? config.dislike_prob : config.dislike_prob * 0.1;
        EventKind kind = EventKind::kListen;
        if (v < p_like) {
          kind = EventKind::kLike;
        } else if (v < p_like + p_dislike) {
          kind = EventKind::kDislike;
        }
        types[e] = static_cast<EventType>(kind);
        const float r = rng.Uniform();
        played[e] = noise ? 0.6f * r : 0.4f + 0.6f * r;
        organic[e] = rng.Bernoulli(config.organic_prob) ? 1 : 0;
      } else {
        types[e] = static_cast<EventType>(EventKind::kInteraction);
        played[e] = 1.0f;
        organic[e] = 1;
      }
    }
  }
};

}  // namespace

absl::Status SyntheticConfig::Validate() const {
  if (num_users < 1 || num_users >= (int64_t{1} << 31)) return Bad("num_users", absl::StrCat("must be in [1, 2^31), got ", num_users));
  if (num_clusters < 1) return Bad("num_clusters", absl::StrCat("must be >= 1, got ", num_clusters));
  if (num_items < num_clusters) {
    return Bad("num_items", absl::StrCat("must be >= num_clusters (", num_clusters, "), got ", num_items));
  }
  if (min_interests < 1 || max_interests < min_interests || max_interests > num_clusters) {
    return Bad("min_interests/max_interests", absl::StrCat("must satisfy 1 <= min <= max <= num_clusters (", num_clusters,
                                                           "), got ", min_interests, "/", max_interests));
  }
  if (min_events_per_user < 1) return Bad("min_events_per_user", absl::StrCat("must be >= 1, got ", min_events_per_user));
  if (max_events_per_user < min_events_per_user) {
    return Bad("max_events_per_user", absl::StrCat("must be >= min_events_per_user, got ", max_events_per_user));
  }
  if (!(mean_events_per_user >= min_events_per_user) || !std::isfinite(mean_events_per_user)) {
    return Bad("mean_events_per_user", absl::StrCat("must be finite and >= min_events_per_user (", min_events_per_user,
                                                    "), got ", mean_events_per_user));
  }
  if (!(mean_session_length >= 1.0)) return Bad("mean_session_length", absl::StrCat("must be >= 1, got ", mean_session_length));
  const std::pair<const char*, double> probs[] = {
      {"interest_switch_prob", interest_switch_prob}, {"in_session_drift_prob", in_session_drift_prob},
      {"noise_prob", noise_prob}, {"like_prob", like_prob}, {"dislike_prob", dislike_prob},
      {"organic_prob", organic_prob}};
  for (const auto& [name, p] : probs) {
    if (!(p >= 0.0 && p <= 1.0)) return Bad(name, absl::StrCat("must be in [0, 1], got ", p));
  }
  if (like_prob + dislike_prob > 1.0) return Bad("like_prob + dislike_prob", "must be <= 1");
  if (!(popularity_exponent >= 0.0) || !std::isfinite(popularity_exponent)) {
    return Bad("popularity_exponent", absl::StrCat("must be finite and >= 0, got ", popularity_exponent));
  }
  if (time_span <= 0) return Bad("time_span", absl::StrCat("must be > 0, got ", time_span));
  if (!(mean_event_gap > 0.0) || !(mean_session_gap > 0.0) || !std::isfinite(mean_event_gap) ||
      !std::isfinite(mean_session_gap)) {
    return Bad("mean_event_gap/mean_session_gap", "must be finite and > 0");
  }
  return absl::OkStatus();
}

SyntheticConfig SyntheticConfig::ForEvents(int64_t events, uint64_t seed) {
  SyntheticConfig c;
  c.seed = seed;
  events = std::max<int64_t>(events, 10);
  c.mean_events_per_user = events < 100000 ? 10.0 : 100.0;
  c.num_users = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(events) / c.mean_events_per_user));
  const double items = 4.0 * std::pow(static_cast<double>(c.num_users), 0.75);
  c.num_items = static_cast<int32_t>(std::clamp(items, 1000.0, 3.0e6));
  c.num_clusters = std::max<int32_t>(4, static_cast<int32_t>(std::sqrt(static_cast<double>(c.num_items)) / 2.0));
  return c;
}

absl::StatusOr<SyntheticDataset> GenerateSyntheticDataset(const SyntheticConfig& config) {
  RECSYS_RETURN_IF_ERROR(config.Validate());
  SyntheticDataset out;
  SyntheticTruth& truth = out.truth;
  const Catalogue cat = BuildCatalogue(config, truth);
  const UserDraw draw{config, cat};
  const int64_t num_users = config.num_users;
  constexpr int64_t kGrain = 256;

  // Pass 1: lengths and interest counts → offsets.
  SequenceDataset::Columns c;
  c.offsets.assign(static_cast<size_t>(num_users) + 1, 0);
  truth.interest_offsets.assign(static_cast<size_t>(num_users) + 1, 0);
  ParallelFor(0, num_users, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      c.offsets[static_cast<size_t>(u) + 1] = draw.Length(u);
      truth.interest_offsets[static_cast<size_t>(u) + 1] = draw.NumInterests(u);
    }
  });
  std::partial_sum(c.offsets.begin(), c.offsets.end(), c.offsets.begin());
  std::partial_sum(truth.interest_offsets.begin(), truth.interest_offsets.end(), truth.interest_offsets.begin());
  const auto n = static_cast<size_t>(c.offsets.back());
  absl::Status status = CatchExceptions("synthetic data: allocating columns", [&]() -> absl::Status {
    c.items.resize(n);
    c.timestamps.resize(n);
    c.types.resize(n);
    c.weights.resize(n);
    c.organic.resize(n);
    truth.interests.resize(static_cast<size_t>(truth.interest_offsets.back()));
    truth.interest_weights.resize(truth.interests.size());
    return absl::OkStatus();
  });
  RECSYS_RETURN_IF_ERROR(status);

  // Pass 2: fill every user's slots.
  ParallelFor(0, num_users, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      const auto eb = static_cast<size_t>(c.offsets[static_cast<size_t>(u)]);
      const auto ib = static_cast<size_t>(truth.interest_offsets[static_cast<size_t>(u)]);
      const auto ie = static_cast<size_t>(truth.interest_offsets[static_cast<size_t>(u) + 1]);
      draw.Fill(u, std::span<int32_t>(truth.interests).subspan(ib, ie - ib),
                std::span<float>(truth.interest_weights).subspan(ib, ie - ib), c.items.data() + eb,
                c.timestamps.data() + eb, c.types.data() + eb, c.weights.data() + eb, c.organic.data() + eb);
    }
  });

  std::vector<ExternalId> user_ids(static_cast<size_t>(num_users));
  std::iota(user_ids.begin(), user_ids.end(), ExternalId{0});
  std::vector<ExternalId> item_ids(static_cast<size_t>(config.num_items));
  std::iota(item_ids.begin(), item_ids.end(), ExternalId{0});
  RECSYS_ASSIGN_OR_RETURN(out.dataset,
                          SequenceDataset::FromColumns(std::move(c), Vocabulary::FromExternals(std::move(user_ids)),
                                                       Vocabulary::FromExternals(std::move(item_ids))));
  return out;
}

absl::StatusOr<SyntheticData> GenerateSynthetic(const SyntheticConfig& config) {
  RECSYS_ASSIGN_OR_RETURN(SyntheticDataset generated, GenerateSyntheticDataset(config));
  const SequenceDataset& ds = generated.dataset;
  SyntheticData out;
  out.truth = std::move(generated.truth);
  EventLog& log = out.log;
  const auto n = static_cast<size_t>(ds.num_events());
  log.users.resize(n);
  for (UserIndex u = 0; u < ds.num_users(); ++u) {
    std::fill(log.users.begin() + ds.offsets()[u], log.users.begin() + ds.offsets()[u + 1], ExternalId{u});
  }
  log.items.assign(ds.all_items().begin(), ds.all_items().end());
  log.timestamps.assign(ds.all_timestamps().begin(), ds.all_timestamps().end());
  log.types.assign(ds.all_types().begin(), ds.all_types().end());
  if (config.yambda_extras) {
    log.weights.assign(ds.all_weights().begin(), ds.all_weights().end());
    log.organic.assign(ds.all_organic().begin(), ds.all_organic().end());
  }
  return out;
}

}  // namespace recsys

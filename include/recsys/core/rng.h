// Seeded, reproducible random streams.
//
// A Rng is identified by (seed, stream): the same pair always yields the same
// sequence on every platform and thread count, and different streams are
// statistically independent. Parallel code derives one stream per work item
// (e.g. per user or per batch index), never per thread, so results do not
// depend on scheduling.
//
//   recsys::Rng rng(/*seed=*/42, /*stream=*/batch_index);
//   int32_t negative = rng.UniformInt(num_items);
//   float u = rng.Uniform();
//   std::shuffle(v.begin(), v.end(), rng);   // satisfies UniformRandomBitGenerator
//
// Generator: xoshiro256** seeded through SplitMix64.
// Thread safety: a Rng is a small value; do not share one across threads.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace recsys {

// SplitMix64 step: a good 64-bit mixer, used for seeding and hashing.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Stateless 64-bit hash of a value (for hashed frequency estimators etc.).
inline uint64_t Mix64(uint64_t x) {
  uint64_t s = x;
  return SplitMix64(s);
}

class Rng {
 public:
  using result_type = uint64_t;

  explicit Rng(uint64_t seed = 0, uint64_t stream = 0) { Reseed(seed, stream); }

  void Reseed(uint64_t seed, uint64_t stream = 0) {
    uint64_t sm = seed ^ Mix64(stream + 0x632BE59BD9B4E019ull);
    for (auto& word : s_) word = SplitMix64(sm);
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<uint64_t>::max(); }
  result_type operator()() { return Next(); }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 24 (float) or 53 (double) random bits.
  float Uniform() { return static_cast<float>(Next() >> 40) * 0x1.0p-24f; }
  double UniformDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), n > 0, without modulo bias (Lemire's method).
  uint64_t UniformInt(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(Next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  bool Bernoulli(double p) { return UniformDouble() < p; }

  // Standard normal (Box-Muller; one value per call, deterministic).
  double Normal() {
    double u1 = UniformDouble();
    while (u1 <= 0.0) u1 = UniformDouble();
    const double u2 = UniformDouble();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace recsys

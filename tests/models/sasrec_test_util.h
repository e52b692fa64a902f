// Tiny datasets for the SASRec tests: a Markov chain with planted next-item
// structure (item i is followed by (i + 1) mod N with probability p, else a
// uniform item) and its leave-last-out evaluation set.
#pragma once

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "recsys/core/rng.h"
#include "recsys/data/sequence_dataset.h"
#include "recsys/data/splits.h"

namespace recsys::testing {

struct MarkovData {
  SequenceDataset train;  // every user's sequence without its last item
  EvalSet test;           // input = train sequence, target = the last item
};

inline SequenceDataset DatasetFromSequences(const std::vector<std::vector<ItemIndex>>& seqs, int32_t num_items) {
  SequenceDataset::Columns c;
  c.offsets.push_back(0);
  std::vector<ExternalId> users, items;
  for (size_t u = 0; u < seqs.size(); ++u) {
    users.push_back(static_cast<ExternalId>(u));
    for (size_t t = 0; t < seqs[u].size(); ++t) {
      c.items.push_back(seqs[u][t]);
      c.timestamps.push_back(static_cast<Timestamp>(t));
      c.types.push_back(0);
      c.weights.push_back(1.0f);
      c.organic.push_back(1);
    }
    c.offsets.push_back(static_cast<int64_t>(c.items.size()));
  }
  for (int32_t i = 0; i < num_items; ++i) items.push_back(i);
  auto ds = SequenceDataset::FromColumns(std::move(c), Vocabulary::FromExternals(users),
                                         Vocabulary::FromExternals(items));
  EXPECT_TRUE(ds.ok()) << ds.status();
  return *std::move(ds);
}

inline MarkovData MakeMarkovData(int num_users, int length, int32_t num_items, double p_next, uint64_t seed) {
  std::vector<std::vector<ItemIndex>> train;
  MarkovData out;
  for (int u = 0; u < num_users; ++u) {
    Rng rng(seed, static_cast<uint64_t>(u));
    std::vector<ItemIndex> seq;
    ItemIndex cur = static_cast<ItemIndex>(rng.UniformInt(static_cast<uint64_t>(num_items)));
    for (int t = 0; t < length; ++t) {
      seq.push_back(cur);
      cur = rng.UniformDouble() < p_next ? (cur + 1) % num_items
                                         : static_cast<ItemIndex>(rng.UniformInt(static_cast<uint64_t>(num_items)));
    }
    const ItemIndex target = seq.back();
    seq.pop_back();
    out.test.Add(u, seq, {}, std::vector<ItemIndex>{target});
    train.push_back(std::move(seq));
  }
  out.train = DatasetFromSequences(train, num_items);
  return out;
}

}  // namespace recsys::testing

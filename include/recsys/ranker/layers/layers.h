// Umbrella header of the neural-core layers (forward/backward pairs).
//
//   #include "recsys/ranker/layers/layers.h"
//   using namespace recsys::layers;
//   TransformerBlock<float>::Cache cache;  Mat<float> out;
//   TransformerBlock<float>::Forward(x, params, options, B, S, valid, true, &rng, &cache, &out);
//
// Contents: common.h (conventions), linear.h, layer_norm.h, activations.h
// (ReLU, GELU-tanh, softmax), dropout.h, embedding.h (gather, RowSparseGrad,
// positions, time-gap buckets), attention.h (self/cross multi-head),
// feed_forward.h, transformer_block.h.
// Thread safety: see each header (all stateless; caches per caller).
#pragma once

#include "recsys/ranker/layers/activations.h"
#include "recsys/ranker/layers/attention.h"
#include "recsys/ranker/layers/common.h"
#include "recsys/ranker/layers/dropout.h"
#include "recsys/ranker/layers/embedding.h"
#include "recsys/ranker/layers/feed_forward.h"
#include "recsys/ranker/layers/layer_norm.h"
#include "recsys/ranker/layers/linear.h"
#include "recsys/ranker/layers/transformer_block.h"

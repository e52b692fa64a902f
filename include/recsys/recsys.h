// recsys: umbrella header and version.
//
//   #include "recsys/recsys.h"
//   std::printf("recsys %s\n", recsys::Version());
//
// Includes the stable public API of every layer. Thread safety: see each header.
#pragma once

#include "recsys/core/check.h"
#include "recsys/core/eigen.h"
#include "recsys/core/parallel.h"
#include "recsys/core/rng.h"
#include "recsys/core/status.h"
#include "recsys/core/topk.h"
#include "recsys/core/types.h"
#include "recsys/data/event_log.h"
#include "recsys/data/sequence_dataset.h"
#include "recsys/data/vocabulary.h"

namespace recsys {

inline constexpr int kVersionMajor = 0;
inline constexpr int kVersionMinor = 1;
inline constexpr int kVersionPatch = 0;
inline const char* Version() { return "0.1.0"; }

}  // namespace recsys

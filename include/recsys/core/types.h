// Basic types and the one layout convention of the library.
//
// Identifiers: external ids (those in files, requests and responses) are
// int64; inside the engine users and items are dense int32 indices 0..n-1
// assigned by a Vocabulary. Timestamps are int64 seconds (or any monotone unit
// the data uses). Scores are float32.
//
// LAYOUT: every matrix in recsys is ROW-MAJOR. A pointer documented as
// "n × d" points at n rows of d contiguous floats; row i starts at p + i * d.
// Eigen types are aliased in eigen.h to row-major variants accordingly.
//
// Thread safety: plain types.
#pragma once

#include <cstdint>
#include <limits>

namespace recsys {

using ExternalId = int64_t;  // ids as they appear in files and requests
using ItemIndex = int32_t;   // dense item index in [0, num_items)
using UserIndex = int32_t;   // dense user index in [0, num_users)
using Timestamp = int64_t;   // event time
using EventType = uint8_t;   // view / listen / like / dislike / ... (see data/event_log.h)

inline constexpr ItemIndex kNoItem = -1;  // padding in result lists
inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

}  // namespace recsys

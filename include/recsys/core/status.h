// Status helpers for the public API: every caller-facing error is an
// absl::Status (or StatusOr<T>) with the most specific code and a message that
// names the file/line/field or argument at fault.
//
// Debian's Abseil 20220623 predates ABSL_RETURN_IF_ERROR, so recsys defines
// its own:
//
//   absl::StatusOr<SequenceDataset> Load(const std::string& path) {
//     RECSYS_ASSIGN_OR_RETURN(EventLog log, ReadSeqFile(path));
//     RECSYS_RETURN_IF_ERROR(log.Validate());
//     return SequenceDataset::Build(log);
//   }
//
// Thread safety: stateless macros.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define RECSYS_INTERNAL_CONCAT_IMPL(a, b) a##b
#define RECSYS_INTERNAL_CONCAT(a, b) RECSYS_INTERNAL_CONCAT_IMPL(a, b)

// Returns from the enclosing function when `expr` (absl::Status) is not OK.
#define RECSYS_RETURN_IF_ERROR(expr)                      \
  do {                                                    \
    ::absl::Status recsys_status_ = (expr);               \
    if (!recsys_status_.ok()) return recsys_status_;      \
  } while (0)

// `lhs` = value of `rexpr` (absl::StatusOr<T>), or returns its error.
#define RECSYS_ASSIGN_OR_RETURN(lhs, rexpr) \
  RECSYS_INTERNAL_ASSIGN_OR_RETURN(         \
      RECSYS_INTERNAL_CONCAT(recsys_statusor_, __LINE__), lhs, rexpr)

#define RECSYS_INTERNAL_ASSIGN_OR_RETURN(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                     \
  if (!statusor.ok()) return std::move(statusor).status();     \
  lhs = std::move(statusor).value()

namespace recsys {

// Prefixes a status message with context ("reading model.rsm: ...") while
// keeping its code.
inline absl::Status Annotate(const absl::Status& status, const std::string& context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

// Runs `fn` and converts any exception escaping third-party code (FAISS, TBB,
// std::bad_alloc) into an absl::Status. This is the one seam where exceptions
// stop; they never cross the public API.
template <typename Fn>
absl::Status CatchExceptions(const std::string& what, Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(what, ": unknown exception"));
  }
}

}  // namespace recsys

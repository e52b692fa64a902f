// Invariant checks. Broken invariants (bugs, not caller mistakes) abort with
// the failing condition and location. Caller mistakes return absl::Status
// instead (see status.h).
//
//   RECSYS_CHECK(offsets.back() == items.size()) << "CSR is inconsistent";
//   RECSYS_DCHECK(i < n);  // hot loop: compiled out unless RECSYS_DEBUG_CHECKS
//
// Thread safety: safe; the abort path writes to stderr once.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

namespace recsys::internal {

class CheckFailure {
 public:
  CheckFailure(const char* condition, const char* file, int line) {
    stream_ << file << ":" << line << ": RECSYS_CHECK failed: " << condition << " ";
  }
  [[noreturn]] ~CheckFailure() {
    std::string message = stream_.str();
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    std::abort();
  }
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Swallows the streamed message when the check is compiled out.
struct NullStream {
  template <typename T>
  NullStream& operator<<(const T&) { return *this; }
};

}  // namespace recsys::internal

#define RECSYS_CHECK(condition)                      \
  if (__builtin_expect(static_cast<bool>(condition), 1)) { \
  } else                                             \
    ::recsys::internal::CheckFailure(#condition, __FILE__, __LINE__)

#if !defined(NDEBUG) || defined(RECSYS_DEBUG_CHECKS)
#define RECSYS_DCHECK(condition) RECSYS_CHECK(condition)
#else
#define RECSYS_DCHECK(condition) \
  while (false && static_cast<bool>(condition)) ::recsys::internal::NullStream()
#endif

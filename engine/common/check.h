// Invariants that, broken, leave nothing safe to do but stop.
//
//   GC_CHECK(version == expected, "case ", id, ": version ", version);
//
// A failed check writes "FILE:LINE: check failed: CONDITION: MESSAGE" to
// stderr and aborts, always (also in release builds): a broken invariant
// of a durable log must never be carried on past. For what a caller or a
// client can cause, return an absl::Status instead.
#ifndef GRIDCASE_ENGINE_COMMON_CHECK_H_
#define GRIDCASE_ENGINE_COMMON_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace gridcase::check_internal {

[[noreturn]] inline void Failed(const char* file, int line, const char* condition,
                                const std::string& message) {
  std::fprintf(stderr, "%s:%d: check failed: %s%s%s\n", file, line, condition,
               message.empty() ? "" : ": ", message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace gridcase::check_internal

// The message parts are evaluated only when the check fails.
#define GC_CHECK(condition, ...)                                         \
  do {                                                                   \
    if (__builtin_expect(!(condition), 0)) {                             \
      ::gridcase::check_internal::Failed(__FILE__, __LINE__, #condition, \
                                         ::absl::StrCat(__VA_ARGS__));   \
    }                                                                    \
  } while (0)

// A place control must never reach (after a switch over every case).
#define GC_UNREACHABLE(...) \
  ::gridcase::check_internal::Failed(__FILE__, __LINE__, "unreachable", ::absl::StrCat(__VA_ARGS__))

#endif  // GRIDCASE_ENGINE_COMMON_CHECK_H_

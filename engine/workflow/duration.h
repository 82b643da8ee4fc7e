// Durations as people write them in workflow definitions: "30s", "15m",
// "4h", "1d", "14d" — a whole number and one unit.
#ifndef GRIDCASE_ENGINE_WORKFLOW_DURATION_H_
#define GRIDCASE_ENGINE_WORKFLOW_DURATION_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gridcase::workflow {

inline constexpr int64_t kSecondUs = 1000000;
inline constexpr int64_t kDayUs = 86400 * kSecondUs;

// Microseconds, or INVALID_ARGUMENT saying what is wrong. At most 3650 days.
absl::StatusOr<int64_t> ParseDuration(absl::string_view text);

// The shortest exact rendering: 86400000000 -> "1d", 5400000000 -> "90m".
std::string FormatDuration(int64_t us);

// For people reading an explanation: the two largest units, rounded down
// ("2h 5m", "1d 3h", "45s"; under a second "250ms"). Negative: "-" first.
std::string FormatSpan(int64_t us);

}  // namespace gridcase::workflow

#endif  // GRIDCASE_ENGINE_WORKFLOW_DURATION_H_

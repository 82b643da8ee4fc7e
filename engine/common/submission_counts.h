// How the submissions the engine answered ended, by where they came from
// and by status code: what the metrics report as accepted and refused.
// Counted once per answer with a relaxed atomic increment; read at any time.
#ifndef GRIDCASE_ENGINE_COMMON_SUBMISSION_COUNTS_H_
#define GRIDCASE_ENGINE_COMMON_SUBMISSION_COUNTS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace gridcase {

enum class SubmitSource : uint8_t {
  kClient = 0,  // Engine::Submit: an application's call (gRPC)
  kStream = 1,  // StreamLedger::SubmitFromStream: a Kafka message
};
inline constexpr size_t kSubmitSources = 2;
// absl::StatusCode runs from 0 (OK) to 16 (UNAUTHENTICATED).
inline constexpr size_t kStatusCodes = 17;

class SubmissionCounts {
 public:
  void Count(SubmitSource source, absl::StatusCode code) {
    n_[static_cast<size_t>(source)][Index(code)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t get(SubmitSource source, absl::StatusCode code) const {
    return n_[static_cast<size_t>(source)][Index(code)].load(std::memory_order_relaxed);
  }

 private:
  // A code outside the known ones (none is made) counts as UNKNOWN.
  static size_t Index(absl::StatusCode code) {
    const auto i = static_cast<size_t>(code);
    return i < kStatusCodes ? i : static_cast<size_t>(absl::StatusCode::kUnknown);
  }

  std::array<std::array<std::atomic<uint64_t>, kStatusCodes>, kSubmitSources> n_{};
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_SUBMISSION_COUNTS_H_

// Per-caller rate limits: a token bucket per (caller, kind of call), so
// that one caller (a runaway script, a stolen credential) cannot take the
// server from everyone else. Over its limit a call is refused
// RESOURCE_EXHAUSTED saying when to retry; nothing is read or written.
//
// Time comes from the injected clock: tests move a FakeClock.
#ifndef GRIDCASE_SERVICES_SECURITY_RATE_LIMIT_H_
#define GRIDCASE_SERVICES_SECURITY_RATE_LIMIT_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"

namespace gridcase::security {

enum class CallKind { kSubmit, kRead, kLogStream, kCheckpoint, kUnlimited };

struct RateLimits {
  // Per caller. 0: unlimited. The burst a caller may spend at once is
  // `per_s` × `burst_s`.
  double submits_per_s = 2000;
  double reads_per_s = 200;
  double log_streams_per_s = 1;
  double checkpoints_per_s = 1.0 / 600;  // one per 10 minutes
  double burst_s = 10;
};

// The kind of call `method` ("/gridcase.v1.CaseService/GetCase") is.
CallKind KindOf(absl::string_view method);

class RateLimiter {
 public:
  RateLimiter(const Clock* clock, RateLimits limits) : clock_(clock), limits_(limits) {}

  // Takes `n` calls of `kind` from `caller`'s bucket, or RESOURCE_EXHAUSTED
  // saying how many milliseconds until they would fit. `per_s` >= 0
  // replaces the limit of `kind` for this caller (0: unlimited).
  absl::Status Take(const std::string& caller, CallKind kind, double n = 1, double per_s = -1);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t at_us = 0;
  };
  double RateOf(CallKind kind) const;

  const Clock* const clock_;
  const RateLimits limits_;
  absl::Mutex mu_;
  std::map<std::pair<std::string, CallKind>, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridcase::security

#endif  // GRIDCASE_SERVICES_SECURITY_RATE_LIMIT_H_

#include "services/security/rate_limit.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gridcase::security {

CallKind KindOf(absl::string_view method) {
  if (absl::StartsWith(method, "/gridcase.v1.EventService/")) return CallKind::kSubmit;
  if (method == "/gridcase.v1.AuditService/ReadLog") return CallKind::kLogStream;
  if (method == "/gridcase.v1.AuditService/Checkpoint") return CallKind::kCheckpoint;
  if (method == "/gridcase.v1.AdminService/GetServerStats" ||
      method == "/gridcase.v1.AdminService/GetKafkaStatus") {
    return CallKind::kUnlimited;  // what monitoring polls
  }
  return CallKind::kRead;
}

double RateLimiter::RateOf(CallKind kind) const {
  switch (kind) {
    case CallKind::kSubmit:
      return limits_.submits_per_s;
    case CallKind::kRead:
      return limits_.reads_per_s;
    case CallKind::kLogStream:
      return limits_.log_streams_per_s;
    case CallKind::kCheckpoint:
      return limits_.checkpoints_per_s;
    case CallKind::kUnlimited:
      return 0;
  }
  return 0;
}

absl::Status RateLimiter::Take(const std::string& caller, CallKind kind, double n, double per_s) {
  const double rate = per_s >= 0 ? per_s : RateOf(kind);
  if (rate <= 0) return absl::OkStatus();
  const double capacity = std::max(1.0, rate * limits_.burst_s);
  const int64_t now_us = clock_->NowMicros();
  absl::MutexLock lock(&mu_);
  auto [it, fresh] = buckets_.try_emplace({caller, kind});
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = capacity;
  } else {
    const double earned = static_cast<double>(std::max<int64_t>(0, now_us - b.at_us)) / 1e6 * rate;
    b.tokens = std::min(capacity, b.tokens + earned);
  }
  b.at_us = now_us;
  if (b.tokens >= n) {
    b.tokens -= n;
    return absl::OkStatus();
  }
  const int64_t wait_ms = static_cast<int64_t>(std::ceil((n - b.tokens) / rate * 1000));
  return absl::ResourceExhaustedError(absl::StrCat(
      caller, " is over its limit of ", rate, " such calls per second; retry in ", wait_ms, " ms"));
}

}  // namespace gridcase::security

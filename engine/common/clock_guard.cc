#include "engine/common/clock_guard.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gridcase {
namespace {

constexpr char kAnchorMagic[] = "gridcase-clock-anchor-1";
constexpr int64_t kPersistEveryUs = 1000000;
// A fixed length, rewritten in place: a reader never sees a shorter file.
constexpr int kAnchorBytes = 128;

struct Anchor {
  std::string boot_id;
  int64_t wall_us = 0;
  int64_t monotonic_us = 0;
};

std::optional<Anchor> ReadAnchor(const std::string& path) {
  std::ifstream in(path);
  std::string magic;
  Anchor a;
  if (!(in >> magic >> a.boot_id >> a.wall_us >> a.monotonic_us) || magic != kAnchorMagic) {
    return std::nullopt;
  }
  return a;
}

}  // namespace

ClockGuard::ClockGuard(const Clock* clock, int64_t limit_us)
    : clock_(clock),
      limit_us_(limit_us),
      anchor_wall_us_(clock->NowMicros()),
      anchor_monotonic_us_(clock->MonotonicMicros()) {}

absl::StatusOr<std::unique_ptr<ClockGuard>> ClockGuard::Open(const Clock* clock, int64_t limit_us,
                                                             const std::string& anchor_file) {
  std::unique_ptr<ClockGuard> guard(new ClockGuard(clock, limit_us));
  if (anchor_file.empty()) return guard;
  guard->boot_id_ = clock->BootId();
  const auto before = ReadAnchor(anchor_file);
  guard->fd_ = open(anchor_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (guard->fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("opening the clock anchor ", anchor_file, ": ", std::strerror(errno)));
  }
  absl::MutexLock lock(&guard->mu_);
  if (before && !guard->boot_id_.empty() && before->boot_id == guard->boot_id_) {
    // The same boot: the time that passed since is known, and a jump made
    // meanwhile shows.
    guard->anchor_wall_us_ = before->wall_us;
    guard->anchor_monotonic_us_ = before->monotonic_us;
    guard->JudgeLocked(clock->NowMicros(), clock->MonotonicMicros()).IgnoreError();
  }
  guard->PersistLocked(/*force=*/true);
  return guard;
}

ClockGuard::~ClockGuard() {
  if (fd_ >= 0) close(fd_);
}

absl::Status ClockGuard::JumpedLocked() const {
  if (stats_.jumped_us == 0) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrFormat("wall clock jumped forward by %.0f s (limit %.0f s); fix time sync, then %s",
                      stats_.jumped_us / 1e6, limit_us_ / 1e6, kAcceptClockCommand));
}

absl::Status ClockGuard::JudgeLocked(int64_t wall, int64_t monotonic) {
  const int64_t expected = anchor_wall_us_ + (monotonic - anchor_monotonic_us_);
  const int64_t skew = wall - expected;
  if (skew > limit_us_) {
    if (stats_.jumped_us == 0) ++stats_.jumps_refused;
    stats_.jumped_us = skew;
    return JumpedLocked();
  }
  if (skew < -limit_us_) {
    ++stats_.steps_back;
    stats_.largest_step_back_us = std::max(stats_.largest_step_back_us, -skew);
  }
  stats_.jumped_us = 0;
  anchor_wall_us_ = wall;
  anchor_monotonic_us_ = monotonic;
  return absl::OkStatus();
}

void ClockGuard::PersistLocked(bool force) {
  if (fd_ < 0 || stats_.jumped_us != 0) return;
  if (!force && anchor_monotonic_us_ - persisted_monotonic_us_ < kPersistEveryUs) return;
  std::string line = absl::StrFormat("%s %s %d %d", kAnchorMagic, boot_id_.empty() ? "-" : boot_id_,
                                     anchor_wall_us_, anchor_monotonic_us_);
  line.resize(kAnchorBytes - 1, ' ');
  line += '\n';
  // Not synced: a crash of the process keeps it (the page cache), and
  // after a crash of the machine the boot id differs anyway. A failed
  // write leaves the older anchor, which can only make a later start
  // stricter.
  if (pwrite(fd_, line.data(), line.size(), 0) == static_cast<ssize_t>(line.size())) {
    persisted_monotonic_us_ = anchor_monotonic_us_;
  }
}

absl::StatusOr<int64_t> ClockGuard::Now() {
  // Both readings under the lock: two callers never interleave an anchor.
  absl::MutexLock lock(&mu_);
  const int64_t monotonic = clock_->MonotonicMicros();
  const int64_t wall = clock_->NowMicros();
  if (absl::Status st = JudgeLocked(wall, monotonic); !st.ok()) return st;
  PersistLocked(/*force=*/false);
  return wall;
}

absl::Status ClockGuard::state() const {
  absl::MutexLock lock(&mu_);
  return JumpedLocked();
}

absl::StatusOr<int64_t> ClockGuard::Accept() {
  absl::MutexLock lock(&mu_);
  if (stats_.jumped_us == 0) {
    return absl::FailedPreconditionError("the wall clock has not jumped: nothing to accept");
  }
  const int64_t accepted = stats_.jumped_us;
  stats_.jumped_us = 0;
  ++stats_.jumps_accepted;
  anchor_wall_us_ = clock_->NowMicros();
  anchor_monotonic_us_ = clock_->MonotonicMicros();
  PersistLocked(/*force=*/true);
  return accepted;
}

ClockGuardStats ClockGuard::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace gridcase

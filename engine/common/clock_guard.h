// Guards the engine against a wall clock that jumps.
//
// Recorded time and deadlines follow the wall clock, which time
// synchronisation or an operator's mistake may step. A forward step of a
// year would otherwise stamp every later record a year ahead (recorded
// time never goes back within a partition) and fire every deadline of the
// coming year at once, early. The guard compares each wall reading with
// the monotonic reading (clock.h), which no step moves:
//
//   expected = anchor_wall + (monotonic - anchor_monotonic)
//   skew     = wall - expected
//
// * |skew| <= limit: time passed (small slews by time sync included); the
//   reading is good and becomes the anchor.
// * skew > limit: the wall clock jumped forward. Now() refuses with
//   UNAVAILABLE "wall clock jumped forward by X s; ..." until the wall
//   clock comes back within the limit of the expected time (time sync
//   fixed) or an operator accepts the new time (Accept()). The anchor stays
//   where it was meanwhile, so the expected time keeps counting.
// * skew < -limit: the wall clock stepped back. The reading is taken (and
//   becomes the anchor) and the step is counted: recorded time holds still
//   until the wall clock passes the last recorded time (the sequencer never
//   stamps a record earlier than the one before), and deadlines fall due
//   later, never early, and their ids keep a deadline from firing twice.
//
// Across restarts: with an anchor file, the guard keeps its last good
// reading there (the machine's boot id, wall and monotonic), at most once
// a second, never while a jump stands. A guard opened later in the same
// boot starts from it, so a jump made while the process was down (killed,
// restarted) is refused all the same. After a reboot the monotonic clock
// starts again and the file is ignored.
//
// Thread-safe.
#ifndef GRIDCASE_ENGINE_COMMON_CLOCK_GUARD_H_
#define GRIDCASE_ENGINE_COMMON_CLOCK_GUARD_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"

namespace gridcase {

// What the operator runs once time is right again, named in the refusal.
inline constexpr char kAcceptClockCommand[] = "gridcase admin accept-clock";

struct ClockGuardStats {
  int64_t jumped_us = 0;        // the forward jump refused now (0: none)
  uint64_t jumps_refused = 0;   // forward jumps seen since the start
  uint64_t jumps_accepted = 0;  // by an operator
  uint64_t steps_back = 0;      // backward steps beyond the limit, taken
  int64_t largest_step_back_us = 0;
};

class ClockGuard {
 public:
  // `clock` must outlive the guard. `limit_us` > 0. `anchor_file`: see
  // above (empty: none); an unreadable or foreign one is ignored, one that
  // cannot be written is an error.
  static absl::StatusOr<std::unique_ptr<ClockGuard>> Open(const Clock* clock, int64_t limit_us,
                                                          const std::string& anchor_file = "");
  ~ClockGuard();

  // The wall time to use now, or UNAVAILABLE while a forward jump beyond
  // the limit stands.
  absl::StatusOr<int64_t> Now();
  // The refusal Now() would give, without reading the clock (OK: none).
  absl::Status state() const;
  // Accepts the wall clock as it reads now. Returns the jump accepted, or
  // FAILED_PRECONDITION when no jump stood.
  absl::StatusOr<int64_t> Accept();

  int64_t limit_us() const { return limit_us_; }
  ClockGuardStats stats() const;

 private:
  ClockGuard(const Clock* clock, int64_t limit_us);
  absl::Status JumpedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Judges `wall` against the anchor; a good reading becomes the anchor.
  absl::Status JudgeLocked(int64_t wall, int64_t monotonic) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the anchor to the file (when there is one and `force` or a
  // second has passed since the last write).
  void PersistLocked(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const int64_t limit_us_;
  std::string boot_id_;
  int fd_ = -1;  // the anchor file; -1: none
  int64_t persisted_monotonic_us_ ABSL_GUARDED_BY(mu_) = 0;
  mutable absl::Mutex mu_;
  int64_t anchor_wall_us_ ABSL_GUARDED_BY(mu_);
  int64_t anchor_monotonic_us_ ABSL_GUARDED_BY(mu_);
  ClockGuardStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_CLOCK_GUARD_H_

// The deadline scheduler: a thread that fires due deadlines
// (DeadlineTimers::FireDueDeadlines), hands on the cases of people whose
// announced unavailability has begun (a hand-on function: the engine's is
// Staffing::HandOnFromNewlyUnavailable),
// and then waits until the next deadline is due,
// at most `poll_us_max` (so that deadlines set meanwhile are seen soon), or
// until Poke()d.
//
// Time is the injected Clock; the thread only waits between rounds. Tests
// move a FakeClock, Poke() and AwaitFired() — no test waits on real time.
#ifndef GRIDCASE_ENGINE_TIMERS_SCHEDULER_H_
#define GRIDCASE_ENGINE_TIMERS_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"
#include "engine/common/monotonic_wait.h"
#include "engine/timers/deadline_timers.h"

namespace gridcase {

class DeadlineScheduler {
 public:
  // Hands on what people who became unavailable hold; returns cases moved.
  using HandOn = std::function<absl::StatusOr<size_t>()>;
  // `timers` and `clock` must outlive the scheduler, and what `hand_on`
  // uses too. `on_error` is told of any round that failed (the next round
  // tries again); it may be empty.
  DeadlineScheduler(DeadlineTimers* timers, HandOn hand_on, const Clock* clock, int64_t poll_us_max,
                    std::function<void(const absl::Status&)> on_error);
  ~DeadlineScheduler();  // Stop()s

  void Start();
  // Finishes the current round and joins the thread. Idempotent: a second
  // call does nothing, so the timers may be gone by then.
  void Stop();
  // Runs a round now.
  void Poke();
  // Blocks until at least `n` deadlines have fired since Start().
  void AwaitFired(uint64_t n);
  uint64_t fired() const;

 private:
  void Run();
  bool Woken() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || poked_; }

  DeadlineTimers* const timers_;
  const HandOn hand_on_;
  const Clock* const clock_;
  const int64_t poll_us_max_;
  const std::function<void(const absl::Status&)> on_error_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;  // Stop() was called
  bool poked_ ABSL_GUARDED_BY(mu_) = false;
  int64_t wake_us_ ABSL_GUARDED_BY(mu_) = 0;  // when the current wait ends
  uint64_t fired_ ABSL_GUARDED_BY(mu_) = 0;
  MonotonicWaiter waiter_;  // the wait between rounds
  std::thread thread_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_TIMERS_SCHEDULER_H_

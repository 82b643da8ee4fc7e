// The deadline scheduler: a thread that fires due deadlines through the
// engine (Engine::FireDueDeadlines), hands on the cases of people whose
// announced unavailability has begun (Engine::HandOnFromNewlyUnavailable),
// and then waits until the next deadline is due,
// at most `poll_us_max` (so that deadlines set meanwhile are seen soon), or
// until Poke()d.
//
// Time is the injected Clock; the thread only waits between rounds. Tests
// move a FakeClock, Poke() and AwaitFired() — no test waits on real time.
#ifndef GRIDCASE_ENGINE_SCHEDULER_H_
#define GRIDCASE_ENGINE_SCHEDULER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "engine/common/clock.h"
#include "engine/engine.h"

namespace gridcase {

class DeadlineScheduler {
 public:
  // `engine` and `clock` must outlive the scheduler. `on_error` is told of
  // any round that failed (the next round tries again); it may be empty.
  DeadlineScheduler(Engine* engine, const Clock* clock, int64_t poll_us_max,
                    std::function<void(const absl::Status&)> on_error);
  ~DeadlineScheduler();  // Stop()s

  void Start();
  // Finishes the current round and joins the thread. Idempotent.
  void Stop();
  // Runs a round now.
  void Poke();
  // Blocks until at least `n` deadlines have fired since Start().
  void AwaitFired(uint64_t n);
  uint64_t fired() const;

 private:
  void Run();

  Engine* const engine_;
  const Clock* const clock_;
  const int64_t poll_us_max_;
  const std::function<void(const absl::Status&)> on_error_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool poked_ = false;     // guarded by mu_
  int64_t wake_us_ = 0;    // guarded by mu_: when the current wait ends
  uint64_t fired_ = 0;     // guarded by mu_
  std::thread thread_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_SCHEDULER_H_

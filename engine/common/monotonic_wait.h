// Timed waits that count on the monotonic clock.
//
// absl::Mutex's timed waits (AwaitWithTimeout, CondVar::WaitWithTimeout)
// end at a point of the wall clock: a futex with an absolute
// CLOCK_REALTIME time. A step of the wall clock back by a day stretches a
// 100 ms wait by a day; a step forward cuts it short. The threads that
// wait for time to pass (the deadline scheduler, health, head signing,
// certificate reloads) wait here instead: std::condition_variable_any
// waits on the steady clock (pthread_cond_clockwait with CLOCK_MONOTONIC),
// releasing and taking the absl::Mutex the caller holds.
//
// Whoever changes what a waiter's predicate reads (under the mutex) calls
// Notify(); an absl::Condition would have been re-evaluated by itself.
#ifndef GRIDCASE_ENGINE_COMMON_MONOTONIC_WAIT_H_
#define GRIDCASE_ENGINE_COMMON_MONOTONIC_WAIT_H_

#include <chrono>
#include <condition_variable>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace gridcase {

class MonotonicWaiter {
 public:
  // With `mu` held: waits until `done()` holds or `timeout` has passed on
  // the monotonic clock, whichever is first; returns done(). `mu` is held
  // again on return.
  template <typename Done>
  bool WaitFor(absl::Mutex* mu, std::chrono::nanoseconds timeout, Done done) {
    Held held{mu};
    return cv_.wait_for(held, timeout, done);
  }
  // Wakes every waiter to check its predicate again.
  void Notify() { cv_.notify_all(); }

 private:
  // The held mutex as the waiting releases and takes it again.
  struct Held {
    absl::Mutex* mu;
    void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu->Lock(); }
    void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu->Unlock(); }
  };

  std::condition_variable_any cv_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_MONOTONIC_WAIT_H_

// ThreadSanitizer builds only (GRIDCASE_SANITIZE=thread).
//
// Debian's Abseil is not built with ThreadSanitizer, and absl::Mutex waits
// on futexes, not on pthread calls ThreadSanitizer intercepts: without help
// every field an absl::Mutex guards would look raced. These definitions
// interpose the library's lock and unlock entry points (a program's
// definition wins over a shared library's) and tell ThreadSanitizer what
// each does, through its public annotation interface: acquire after taking
// the lock, release before giving it up. Locking and unlocking call the
// library's own functions, found with dlsym(RTLD_NEXT), so locking itself
// is unchanged; waits on a condition are done here (below). Await assumes
// the lock is held exclusively, as everywhere in gridcase.
//
// This hides no race in gridcase code: data touched under an absl::Mutex is
// ordered by it, and data touched without one is still checked.

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace {

template <typename Fn>
Fn Next(const char* symbol) {
  void* f = dlsym(RTLD_NEXT, symbol);
  if (f == nullptr) {
    std::fprintf(stderr, "absl_tsan: %s not found in the Abseil library\n", symbol);
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}

// The mangled names of the library's functions (Debian's inline namespace
// debian3, Abseil 20220623).
#define ABSL_MU "_ZN4absl7debian35Mutex"
#define ABSL_CV "_ZN4absl7debian37CondVar"

void Acquired(const void* mu) { __tsan_acquire(const_cast<void*>(mu)); }
void Releasing(const void* mu) { __tsan_release(const_cast<void*>(mu)); }

}  // namespace

namespace absl {
inline namespace debian3 {

void Mutex::Lock() {
  static auto next = Next<void (*)(Mutex*)>(ABSL_MU "4LockEv");
  next(this);
  Acquired(this);
}

void Mutex::ReaderLock() {
  static auto next = Next<void (*)(Mutex*)>(ABSL_MU "10ReaderLockEv");
  next(this);
  Acquired(this);
}

bool Mutex::TryLock() {
  static auto next = Next<bool (*)(Mutex*)>(ABSL_MU "7TryLockEv");
  const bool locked = next(this);
  if (locked) Acquired(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static auto next = Next<bool (*)(Mutex*)>(ABSL_MU "13ReaderTryLockEv");
  const bool locked = next(this);
  if (locked) Acquired(this);
  return locked;
}

void Mutex::Unlock() {
  static auto next = Next<void (*)(Mutex*)>(ABSL_MU "6UnlockEv");
  Releasing(this);
  next(this);
}

void Mutex::ReaderUnlock() {
  static auto next = Next<void (*)(Mutex*)>(ABSL_MU "12ReaderUnlockEv");
  Releasing(this);
  next(this);
}

// The library evaluates a waiter's condition inside its own code, in
// whichever thread unlocks, where no annotation can reach. So the waits on
// a condition are done here instead: the condition is evaluated by the
// waiting thread with the lock held (as annotated above), and between
// evaluations the lock is given up for a moment, backing off to 1 ms. Only
// the ThreadSanitizer build waits this way.
namespace {

// Waits until `cond` holds or `deadline` passes; the lock is held on entry
// and on return. True if the condition holds.
bool WaitFor(Mutex* mu, const Condition& cond, Time deadline, bool reader) {
  absl::Duration pause = absl::Microseconds(20);
  while (!cond.Eval()) {
    if (Now() >= deadline) return false;
    if (reader) {
      mu->ReaderUnlock();
    } else {
      mu->Unlock();
    }
    SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(1));
    if (reader) {
      mu->ReaderLock();
    } else {
      mu->Lock();
    }
  }
  return true;
}

}  // namespace

void Mutex::LockWhen(const Condition& cond) {
  Lock();
  WaitFor(this, cond, InfiniteFuture(), false);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  ReaderLock();
  WaitFor(this, cond, InfiniteFuture(), true);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  Lock();
  return WaitFor(this, cond, Now() + timeout, false);
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  Lock();
  return WaitFor(this, cond, deadline, false);
}

void Mutex::Await(const Condition& cond) { WaitFor(this, cond, InfiniteFuture(), false); }

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  return WaitFor(this, cond, Now() + timeout, false);
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  return WaitFor(this, cond, deadline, false);
}

void CondVar::Wait(Mutex* mu) {
  static auto next = Next<void (*)(CondVar*, Mutex*)>(ABSL_CV "4WaitEPNS0_5MutexE");
  Releasing(mu);
  next(this, mu);
  Acquired(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto next = Next<bool (*)(CondVar*, Mutex*, Duration)>(
      ABSL_CV "15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Releasing(mu);
  const bool timed_out = next(this, mu, timeout);
  Acquired(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto next =
      Next<bool (*)(CondVar*, Mutex*, Time)>(ABSL_CV "16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Releasing(mu);
  const bool timed_out = next(this, mu, deadline);
  Acquired(mu);
  return timed_out;
}

}  // namespace debian3
}  // namespace absl

#include "engine/timers/scheduler.h"

#include <algorithm>
#include <chrono>

namespace gridcase {

DeadlineScheduler::DeadlineScheduler(DeadlineTimers* timers, HandOn hand_on, const Clock* clock,
                                     int64_t poll_us_max,
                                     std::function<void(const absl::Status&)> on_error)
    : timers_(timers),
      hand_on_(std::move(hand_on)),
      clock_(clock),
      poll_us_max_(poll_us_max),
      on_error_(std::move(on_error)) {}

DeadlineScheduler::~DeadlineScheduler() { Stop(); }

void DeadlineScheduler::Start() {
  // A deadline due before the current wait ends wakes the scheduler, so
  // lateness does not depend on the poll interval.
  timers_->SetDeadlineListener([this](int64_t due_us) {
    absl::MutexLock lock(&mu_);
    if (due_us < wake_us_) {
      wake_us_ = due_us;
      poked_ = true;
      waiter_.Notify();
    }
  });
  thread_ = std::thread([this] { Run(); });
}

void DeadlineScheduler::Stop() {
  {
    // Once stopped, the timers are not touched again: the destructor may
    // run after they are gone.
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  timers_->SetDeadlineListener(nullptr);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    waiter_.Notify();
  }
  if (thread_.joinable()) thread_.join();
}

void DeadlineScheduler::Poke() {
  {
    absl::MutexLock lock(&mu_);
    poked_ = true;
    waiter_.Notify();
  }
}

void DeadlineScheduler::AwaitFired(uint64_t n) {
  absl::MutexLock lock(&mu_);
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return fired_ >= n || stopping_; };
  mu_.Await(absl::Condition(&reached));
}

uint64_t DeadlineScheduler::fired() const {
  absl::MutexLock lock(&mu_);
  return fired_;
}

void DeadlineScheduler::Run() {
  for (;;) {
    int64_t wait_us = poll_us_max_;
    auto fired = timers_->FireDueDeadlines();
    if (fired.ok()) {
      absl::MutexLock lock(&mu_);
      fired_ += *fired;
    } else if (on_error_) {
      on_error_(fired.status());
    }
    if (auto moved = hand_on_(); !moved.ok() && on_error_) {
      on_error_(moved.status());
    }
    auto next = timers_->NextDeadlineDueUs();
    const int64_t now_us = clock_->NowMicros();
    // A deadline already due that did not fire (a failed round) is tried
    // again after the full poll interval rather than in a spin.
    if (next.ok() && next->has_value() && **next > now_us) {
      wait_us = std::min<int64_t>(**next - now_us, poll_us_max_);
    }
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (fired.ok() && *fired > 0) continue;  // more may have fallen due meanwhile
    wake_us_ = now_us + wait_us;
    // On the monotonic clock: a wall clock stepped back must not stretch
    // the wait (a stretched wait is deadlines that never fire).
    waiter_.WaitFor(&mu_, std::chrono::microseconds(wait_us),
                    [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return Woken(); });
    wake_us_ = 0;
    if (stopping_) return;
    poked_ = false;
  }
}

}  // namespace gridcase

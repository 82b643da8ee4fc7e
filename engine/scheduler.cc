#include "engine/scheduler.h"

#include <algorithm>
#include <chrono>

namespace gridcase {

DeadlineScheduler::DeadlineScheduler(Engine* engine, const Clock* clock, int64_t poll_us_max,
                                     std::function<void(const absl::Status&)> on_error)
    : engine_(engine), clock_(clock), poll_us_max_(poll_us_max), on_error_(std::move(on_error)) {}

DeadlineScheduler::~DeadlineScheduler() { Stop(); }

void DeadlineScheduler::Start() {
  // A deadline due before the current wait ends wakes the scheduler, so
  // lateness does not depend on the poll interval.
  engine_->SetDeadlineListener([this](int64_t due_us) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (due_us < wake_us_) {
        wake_us_ = due_us;
        poked_ = true;
        wake = true;
      }
    }
    if (wake) cv_.notify_all();
  });
  thread_ = std::thread([this] { Run(); });
}

void DeadlineScheduler::Stop() {
  engine_->SetDeadlineListener(nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DeadlineScheduler::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void DeadlineScheduler::AwaitFired(uint64_t n) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return fired_ >= n || stopping_; });
}

uint64_t DeadlineScheduler::fired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fired_;
}

void DeadlineScheduler::Run() {
  for (;;) {
    int64_t wait_us = poll_us_max_;
    auto fired = engine_->FireDueDeadlines();
    if (fired.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      fired_ += *fired;
    } else if (on_error_) {
      on_error_(fired.status());
    }
    cv_.notify_all();
    if (auto moved = engine_->HandOnFromNewlyUnavailable(); !moved.ok() && on_error_) {
      on_error_(moved.status());
    }
    auto next = engine_->NextDeadlineDueUs();
    const int64_t now_us = clock_->NowMicros();
    // A deadline already due that did not fire (a failed round) is tried
    // again after the full poll interval rather than in a spin.
    if (next.ok() && next->has_value() && **next > now_us) {
      wait_us = std::min<int64_t>(**next - now_us, poll_us_max_);
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) return;
    if (fired.ok() && *fired > 0) continue;  // more may have fallen due meanwhile
    wake_us_ = now_us + wait_us;
    cv_.wait_for(lock, std::chrono::microseconds(wait_us), [this] { return stopping_ || poked_; });
    wake_us_ = 0;
    if (stopping_) return;
    poked_ = false;
  }
}

}  // namespace gridcase

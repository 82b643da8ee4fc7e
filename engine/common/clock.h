// Time enters the engine only through a Clock.
//
// The sequencer reads the clock once per group to stamp `recorded_at` (every
// record of a group shares it); the fold never does. The server builds a SystemClock; tests use a
// FakeClock and move it explicitly, so no test waits for real time to pass.
#ifndef GRIDCASE_ENGINE_COMMON_CLOCK_H_
#define GRIDCASE_ENGINE_COMMON_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace gridcase {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in microseconds since the Unix epoch. Thread-safe.
  virtual int64_t NowMicros() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_unix_us) : now_us_(start_unix_us) {}
  int64_t NowMicros() const override { return now_us_.load(); }
  void AdvanceMicros(int64_t delta_us) { now_us_.fetch_add(delta_us); }
  void SetMicros(int64_t unix_us) { now_us_.store(unix_us); }

 private:
  std::atomic<int64_t> now_us_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_CLOCK_H_

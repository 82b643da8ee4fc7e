// Time enters the engine only through a Clock.
//
// The sequencer reads the clock once per group to stamp `recorded_at` (every
// record of a group shares it); the fold never does. The server builds a SystemClock; tests use a
// FakeClock and move it explicitly, so no test waits for real time to pass.
//
// A clock has two readings: the wall clock, which time synchronisation (or
// a mistake) may step, and a monotonic one, which only ever moves at the
// rate time passes. Comparing them tells a jump of the wall clock from
// time passing (clock_guard.h).
#ifndef GRIDCASE_ENGINE_COMMON_CLOCK_H_
#define GRIDCASE_ENGINE_COMMON_CLOCK_H_

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>

namespace gridcase {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in microseconds since the Unix epoch. Thread-safe.
  virtual int64_t NowMicros() const = 0;
  // Microseconds on a clock that is never stepped, from an arbitrary
  // origin; only differences mean anything. Thread-safe.
  virtual int64_t MonotonicMicros() const = 0;
  // Names the machine's current boot: monotonic readings of two processes
  // compare only within one boot. Empty: unknown.
  virtual std::string BootId() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  // CLOCK_BOOTTIME: monotonic, and counting while the machine is
  // suspended (as the wall clock does), so a resumed virtual machine is not
  // taken for a jump.
  int64_t MonotonicMicros() const override {
    timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  }
  // The kernel's boot id (/proc/sys/kernel/random/boot_id).
  std::string BootId() const override {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string id;
    std::getline(in, id);
    return id;
  }
};

// A clock that only moves when told to. Thread-safe (each call on its own;
// a reader between the two readings' updates may see one moved without
// the other, by no more than one call's delta).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_unix_us) : now_us_(start_unix_us) {}
  int64_t NowMicros() const override { return now_us_.load(); }
  int64_t MonotonicMicros() const override { return monotonic_us_.load(); }
  // Time passes: both readings move.
  void AdvanceMicros(int64_t delta_us) {
    monotonic_us_.fetch_add(delta_us);
    now_us_.fetch_add(delta_us);
  }
  // Forwards: time passes until the wall clock reads `unix_us`.
  // Backwards: the wall clock is stepped back to it.
  void SetMicros(int64_t unix_us) {
    const int64_t delta = unix_us - now_us_.load();
    if (delta > 0) {
      AdvanceMicros(delta);
    } else {
      StepWallMicros(delta);
    }
  }
  // The wall clock is stepped by `delta_us` (either way) while no time
  // passes: what a time-sync mistake does.
  void StepWallMicros(int64_t delta_us) { now_us_.fetch_add(delta_us); }
  // One boot of a machine that never reboots.
  std::string BootId() const override { return "fake-boot"; }

 private:
  std::atomic<int64_t> now_us_;
  std::atomic<int64_t> monotonic_us_{0};
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_COMMON_CLOCK_H_

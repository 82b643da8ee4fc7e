// The clock guard (common/clock_guard.h) on a fake clock whose wall
// reading can be stepped without time passing, and the engine under it:
// a forward jump stops writes and deadlines until time is fixed or the
// jump accepted; a backward step never fires a deadline early or twice;
// slews are harmless. No test waits for real time.
#include "engine/common/clock_guard.h"

#include <string>
#include <vector>

#include "engine/common/time.h"
#include "engine/engine.h"
#include "engine/workflow/duration.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::Fever;
using ::gridcase::testing::Req;
using ::testing::HasSubstr;
using workflow::kDayUs;
using workflow::kSecondUs;

constexpr int64_t kHourUs = 3600 * kSecondUs;
constexpr int64_t kMinuteUs = 60 * kSecondUs;
constexpr int64_t kStartUs = 1582372800LL * 1000000;
constexpr int64_t kLimitUs = kMinuteUs;

TEST(ClockGuardTest, TimePassingAndSlewsAreGoodReadings) {
  FakeClock clock(kStartUs);
  auto opened = ClockGuard::Open(&clock, kLimitUs);
  ASSERT_TRUE(opened.ok()) << opened.status();
  ClockGuard& guard = **opened;
  EXPECT_EQ(*guard.Now(), kStartUs);
  clock.AdvanceMicros(kDayUs);  // a day passes: no jump
  EXPECT_EQ(*guard.Now(), kStartUs + kDayUs);
  // Time sync slews the wall clock by 50 s in all: below the limit each time.
  for (int i = 0; i < 5; ++i) {
    clock.AdvanceMicros(kHourUs);
    clock.StepWallMicros(10 * kSecondUs);
    EXPECT_TRUE(guard.Now().ok());
  }
  EXPECT_TRUE(guard.state().ok());
  EXPECT_EQ(guard.stats().jumps_refused, 0u);
}

TEST(ClockGuardTest, AForwardJumpIsRefusedUntilFixedOrAccepted) {
  FakeClock clock(kStartUs);
  auto opened = ClockGuard::Open(&clock, kLimitUs);
  ASSERT_TRUE(opened.ok()) << opened.status();
  ClockGuard& guard = **opened;
  ASSERT_TRUE(guard.Now().ok());
  clock.StepWallMicros(kDayUs);
  auto refused = guard.Now();
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("wall clock jumped forward by 86400 s"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(kAcceptClockCommand));
  EXPECT_EQ(guard.state(), refused.status());
  // Time passing does not wear the jump off: it is measured against the
  // monotonic reading.
  clock.AdvanceMicros(kHourUs);
  EXPECT_FALSE(guard.Now().ok());
  // Time sync puts the wall clock right: good again, with nothing to accept.
  clock.StepWallMicros(-kDayUs);
  EXPECT_EQ(*guard.Now(), kStartUs + kHourUs);
  EXPECT_EQ(guard.Accept().status().code(), absl::StatusCode::kFailedPrecondition);
  // Another jump, this one accepted: the new time counts from then on.
  clock.StepWallMicros(2 * kDayUs);
  EXPECT_FALSE(guard.Now().ok());
  auto accepted = guard.Accept();
  ASSERT_TRUE(accepted.ok());
  EXPECT_EQ(*accepted, 2 * kDayUs);
  EXPECT_EQ(*guard.Now(), kStartUs + kHourUs + 2 * kDayUs);
  EXPECT_EQ(guard.stats().jumps_refused, 2u);
  EXPECT_EQ(guard.stats().jumps_accepted, 1u);
}

TEST(ClockGuardTest, ABackwardStepIsTakenAndCounted) {
  FakeClock clock(kStartUs);
  auto opened = ClockGuard::Open(&clock, kLimitUs);
  ASSERT_TRUE(opened.ok()) << opened.status();
  ClockGuard& guard = **opened;
  ASSERT_TRUE(guard.Now().ok());
  clock.StepWallMicros(-kHourUs);
  EXPECT_EQ(*guard.Now(), kStartUs - kHourUs);
  EXPECT_EQ(guard.stats().steps_back, 1u);
  EXPECT_EQ(guard.stats().largest_step_back_us, kHourUs);
  // Stepping forward again by the same amount (time sync undoing it) is a
  // forward jump too: refused until accepted or undone.
  clock.StepWallMicros(kHourUs);
  EXPECT_FALSE(guard.Now().ok());
}

TEST(ClockGuardTest, AJumpWhileTheProcessWasDownIsRefusedAtTheNextStart) {
  testing::TempDir dir;
  const std::string anchor = dir.Sub("CLOCK");
  FakeClock clock(kStartUs);
  {
    auto guard = ClockGuard::Open(&clock, kLimitUs, anchor);
    ASSERT_TRUE(guard.ok()) << guard.status();
    clock.AdvanceMicros(kHourUs);
    EXPECT_TRUE((*guard)->Now().ok());
  }
  // Down for ten minutes; the wall clock jumps a day meanwhile.
  clock.AdvanceMicros(10 * kMinuteUs);
  clock.StepWallMicros(kDayUs);
  {
    auto guard = ClockGuard::Open(&clock, kLimitUs, anchor);
    ASSERT_TRUE(guard.ok()) << guard.status();
    EXPECT_THAT(std::string((*guard)->state().message()),
                HasSubstr("wall clock jumped forward by 86400 s"));
    EXPECT_FALSE((*guard)->Now().ok());
  }
  // Still refused at the start after that (the anchor was not moved by the
  // jump), until accepted.
  {
    auto guard = ClockGuard::Open(&clock, kLimitUs, anchor);
    ASSERT_TRUE(guard.ok());
    EXPECT_FALSE((*guard)->state().ok());
    EXPECT_TRUE((*guard)->Accept().ok());
  }
  {
    auto guard = ClockGuard::Open(&clock, kLimitUs, anchor);
    ASSERT_TRUE(guard.ok());
    EXPECT_TRUE((*guard)->state().ok());
    EXPECT_TRUE((*guard)->Now().ok());
  }
}

TEST(ClockGuardTest, AnAnchorOfAnotherBootOrUnreadableIsIgnored) {
  testing::TempDir dir;
  const std::string anchor = dir.Sub("CLOCK");
  FakeClock clock(kStartUs);
  // Written in another boot, a day "behind": the monotonic clocks of two
  // boots do not compare, so it says nothing.
  testing::WriteFile(anchor, "gridcase-clock-anchor-1 other-boot 1 1\n");
  auto guard = ClockGuard::Open(&clock, kLimitUs, anchor);
  ASSERT_TRUE(guard.ok()) << guard.status();
  EXPECT_TRUE((*guard)->Now().ok());
  guard->reset();
  testing::WriteFile(anchor, "not an anchor");
  guard = ClockGuard::Open(&clock, kLimitUs, anchor);
  ASSERT_TRUE(guard.ok()) << guard.status();
  EXPECT_TRUE((*guard)->Now().ok());
}

// The engine under a guard, with the shipped workflows: a screened
// resident's daily check falls due 24 h after the reading.
class ClockJumpEngineTest : public ::testing::Test {
 protected:
  ClockJumpEngineTest() : clock_(kStartUs) {}
  void SetUp() override { Reopen(); }

  void Reopen() {
    engine_.reset();
    EngineOptions options;
    options.data_dir = dir_.Sub("data");
    options.partitions = 2;
    options.clock_jump_limit_us = kLimitUs;
    auto engine = Engine::Open(options, &clock_);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    testing::DeployShippedWorkflows(*engine_);
  }

  absl::StatusOr<v1::SubmitResponse> Reading(const std::string& event_id) {
    return testing::SubmitSync(*engine_, Req(Fever(event_id, "c", 36.6, clock_.NowMicros())));
  }
  size_t Fire() {
    auto fired = engine_->timers().FireDueDeadlines();
    EXPECT_TRUE(fired.ok()) << fired.status();
    return fired.ok() ? *fired : 0;
  }
  int Expiries() {
    int n = 0;
    for (const v1::Record& r : testing::TimelineOf(*engine_, "c")) {
      n += r.event().has_deadline_expired();
    }
    return n;
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(ClockJumpEngineTest, AForwardJumpStopsWritesAndDeadlinesUntilAccepted) {
  ASSERT_TRUE(Reading("r1").ok());  // daily check due at start + 24 h
  clock_.AdvanceMicros(2 * kHourUs);
  clock_.StepWallMicros(kDayUs);  // the wall clock reads 2 h past the due time
  // Firing now would be 22 h early.
  EXPECT_EQ(Fire(), 0u);
  EXPECT_EQ(Expiries(), 0);
  auto refused = Reading("r2");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("wall clock jumped forward"));
  for (const absl::Status& st : engine_->WriteRefusals()) EXPECT_EQ(st, refused.status());
  EXPECT_FALSE(engine_->Stats()[0].refusing_writes.ok());
  // Reads go on.
  EXPECT_TRUE(engine_->GetCase("c").ok());

  // The operator accepts the new time: writes resume, and the deadline,
  // due by that time, fires once.
  auto accepted = engine_->AcceptClock();
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(*accepted, kDayUs);
  for (const absl::Status& st : engine_->WriteRefusals()) EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(Fire(), 1u);
  EXPECT_EQ(Fire(), 0u);
  EXPECT_EQ(Expiries(), 1);
  EXPECT_TRUE(Reading("r2").ok());
}

TEST_F(ClockJumpEngineTest, AJumpUndoneByTimeSyncFiresNothingEarly) {
  ASSERT_TRUE(Reading("r1").ok());
  clock_.StepWallMicros(kDayUs + kHourUs);
  EXPECT_EQ(Fire(), 0u);
  EXPECT_FALSE(Reading("r2").ok());
  clock_.StepWallMicros(-(kDayUs + kHourUs));  // time sync fixed it
  EXPECT_TRUE(Reading("r2").ok());
  EXPECT_EQ(Fire(), 0u);  // still 24 h to go
  // The record written meanwhile carries the true time, not the jump's.
  const auto timeline = testing::TimelineOf(*engine_, "c");
  ASSERT_FALSE(timeline.empty());
  EXPECT_LT(timeline.back().recorded_at().seconds(), (kStartUs + kHourUs) / 1000000);
  clock_.AdvanceMicros(kDayUs);
  EXPECT_EQ(Fire(), 1u);
  EXPECT_EQ(Expiries(), 1);
}

TEST_F(ClockJumpEngineTest, ABackwardStepFiresNothingEarlyOrTwiceAcrossARestart) {
  ASSERT_TRUE(Reading("r1").ok());  // due at start + 24 h
  clock_.AdvanceMicros(kDayUs);
  EXPECT_EQ(Fire(), 1u);  // on time
  // The clock steps back a day: the deadline that fired must not fire
  // again, and the next one (set for start + 48 h) not before its time.
  clock_.StepWallMicros(-kDayUs);
  EXPECT_EQ(Fire(), 0u);
  EXPECT_TRUE(Reading("r2").ok());  // writes go on
  Reopen();                         // a restart on the stepped clock
  clock_.AdvanceMicros(kDayUs - kSecondUs);
  EXPECT_EQ(Fire(), 0u);
  EXPECT_EQ(Expiries(), 1);
  clock_.AdvanceMicros(kDayUs + kSecondUs);
  EXPECT_GE(Fire(), 1u);
  EXPECT_EQ(Fire(), 0u);
}

// Recorded time is held at the partition's last record when the wall
// clock steps back, not at a reading taken for a group that wrote nothing:
// the held time is the log's, the same after a restart as before it.
TEST_F(ClockJumpEngineTest, RecordedTimeIsHeldAtTheLastRecordNotAtARefusedGroup) {
  auto first = Reading("r1");
  ASSERT_TRUE(first.ok()) << first.status();
  clock_.AdvanceMicros(10 * kMinuteUs);
  v1::SubmitRequest conflict = Req(Fever("r-conflict", "c", 36.6, clock_.NowMicros()));
  conflict.set_expected_version(7);
  auto refused = testing::SubmitSync(*engine_, conflict);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  clock_.StepWallMicros(-5 * kMinuteUs);  // within the partition's past
  auto second = Reading("r2");
  ASSERT_TRUE(second.ok()) << second.status();
  // The wall clock reads 5 min after the first record: that, not the
  // refused group's reading 5 min later still.
  EXPECT_EQ(Micros(second->recorded_at()), kStartUs + 5 * kMinuteUs);
  clock_.StepWallMicros(-10 * kMinuteUs);  // now behind the last record
  auto third = Reading("r3");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(Micros(third->recorded_at()), Micros(second->recorded_at()));
}

}  // namespace
}  // namespace gridcase

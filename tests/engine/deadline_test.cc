// Durable deadlines on a fake clock: exactly once, never early, across
// restarts, never when cancelled. No test waits for real time.
#include <algorithm>
#include <future>
#include <map>

#include "engine/engine.h"
#include "engine/timers/scheduler.h"
#include "engine/workflow/duration.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Fever;
using ::gridcase::testing::Req;
using workflow::kDayUs;
using workflow::kSecondUs;

constexpr int64_t kHourUs = 3600 * kSecondUs;
constexpr int64_t kStartUs = 1582372800LL * 1000000;

class DeadlineTest : public ::testing::Test {
 protected:
  DeadlineTest() : clock_(kStartUs) {}
  void SetUp() override { Reopen(); }

  void Reopen() {
    engine_.reset();
    engine_ = testing::OpenWithShippedWorkflows(dir_.Sub("data"), 3, &clock_);
    ASSERT_NE(engine_, nullptr);
  }

  // `workflow`: for a new case, the workflow to run it (default: chosen by
  // the event).
  void Ok(v1::Event e, const std::string& workflow = "") {
    e.mutable_occurred_at()->set_seconds(clock_.NowMicros() / 1000000);
    auto request = Req(e);
    request.set_workflow(workflow);
    auto r = testing::SubmitSync(*engine_, std::move(request));
    ASSERT_TRUE(r.ok()) << r.status();
  }

  size_t Fire() {
    auto fired = engine_->timers().FireDueDeadlines();
    EXPECT_TRUE(fired.ok()) << fired.status();
    return fired.ok() ? *fired : 0;
  }

  // The deadline_expired records of a case, as "name@stage-at-the-time".
  std::vector<std::string> Expiries(const std::string& case_id) {
    v1::GetTimelineRequest req;
    req.set_case_id(case_id);
    req.set_page_size(1000);
    auto page = engine_->GetTimeline(req);
    EXPECT_TRUE(page.ok());
    std::vector<std::string> out;
    for (const auto& r : page->records()) {
      if (r.event().has_deadline_expired()) out.push_back(r.event().deadline_expired().deadline());
    }
    return out;
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(DeadlineTest, ADeadlineFiresOnceAtItsDueTimeAndNeverBefore) {
  Ok(Fever("f1", "c", 36.6));  // screening: daily-check due in 24 h
  auto next = engine_->timers().NextDeadlineDueUs();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ(**next, kStartUs + kDayUs);

  clock_.AdvanceMicros(kDayUs - 1);
  EXPECT_EQ(Fire(), 0u);  // one microsecond early
  EXPECT_TRUE(Expiries("c").empty());

  clock_.AdvanceMicros(1);
  EXPECT_EQ(Fire(), 1u);
  EXPECT_EQ(Fire(), 0u);  // once
  EXPECT_EQ(Expiries("c"), std::vector<std::string>{"daily-check"});

  // The handler escalated and set the next day's check.
  auto state = engine_->GetCase("c");
  EXPECT_EQ(state->escalation_role(), "cadre");
  ASSERT_EQ(state->deadlines_size(), 1);
  EXPECT_EQ(state->deadlines(0).due_at().seconds(), (kStartUs + 2 * kDayUs) / 1000000);
}

TEST_F(DeadlineTest, ACancelledDeadlineNeverFires) {
  auto e = BaseEvent("s1", "c");
  e.mutable_screening_check()->set_category(v1::CATEGORY_NONE);
  Ok(e);  // opens and clears the case: daily-check set, then cancelled
  EXPECT_EQ(engine_->GetCase("c")->stage(), "closed");
  clock_.AdvanceMicros(30 * kDayUs);
  EXPECT_EQ(Fire(), 0u);
  EXPECT_TRUE(Expiries("c").empty());
  auto next = engine_->timers().NextDeadlineDueUs();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
}

TEST_F(DeadlineTest, ARenewedDeadlineFiresAtItsNewTimeOnly) {
  Ok(Fever("f1", "c", 36.6));
  clock_.AdvanceMicros(20 * kHourUs);
  auto check = BaseEvent("s1", "c");
  check.mutable_screening_check()->set_category(v1::CATEGORY_CLOSE_CONTACT);
  Ok(check);                          // daily check done: due again 24 h from now
  clock_.AdvanceMicros(5 * kHourUs);  // the first due time has passed
  EXPECT_EQ(Fire(), 0u);
  clock_.AdvanceMicros(19 * kHourUs);
  EXPECT_EQ(Fire(), 1u);
}

TEST_F(DeadlineTest, DeadlinesThatFellDueWhileDownFireAfterRestartInDueOrder) {
  for (int i = 0; i < 6; ++i) {
    Ok(Fever("f" + std::to_string(i), "c" + std::to_string(i), 36.6));
    clock_.AdvanceMicros(kHourUs);
  }
  engine_.reset();                   // "down"
  clock_.AdvanceMicros(3 * kDayUs);  // every daily check passed meanwhile
  Reopen();
  EXPECT_EQ(Fire(), 6u);
  EXPECT_EQ(Fire(), 0u);
  // Each fired exactly once, and within each partition in due order: the
  // expiry records' positions grow with the due times (c0 is due first).
  std::map<uint32_t, std::vector<uint64_t>> positions;  // partition -> in due order
  for (int i = 0; i < 6; ++i) {
    const std::string id = "c" + std::to_string(i);
    EXPECT_EQ(Expiries(id), std::vector<std::string>{"daily-check"});
    v1::GetTimelineRequest req;
    req.set_case_id(id);
    const auto timeline = engine_->GetTimeline(req);
    ASSERT_TRUE(timeline.ok());
    for (const auto& r : timeline->records()) {
      if (r.event().has_deadline_expired()) positions[r.partition()].push_back(r.position());
    }
  }
  size_t shared = 0;
  for (const auto& [partition, ps] : positions) {
    EXPECT_TRUE(std::is_sorted(ps.begin(), ps.end())) << "partition " << partition;
    shared += ps.size() > 1;
  }
  EXPECT_GT(shared, 0u);  // six cases on three partitions: some share one
  // A restart after firing does not fire again.
  Reopen();
  EXPECT_EQ(Fire(), 0u);
}

TEST_F(DeadlineTest, TheHelpRequestDeliveryDeadlineEscalatesWhenItPasses) {
  auto ask = BaseEvent("h1", "help");
  ask.mutable_help_request()->set_request_id("r1");
  ask.mutable_help_request()->set_kind(v1::HELP_KIND_MEDICINE);
  Ok(ask);
  clock_.AdvanceMicros(4 * kHourUs);
  EXPECT_EQ(Fire(), 1u);
  EXPECT_EQ(engine_->GetCase("help")->escalation_role(), "cadre");
  clock_.AdvanceMicros(2 * kHourUs);  // the handler gave two more hours
  EXPECT_EQ(Fire(), 1u);
  EXPECT_EQ(engine_->GetCase("help")->escalation_role(), "community_secretary");
}

// A workflow whose ladder climbs by itself: 4 h on the grid worker's rung
// (reminded 1 h before), 2 h on the cadre's, the secretary's untimed.
// The definition as written, not as clang-format would lay it out.
// clang-format off
constexpr char kTimedLadder[] = R"pb(
name: "timed"
version: 1
opens_on { event: "clue_report" }
initial_stage: "open"
escalation_ladder: ["grid_worker", "cadre", "community_secretary"]
ladder_rungs { role: "grid_worker" after: "4h" remind_before: "1h" }
ladder_rungs { role: "cadre" after: "2h" }
stages {
  name: "open"
  rules { name: "resolved" on: "note" then { move_to: "done" } }
}
stages { name: "done" terminal: true }
)pb";
// clang-format on

TEST_F(DeadlineTest, ATimedLadderRemindsThenClimbsByItselfUntilResolved) {
  ASSERT_TRUE(testing::DeploySync(*engine_, kTimedLadder, "timed.textproto").ok());
  auto clue = BaseEvent("c1", "clue");
  clue.mutable_clue_report()->set_description("coughing neighbour in 3-502");
  Ok(clue, "timed");
  clock_.AdvanceMicros(3 * kHourUs);
  EXPECT_EQ(Fire(), 1u);  // the reminder
  clock_.AdvanceMicros(kHourUs);
  EXPECT_EQ(Fire(), 1u);  // 4 h on the worker's rung: to the cadre
  EXPECT_EQ(engine_->GetCase("clue")->escalation_role(), "cadre");
  clock_.AdvanceMicros(2 * kHourUs);
  EXPECT_EQ(Fire(), 1u);  // 2 h on the cadre's rung: to the secretary
  EXPECT_EQ(engine_->GetCase("clue")->escalation_role(), "community_secretary");
  clock_.AdvanceMicros(30 * kDayUs);
  EXPECT_EQ(Fire(), 0u);  // the secretary's rung is not timed

  v1::GetTimelineRequest req;
  req.set_case_id("clue");
  const auto timeline = engine_->GetTimeline(req);
  std::vector<std::string> decisions;
  for (const auto& r : timeline->records()) {
    const auto& e = r.event();
    if (e.has_notification()) decisions.push_back("notify " + e.notification().to_role());
    if (e.has_escalated()) decisions.push_back("escalated to " + e.escalated().to_role());
  }
  EXPECT_EQ(decisions, (std::vector<std::string>{"notify grid_worker", "escalated to cadre",
                                                 "escalated to community_secretary"}));

  // Resolving it ends the clock: a fresh case resolved within the hour.
  auto second = BaseEvent("c2", "clue-2");
  second.mutable_clue_report()->set_description("another");
  Ok(second, "timed");
  Ok(testing::NoteEvent("n1", "clue-2", "resolved"));
  EXPECT_EQ(engine_->GetCase("clue-2")->stage(), "done");
  EXPECT_EQ(engine_->GetCase("clue-2")->deadlines_size(), 0);
  clock_.AdvanceMicros(10 * kDayUs);
  EXPECT_EQ(Fire(), 0u);
}

TEST_F(DeadlineTest, TheSchedulerFiresWhenTheClockPassesTheDueTime) {
  DeadlineScheduler scheduler(
      &engine_->timers(),
      [e = engine_.get()] { return e->staffing().HandOnFromNewlyUnavailable(); }, &clock_,
      /*poll_us_max=*/1000 * 1000, nullptr);
  scheduler.Start();
  Ok(Fever("f1", "c", 36.6));
  scheduler.Poke();
  clock_.AdvanceMicros(kDayUs);
  scheduler.Poke();
  scheduler.AwaitFired(1);
  scheduler.Stop();
  EXPECT_EQ(scheduler.fired(), 1u);
  EXPECT_EQ(Expiries("c"), std::vector<std::string>{"daily-check"});
}

}  // namespace
}  // namespace gridcase

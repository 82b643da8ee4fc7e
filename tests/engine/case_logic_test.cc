#include "engine/case_logic.h"

#include <vector>

#include "gtest/gtest.h"
#include "tests/support/events.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Fever;
using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::Screening;

// Folds `events` as the sequencer would: versions and positions from 1,
// recorded time one second apart.
v1::CaseState Fold(const std::vector<v1::Event>& events) {
  BuiltinCaseLogic logic;
  v1::CaseState state;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_TRUE(logic.Check(i == 0 ? nullptr : &state, events[i]).ok());
    v1::Record r;
    *r.mutable_event() = events[i];
    r.set_partition(0);
    r.set_position(100 + i);
    r.set_case_version(i + 1);
    r.mutable_recorded_at()->set_seconds(1582401600 + static_cast<int64_t>(i));
    logic.Apply(r, &state);
  }
  return state;
}

TEST(CaseLogicTest, TheSecurityGuardsReadingsMakeHimAFeverCase) {
  // DOMAIN.md: 36.9, 37.0, 37.7, 37.9 °C at the compound gate on Feb 22.
  const auto s = Fold({Fever("r1", "guard", 36.9), Fever("r2", "guard", 37.0),
                       Fever("r3", "guard", 37.7), Fever("r4", "guard", 37.9)});
  EXPECT_EQ(s.case_id(), "guard");
  EXPECT_EQ(s.kind(), v1::CASE_KIND_EPIDEMIC);
  EXPECT_EQ(s.stage(), "screening");
  EXPECT_EQ(s.category(), v1::CATEGORY_FEVER);
  EXPECT_EQ(s.fever_readings(), 4u);
  EXPECT_EQ(s.abnormal_fever_readings(), 2u);
  EXPECT_DOUBLE_EQ(s.last_celsius(), 37.9);
  EXPECT_EQ(s.version(), 4u);
  EXPECT_EQ(s.last_position(), 103u);
  EXPECT_EQ(s.opened_at().seconds(), 1582401600);
  EXPECT_EQ(s.updated_at().seconds(), 1582401603);
  EXPECT_EQ(s.assignee(), "worker-li");  // the person who opened it
  EXPECT_EQ(s.grid_id(), "jiangan-07-03");
}

TEST(CaseLogicTest, ReadingsBelowTheThresholdLeaveTheCategoryAlone) {
  const auto s = Fold({Fever("r1", "c", 37.2)});
  EXPECT_EQ(s.category(), v1::CATEGORY_UNSPECIFIED);
  EXPECT_EQ(s.abnormal_fever_readings(), 0u);
}

TEST(CaseLogicTest, AFeverDoesNotDowngradeAConfirmedCase) {
  const auto s = Fold({Screening("s1", "c", v1::CATEGORY_CONFIRMED),
                       Fever("r1", "c", 38.5)});
  EXPECT_EQ(s.category(), v1::CATEGORY_CONFIRMED);
}

TEST(CaseLogicTest, IsolationTestingTreatmentObservationClosed) {
  auto isolate = BaseEvent("e2", "c");
  isolate.mutable_isolation_order()->set_kind(v1::ISOLATION_KIND_HOME);
  isolate.mutable_isolation_order()->set_away_from_family(true);
  auto order = BaseEvent("e3", "c");
  order.mutable_test_ordered()->set_test_id("t1");
  auto positive = BaseEvent("e4", "c");
  positive.mutable_test_result()->set_test_id("t1");
  positive.mutable_test_result()->set_outcome(v1::TEST_OUTCOME_POSITIVE);
  auto admit = BaseEvent("e5", "c");
  admit.mutable_admission()->set_hospital("Huoshenshan");
  auto discharge = BaseEvent("e6", "c");
  discharge.mutable_discharge()->set_hospital("Huoshenshan");
  auto release = BaseEvent("e7", "c");
  release.mutable_isolation_released()->set_reason("14 days observed");

  std::vector<v1::Event> events = {Fever("e1", "c", 37.9), isolate};
  EXPECT_EQ(Fold(events).stage(), "isolation");
  EXPECT_EQ(Fold(events).isolation(), v1::ISOLATION_KIND_HOME);
  events.push_back(order);
  EXPECT_EQ(Fold(events).stage(), "testing");
  events.push_back(positive);
  EXPECT_EQ(Fold(events).stage(), "treatment");
  EXPECT_EQ(Fold(events).category(), v1::CATEGORY_CONFIRMED);
  events.push_back(admit);
  EXPECT_EQ(Fold(events).hospital(), "Huoshenshan");
  events.push_back(discharge);
  EXPECT_EQ(Fold(events).stage(), "observation");
  EXPECT_EQ(Fold(events).hospital(), "");
  events.push_back(release);
  EXPECT_EQ(Fold(events).stage(), "closed");
  EXPECT_EQ(Fold(events).isolation(), v1::ISOLATION_KIND_UNSPECIFIED);
}

TEST(CaseLogicTest, ANegativeTestReturnsToIsolationWhenIsolated) {
  auto isolate = BaseEvent("e2", "c");
  isolate.mutable_isolation_order()->set_kind(v1::ISOLATION_KIND_CENTRAL);
  isolate.mutable_isolation_order()->set_facility("hotel-3");
  auto negative = BaseEvent("e3", "c");
  negative.mutable_test_result()->set_test_id("t1");
  negative.mutable_test_result()->set_outcome(v1::TEST_OUTCOME_NEGATIVE);
  EXPECT_EQ(Fold({Fever("e1", "c", 37.5), isolate, negative}).stage(), "isolation");
  EXPECT_EQ(Fold({Fever("e1", "c", 37.5), negative}).stage(), "screening");
}

TEST(CaseLogicTest, HelpRequestsOpenAndCloseByRequestId) {
  auto meds = BaseEvent("h1", "help-1");
  meds.mutable_help_request()->set_request_id("r1");
  meds.mutable_help_request()->set_kind(v1::HELP_KIND_MEDICINE);
  meds.mutable_help_request()->add_items("nifedipine");
  auto food = BaseEvent("h2", "help-1");
  food.mutable_help_request()->set_request_id("r2");
  food.mutable_help_request()->set_kind(v1::HELP_KIND_GROCERIES);
  auto done1 = BaseEvent("h3", "help-1");
  done1.mutable_help_fulfilled()->set_request_id("r1");
  auto done2 = BaseEvent("h4", "help-1");
  done2.mutable_help_fulfilled()->set_request_id("r2");

  auto s = Fold({meds, food, done1});
  EXPECT_EQ(s.kind(), v1::CASE_KIND_HELP_REQUEST);
  EXPECT_EQ(s.stage(), "requested");
  ASSERT_EQ(s.open_help_requests_size(), 1);
  EXPECT_EQ(s.open_help_requests(0).request_id(), "r2");
  s = Fold({meds, food, done1, done2});
  EXPECT_EQ(s.stage(), "delivered");
  EXPECT_EQ(s.open_help_requests_size(), 0);
}

TEST(CaseLogicTest, ContactAttemptsCountUnansweredUntilReached) {
  auto attempt = [](const char* id, v1::ContactOutcome o) {
    auto e = BaseEvent(id, "c");
    e.mutable_contact_attempt()->set_channel(v1::CHANNEL_PHONE);
    e.mutable_contact_attempt()->set_outcome(o);
    return e;
  };
  const auto first = Screening("s", "c", v1::CATEGORY_CLOSE_CONTACT);
  EXPECT_EQ(Fold({first, attempt("a1", v1::CONTACT_OUTCOME_NO_ANSWER),
                  attempt("a2", v1::CONTACT_OUTCOME_REFUSED)})
                .unanswered_contact_attempts(),
            2u);
  EXPECT_EQ(Fold({first, attempt("a1", v1::CONTACT_OUTCOME_NO_ANSWER),
                  attempt("a2", v1::CONTACT_OUTCOME_REACHED)})
                .unanswered_contact_attempts(),
            0u);
}

TEST(CaseLogicTest, ReassignmentMovesTheCase) {
  auto move = BaseEvent("m", "c");
  move.mutable_reassignment()->set_to_assignee("cadre-wang");
  EXPECT_EQ(Fold({Fever("e1", "c", 36.5), move}).assignee(), "cadre-wang");
}

TEST(CaseLogicTest, AnAppOpeningACaseAssignsNobody) {
  auto e = Fever("e1", "c", 36.5);
  e.mutable_actor()->set_kind(v1::ACTOR_KIND_APP);
  EXPECT_EQ(Fold({e}).assignee(), "");
}

TEST(CaseLogicTest, FollowUpEventsNeedAnExistingCase) {
  BuiltinCaseLogic logic;
  auto done = BaseEvent("h", "nobody");
  done.mutable_help_fulfilled()->set_request_id("r1");
  const absl::Status st = logic.Check(nullptr, done);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(st.message().find("help_fulfilled"), absl::string_view::npos) << st;
  EXPECT_EQ(logic.Check(nullptr, NoteEvent("n", "nobody", "x")).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(logic.Check(nullptr, Fever("f", "nobody", 36.6)).ok());
}

TEST(CaseLogicTest, TheFoldIsDeterministic) {
  const std::vector<v1::Event> events = {
      Fever("r1", "g", 36.9), Screening("s1", "g", v1::CATEGORY_CLOSE_CONTACT),
      Fever("r2", "g", 37.7), NoteEvent("n1", "g", "phoned the secretary")};
  EXPECT_EQ(Fold(events).SerializeAsString(), Fold(events).SerializeAsString());
}

}  // namespace
}  // namespace gridcase

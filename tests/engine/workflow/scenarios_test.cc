// Golden scenarios: the seed's stories run through the engine with the
// shipped workflows, and the exact timeline each one leaves.
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/workflow/duration.h"
#include "engine/workflow/logic.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Fever;
using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::Req;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using workflow::kDayUs;
using workflow::kSecondUs;

constexpr int64_t kHourUs = 3600 * kSecondUs;
// Feb 22, 2020, 20:00 Beijing time.
constexpr int64_t kStartUs = 1582372800LL * 1000000;

int64_t Micros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

class ScenarioTest : public ::testing::Test {
 protected:
  ScenarioTest() : clock_(kStartUs) {}

  void SetUp() override {
    engine_ = testing::OpenWithShippedWorkflows(dir_.Sub("data"), 2, &clock_);
    ASSERT_NE(engine_, nullptr);
  }

  // Submits `e` as having just happened (occurred_at = the clock).
  absl::StatusOr<v1::SubmitResponse> Now(v1::Event e) {
    const int64_t now = clock_.NowMicros();
    e.mutable_occurred_at()->set_seconds(now / 1000000);
    e.mutable_occurred_at()->set_nanos(0);
    return testing::SubmitSync(*engine_, Req(e));
  }

  void Ok(v1::Event e) {
    const std::string id = e.event_id();
    auto r = Now(std::move(e));
    ASSERT_TRUE(r.ok()) << id << ": " << r.status();
  }

  std::vector<v1::Record> Records(const std::string& case_id) {
    return testing::TimelineOf(*engine_, case_id);
  }

  // One line per record: what it is and, for decisions, what was decided;
  // times relative to the deciding record.
  std::vector<std::string> Timeline(const std::string& case_id) {
    std::vector<std::string> out;
    for (const auto& r : Records(case_id)) out.push_back(Describe(r));
    return out;
  }

  static std::string Describe(const v1::Record& r) {
    const v1::Event& e = r.event();
    const int64_t at = Micros(r.recorded_at());
    auto in = [at](const google::protobuf::Timestamp& t) {
      return workflow::FormatDuration(Micros(t) - at);
    };
    switch (e.payload_case()) {
      case v1::Event::kStageChanged:
        return absl::StrCat("  stage ", e.stage_changed().from(), " -> ", e.stage_changed().to(),
                            " (", e.stage_changed().rule(), ")");
      case v1::Event::kCategoryChanged:
        return absl::StrCat("  category ", v1::Category_Name(e.category_changed().to()), " (",
                            e.category_changed().rule(), ")");
      case v1::Event::kTaskOpened:
        return absl::StrCat("  task opened ", e.task_opened().task(), " for ",
                            e.task_opened().role(), " due in ", in(e.task_opened().due_at()));
      case v1::Event::kTaskClosed:
        return absl::StrCat("  task closed ", e.task_closed().task());
      case v1::Event::kDeadlineSet:
        return absl::StrCat("  deadline ", e.deadline_set().deadline(), " in ",
                            in(e.deadline_set().due_at()));
      case v1::Event::kDeadlineCancelled:
        return absl::StrCat("  deadline cancelled ", e.deadline_cancelled().deadline());
      case v1::Event::kEscalated:
        return absl::StrCat("  escalated ", e.escalated().from_role(), " -> ",
                            e.escalated().to_role());
      case v1::Event::kNotification:
        return absl::StrCat("  notify ", e.notification().to_role(), ": ",
                            e.notification().message());
      default: {
        const auto* f = v1::Event::descriptor()->FindFieldByNumber(e.payload_case());
        std::string line = f->name();
        if (e.has_fever_reading()) absl::StrAppend(&line, " ", e.fever_reading().celsius());
        if (r.changed_nothing()) absl::StrAppend(&line, " (changed nothing)");
        return line;
      }
    }
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(ScenarioTest, TheSecurityGuardsFourReadings) {
  // DOMAIN.md: Feb 22, 8 pm, leaving his compound: 36.9, 37.0, 37.7, 37.9.
  for (double c : {36.9, 37.0, 37.7, 37.9}) {
    Ok(Fever(absl::StrCat("gate-", c), "guard", c));
    clock_.AdvanceMicros(60 * kSecondUs);
  }
  EXPECT_THAT(Timeline("guard"),
              ElementsAre("fever_reading 36.9",
                          "  stage  -> screening (opened by workflow epidemic-case v2)",
                          "  deadline daily-check in 1d", "fever_reading 37 (changed nothing)",
                          "fever_reading 37.7", "  task opened recheck for grid_worker due in 1h",
                          "  category CATEGORY_FEVER (first-high-reading)", "fever_reading 37.9",
                          "  task closed recheck", "  escalated grid_worker -> community_secretary",
                          "  deadline cancelled daily-check",
                          "  stage screening -> isolation (second-high-reading)",
                          "  deadline daily-check in 1d",
                          "  task opened home-temperature for designated_person due in 12h",
                          "  deadline retest in 1d"));
  auto state = engine_->GetCase("guard");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->stage(), "isolation");
  EXPECT_EQ(state->category(), v1::CATEGORY_FEVER);
  EXPECT_EQ(state->escalation_role(), "community_secretary");
  ASSERT_EQ(state->open_tasks_size(), 1);
  EXPECT_EQ(state->open_tasks(0).name(), "home-temperature");
  ASSERT_EQ(state->deadlines_size(), 2);
  EXPECT_EQ(state->deadlines(0).name(), "daily-check");
  EXPECT_EQ(state->deadlines(1).name(), "retest");
  const auto records = Records("guard");
  EXPECT_EQ(records[3].explanation(), "no rule of stage screening reacts to fever_reading");
  EXPECT_EQ(records[7].explanation(), "rules: second-high-reading");
  for (size_t i = 8; i < records.size(); ++i) {
    EXPECT_EQ(records[i].caused_by(), records[7].position());
    EXPECT_EQ(records[i].event().event_id(), absl::StrCat("gate-37.9#", i - 7));
  }
}

TEST_F(ScenarioTest, TwoHighReadingsADayApartDoNotEscalate) {
  Ok(Fever("r1", "p", 37.6));
  clock_.AdvanceMicros(25 * kHourUs);
  Ok(Fever("r2", "p", 37.5));
  auto state = engine_->GetCase("p");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->stage(), "screening");
  EXPECT_EQ(state->escalation_role(), "grid_worker");
  // The second counts as a first high reading again, but the recheck the
  // first one asked for is still open (and overdue): it stays as it was,
  // never a second task of the same name.
  const auto records = Records("p");
  EXPECT_EQ(Timeline("p").back(), "fever_reading 37.5");
  EXPECT_EQ(records.back().explanation(), "rules: first-high-reading");
  ASSERT_EQ(state->open_tasks_size(), 1);
  EXPECT_EQ(Micros(state->open_tasks(0).due_at()), kStartUs + kHourUs);
}

v1::Event ScreeningCheck(const std::string& id, const std::string& case_id, v1::Category category) {
  auto e = BaseEvent(id, case_id);
  e.mutable_screening_check()->set_category(category);
  return e;
}

TEST_F(ScenarioTest, ADeadlineSetAgainForTheSameInstantRecordsNothing) {
  // The stage's on_enter sets daily-check; the rule daily-check-done sets
  // it again in the same decision, for the same instant: one record.
  Ok(ScreeningCheck("s1", "cleared", v1::CATEGORY_NONE));
  EXPECT_THAT(
      Timeline("cleared"),
      ElementsAre("screening_check", "  stage  -> screening (opened by workflow epidemic-case v2)",
                  "  deadline daily-check in 1d", "  deadline cancelled daily-check",
                  "  stage screening -> closed (cleared)"));
  EXPECT_EQ(Records("cleared")[0].explanation(), "rules: daily-check-done, cleared");

  // A check a day later moves the deadline: that is recorded.
  Ok(ScreeningCheck("s2", "contact", v1::CATEGORY_CLOSE_CONTACT));
  clock_.AdvanceMicros(20 * kHourUs);
  Ok(ScreeningCheck("s3", "contact", v1::CATEGORY_CLOSE_CONTACT));
  EXPECT_EQ(Timeline("contact").back(), "  deadline daily-check in 1d");
  auto state = engine_->GetCase("contact");
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->deadlines_size(), 1);
  EXPECT_EQ(Micros(state->deadlines(0).due_at()),
            Micros(Records("contact").back().recorded_at()) + 24 * kHourUs);
}

TEST_F(ScenarioTest, ARecoveredPatientIsObservedForFourteenDaysThenReleased) {
  Ok(Fever("f1", "patient", 38.4));
  auto order = BaseEvent("t1", "patient");
  order.mutable_test_ordered()->set_test_id("nat-1");
  Ok(order);
  clock_.AdvanceMicros(6 * kHourUs);
  auto positive = BaseEvent("t2", "patient");
  positive.mutable_test_result()->set_test_id("nat-1");
  positive.mutable_test_result()->set_outcome(v1::TEST_OUTCOME_POSITIVE);
  Ok(positive);
  auto admit = BaseEvent("a1", "patient");
  admit.mutable_admission()->set_hospital("Leishenshan");
  Ok(admit);
  clock_.AdvanceMicros(20 * kDayUs);
  auto discharge = BaseEvent("d1", "patient");
  discharge.mutable_discharge()->set_hospital("Leishenshan");
  Ok(discharge);
  clock_.AdvanceMicros(13 * kDayUs);
  auto early = BaseEvent("x1", "patient");
  early.mutable_isolation_released()->set_reason("feels fine");
  Ok(early);  // a fact: stored, but 13 days are not 14
  clock_.AdvanceMicros(1 * kDayUs);
  auto release = BaseEvent("x2", "patient");
  release.mutable_isolation_released()->set_reason("14 days observed");
  Ok(release);

  EXPECT_THAT(
      Timeline("patient"),
      ElementsAre("fever_reading 38.4",
                  "  stage  -> screening (opened by workflow epidemic-case v2)",
                  "  deadline daily-check in 1d", "  task opened recheck for grid_worker due in 1h",
                  "  category CATEGORY_FEVER (first-high-reading)", "test_ordered",
                  "  deadline cancelled daily-check", "  task closed recheck",
                  "  stage screening -> testing (sent-to-test)", "test_result",
                  "  category CATEGORY_CONFIRMED (positive)",
                  "  stage testing -> treatment (positive)", "admission (changed nothing)",
                  "discharge", "  stage treatment -> observation (discharged)",
                  "  deadline observation-end in 14d", "  deadline daily-check in 1d",
                  "isolation_released (changed nothing)", "isolation_released",
                  "  deadline cancelled daily-check", "  deadline cancelled observation-end",
                  "  stage observation -> closed (observation-complete)"));
  EXPECT_EQ(engine_->GetCase("patient")->stage(), "closed");
}

v1::Event MedicineRequest(const std::string& id, const std::string& case_id) {
  auto e = BaseEvent(id, case_id);
  e.set_channel(v1::CHANNEL_APP);
  auto* h = e.mutable_help_request();
  h->set_request_id("r1");
  h->set_kind(v1::HELP_KIND_MEDICINE);
  h->add_items("nifedipine");
  h->set_urgency(v1::URGENCY_URGENT);
  return e;
}

v1::Event Fulfilled(const std::string& id, const std::string& case_id) {
  auto e = BaseEvent(id, case_id);
  e.mutable_help_fulfilled()->set_request_id("r1");
  e.mutable_help_fulfilled()->set_delivered_by("cadre-wang");
  return e;
}

TEST_F(ScenarioTest, AMedicineRequestDeliveredInTime) {
  Ok(MedicineRequest("m1", "help-1"));
  clock_.AdvanceMicros(2 * kHourUs);
  Ok(Fulfilled("m2", "help-1"));
  EXPECT_THAT(
      Timeline("help-1"),
      ElementsAre("help_request", "  stage  -> requested (opened by workflow help-request v2)",
                  "  task opened deliver for grid_worker due in 4h", "  deadline delivery in 4h",
                  "  stage requested -> assigned (assign-medicine)", "help_fulfilled",
                  "  task closed deliver", "  deadline cancelled delivery",
                  "  stage assigned -> delivered (delivered)"));
}

TEST_F(ScenarioTest, AMedicineRequestDeliveredLateIsReported) {
  Ok(MedicineRequest("m1", "help-2"));
  clock_.AdvanceMicros(5 * kHourUs);
  Ok(Fulfilled("m2", "help-2"));
  const auto timeline = Timeline("help-2");
  EXPECT_THAT(
      std::vector<std::string>(timeline.begin() + 5, timeline.end()),
      ElementsAre("help_fulfilled", "  task closed deliver", "  deadline cancelled delivery",
                  "  stage assigned -> delivered (delivered)",
                  "  notify community_secretary: delivered after its due time"));
}

TEST_F(ScenarioTest, AForbiddenEventIsRefusedNamingTheStage) {
  Ok(Fever("f1", "c", 36.8));
  auto discharge = BaseEvent("d1", "c");
  discharge.mutable_discharge()->set_hospital("Jinyintan");
  auto refused = Now(discharge);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("case c is in stage screening of workflow epidemic-case v2, which does "
                        "not accept discharge events"));
  EXPECT_EQ(Records("c").size(), 3u);  // nothing written
}

TEST_F(ScenarioTest, OccupancyEvidenceOpensACaseOnlyForAFlatRegisteredEmpty) {
  auto lit = BaseEvent("o1", "flat-3-502");
  lit.mutable_occupancy_evidence()->set_household_id("3-502");
  lit.mutable_occupancy_evidence()->set_registered_empty(true);
  lit.mutable_occupancy_evidence()->set_meter_kwh_delta(2.4);
  Ok(lit);
  EXPECT_EQ(engine_->GetCase("flat-3-502")->stage(), "screening");

  auto occupied = BaseEvent("o2", "flat-3-503");
  occupied.mutable_occupancy_evidence()->set_household_id("3-503");
  occupied.mutable_occupancy_evidence()->set_lights_on(true);
  auto refused = Now(occupied);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("no deployed workflow opens"));
}

TEST_F(ScenarioTest, ASubmissionMayNameTheWorkflowOfANewCase) {
  auto req = Req(Fever("f1", "named", 36.6));
  req.mutable_event()->mutable_occurred_at()->set_seconds(kStartUs / 1000000);
  auto submit = [&](const std::string& workflow) {
    req.set_workflow(workflow);
    return testing::SubmitSync(*engine_, req);
  };
  auto unknown = submit("triage");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("no workflow named triage"));
  auto wrong = submit("help-request");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(wrong.status().message()),
              HasSubstr("workflow help-request v2 does not open a case on this fever_reading"));
  auto named = submit("epidemic-case");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(engine_->GetCase("named")->workflow().name(), "epidemic-case");
  EXPECT_EQ(Records("named").front().workflow().version(), 2u);  // the latest
}

TEST_F(ScenarioTest, ARunningCaseKeepsItsWorkflowVersion) {
  Ok(Fever("old-1", "old", 37.5));
  // Version 3 escalates on the first high reading already.
  std::string v3 = testing::ShippedWorkflow("epidemic-case.textproto");
  v3.replace(v3.find("version: 2"), 10, "version: 3");
  const std::string first_rule = "then { open_task { name: \"recheck\"";
  v3.replace(v3.find(first_rule), 0,
             "then { escalate { to_role: \"cadre\" reason: \"any high reading\" } }\n    ");
  auto deployed = testing::DeploySync(*engine_, v3, "epidemic-case-v3.textproto");
  ASSERT_TRUE(deployed.ok()) << deployed.status();
  EXPECT_EQ(deployed->version(), 3u);

  Ok(Fever("old-2", "old", 37.4));  // second high reading: v2 rules
  Ok(Fever("new-1", "new", 37.5));  // a new case: v3
  EXPECT_EQ(engine_->GetCase("old")->workflow().version(), 2u);
  EXPECT_EQ(engine_->GetCase("new")->workflow().version(), 3u);
  EXPECT_EQ(engine_->GetCase("new")->escalation_role(), "cadre");
  EXPECT_EQ(engine_->GetCase("old")->escalation_role(), "community_secretary");

  // The old case still runs on v2 after a restart.
  engine_.reset();
  EngineOptions options;
  options.data_dir = dir_.Sub("data");
  engine_ = std::move(*Engine::Open(options, &clock_));
  Ok(Fever("old-3", "old", 36.6));
  EXPECT_EQ(engine_->GetCase("old")->workflow().version(), 2u);
  auto listed = engine_->workflows().ListWorkflows();
  ASSERT_EQ(listed.workflows_size(), 5);  // epidemic-case v1 to v3, help-request v1 and v2
}

TEST_F(ScenarioTest, DeployingOutOfOrderOrChangingADeployedVersionIsRefused) {
  std::string v4 = testing::ShippedWorkflow("epidemic-case.textproto");
  v4.replace(v4.find("version: 2"), 10, "version: 4");
  auto skipped = testing::DeploySync(*engine_, v4, "e.textproto");
  EXPECT_EQ(skipped.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(skipped.status().message()), HasSubstr("deploy version 3"));

  std::string changed = testing::ShippedWorkflow("epidemic-case.textproto");
  changed.replace(changed.find("\"24h\""), 5, "\"12h\"");
  auto rewritten = testing::DeploySync(*engine_, changed, "e.textproto");
  EXPECT_EQ(rewritten.status().code(), absl::StatusCode::kAlreadyExists);

  auto again = testing::DeploySync(*engine_, testing::ShippedWorkflow("epidemic-case.textproto"),
                                   "e.textproto");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate());
}

TEST_F(ScenarioTest, TheCaseAsOfEachMomentIsTheStateTheEngineHeldThen) {
  struct Moment {
    uint64_t position;
    int64_t recorded_us;
    std::string state;
  };
  std::vector<Moment> moments;
  int step = 0;
  auto submit = [&](v1::Event e) {
    Ok(std::move(e));
    auto state = engine_->GetCase("guard");
    ASSERT_TRUE(state.ok());
    moments.push_back({state->last_position(), clock_.NowMicros(), state->SerializeAsString()});
    clock_.AdvanceMicros(10 * 60 * kSecondUs);
    ++step;
  };
  for (double c : {36.9, 37.0, 37.7, 37.9}) submit(Fever(absl::StrCat("g-", c), "guard", c));
  auto order = BaseEvent("t1", "guard");
  order.mutable_test_ordered()->set_test_id("nat-1");
  submit(order);
  ASSERT_EQ(step, 5);
  for (const Moment& m : moments) {
    v1::GetCaseAsOfRequest by_position;
    by_position.set_case_id("guard");
    by_position.set_position(m.position);
    auto at = engine_->audit().GetCaseAsOf(by_position);
    ASSERT_TRUE(at.ok()) << at.status();
    EXPECT_EQ(at->state().SerializeAsString(), m.state) << "position " << m.position;

    v1::GetCaseAsOfRequest known;
    known.set_case_id("guard");
    known.mutable_known_at()->set_seconds(m.recorded_us / 1000000);
    known.mutable_known_at()->set_nanos(static_cast<int32_t>(m.recorded_us % 1000000) * 1000);
    auto then = engine_->audit().GetCaseAsOf(known);
    ASSERT_TRUE(then.ok()) << then.status();
    EXPECT_EQ(then->state().SerializeAsString(), m.state) << "known at " << m.recorded_us;
  }
  v1::GetCaseAsOfRequest before;
  before.set_case_id("guard");
  before.mutable_known_at()->set_seconds(kStartUs / 1000000 - 1);
  EXPECT_EQ(engine_->audit().GetCaseAsOf(before).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ScenarioTest, AsItHappenedCountsALateReadingAtItsOwnTime) {
  Ok(Fever("r1", "p", 36.8));  // 20:00
  clock_.AdvanceMicros(2 * kHourUs);
  Ok(Fever("r3", "p", 37.0));  // 22:00
  // A reading taken at 21:00 on an offline phone arrives at 22:30.
  clock_.AdvanceMicros(30 * 60 * kSecondUs);
  auto late = Fever("r2", "p", 38.2);
  late.mutable_occurred_at()->set_seconds(kStartUs / 1000000 + 3600);
  ASSERT_TRUE(testing::SubmitSync(*engine_, Req(late)).ok());

  v1::GetCaseAsOfRequest happened;
  happened.set_case_id("p");
  happened.mutable_happened_by()->set_seconds(kStartUs / 1000000 + 3600 + 60);  // 21:01
  auto truth = engine_->audit().GetCaseAsOf(happened);
  ASSERT_TRUE(truth.ok()) << truth.status();
  EXPECT_EQ(truth->state().fever_readings(), 2u);  // 20:00 and the late 21:00
  EXPECT_DOUBLE_EQ(truth->state().last_celsius(), 38.2);

  v1::GetCaseAsOfRequest known;
  known.set_case_id("p");
  known.mutable_known_at()->set_seconds(kStartUs / 1000000 + 3600 + 60);  // 21:01
  auto knowledge = engine_->audit().GetCaseAsOf(known);
  ASSERT_TRUE(knowledge.ok());
  EXPECT_EQ(knowledge->state().fever_readings(), 1u);  // nobody knew of it yet
}

TEST_F(ScenarioTest, ReplayingTheLogGivesTheLiveStateByteForByte) {
  // A mixed workload: every story above on several cases, plus noise.
  for (int i = 0; i < 20; ++i) {
    const std::string c = absl::StrCat("p-", i);
    Ok(Fever(absl::StrCat(c, "-a"), c, 36.5 + (i % 5) * 0.4));
    clock_.AdvanceMicros((i % 3) * kHourUs);
    Ok(Fever(absl::StrCat(c, "-b"), c, 37.0 + (i % 4) * 0.3));
    Ok(NoteEvent(absl::StrCat(c, "-n"), c, "phoned"));
    if (i % 2 == 0) {
      auto order = BaseEvent(absl::StrCat(c, "-t"), c);
      order.mutable_test_ordered()->set_test_id("t");
      Ok(order);
      auto result = BaseEvent(absl::StrCat(c, "-r"), c);
      result.mutable_test_result()->set_test_id("t");
      result.mutable_test_result()->set_outcome(i % 4 == 0 ? v1::TEST_OUTCOME_POSITIVE
                                                           : v1::TEST_OUTCOME_NEGATIVE);
      Ok(result);
    }
    Ok(MedicineRequest(absl::StrCat("h-", i, "-a"), absl::StrCat("h-", i)));
    clock_.AdvanceMicros((i % 6) * kHourUs);
    if (i % 3 != 0) Ok(Fulfilled(absl::StrCat("h-", i, "-b"), absl::StrCat("h-", i)));
  }
  workflow::Registry registry;
  testing::RegisterDeployed(*engine_, &registry);
  Directory directory;  // replay never consults it
  workflow::WorkflowLogic logic(registry, directory);
  int cases = 0;
  for (int i = 0; i < 20; ++i) {
    for (const std::string& c : {absl::StrCat("p-", i), absl::StrCat("h-", i)}) {
      v1::CaseState replayed;
      for (const auto& r : Records(c)) logic.Apply(r, &replayed);
      auto live = engine_->GetCase(c);
      ASSERT_TRUE(live.ok());
      EXPECT_EQ(replayed.SerializeAsString(), live->SerializeAsString()) << c;
      ++cases;
    }
  }
  EXPECT_EQ(cases, 40);
}

}  // namespace
}  // namespace gridcase

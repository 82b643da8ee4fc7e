// Events that arrive late: readings from offline phones count where they
// happened, whatever the order they arrive in; facts are the latest by
// occurred time; deadlines count from what each one says; and a case as it
// happened is what on-time arrival would have decided.
#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "engine/engine.h"
#include "engine/workflow/definition.h"
#include "engine/workflow/duration.h"
#include "engine/workflow/files.h"
#include "engine/workflow/logic.h"
#include "engine/workflow/registry.h"
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
using ::testing::HasSubstr;
using workflow::kDayUs;
using workflow::kSecondUs;

constexpr int64_t kMinuteUs = 60 * kSecondUs;
constexpr int64_t kHourUs = 60 * kMinuteUs;
// Feb 22, 2020, 00:00 Beijing time.
constexpr int64_t kFeb22Us = 1582300800LL * kSecondUs;

int64_t At(int hour, int minute, int day = 0) {
  return kFeb22Us + day * kDayUs + hour * kHourUs + minute * kMinuteUs;
}

int CountOf(const std::vector<v1::Record>& records, v1::Event::PayloadCase payload) {
  return static_cast<int>(std::count_if(records.begin(), records.end(), [&](const auto& r) {
    return r.event().payload_case() == payload;
  }));
}

// ---------------------------------------------------------------------------
// Through the engine: real RocksDB, a fake clock for arrival times.

class LateEventsTest : public ::testing::Test {
 protected:
  LateEventsTest() : clock_(At(8, 0)) {}

  void SetUp() override {
    engine_ = testing::OpenWithShippedWorkflows(dir_.Sub("data"), 2, &clock_);
    ASSERT_NE(engine_, nullptr);
  }

  // `e` arrives at `arrives_us` (the clock is set there first).
  void Arrive(const v1::Event& e, int64_t arrives_us) {
    clock_.SetMicros(arrives_us);
    auto r = testing::SubmitSync(*engine_, Req(e));
    ASSERT_TRUE(r.ok()) << e.event_id() << ": " << r.status();
  }

  std::vector<v1::Record> Records(const std::string& case_id) {
    return testing::TimelineOf(*engine_, case_id);
  }

  v1::CaseState Case(const std::string& case_id) {
    auto state = engine_->GetCase(case_id);
    EXPECT_TRUE(state.ok()) << state.status();
    return state.ok() ? *state : v1::CaseState();
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(LateEventsTest, ALateReadingThatCompletesTheConditionEscalatesWhenItArrives) {
  // 37.5 °C taken at 13:25 arrives at 13:30; 37.8 °C taken at 13:14 on a
  // phone that was offline arrives at 15:19.
  Arrive(Fever("r-1325", "late", 37.5, At(13, 25)), At(13, 30));
  Arrive(Fever("r-1314", "late", 37.8, At(13, 14)), At(15, 19));
  // The same readings in order, on another case.
  Arrive(Fever("o-1314", "in-order", 37.8, At(13, 14)), At(15, 20));
  Arrive(Fever("o-1325", "in-order", 37.5, At(13, 25)), At(15, 21));

  for (const std::string c : {"late", "in-order"}) {
    const v1::CaseState s = Case(c);
    EXPECT_EQ(s.stage(), "isolation") << c;
    EXPECT_EQ(s.escalation_role(), "community_secretary") << c;
    EXPECT_EQ(s.category(), v1::CATEGORY_FEVER) << c;
    // The latest reading is the one taken last, not the one learnt last.
    EXPECT_DOUBLE_EQ(s.last_celsius(), 37.5) << c;
    EXPECT_EQ(Micros(s.last_celsius_at()), At(13, 25)) << c;
    EXPECT_EQ(Micros(s.last_occurred_at()), At(13, 25)) << c;
    EXPECT_EQ(s.fever_readings(), 2u) << c;
    // One recheck task, opened by the first high reading and closed when
    // the case moved on.
    const auto records = Records(c);
    EXPECT_EQ(CountOf(records, v1::Event::kTaskOpened), 2) << c;  // recheck, home-temperature
    EXPECT_EQ(CountOf(records, v1::Event::kEscalated), 1) << c;
  }
  const auto records = Records("late");
  const auto late = std::find_if(records.begin(), records.end(),
                                 [](const auto& r) { return r.event().event_id() == "r-1314"; });
  ASSERT_NE(late, records.end());
  EXPECT_EQ(late->explanation(),
            "rules: second-high-reading (arrived late: it happened 2h 5m before it was "
            "recorded, 11m before the newest event the case already knew)");
}

TEST_F(LateEventsTest, ALateCheckNeverPullsTheDailyCheckEarlier) {
  // Today's check at 09:00 is learnt first; yesterday's, from a phone that
  // was offline, after it.
  Arrive(testing::Screening("today", "contact", v1::CATEGORY_CLOSE_CONTACT, At(9, 0, 1)),
         At(9, 5, 1));
  Arrive(testing::Screening("yesterday", "contact", v1::CATEGORY_CLOSE_CONTACT, At(10, 0)),
         At(9, 30, 1));
  const v1::CaseState s = Case("contact");
  ASSERT_EQ(s.deadlines_size(), 1);
  EXPECT_EQ(s.deadlines(0).name(), "daily-check");
  // A day after the newest check, as counted from when it happened.
  EXPECT_EQ(Micros(s.deadlines(0).due_at()), At(9, 0, 2));
  EXPECT_EQ(CountOf(Records("contact"), v1::Event::kDeadlineSet), 1);
  EXPECT_EQ(Micros(s.last_occurred_at()), At(9, 0, 1));
}

v1::Event MedicineRequest(const std::string& id, const std::string& case_id, int64_t occurred_us) {
  auto e = BaseEvent(id, case_id, occurred_us);
  e.set_channel(v1::CHANNEL_PHONE);
  e.mutable_help_request()->set_request_id("r1");
  e.mutable_help_request()->set_kind(v1::HELP_KIND_MEDICINE);
  return e;
}

TEST_F(LateEventsTest, ARequestLearntLateIsDueFromWhenItWasMadeAndFiresAtOnce) {
  std::vector<int64_t> told;
  engine_->timers().SetDeadlineListener([&told](int64_t due_us) { told.push_back(due_us); });
  // Phoned in at 10:00, written down at 15:00: medicine is due at 14:00.
  Arrive(MedicineRequest("m1", "help", At(10, 0)), At(15, 0));
  engine_->timers().SetDeadlineListener(nullptr);
  const v1::CaseState s = Case("help");
  ASSERT_EQ(s.open_tasks_size(), 1);
  EXPECT_EQ(Micros(s.open_tasks(0).due_at()), At(14, 0));
  ASSERT_EQ(s.deadlines_size(), 1);
  EXPECT_EQ(Micros(s.deadlines(0).due_at()), At(14, 0));
  // The scheduler is told at once of a deadline already due.
  EXPECT_THAT(told, ::testing::Contains(At(14, 0)));
  auto set = Records("help");
  const auto deadline_set = std::find_if(
      set.begin(), set.end(), [](const auto& r) { return r.event().has_deadline_set(); });
  ASSERT_NE(deadline_set, set.end());
  EXPECT_EQ(deadline_set->explanation(), "already past due by 1h when set: fires at once");

  auto fired = engine_->timers().FireDueDeadlines();
  ASSERT_TRUE(fired.ok()) << fired.status();
  EXPECT_EQ(*fired, 1u);
  const auto records = Records("help");
  const auto expired = std::find_if(records.begin(), records.end(),
                                    [](const auto& r) { return r.event().has_deadline_expired(); });
  ASSERT_NE(expired, records.end());
  EXPECT_EQ(expired->explanation(), "rules: delivery-late (fired 1h after its due time)");
  EXPECT_EQ(CountOf(records, v1::Event::kEscalated), 1);
}

TEST_F(LateEventsTest, ADeliveryMadeInTimeButLearntLateIsNotReportedLate) {
  Arrive(MedicineRequest("m1", "help", At(10, 0)), At(10, 0));  // due 14:00
  auto done = BaseEvent("m2", "help", At(13, 0));
  done.mutable_help_fulfilled()->set_request_id("r1");
  Arrive(done, At(15, 0));
  const auto records = Records("help");
  EXPECT_EQ(CountOf(records, v1::Event::kNotification), 0);
  EXPECT_EQ(Case("help").stage(), "delivered");

  // Delivered at 14:30 the next day, after its due time: reported.
  Arrive(MedicineRequest("n1", "help-2", At(10, 0, 1)), At(10, 0, 1));
  auto late = BaseEvent("n2", "help-2", At(14, 30, 1));
  late.mutable_help_fulfilled()->set_request_id("r1");
  Arrive(late, At(14, 40, 1));
  EXPECT_EQ(CountOf(Records("help-2"), v1::Event::kNotification), 1);
}

// ---------------------------------------------------------------------------
// As it happened: the workflow's decisions had every event arrived on time.

// The case without what numbering differs by: positions are the partition's
// in the log and the case's own in an answer decided again.
std::string Comparable(v1::CaseState s) {
  s.clear_last_position();
  s.clear_partition();
  return s.DebugString();
}

class AsHappenedTest : public LateEventsTest {
 protected:
  // The case's events: (event, when it arrived), in the order they arrive.
  std::vector<std::pair<v1::Event, int64_t>> Story() {
    std::vector<std::pair<v1::Event, int64_t>> out;
    auto note = testing::NoteEvent("n0", "guard", "phoned his family", At(12, 0));
    out.push_back({note, At(20, 30)});  // happened before any reading; learnt last
    out.push_back({Fever("f1", "guard", 36.9, At(13, 0)), At(13, 1)});
    out.push_back({Fever("f3", "guard", 37.7, At(14, 0)), At(14, 1)});
    out.push_back({Fever("f2", "guard", 37.2, At(13, 30)), At(16, 0)});  // late
    out.push_back({Fever("f4", "guard", 37.9, At(15, 0)), At(18, 0)});   // late
    auto order = BaseEvent("i1", "guard", At(17, 0));
    order.mutable_isolation_order()->set_kind(v1::ISOLATION_KIND_HOME);
    out.push_back({order, At(17, 5)});
    // Ordered the next day after the re-test and the daily check were due.
    auto test = BaseEvent("t1", "guard", At(16, 0, 1));
    test.mutable_test_ordered()->set_test_id("nat-1");
    out.push_back({test, At(16, 0, 1)});
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.second < b.second; });
    return out;
  }
};

TEST_F(AsHappenedTest, ItIsWhatOnTimeArrivalWouldHaveDecided) {
  auto story = Story();
  for (const auto& [e, arrives] : story) Arrive(e, arrives);

  // A second engine that learns of every event the moment it happens,
  // with every deadline fired at its due time.
  FakeClock on_time_clock(At(0, 0));
  auto on_time = testing::OpenWithShippedWorkflows(dir_.Sub("on-time"), 2, &on_time_clock);
  ASSERT_NE(on_time, nullptr);
  std::sort(story.begin(), story.end(), [](const auto& a, const auto& b) {
    return Micros(a.first.occurred_at()) < Micros(b.first.occurred_at());
  });
  auto fire_until = [&](int64_t until_us) {
    for (;;) {
      auto next = on_time->timers().NextDeadlineDueUs();
      ASSERT_TRUE(next.ok());
      if (!next->has_value() || **next > until_us) return;
      on_time_clock.SetMicros(**next);
      ASSERT_TRUE(on_time->timers().FireDueDeadlines().ok());
    }
  };
  std::vector<std::string> refused_on_time;
  for (const auto& [e, arrives] : story) {
    fire_until(Micros(e.occurred_at()));
    on_time_clock.SetMicros(Micros(e.occurred_at()));
    auto r = testing::SubmitSync(*on_time, Req(e));
    if (!r.ok()) refused_on_time.push_back(e.event_id());
  }
  const int64_t end_us = At(12, 0, 2);
  fire_until(end_us);
  EXPECT_EQ(refused_on_time, std::vector<std::string>{"n0"});  // no case to note yet

  // At every minute of the story, both agree.
  int compared = 0;
  for (int64_t t = At(12, 58); t <= end_us; t += 7 * kMinuteUs) {
    v1::GetCaseAsOfRequest happened;
    happened.set_case_id("guard");
    happened.mutable_happened_by()->set_seconds(t / kSecondUs);
    auto decided = engine_->audit().GetCaseAsOf(happened);
    v1::GetCaseAsOfRequest known;
    known.set_case_id("guard");
    known.mutable_known_at()->set_seconds(t / kSecondUs);
    auto truth = on_time->audit().GetCaseAsOf(known);
    ASSERT_EQ(decided.ok(), truth.ok()) << t << ": " << decided.status() << " / " << truth.status();
    if (!truth.ok()) continue;
    EXPECT_EQ(Comparable(decided->state()), Comparable(truth->state())) << "at " << t;
    ASSERT_EQ(decided->records_size(), truth->records_size()) << "at " << t;
    for (int i = 0; i < truth->records_size(); ++i) {
      EXPECT_EQ(decided->records(i).event().payload_case(),
                truth->records(i).event().payload_case())
          << "at " << t << " record " << i;
      EXPECT_EQ(decided->records(i).recorded_at().seconds(),
                truth->records(i).recorded_at().seconds())
          << "at " << t << " record " << i;
    }
    ASSERT_EQ(decided->refused_size(), 1);
    EXPECT_EQ(decided->refused(0).event_id(), "n0");
    ++compared;
  }
  EXPECT_GT(compared, 300);

  // On time, the second high reading (15:00) escalated and isolated him,
  // and the next day's re-test and daily check fell due at 15:00 before
  // the test was ordered at 16:00: both fired, each a rung higher.
  v1::GetCaseAsOfRequest end;
  end.set_case_id("guard");
  end.mutable_happened_by()->set_seconds(end_us / kSecondUs);
  auto decided = engine_->audit().GetCaseAsOf(end);
  ASSERT_TRUE(decided.ok());
  EXPECT_EQ(decided->state().stage(), "testing");
  EXPECT_EQ(decided->state().escalation_role(), "district_officer");
  std::vector<v1::Record> records(decided->records().begin(), decided->records().end());
  EXPECT_EQ(CountOf(records, v1::Event::kDeadlineExpired), 2);
  // As it was learnt, the late 15:00 reading found him isolated already by
  // the 17:00 order: no escalation then.
  EXPECT_EQ(Case("guard").escalation_role(), "grid_worker");

  // docs/audit.md's example: at 16:30, what was known and what had happened.
  v1::GetCaseAsOfRequest known;
  known.set_case_id("guard");
  known.mutable_known_at()->set_seconds(At(16, 30) / kSecondUs);
  auto then = engine_->audit().GetCaseAsOf(known);
  ASSERT_TRUE(then.ok());
  EXPECT_EQ(then->state().stage(), "screening");
  EXPECT_EQ(then->state().category(), v1::CATEGORY_FEVER);
  ASSERT_EQ(then->state().open_tasks_size(), 1);
  EXPECT_EQ(then->state().open_tasks(0).name(), "recheck");
  v1::GetCaseAsOfRequest happened = known;
  happened.mutable_happened_by()->set_seconds(At(16, 30) / kSecondUs);
  auto truth = engine_->audit().GetCaseAsOf(happened);
  ASSERT_TRUE(truth.ok());
  EXPECT_EQ(truth->state().stage(), "isolation");
  EXPECT_EQ(truth->state().escalation_role(), "community_secretary");
  ASSERT_EQ(truth->state().deadlines_size(), 2);
  EXPECT_EQ(truth->state().deadlines(1).name(), "retest");
  EXPECT_EQ(Micros(truth->state().deadlines(1).due_at()), At(15, 0, 1));
}

TEST_F(AsHappenedTest, ItNeverShowsAStateNoCaseCouldHaveHad) {
  for (const auto& [e, arrives] : Story()) Arrive(e, arrives);
  workflow::Registry registry;
  testing::RegisterDeployed(*engine_, &registry);
  Directory directory;
  workflow::WorkflowLogic logic(registry, directory);
  for (int64_t t = At(12, 0); t <= At(12, 0, 2); t += 10 * kMinuteUs) {
    v1::GetCaseAsOfRequest happened;
    happened.set_case_id("guard");
    happened.mutable_happened_by()->set_seconds(t / kSecondUs);
    auto at = engine_->audit().GetCaseAsOf(happened);
    if (t < At(13, 0)) {
      // Only the note had happened, and a note opens no case.
      EXPECT_EQ(at.status().code(), absl::StatusCode::kNotFound) << t;
      continue;
    }
    ASSERT_TRUE(at.ok()) << at.status();
    const v1::CaseState& s = at->state();
    // Numbered densely, and the state is at its last record.
    ASSERT_GT(at->records_size(), 0);
    for (int i = 0; i < at->records_size(); ++i) {
      EXPECT_EQ(at->records(i).case_version(), static_cast<uint64_t>(i + 1));
    }
    EXPECT_EQ(s.version(), static_cast<uint64_t>(at->records_size())) << t;
    EXPECT_FALSE(s.stage().empty()) << t;
    // Folding the records it lists gives the state it answers.
    v1::CaseState folded;
    for (const auto& r : at->records()) logic.Apply(r, &folded);
    EXPECT_EQ(folded.SerializeAsString(), s.SerializeAsString()) << t;
    // Nothing that happened after t.
    for (const auto& r : at->records()) EXPECT_LE(Micros(r.event().occurred_at()), t);
  }
}

// ---------------------------------------------------------------------------
// The same readings in every order: the workflow logic alone (pure), so
// that thousands of orders take a moment.

class Logic {
 public:
  Logic() {
    auto files = workflow::ReadWorkflowDir(testing::ShippedWorkflowDir());
    EXPECT_TRUE(files.ok());
    for (const auto& f : *files) {
      auto def = workflow::Definition::Parse(f.source, f.path);
      EXPECT_TRUE(def.ok()) << def.status();
      EXPECT_TRUE(registry_.Add(*def).ok());
    }
  }

  struct Outcome {
    v1::CaseState state;
    std::vector<v1::Record> records;
  };

  // Decides `events` in this order, the k-th learnt at `learnt_us` + k
  // minutes (all after the last happened).
  Outcome Arrive(const std::vector<v1::Event>& events, int64_t learnt_us) const {
    Outcome out;
    std::optional<v1::CaseState> state;
    for (size_t k = 0; k < events.size(); ++k) {
      v1::Record r;
      *r.mutable_event() = events[k];
      const uint64_t before = state ? state->version() : 0;
      const int64_t at = learnt_us + static_cast<int64_t>(k) * kMinuteUs;
      google::protobuf::Timestamp recorded_at;
      recorded_at.set_seconds(at / kSecondUs);
      RecordStamper stamper(0, Position(before + 1), before, recorded_at);
      stamper.StampSubmitted(&r);
      std::vector<v1::Record> decided;
      const absl::Status st = logic_.Process(std::move(r), &stamper, &state, &decided);
      EXPECT_TRUE(st.ok()) << events[k].event_id() << ": " << st;
      for (auto& d : decided) out.records.push_back(std::move(d));
    }
    out.state = state.value_or(v1::CaseState());
    return out;
  }

 private:
  workflow::Registry registry_;
  Directory directory_;
  workflow::WorkflowLogic logic_{registry_, directory_};
};

// What must not depend on the order of arrival: the escalation decision
// and the facts.
std::string DecisionAndFacts(const Logic::Outcome& o) {
  const v1::CaseState& s = o.state;
  std::string tasks, deadlines, counters;
  for (const auto& t : s.open_tasks()) absl::StrAppend(&tasks, t.name(), " ");
  for (const auto& d : s.deadlines()) absl::StrAppend(&deadlines, d.name(), " ");
  for (const auto& c : s.counters()) absl::StrAppend(&counters, c.ShortDebugString(), " ");
  return absl::StrCat("stage=", s.stage(), " category=", v1::Category_Name(s.category()),
                      " rung=", s.escalation_role(),
                      " escalations=", CountOf(o.records, v1::Event::kEscalated),
                      " readings=", s.fever_readings(), " last=", s.last_celsius(), "@",
                      Micros(s.last_celsius_at()), " last_occurred=", Micros(s.last_occurred_at()),
                      " tasks=", tasks, " deadlines=", deadlines, " counters=", counters);
}

// No task is opened while one of its name is open.
void ExpectNoTaskOpenedTwice(const Logic::Outcome& o) {
  std::map<std::string, bool> open;
  for (const auto& r : o.records) {
    if (r.event().has_task_opened()) {
      EXPECT_FALSE(open[r.event().task_opened().task()]) << r.event().task_opened().task();
      open[r.event().task_opened().task()] = true;
    } else if (r.event().has_task_closed()) {
      open[r.event().task_closed().task()] = false;
    }
  }
}

// Readings of `celsius` taken at `hours` after 13:00 on Feb 22.
std::vector<v1::Event> Readings(const std::vector<std::pair<double, double>>& celsius_at_hours) {
  std::vector<v1::Event> out;
  for (const auto& [celsius, hours] : celsius_at_hours) {
    out.push_back(Fever(absl::StrCat("r", out.size()), "c", celsius,
                        At(13, 0) + static_cast<int64_t>(hours * kHourUs)));
  }
  return out;  // in the order they happened
}

// Every order of `events` (up to `orders` of them, seeded) decides as the
// order they happened in does.
void ExpectEveryOrderDecidesTheSame(const std::vector<v1::Event>& events, int orders,
                                    bool expect_escalation) {
  const Logic logic;
  const int64_t learnt_us = At(12, 0, 4);
  const Logic::Outcome in_order = logic.Arrive(events, learnt_us);
  const std::string expected = DecisionAndFacts(in_order);
  EXPECT_EQ(CountOf(in_order.records, v1::Event::kEscalated) > 0, expect_escalation) << expected;
  std::mt19937_64 rng(20200222);
  std::vector<v1::Event> shuffled = events;
  for (int i = 0; i < orders; ++i) {
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const Logic::Outcome o = logic.Arrive(shuffled, learnt_us);
    std::string order;
    for (const auto& e : shuffled) absl::StrAppend(&order, e.event_id(), " ");
    ASSERT_EQ(DecisionAndFacts(o), expected) << "arrival order " << order;
    ExpectNoTaskOpenedTwice(o);
  }
}

TEST(EveryArrivalOrder, TheGuardsFourReadings) {
  // 36.9, 37.0, 37.7, 37.9 in four minutes: every one of the 24 orders.
  auto events = Readings({{36.9, 0}, {37.0, 0.02}, {37.7, 0.04}, {37.9, 0.06}});
  const Logic logic;
  std::vector<int> order = {0, 1, 2, 3};
  const std::string expected = DecisionAndFacts(logic.Arrive(events, At(21, 0)));
  EXPECT_THAT(expected, HasSubstr("rung=community_secretary"));
  int orders = 0;
  do {
    std::vector<v1::Event> arriving;
    for (int i : order) arriving.push_back(events[i]);
    EXPECT_EQ(DecisionAndFacts(logic.Arrive(arriving, At(21, 0))), expected);
    ++orders;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(orders, 24);
}

TEST(EveryArrivalOrder, EightReadingsWithinADay) {
  auto events = Readings({{36.6, 0},
                          {37.1, 1.5},
                          {37.4, 3},
                          {36.8, 5.25},
                          {38.1, 9},
                          {37.0, 12},
                          {37.6, 17.5},
                          {36.9, 20}});
  ExpectEveryOrderDecidesTheSame(events, 1000, /*expect_escalation=*/true);
}

TEST(EveryArrivalOrder, HighReadingsOnlyOnceAPairFallsWithinTheWindow) {
  // 0 h and 30 h are too far apart; 30 h and 31 h are not.
  auto events = Readings({{37.5, 0}, {36.7, 10}, {37.8, 30}, {37.4, 31}, {38.0, 60}, {36.5, 61}});
  ExpectEveryOrderDecidesTheSame(events, 1000, /*expect_escalation=*/true);
}

TEST(EveryArrivalOrder, HighReadingsMoreThanADayApartNeverEscalate) {
  auto events = Readings({{37.5, 0}, {36.6, 12}, {37.6, 25}, {36.8, 40}, {37.9, 50}});
  ExpectEveryOrderDecidesTheSame(events, 1000, /*expect_escalation=*/false);
}

TEST(EveryArrivalOrder, ContactAttemptsCountSinceTheLatestAnswer) {
  // Whether three unanswered attempts escalate depends on what was known
  // when the third arrived; what the counter holds in the end does not.
  std::vector<v1::Event> events;
  const v1::ContactOutcome outcomes[] = {
      v1::CONTACT_OUTCOME_NO_ANSWER, v1::CONTACT_OUTCOME_NO_ANSWER, v1::CONTACT_OUTCOME_REACHED,
      v1::CONTACT_OUTCOME_NO_ANSWER, v1::CONTACT_OUTCOME_REFUSED};
  events.push_back(Fever("open", "c", 36.5, At(8, 0)));
  for (int i = 0; i < 5; ++i) {
    auto e = BaseEvent(absl::StrCat("a", i), "c", At(9 + i, 0));
    e.mutable_contact_attempt()->set_outcome(outcomes[i]);
    events.push_back(e);
  }
  const Logic logic;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    std::shuffle(events.begin() + 1, events.end(), rng);
    const v1::CaseState s = logic.Arrive(events, At(20, 0)).state;
    EXPECT_EQ(workflow::CounterValue(s, "unanswered-contacts", 0, At(20, 0)), 2u);
    EXPECT_EQ(s.last_contact_outcome(), v1::CONTACT_OUTCOME_REFUSED);
    EXPECT_EQ(Micros(s.last_contact_at()), At(13, 0));
  }
}

}  // namespace
}  // namespace gridcase

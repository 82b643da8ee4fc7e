// The directory: checked imports, who holds a role, replay after restart,
// and escalation through every rung naming the people.
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>

#include "engine/engine.h"
#include "engine/workflow/duration.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Req;
using ::testing::HasSubstr;
using workflow::kDayUs;
using workflow::kSecondUs;

constexpr int64_t kHourUs = 3600 * kSecondUs;
constexpr int64_t kStartUs = 1582372800LL * 1000000;

using ::gridcase::testing::ExampleDirectory;

v1::DirectoryEntry Unavailable(const std::string& person, int64_t from_us, int64_t until_us) {
  v1::DirectoryEntry e;
  auto* a = e.mutable_availability();
  a->set_person_id(person);
  a->set_availability(v1::AVAILABILITY_UNAVAILABLE);
  a->mutable_from()->set_seconds(from_us / 1000000);
  if (until_us != 0) a->mutable_until()->set_seconds(until_us / 1000000);
  return e;
}

class DirectoryTest : public ::testing::Test {
 protected:
  DirectoryTest() : clock_(kStartUs) {}
  void SetUp() override { Reopen(); }

  void Reopen() {
    engine_.reset();
    engine_ = testing::OpenWithShippedWorkflows(dir_.Sub("data"), 3, &clock_);
    ASSERT_NE(engine_, nullptr);
  }

  absl::StatusOr<size_t> Import(const std::vector<v1::DirectoryEntry>& entries,
                                const std::string& id) {
    auto r = ImportMoving(entries, id);
    if (!r.ok()) return r.status();
    return r->written;
  }

  absl::StatusOr<Staffing::ImportResult> ImportMoving(
      const std::vector<v1::DirectoryEntry>& entries, const std::string& id) {
    v1::Actor admin;
    admin.set_id("admin-1");
    return engine_->staffing().ImportDirectory(entries, id, admin);
  }

  void Ok(v1::Event e) {
    e.mutable_occurred_at()->set_seconds(clock_.NowMicros() / 1000000);
    auto r = testing::SubmitSync(*engine_, Req(e));
    ASSERT_TRUE(r.ok()) << r.status();
  }

  std::vector<v1::Escalated> Escalations(const std::string& case_id) {
    v1::GetTimelineRequest req;
    req.set_case_id(case_id);
    req.set_page_size(1000);
    const auto page = engine_->GetTimeline(req);
    std::vector<v1::Escalated> out;
    for (const auto& r : page->records()) {
      if (r.event().has_escalated()) out.push_back(r.event().escalated());
    }
    return out;
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(DirectoryTest, AnImportIsCheckedWholeBeforeAnythingIsWritten) {
  auto entries = ExampleDirectory();
  v1::DirectoryEntry orphan;
  orphan.mutable_unit()->set_unit_id("g-9");
  orphan.mutable_unit()->set_level(v1::UNIT_LEVEL_GRID);
  orphan.mutable_unit()->set_parent_id("no-such-community");
  entries.push_back(orphan);
  auto refused = Import(entries, "import-1");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("entry 15: unit g-9: parent no-such-community does not exist"));
  EXPECT_EQ(engine_->staffing().directory().unit_count(), 0u);
  EXPECT_EQ(engine_->staffing().directory().person_count(), 0u);
}

TEST_F(DirectoryTest, EachKindOfInconsistencyIsNamed) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  auto refuse = [&](v1::DirectoryEntry e, const std::string& why) {
    auto r = Import({e}, "bad");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(why));
  };
  v1::DirectoryEntry e;
  e.mutable_unit()->set_unit_id("s-2");
  e.mutable_unit()->set_level(v1::UNIT_LEVEL_STREET);
  e.mutable_unit()->set_parent_id("jiangan-07");
  refuse(e, "its parent jiangan-07 is a UNIT_LEVEL_STREET, not a UNIT_LEVEL_DISTRICT");
  e.Clear();
  e.mutable_person()->set_person_id("p");
  e.mutable_person()->set_role(v1::ROLE_COMMUNITY_SECRETARY);
  e.mutable_person()->set_unit_id("jiangan-07-03");
  refuse(e, "a ROLE_COMMUNITY_SECRETARY serves a UNIT_LEVEL_COMMUNITY");
  e.Clear();
  e.mutable_pairing()->set_cadre_id("cadre-zhang");
  e.mutable_pairing()->set_worker_id("worker-zhou");
  refuse(e, "they serve different grids");
  e.mutable_pairing()->set_cadre_id("worker-li");
  refuse(e, "worker-li is not a registered cadre");
  refuse(Unavailable("nobody", kStartUs, 0), "person nobody is not registered");
  refuse(Unavailable("worker-li", kStartUs, kStartUs), "until is not after from");
}

TEST_F(DirectoryTest, ImportingTheSameBatchAgainWritesNothing) {
  auto first = Import(ExampleDirectory(), "file-a-0");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 14u);
  // Later, by someone else and after a restart: still the same events.
  clock_.AdvanceMicros(kHourUs + 1500000);
  Reopen();
  v1::Actor other;
  other.set_id("admin-2");
  auto again = engine_->staffing().ImportDirectory(ExampleDirectory(), "file-a-0", other);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->written, 0u);
  // A different batch under the same import id is a conflict, named.
  auto entries = ExampleDirectory();
  entries[0].mutable_unit()->set_name("renamed");
  auto changed = Import(entries, "file-a-0");
  EXPECT_EQ(changed.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(changed.status().message()),
              HasSubstr("event_id ~directory~file-a-0~1 was already recorded with different"));
}

TEST_F(DirectoryTest, TheWorkerThenThePairedCadreHoldTheGrid) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  const Directory& d = engine_->staffing().directory();
  const int64_t now = clock_.NowMicros();
  EXPECT_EQ(d.Resolve(v1::ROLE_GRID_WORKER, "jiangan-07-03", now), "worker-li");
  EXPECT_EQ(d.Resolve(v1::ROLE_CADRE, "jiangan-07-03", now), "cadre-zhang");
  EXPECT_EQ(d.Resolve(v1::ROLE_COMMUNITY_SECRETARY, "jiangan-07-03", now), "secretary-chen");
  EXPECT_EQ(d.Resolve(v1::ROLE_STREET_OFFICER, "jiangan-07-03", now), "officer-huang");
  EXPECT_EQ(d.Resolve(v1::ROLE_DISTRICT_OFFICER, "jiangan-07-04", now), "officer-xu");

  // Li is ill for two days: Zhang, his pair, holds the grid; then Li again.
  ASSERT_TRUE(Import({Unavailable("worker-li", now, now + 2 * kDayUs)}, "ill").ok());
  EXPECT_EQ(d.Resolve(v1::ROLE_GRID_WORKER, "jiangan-07-03", now), "cadre-zhang");
  EXPECT_EQ(d.Resolve(v1::ROLE_GRID_WORKER, "jiangan-07-03", now + 2 * kDayUs), "worker-li");
  ASSERT_TRUE(Import({Unavailable("cadre-zhang", now, 0)}, "both").ok());
  EXPECT_EQ(d.Resolve(v1::ROLE_GRID_WORKER, "jiangan-07-03", now), std::nullopt);
}

TEST_F(DirectoryTest, TheDirectoryReplaysToTheSameStateAfterRestart) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  ASSERT_TRUE(Import({Unavailable("worker-li", kStartUs, kStartUs + kDayUs)}, "ill").ok());
  auto snapshot = [&] {
    std::string out;
    for (const char* id : {"worker-li", "cadre-zhang", "worker-zhou", "cadre-wang",
                           "secretary-chen", "officer-huang", "officer-xu"}) {
      auto p = engine_->staffing().directory().FindPerson(id);
      out += absl::StrCat(id, ":", p->unit_id, ":", p->paired_with, ":", p->availability, ":",
                          p->unavailable_until_us, ";");
    }
    for (const char* id : {"jiangan", "jiangan-07", "jiangan-07-c2", "jiangan-07-03"}) {
      auto u = engine_->staffing().directory().FindUnit(id);
      out += absl::StrCat(id, ":", u->parent_id, ":", u->children.size(), ";");
    }
    return out;
  };
  const std::string before = snapshot();
  Reopen();
  EXPECT_EQ(engine_->staffing().directory().person_count(), 7u);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(DirectoryTest, AnOverdueDeliveryClimbsEveryRungNamingThePeople) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  auto ask = BaseEvent("h1", "help");
  ask.set_grid_id("jiangan-07-03");
  ask.mutable_actor()->set_kind(v1::ACTOR_KIND_APP);
  ask.mutable_help_request()->set_request_id("r1");
  ask.mutable_help_request()->set_kind(v1::HELP_KIND_MEDICINE);
  Ok(ask);
  auto state = engine_->GetCase("help");
  ASSERT_EQ(state->open_tasks_size(), 1);
  EXPECT_EQ(state->open_tasks(0).assignee(), "worker-li");

  clock_.AdvanceMicros(4 * kHourUs);  // delivery due
  for (int rung = 0; rung < 5; ++rung) {
    ASSERT_TRUE(engine_->timers().FireDueDeadlines().ok());
    clock_.AdvanceMicros(2 * kHourUs);  // each handler gives two more hours
  }
  const auto steps = Escalations("help");
  ASSERT_EQ(steps.size(), 4u);  // four rungs above the grid worker; then at the top
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"cadre", "cadre-zhang"},
      {"community_secretary", "secretary-chen"},
      {"street_officer", "officer-huang"},
      {"district_officer", "officer-xu"}};
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].to_role(), expected[i].first);
    EXPECT_EQ(steps[i].to_person(), expected[i].second);
    if (i > 0) {
      EXPECT_EQ(steps[i].from_person(), expected[i - 1].second);
    }
    EXPECT_EQ(steps[i].reason(), "the delivery is late");
  }
  EXPECT_EQ(engine_->GetCase("help")->assignee(), "officer-xu");
}

TEST_F(DirectoryTest, EscalationPassesOverARungNobodyAvailableHolds) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  ASSERT_TRUE(Import({Unavailable("cadre-zhang", kStartUs, 0)}, "away").ok());
  auto ask = BaseEvent("h1", "help");
  ask.set_grid_id("jiangan-07-03");
  ask.mutable_help_request()->set_request_id("r1");
  ask.mutable_help_request()->set_kind(v1::HELP_KIND_MEAL);
  Ok(ask);
  clock_.AdvanceMicros(3 * kHourUs);
  ASSERT_TRUE(engine_->timers().FireDueDeadlines().ok());
  const auto steps = Escalations("help");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].to_role(), "community_secretary");
  EXPECT_EQ(steps[0].to_person(), "secretary-chen");
  EXPECT_EQ(steps[0].reason(), "the delivery is late; no available cadre");
}

// Opens `n` cases held by `worker` (the person who opened them) in `grid`.
void OpenCases(Engine& engine, const std::string& prefix, int n, const std::string& worker,
               const std::string& grid, int64_t now_us) {
  std::mutex mu;
  std::condition_variable cv;
  int pending = n, failed = 0;
  for (int i = 0; i < n; ++i) {
    auto e = testing::Fever(prefix + std::to_string(i), prefix + std::to_string(i), 36.6, now_us);
    e.mutable_actor()->set_id(worker);
    e.set_grid_id(grid);
    engine.Submit(Req(e), [&](absl::StatusOr<v1::SubmitResponse> r) {
      std::lock_guard<std::mutex> lock(mu);
      failed += !r.ok();
      if (--pending == 0) cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return pending == 0; });
  EXPECT_EQ(failed, 0);
}

size_t CountHeldBy(Engine& engine, const std::string& person) {
  v1::ListCasesRequest req;
  req.set_assignee(person);
  req.set_page_size(1000);
  size_t n = 0;
  do {
    auto page = engine.ListCases(req);
    EXPECT_TRUE(page.ok());
    n += page->cases_size();
    req.set_page_token(page->next_page_token());
  } while (!req.page_token().empty());
  return n;
}

TEST_F(DirectoryTest, AWorkerWhoDropsOutHandsTenThousandCasesToThePairedCadre) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  OpenCases(*engine_, "r-", 10000, "worker-zhou", "jiangan-07-04", clock_.NowMicros());
  ASSERT_EQ(CountHeldBy(*engine_, "worker-zhou"), 10000u);

  auto dropped = ImportMoving({Unavailable("worker-zhou", kStartUs, 0)}, "zhou-ill");
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(dropped->moved, 10000u);
  EXPECT_EQ(CountHeldBy(*engine_, "worker-zhou"), 0u);
  EXPECT_EQ(CountHeldBy(*engine_, "cadre-wang"), 10000u);
  // Each move is a record naming who held it, who holds it and why.
  v1::GetTimelineRequest req;
  req.set_case_id("r-4242");
  const auto timeline = engine_->GetTimeline(req);
  const v1::Record& last = timeline->records(timeline->records_size() - 1);
  ASSERT_TRUE(last.event().has_holder_replaced());
  EXPECT_EQ(last.event().holder_replaced().from_person(), "worker-zhou");
  EXPECT_EQ(last.event().holder_replaced().to_person(), "cadre-wang");
  EXPECT_EQ(last.event().holder_replaced().reason(), "unavailable");
}

TEST_F(DirectoryTest, WithoutThePairTheLeastLoadedWorkerThenTheLadderTakeOver) {
  auto entries = ExampleDirectory();
  for (const char* id : {"worker-ma", "worker-niu"}) {
    v1::DirectoryEntry e;
    e.mutable_person()->set_person_id(id);
    e.mutable_person()->set_role(v1::ROLE_GRID_WORKER);
    e.mutable_person()->set_unit_id("jiangan-07-03");
    entries.push_back(e);
  }
  ASSERT_TRUE(Import(entries, "base").ok());
  ASSERT_TRUE(Import({Unavailable("cadre-zhang", kStartUs, 0)}, "zhang-away").ok());
  OpenCases(*engine_, "li-", 5, "worker-li", "jiangan-07-03", clock_.NowMicros());
  OpenCases(*engine_, "niu-", 3, "worker-niu", "jiangan-07-03", clock_.NowMicros());

  auto moved = ImportMoving({Unavailable("worker-li", kStartUs, 0)}, "li-away");
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->moved, 5u);
  EXPECT_EQ(CountHeldBy(*engine_, "worker-ma"), 4u);   // 0 -> 3 to catch up, then ties
  EXPECT_EQ(CountHeldBy(*engine_, "worker-niu"), 4u);  // 3 of its own + 1

  // Nobody left in the grid: the community secretary takes it all.
  auto gone = ImportMoving(
      {Unavailable("worker-ma", kStartUs, 0), Unavailable("worker-niu", kStartUs, 0)}, "all-away");
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(gone->moved, 8u);
  EXPECT_EQ(CountHeldBy(*engine_, "secretary-chen"), 8u);
  // What the metrics report as hand-overs: every case moved, once.
  EXPECT_EQ(engine_->staffing().handed_over(), 5u + 8u);
}

TEST_F(DirectoryTest, TheFirstRoundAfterStartHandsOnWhatAnUnavailablePersonStillHolds) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  ASSERT_TRUE(Import({Unavailable("worker-li", kStartUs, 0)}, "away").ok());
  // Held by someone unavailable, as after a crash between two partitions'
  // moves (here: a case opened by Li's own app while he is away).
  OpenCases(*engine_, "late-", 2, "worker-li", "jiangan-07-03", clock_.NowMicros());
  ASSERT_EQ(CountHeldBy(*engine_, "worker-li"), 2u);
  Reopen();
  auto moved = engine_->staffing().HandOnFromNewlyUnavailable();
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 2u);
  EXPECT_EQ(CountHeldBy(*engine_, "cadre-zhang"), 2u);
  EXPECT_EQ(*engine_->staffing().HandOnFromNewlyUnavailable(), 0u);
  EXPECT_EQ(engine_->staffing().handed_over(), 2u);  // since this open
}

TEST_F(DirectoryTest, AnAnnouncedAbsenceHandsCasesOnWhenItBegins) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  ASSERT_TRUE(engine_->staffing().HandOnFromNewlyUnavailable().ok());  // the first call sweeps
  OpenCases(*engine_, "c-", 3, "worker-li", "jiangan-07-03", clock_.NowMicros());
  // Li will be away from tomorrow: nothing moves today.
  auto announced = ImportMoving({Unavailable("worker-li", kStartUs + kDayUs, 0)}, "leave");
  ASSERT_TRUE(announced.ok());
  EXPECT_EQ(announced->moved, 0u);
  clock_.AdvanceMicros(kDayUs - 1);
  EXPECT_EQ(*engine_->staffing().HandOnFromNewlyUnavailable(), 0u);
  clock_.AdvanceMicros(1);
  EXPECT_EQ(*engine_->staffing().HandOnFromNewlyUnavailable(), 3u);
  EXPECT_EQ(CountHeldBy(*engine_, "cadre-zhang"), 3u);
  EXPECT_EQ(*engine_->staffing().HandOnFromNewlyUnavailable(), 0u);
}

TEST_F(DirectoryTest, ACaseOrOneOfItsTasksCanBeReassignedByHand) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  auto hot = testing::Fever("hot-1", "c", 38.0, clock_.NowMicros());
  hot.mutable_actor()->set_id("worker-li");
  Ok(hot);  // a recheck task for worker-li
  auto move_task = BaseEvent("m1", "c");
  move_task.mutable_reassignment()->set_to_assignee("cadre-zhang");
  move_task.mutable_reassignment()->set_task("recheck");
  move_task.mutable_reassignment()->set_reason("Li is at the checkpoint");
  Ok(move_task);
  auto state = engine_->GetCase("c");
  EXPECT_EQ(state->assignee(), "worker-li");
  EXPECT_EQ(state->open_tasks(0).assignee(), "cadre-zhang");

  auto bad = BaseEvent("m2", "c");
  bad.mutable_reassignment()->set_to_assignee("cadre-zhang");
  bad.mutable_reassignment()->set_task("no-such-task");
  bad.mutable_occurred_at()->set_seconds(clock_.NowMicros() / 1000000);
  EXPECT_EQ(testing::SubmitSync(*engine_, Req(bad)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

std::vector<std::string> ListIds(Engine& engine, v1::ListCasesRequest req) {
  std::vector<std::string> ids;
  req.set_page_size(3);
  do {
    auto page = engine.ListCases(req);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    for (const auto& c : page->cases()) ids.push_back(c.case_id());
    req.set_page_token(page->next_page_token());
  } while (!req.page_token().empty());
  return ids;
}

TEST_F(DirectoryTest, AnAreaListsTheCasesOfAllItsGridsInCaseIdOrderPageByPage) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  // Grid 03 comes first under the community, but its cases sort last: a
  // page must not fill up with them and pass over grid 04's.
  OpenCases(*engine_, "z3-", 10, "worker-li", "jiangan-07-03", clock_.NowMicros());
  OpenCases(*engine_, "a4-", 10, "worker-zhou", "jiangan-07-04", clock_.NowMicros());
  std::vector<std::string> expected;
  for (const char* prefix : {"a4-", "z3-"}) {
    for (int i = 0; i < 10; ++i) expected.push_back(prefix + std::to_string(i));
  }
  v1::ListCasesRequest req;
  req.set_area("jiangan-07-c2");
  EXPECT_EQ(ListIds(*engine_, req), expected);
}

TEST_F(DirectoryTest, ListsByAreaAndOverdueWorkloadAndStaffing) {
  ASSERT_TRUE(Import(ExampleDirectory(), "base").ok());
  OpenCases(*engine_, "g3-", 4, "worker-li", "jiangan-07-03", clock_.NowMicros());
  OpenCases(*engine_, "g4-", 2, "worker-zhou", "jiangan-07-04", clock_.NowMicros());
  // One fever case in grid 3: a recheck task due in 1 h, for worker-li.
  auto hot = testing::Fever("hot-1", "g3-hot", 38.0, clock_.NowMicros());
  hot.set_grid_id("jiangan-07-03");
  hot.mutable_actor()->set_id("worker-li");
  Ok(hot);

  v1::ListCasesRequest req;
  req.set_area("jiangan-07-c2");  // the community: both grids
  EXPECT_EQ(ListIds(*engine_, req).size(), 7u);
  req.set_area("jiangan-07-04");
  EXPECT_EQ(ListIds(*engine_, req), (std::vector<std::string>{"g4-0", "g4-1"}));
  req.set_area("nowhere");
  EXPECT_EQ(engine_->ListCases(req).status().code(), absl::StatusCode::kNotFound);

  req.set_area("jiangan");
  req.set_overdue(true);
  EXPECT_TRUE(ListIds(*engine_, req).empty());
  clock_.AdvanceMicros(2 * kHourUs);  // the recheck is overdue now
  EXPECT_EQ(ListIds(*engine_, req), std::vector<std::string>{"g3-hot"});
  req.set_area("jiangan-07-04");
  EXPECT_TRUE(ListIds(*engine_, req).empty());

  auto load = engine_->staffing().Workload("worker-li");
  ASSERT_TRUE(load.ok());
  EXPECT_EQ(load->cases(), 5u);
  EXPECT_EQ(load->open_tasks(), 1u);
  EXPECT_EQ(load->overdue_tasks(), 1u);

  ASSERT_TRUE(Import({Unavailable("worker-zhou", clock_.NowMicros(), 0),
                      Unavailable("cadre-wang", clock_.NowMicros(), 0)},
                     "grid4-empty")
                  .ok());
  auto report = engine_->staffing().StaffingReport("jiangan-07-c2");
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->grids_without_available_worker_size(), 1);
  EXPECT_EQ(report->grids_without_available_worker(0), "jiangan-07-04");
  // Grid 4's two cases went up to the secretary, so none is stranded.
  EXPECT_EQ(report->stranded_size(), 0);
  EXPECT_EQ(engine_->staffing().Workload("secretary-chen")->cases(), 2u);

  // With the whole chain away, grid 4's cases have nowhere to go.
  ASSERT_TRUE(Import({Unavailable("secretary-chen", clock_.NowMicros(), 0),
                      Unavailable("officer-huang", clock_.NowMicros(), 0),
                      Unavailable("officer-xu", clock_.NowMicros(), 0)},
                     "all-away")
                  .ok());
  report = engine_->staffing().StaffingReport("jiangan-07-04");
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->stranded_size(), 2);
  EXPECT_EQ(report->stranded(0).holder(), "secretary-chen");
}

}  // namespace
}  // namespace gridcase

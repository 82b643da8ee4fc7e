// The Wuhan day gridcase-bench loads: a directory the engine accepts with
// the city's shape, and a day whose mix is what it claims, whose events the
// engine validates and whose workflows fire without a refusal.
#include "services/bench/wuhan_day.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/domain/directory.h"
#include "engine/domain/validate.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase::bench {
namespace {

constexpr int64_t kNowUs = 1582372800LL * 1000000;  // 2020-02-22 12:00 UTC

TEST(WuhanDayTest, TheDirectoryIsACityOf13001GridsThatTheDirectoryChecksAccept) {
  const std::vector<v1::DirectoryEntry> entries = WuhanDirectory(13001);
  std::map<v1::UnitLevel, int> units;
  std::map<v1::Role, int> people;
  int pairings = 0;
  Directory directory;
  for (size_t i = 0; i < entries.size(); ++i) {
    const v1::DirectoryEntry& e = entries[i];
    ASSERT_TRUE(directory.Check(e).ok()) << "entry " << i + 1 << ": " << directory.Check(e);
    directory.Apply(e, kNowUs);
    if (e.has_unit()) ++units[e.unit().level()];
    if (e.has_person()) ++people[e.person().role()];
    pairings += e.has_pairing();
  }
  EXPECT_EQ(entries.size(), 54318u);
  EXPECT_EQ(units[v1::UNIT_LEVEL_DISTRICT], 13);
  EXPECT_EQ(units[v1::UNIT_LEVEL_STREET], 143);
  EXPECT_EQ(units[v1::UNIT_LEVEL_COMMUNITY], 1001);
  EXPECT_EQ(units[v1::UNIT_LEVEL_GRID], 13001);
  EXPECT_EQ(people[v1::ROLE_GRID_WORKER], 13001);
  EXPECT_EQ(people[v1::ROLE_CADRE], 13001);
  EXPECT_EQ(pairings, 13001);
  EXPECT_EQ(people[v1::ROLE_COMMUNITY_SECRETARY], 1001);
  EXPECT_EQ(directory.unit_count(), 13u + 143 + 1001 + 13001);
  // Every rung of the ladder has someone for the first and the last grid.
  for (int grid : {0, 13000}) {
    for (v1::Role role : {v1::ROLE_GRID_WORKER, v1::ROLE_CADRE, v1::ROLE_COMMUNITY_SECRETARY,
                          v1::ROLE_STREET_OFFICER, v1::ROLE_DISTRICT_OFFICER}) {
      EXPECT_TRUE(directory.Resolve(role, GridId(grid), kNowUs).has_value())
          << v1::Role_Name(role) << " for " << GridId(grid);
    }
  }
  EXPECT_EQ(directory.Resolve(v1::ROLE_GRID_WORKER, GridId(13000), kNowUs),
            std::optional<std::string>(WorkerId(13000)));
}

TEST(WuhanDayTest, TheDayHasTheMixItClaimsAndEveryEventIsValid) {
  WuhanDayOptions options;
  options.grids = 500;
  options.residents_per_grid = 20;
  WuhanDay day(options, "t", 42);
  constexpr int kEvents = 200000;
  std::map<v1::Event::PayloadCase, int> kinds;
  int abnormal = 0;
  std::set<std::string> ids, screened;
  int contacts_to_unscreened = 0;
  for (int i = 0; i < kEvents; ++i) {
    const v1::SubmitRequest r = day.Next(kNowUs + i);
    const v1::Event& e = r.event();
    ASSERT_TRUE(ValidateEvent(e, ValidationLimits{}, kNowUs + i).ok())
        << ValidateEvent(e, ValidationLimits{}, kNowUs + i) << "\n"
        << e.DebugString();
    ASSERT_TRUE(ids.insert(e.event_id()).second) << "event id used twice: " << e.event_id();
    // The grid is one of the city's, and its own worker records the event.
    const int grid = std::stoi(e.grid_id().substr(5));
    ASSERT_TRUE(grid >= 0 && grid < options.grids) << e.grid_id();
    EXPECT_EQ(e.actor().id(), WorkerId(grid));
    ++kinds[e.payload_case()];
    switch (e.payload_case()) {
      case v1::Event::kFeverReading:
        abnormal += e.fever_reading().celsius() >= 37.3;
        screened.insert(e.case_id());
        break;
      case v1::Event::kScreeningCheck:
        screened.insert(e.case_id());
        break;
      case v1::Event::kContactAttempt:
        contacts_to_unscreened += screened.count(e.case_id()) == 0;
        break;
      default:
        break;
    }
  }
  auto share = [&](v1::Event::PayloadCase k) { return kinds[k] / double(kEvents); };
  EXPECT_NEAR(share(v1::Event::kScreeningCheck), 0.50, 0.01);
  EXPECT_NEAR(share(v1::Event::kFeverReading), 0.40, 0.01);
  EXPECT_NEAR(share(v1::Event::kHelpRequest), 0.05, 0.005);
  EXPECT_NEAR(share(v1::Event::kContactAttempt), 0.05, 0.005);
  EXPECT_EQ(kinds.size(), 4u);
  EXPECT_NEAR(abnormal / double(kinds[v1::Event::kFeverReading]), 0.02, 0.003);
  // A contact attempt is a follow-up: its case must have been opened.
  EXPECT_EQ(contacts_to_unscreened, 0);
}

TEST(WuhanDayTest, TheSameSeedGivesTheSameDay) {
  WuhanDay a({}, "t", 7), b({}, "t", 7), c({}, "t", 8);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const auto ra = a.Next(kNowUs), rb = b.Next(kNowUs), rc = c.Next(kNowUs);
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ra, rb)) << i;
    differs |= !google::protobuf::util::MessageDifferencer::Equals(ra, rc);
  }
  EXPECT_TRUE(differs);
}

// The shipped workflows take a whole day's mix without a refusal (contact
// attempts land on open cases, help requests open cases of their own), and
// the abnormal readings open recheck tasks.
TEST(WuhanDayTest, TheShippedWorkflowsTakeTheDayWithoutARefusal) {
  testing::TempDir dir;
  FakeClock clock(kNowUs);
  auto engine = testing::OpenWithShippedWorkflows(dir.Sub("data"), 2, &clock);
  ASSERT_NE(engine, nullptr);
  WuhanDayOptions options;
  options.grids = 26;
  options.residents_per_grid = 20;
  options.abnormal_share = 0.1;  // enough readings to see the workflow react
  v1::Actor admin;
  admin.set_id("bench");
  auto imported = engine->staffing().ImportDirectory(WuhanDirectory(options.grids), "wuhan", admin);
  ASSERT_TRUE(imported.ok()) << imported.status();

  WuhanDay day(options, "t", 3);
  constexpr int kEvents = 4000;
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0;
  std::map<std::string, int> refused;  // by message
  for (int i = 0; i < kEvents; ++i) {
    // Submitted in order, a window of 256 at a time, as the bench does.
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return i - answered < 256; });
    }
    engine->Submit(day.Next(clock.NowMicros()), [&](absl::StatusOr<v1::SubmitResponse> r) {
      std::lock_guard<std::mutex> lock(mu);
      if (!r.ok()) ++refused[std::string(r.status().message())];
      ++answered;
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return answered == kEvents; });
  }
  EXPECT_THAT(refused, ::testing::IsEmpty());

  auto count = [&](v1::ListCasesRequest request) {
    request.set_page_size(1000);
    size_t n = 0;
    for (;;) {
      auto page = engine->ListCases(request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) return n;
      n += static_cast<size_t>(page->cases_size());
      if (page->next_page_token().empty()) return n;
      request.set_page_token(page->next_page_token());
    }
  };
  v1::ListCasesRequest fever;
  fever.set_category(v1::CATEGORY_FEVER);
  // 59 with this seed; 6 (screening checks alone) with no abnormal reading.
  EXPECT_GT(count(fever), 40u);
  v1::ListCasesRequest all;
  EXPECT_GT(count(all), 400u) << "residents and help requests each open a case";
}

}  // namespace
}  // namespace gridcase::bench

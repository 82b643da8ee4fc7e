// A record of every read, over real loopback sockets with mutual TLS:
// thousands of random reads by callers of every reading role each leave
// exactly one access record naming what they returned; when the access
// log cannot be written no read is answered; break-glass reads are
// refused, limited, marked and told as the rules say; ReadAccess answers
// who read what, to those who may ask.
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/time.h"
#include "engine/storage/data_dir.h"
#include "gmock/gmock.h"
#include "tests/integration/access_fixture.h"
#include "tests/support/fault_fs.h"

namespace gridcase::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kReason[] = "fever reported by a neighbour; the grid's worker is unreachable";

// What one answer returned, as its access record must name it.
std::string Key(const std::string& caller, const std::string& call,
                const std::vector<std::string>& cases, const std::vector<std::string>& people) {
  return absl::StrCat(caller, " ", call, " cases[", absl::StrJoin(cases, ","), "] people[",
                      absl::StrJoin(people, ","), "]");
}

// Every record of the access log, oldest first.
std::vector<v1::AccessEntry> AllAccess(const AccessLog& log) {
  std::vector<v1::AccessEntry> out;
  v1::ReadAccessRequest q;
  q.set_page_size(1000);
  for (;;) {
    auto page = log.Read(q);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return out;
    for (const auto& e : page->entries()) out.push_back(e);
    if (page->next_page_token().empty()) return out;
    q.set_page_token(page->next_page_token());
  }
}

std::string KeyOf(const v1::AccessRecord& r) {
  return Key(r.caller(), r.call(), {r.case_ids().begin(), r.case_ids().end()},
             {r.person_ids().begin(), r.person_ids().end()});
}

class ReadAuditTest : public AccessTest {
 protected:
  // One random read by `subject` over its own units or beyond them. When
  // it is answered, the key of what it returned; otherwise nullopt.
  std::optional<std::string> RandomRead(const std::string& subject, std::mt19937* rng) {
    auto channel = ChannelAs(subject);
    const std::string grid = kGrids[(*rng)() % std::size(kGrids)];
    const std::string unit = grid.substr(0, grid.rfind('-'));  // its community
    auto ctx = Context();
    grpc::Status st;
    std::vector<std::string> cases, people;
    std::string call;
    switch ((*rng)() % 9) {
      case 0: {
        call = "CaseService/GetCase";
        v1::GetCaseRequest req;
        req.set_case_id(CaseOf(grid));
        v1::CaseState r;
        st = v1::CaseService::NewStub(channel)->GetCase(ctx.get(), req, &r);
        cases = {r.case_id()};
        break;
      }
      case 1: {
        call = "CaseService/GetTimeline";
        v1::GetTimelineRequest req;
        req.set_case_id(CaseOf(grid));
        v1::GetTimelineResponse r;
        st = v1::CaseService::NewStub(channel)->GetTimeline(ctx.get(), req, &r);
        cases = {CaseOf(grid)};
        break;
      }
      case 2: {
        call = "CaseService/ListCases";
        v1::ListCasesRequest req;
        req.set_area((*rng)() % 2 ? unit : "");
        v1::ListCasesResponse r;
        st = v1::CaseService::NewStub(channel)->ListCases(ctx.get(), req, &r);
        for (const auto& c : r.cases()) cases.push_back(c.case_id());
        break;
      }
      case 3: {
        call = "AuditService/GetCaseAsOf";
        v1::GetCaseAsOfRequest req;
        req.set_case_id(CaseOf(grid));
        req.set_position(1'000'000);
        v1::GetCaseAsOfResponse r;
        st = v1::AuditService::NewStub(channel)->GetCaseAsOf(ctx.get(), req, &r);
        cases = {CaseOf(grid)};
        break;
      }
      case 4: {
        call = "AuditService/ReadLog";
        v1::ReadLogRequest req;
        req.set_case_id(CaseOf(grid));
        auto reader = v1::AuditService::NewStub(channel)->ReadLog(ctx.get(), req);
        v1::LogEntry entry;
        while (reader->Read(&entry)) {
          if (cases.empty()) cases.push_back(entry.record().event().case_id());
        }
        st = reader->Finish();
        break;
      }
      case 5: {
        call = "AdminService/GetPerson";
        v1::GetPersonRequest req;
        req.set_person_id(WorkerOf(grid));
        v1::PersonView r;
        st = v1::AdminService::NewStub(channel)->GetPerson(ctx.get(), req, &r);
        people = {r.person().person_id()};
        break;
      }
      case 6: {
        call = "AdminService/GetUnit";
        v1::GetUnitRequest req;
        req.set_unit_id((*rng)() % 2 ? grid : unit);
        v1::UnitView r;
        st = v1::AdminService::NewStub(channel)->GetUnit(ctx.get(), req, &r);
        for (const auto& p : r.people()) people.push_back(p.person().person_id());
        break;
      }
      case 7: {
        call = "AdminService/GetWorkload";
        v1::GetWorkloadRequest req;
        req.set_person_id(WorkerOf(grid));
        v1::Workload r;
        st = v1::AdminService::NewStub(channel)->GetWorkload(ctx.get(), req, &r);
        cases.assign(r.case_ids().begin(), r.case_ids().end());
        people = {WorkerOf(grid)};
        break;
      }
      default: {
        call = "AdminService/GetStaffingReport";
        v1::StaffingReportRequest req;
        req.set_area(unit);
        v1::StaffingReport r;
        st = v1::AdminService::NewStub(channel)->GetStaffingReport(ctx.get(), req, &r);
        for (const auto& s : r.stranded()) {
          cases.push_back(s.case_id());
          people.push_back(s.holder());
        }
        break;
      }
    }
    if (!st.ok()) {
      // Beyond reach, or a role that may not; UNAVAILABLE only when the
      // access log cannot be written.
      if (access_log_writable_) {
        EXPECT_NE(st.error_code(), grpc::StatusCode::UNAVAILABLE)
            << call << ": " << st.error_message();
      }
      return std::nullopt;
    }
    return Key(subject, call, cases, people);
  }

  bool access_log_writable_ = true;
};

// Every reading role, each over its own units.
const std::vector<std::string> kReaders = {"gridcase:person:w-g1",   "gridcase:person:k-g1",
                                           "gridcase:person:sec-c1", "gridcase:person:off-s1",
                                           "gridcase:person:off-d1", "gridcase:app:triage",
                                           "gridcase:app:lab"};

TEST_F(ReadAuditTest, TenThousandRandomReadsLeaveExactlyOneRecordEach) {
  constexpr int kReads = 10'000;
  constexpr int kThreads = 4;
  for (const auto& r : kReaders) ChannelAs(r);  // before the threads share the map
  std::vector<std::vector<std::string>> answered(kThreads);
  std::vector<int> refused(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      for (int i = t; i < kReads; i += kThreads) {
        const std::string& reader = kReaders[rng() % kReaders.size()];
        if (auto key = RandomRead(reader, &rng)) {
          answered[t].push_back(std::move(*key));
        } else {
          ++refused[t];
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  std::multiset<std::string> want, got;
  int refusals = 0;
  for (int t = 0; t < kThreads; ++t) {
    want.insert(answered[t].begin(), answered[t].end());
    refusals += refused[t];
  }
  for (const auto& e : AllAccess(engine_->access())) got.insert(KeyOf(e.record()));
  std::vector<std::string> missing, extra;
  std::set_difference(want.begin(), want.end(), got.begin(), got.end(),
                      std::back_inserter(missing));
  std::set_difference(got.begin(), got.end(), want.begin(), want.end(), std::back_inserter(extra));
  EXPECT_EQ(want.size() + refusals, static_cast<size_t>(kReads));
  EXPECT_GT(want.size(), kReads / 4u);  // many reads were within reach
  EXPECT_GT(refusals, 0);               // and some were not
  EXPECT_EQ(missing.size(), 0u) << "first answered read without a record: "
                                << (missing.empty() ? "" : missing[0]);
  EXPECT_EQ(extra.size(), 0u) << "first record of no answered read: "
                              << (extra.empty() ? "" : extra[0]);
  EXPECT_EQ(got.size(), want.size());
  std::cout << "reads answered " << want.size() << ", refused " << refusals << ", records "
            << got.size() << ", missing " << missing.size() << ", extra " << extra.size() << "\n";
  // The chain of all of them holds.
  auto check = engine_->audit().VerifyAccessLog();
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->records, got.size());
  EXPECT_EQ(check->first_bad_position, 0u);
}

TEST_F(ReadAuditTest, ARecordSaysWhoReadWhatByWhichCallWithItsFilters) {
  auto stub = v1::CaseService::NewStub(ChannelAs("gridcase:person:sec-c1"));
  auto stage = engine_->GetCase(CaseOf("d1-s1-c1-g1"));
  ASSERT_TRUE(stage.ok()) << stage.status();
  v1::ListCasesRequest req;
  req.set_area("d1-s1-c1");
  req.set_stage(stage->stage());
  v1::ListCasesResponse r;
  auto ctx = Context();
  ASSERT_TRUE(stub->ListCases(ctx.get(), req, &r).ok());
  ASSERT_EQ(r.cases_size(), 2);
  const auto all = AllAccess(engine_->access());
  ASSERT_EQ(all.size(), 1u);
  const v1::AccessRecord& a = all[0].record();
  EXPECT_EQ(a.caller(), "gridcase:person:sec-c1");
  EXPECT_EQ(a.role(), "community secretary");
  EXPECT_EQ(a.call(), "CaseService/ListCases");
  EXPECT_THAT(a.case_ids(), ElementsAre(CaseOf("d1-s1-c1-g1"), CaseOf("d1-s1-c1-g2")));
  EXPECT_EQ(a.filters().at("area"), "d1-s1-c1");
  EXPECT_EQ(a.filters().at("stage"), stage->stage());
  EXPECT_EQ(a.filters().count("assignee"), 0u);  // unset filters are left out
  EXPECT_FALSE(a.has_break_glass());
  EXPECT_GE(Micros(a.recorded_at()), clock_.NowMicros() - 60'000'000);
}

// The access log's files fail every write: no read is answered.
class UnwritableAccessLogTest : public ReadAuditTest {
 protected:
  rocksdb::Env* StorageEnv() override { return env_.get(); }
  void TearDown() override {
    ReadAuditTest::TearDown();
    server_.reset();
    engine_.reset();  // before the environment it runs on
  }
  std::shared_ptr<FaultFs> fs_ = std::make_shared<FaultFs>();
  std::unique_ptr<rocksdb::Env> env_ = EnvOver(fs_);
};

TEST_F(UnwritableAccessLogTest, NoReadIsAnsweredWithoutItsRecord) {
  fs_->Arm(AccessLogDir(dir_.Sub("data")));
  access_log_writable_ = false;
  for (const auto& r : kReaders) ChannelAs(r);
  std::mt19937 rng(7);
  int answered = 0, unavailable = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string& reader = kReaders[rng() % kReaders.size()];
    auto channel = ChannelAs(reader);
    v1::GetCaseRequest req;
    req.set_case_id(CaseOf("d1-s1-c1-g1"));
    v1::CaseState state;
    auto ctx = Context();
    const grpc::Status st = v1::CaseService::NewStub(channel)->GetCase(ctx.get(), req, &state);
    if (st.ok()) ++answered;
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE) {
      ++unavailable;
      EXPECT_THAT(st.error_message(), HasSubstr("access record could not be written"));
      EXPECT_TRUE(state.case_id().empty());
    }
    // And every other kind of read, through the random reader.
    EXPECT_EQ(RandomRead(reader, &rng), std::nullopt);
  }
  EXPECT_EQ(answered, 0);
  EXPECT_GT(unavailable, 0);
  EXPECT_GT(fs_->failures(), 0);
  // Submissions do not depend on the access log: they still succeed.
  v1::Event e = Fever("after-the-fault", CaseOf("d1-s1-c1-g1"), 37.2, clock_.NowMicros());
  e.set_grid_id("d1-s1-c1-g1");
  e.mutable_actor()->set_id("w-g1");
  v1::SubmitResponse r;
  auto ctx = Context();
  EXPECT_TRUE(v1::EventService::NewStub(ChannelAs("gridcase:person:w-g1"))
                  ->Submit(ctx.get(), Req(e), &r)
                  .ok());
  EXPECT_THAT(engine_->access().stats().failure, HasSubstr("injected fault"));
}

class BreakGlassTest : public ReadAuditTest {
 protected:
  grpc::Status GetCase(const std::string& subject, const std::string& case_id,
                       const std::string& reason, v1::CaseState* state = nullptr) {
    v1::GetCaseRequest req;
    req.set_case_id(case_id);
    req.set_break_glass_reason(reason);
    v1::CaseState ignored;
    auto ctx = Context();
    return v1::CaseService::NewStub(ChannelAs(subject))
        ->GetCase(ctx.get(), req, state ? state : &ignored);
  }

  absl::StatusOr<v1::ReadAccessResponse> ReadAccess(const std::string& subject,
                                                    v1::ReadAccessRequest req) {
    v1::ReadAccessResponse r;
    auto ctx = Context();
    const grpc::Status st =
        v1::AuditService::NewStub(ChannelAs(subject))->ReadAccess(ctx.get(), req, &r);
    if (!st.ok()) return absl::Status(absl::StatusCode(st.error_code()), st.error_message());
    return r;
  }
};

TEST_F(BreakGlassTest, AReadBeyondReachWithAReasonIsAnsweredMarkedAndTold) {
  const std::string beyond = CaseOf("d2-s1-c1-g1");
  const std::string sec = "gridcase:person:sec-c1";
  EXPECT_EQ(GetCase(sec, beyond, "").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetCase(sec, beyond, "urgent").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const grpc::Status worker = GetCase("gridcase:person:w-g1", beyond, kReason);
  EXPECT_EQ(worker.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(worker.error_message(), HasSubstr("may not break glass"));
  EXPECT_TRUE(AllAccess(engine_->access()).empty());  // nothing was read

  v1::CaseState state;
  ASSERT_TRUE(GetCase(sec, beyond, kReason, &state).ok());
  EXPECT_EQ(state.case_id(), beyond);
  const auto all = AllAccess(engine_->access());
  ASSERT_EQ(all.size(), 1u);
  const v1::AccessRecord& a = all[0].record();
  EXPECT_EQ(a.caller(), sec);
  EXPECT_THAT(a.case_ids(), ElementsAre(beyond));
  ASSERT_TRUE(a.has_break_glass());
  EXPECT_EQ(a.break_glass().reason(), kReason);
  EXPECT_THAT(a.break_glass().notified(), ElementsAre("off-d2"));  // d2's officer, not d1's

  // The officer told finds it; another district's officer does not, and
  // may not look at someone else's notices.
  v1::ReadAccessRequest mine;
  auto told = ReadAccess("gridcase:person:off-d2", mine);
  ASSERT_TRUE(told.ok()) << told.status();
  ASSERT_EQ(told->entries_size(), 1);
  EXPECT_EQ(told->entries(0).record().break_glass().reason(), kReason);
  auto other = ReadAccess("gridcase:person:off-d1", mine);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->entries_size(), 0);
  v1::ReadAccessRequest theirs;
  theirs.set_notified("off-d2");
  EXPECT_EQ(ReadAccess("gridcase:person:off-d1", theirs).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReadAccess("gridcase:person:w-g1", mine).status().code(),
            absl::StatusCode::kPermissionDenied);
  // The auditor sees every read of the case, and its own reading is
  // recorded in turn.
  v1::ReadAccessRequest of_case;
  of_case.set_case_id(beyond);
  auto audit = ReadAccess("gridcase:person:aud-1", of_case);
  ASSERT_TRUE(audit.ok()) << audit.status();
  EXPECT_EQ(audit->entries_size(), 1);
  v1::ReadAccessRequest by_auditor;
  by_auditor.set_caller("gridcase:person:aud-1");
  auto self = ReadAccess("gridcase:person:dpo-1", by_auditor);
  ASSERT_TRUE(self.ok()) << self.status();
  ASSERT_EQ(self->entries_size(), 1);
  EXPECT_EQ(self->entries(0).record().call(), "AuditService/ReadAccess");
  EXPECT_EQ(self->entries(0).record().filters().at("case_id"), beyond);
}

TEST_F(BreakGlassTest, AuditorsReadPersonalDataOnlyByBreakGlass) {
  const std::string auditor = "gridcase:person:aud-1";
  EXPECT_EQ(GetCase(auditor, CaseOf("d1-s1-c1-g1"), "").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(GetCase(auditor, CaseOf("d1-s1-c1-g1"), kReason).ok());
  v1::GetPersonRequest req;
  req.set_person_id(WorkerOf("d2-s1-c1-g1"));
  req.set_break_glass_reason(kReason);
  v1::PersonView person;
  auto ctx = Context();
  ASSERT_TRUE(
      v1::AdminService::NewStub(ChannelAs(auditor))->GetPerson(ctx.get(), req, &person).ok());
  EXPECT_EQ(person.person().person_id(), WorkerOf("d2-s1-c1-g1"));
  // A log read by break-glass reads one case, without follow.
  v1::ReadLogRequest log;
  log.set_break_glass_reason(kReason);
  auto log_ctx = Context();
  auto reader = v1::AuditService::NewStub(ChannelAs(auditor))->ReadLog(log_ctx.get(), log);
  v1::LogEntry entry;
  EXPECT_FALSE(reader->Read(&entry));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  const auto all = AllAccess(engine_->access());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_THAT(all[0].record().break_glass().notified(), ElementsAre("off-d1"));
  EXPECT_THAT(all[1].record().person_ids(), ElementsAre(WorkerOf("d2-s1-c1-g1")));
  EXPECT_THAT(all[1].record().break_glass().notified(), ElementsAre("off-d2"));
}

TEST_F(BreakGlassTest, ASearchThatFindsNothingIsRecordedAndTheHourlyAllowanceHolds) {
  const std::string sec = "gridcase:person:sec-c1";
  // Three a caller per hour (the default): a search for a case that does
  // not exist is one of them, so break-glass cannot probe for ids unseen.
  EXPECT_EQ(GetCase(sec, "case-nobody", kReason).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(GetCase(sec, CaseOf("d2-s1-c1-g1"), kReason).ok());
  EXPECT_TRUE(GetCase(sec, CaseOf("d1-s2-c1-g1"), kReason).ok());
  const grpc::Status over = GetCase(sec, CaseOf("d1-s2-c1-g1"), kReason);
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(over.error_message(), HasSubstr("3 break-glass reads in the last hour"));
  // Ordinary reads within reach go on; another caller has an allowance of
  // its own.
  EXPECT_TRUE(GetCase(sec, CaseOf("d1-s1-c1-g1"), "").ok());
  EXPECT_TRUE(GetCase("gridcase:person:off-s1", CaseOf("d2-s1-c1-g1"), kReason).ok());

  v1::ReadAccessRequest glass;
  glass.set_break_glass_only(true);
  auto listed = ReadAccess("gridcase:person:aud-1", glass);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->entries_size(), 4);
  const v1::AccessRecord& search = listed->entries(0).record();
  EXPECT_EQ(search.case_count(), 0u);
  EXPECT_EQ(search.filters().at("case_id"), "case-nobody");
  EXPECT_TRUE(search.break_glass().notified().empty());  // no district to tell
}

}  // namespace
}  // namespace gridcase::testing

// Break-glass at the gate, in process: who may ask, how long a reason must
// be, one call at a time per caller (held until the call's record is
// durable, or else until the last copy of the admission is gone), the
// hourly allowance, and what an admitted call then reaches; and an
// application's submission limit of its own.
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/domain/directory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/security/gate.h"

namespace gridcase::security {
namespace {

using ::testing::HasSubstr;

constexpr char kGetCase[] = "/gridcase.v1.CaseService/GetCase";
constexpr char kListCases[] = "/gridcase.v1.CaseService/ListCases";
constexpr char kReason[] = "fever reported by a neighbour; the grid's worker is unreachable";

void AddUnit(Directory* d, const std::string& id, v1::UnitLevel level, const std::string& parent) {
  v1::DirectoryEntry e;
  e.mutable_unit()->set_unit_id(id);
  e.mutable_unit()->set_level(level);
  e.mutable_unit()->set_parent_id(parent);
  d->Apply(e, 1);
}

void AddPerson(Directory* d, const std::string& id, v1::Role role, const std::string& unit) {
  v1::DirectoryEntry e;
  e.mutable_person()->set_person_id(id);
  e.mutable_person()->set_role(role);
  e.mutable_person()->set_unit_id(unit);
  d->Apply(e, 1);
}

class BreakGlassGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddUnit(&directory_, "d1", v1::UNIT_LEVEL_DISTRICT, "");
    AddUnit(&directory_, "d1-s1", v1::UNIT_LEVEL_STREET, "d1");
    AddUnit(&directory_, "d1-s1-c1", v1::UNIT_LEVEL_COMMUNITY, "d1-s1");
    AddUnit(&directory_, "d1-s1-c1-g1", v1::UNIT_LEVEL_GRID, "d1-s1-c1");
    AddUnit(&directory_, "d2", v1::UNIT_LEVEL_DISTRICT, "");
    AddPerson(&directory_, "sec-1", v1::ROLE_COMMUNITY_SECRETARY, "d1-s1-c1");
    AddPerson(&directory_, "w-1", v1::ROLE_GRID_WORKER, "d1-s1-c1-g1");
    GateOptions options;
    options.break_glass_per_hour = 2;
    // The access log's count, stood in for by the test: the gate only asks.
    options.break_glass_last_hour = [this](const std::string& caller) -> absl::StatusOr<size_t> {
      asked_.push_back(caller);
      return used_;
    };
    gate_.emplace(&directory_, std::move(options));
  }

  absl::StatusOr<Admission> Admit(const std::string& person, const char* method = kGetCase,
                                  absl::string_view reason = kReason) {
    return gate_->AdmitSubject(absl::StrCat("gridcase:person:", person), method, reason);
  }

  Directory directory_;
  std::optional<Gate> gate_;
  size_t used_ = 0;
  std::vector<std::string> asked_;
};

TEST_F(BreakGlassGateTest, AnAdmittedCallReachesBeyondTheCallersUnitsAndCarriesItsReason) {
  auto ordinary = Admit("sec-1", kGetCase, "");
  ASSERT_TRUE(ordinary.ok()) << ordinary.status();
  EXPECT_FALSE(ordinary->break_glass());
  EXPECT_FALSE(ordinary->Reaches("d2"));
  auto glass = Admit("sec-1");
  ASSERT_TRUE(glass.ok()) << glass.status();
  EXPECT_TRUE(glass->break_glass());
  EXPECT_EQ(glass->break_glass_reason(), kReason);
  EXPECT_TRUE(glass->Reaches("d2"));
  EXPECT_EQ(asked_, std::vector<std::string>{"gridcase:person:sec-1"});
}

TEST_F(BreakGlassGateTest, ARoleTheTableDoesNotLetIsRefused) {
  auto worker = Admit("w-1");
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(worker.status().message()), HasSubstr("may not break glass"));
  // Listings are never read by break-glass, whoever asks.
  EXPECT_EQ(Admit("sec-1", kListCases).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(asked_.empty());  // refused before anything was counted
}

TEST_F(BreakGlassGateTest, AReasonMustSayWhyIn20To500Characters) {
  EXPECT_EQ(Admit("sec-1", kGetCase, "urgent").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(Admit("sec-1", kGetCase, "urgent").status().message()),
              HasSubstr("20 to 500 characters"));
  EXPECT_EQ(Admit("sec-1", kGetCase, std::string(501, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Admit("sec-1", kGetCase, std::string(500, 'x')).ok());
  // Characters, not bytes: ten Chinese characters are 30 bytes and too few;
  // twenty are enough.
  std::string ten, twenty;
  for (int i = 0; i < 10; ++i) ten += "发";
  for (int i = 0; i < 20; ++i) twenty += "热";
  EXPECT_EQ(Admit("sec-1", kGetCase, ten).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Admit("sec-1", kGetCase, twenty).ok());
}

TEST_F(BreakGlassGateTest, OneCallAtATimeUntilTheLastCopyOfTheAdmissionIsGone) {
  auto first = Admit("sec-1");
  ASSERT_TRUE(first.ok());
  auto second = Admit("sec-1");
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("one call at a time"));
  {
    std::optional<Admission> copy = *first;  // e.g. captured by a worker thread
    first = absl::UnknownError("dropped");
    EXPECT_FALSE(Admit("sec-1").ok());  // the copy still holds it
  }
  EXPECT_TRUE(Admit("sec-1").ok());
}

TEST_F(BreakGlassGateTest, EndingTheCallReleasesItWhateverCopiesRemain) {
  // The record is durable before the caller hears; copies captured by
  // threads still unwinding must not refuse the caller's next call.
  auto first = Admit("sec-1");
  ASSERT_TRUE(first.ok());
  const Admission copy = *first;
  EXPECT_FALSE(Admit("sec-1").ok());
  copy.EndBreakGlass();
  auto next = Admit("sec-1");
  EXPECT_TRUE(next.ok()) << next.status();
  first->EndBreakGlass();  // a second end changes nothing: `next` holds
  EXPECT_EQ(Admit("sec-1").status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(BreakGlassGateTest, TheHourlyAllowanceIsCountedFromTheLog) {
  used_ = 1;
  EXPECT_TRUE(Admit("sec-1").ok());
  used_ = 2;
  auto over = Admit("sec-1");
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.status().message()),
              HasSubstr("2 break-glass reads in the last hour"));
  // A failed count fails the call: the allowance is never assumed.
  GateOptions broken;
  broken.break_glass_last_hour = [](const std::string&) -> absl::StatusOr<size_t> {
    return absl::UnavailableError("access log: reading an index: IO error");
  };
  Gate gate(&directory_, std::move(broken));
  EXPECT_EQ(gate.AdmitSubject("gridcase:person:sec-1", kGetCase, kReason).status().code(),
            absl::StatusCode::kUnavailable);
  // Without a counter (no access log) there is no break-glass.
  Gate bare(&directory_, GateOptions{});
  EXPECT_EQ(bare.AdmitSubject("gridcase:person:sec-1", kGetCase, kReason).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Not break-glass, but the gate alone too: an application's submission
// limit of its own comes from the principals file to its principal (the
// limit itself: rate_limit_test.cc; over the wire: access_test.cc).
TEST(GateLimitTest, AnApplicationsOwnSubmissionLimitReachesItsPrincipal) {
  Directory directory;
  auto file = PrincipalsFile::Parse(R"({"applications": [
      {"id": "feed", "units": ["*"], "acts_for_people": true, "submits_per_second": 30},
      {"id": "bulk", "units": ["*"], "submits_per_second": 0},
      {"id": "triage", "units": ["*"]}]})");
  ASSERT_TRUE(file.ok()) << file.status();
  GateOptions options;
  options.principals = std::move(*file);
  Gate gate(&directory, std::move(options));
  EXPECT_EQ(gate.Resolve("gridcase:app:feed")->submits_per_s, 30);
  EXPECT_EQ(gate.Resolve("gridcase:app:bulk")->submits_per_s, 0);
  EXPECT_LT(gate.Resolve("gridcase:app:triage")->submits_per_s, 0);  // the server's

  for (const char* bad : {R"({"applications": [{"id": "a", "units": ["*"],
                                                  "submits_per_second": -1}]})",
                          R"({"applications": [{"id": "a", "units": ["*"],
                                                  "submits_per_second": "fast"}]})"}) {
    auto refused = PrincipalsFile::Parse(bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("submits_per_second"));
  }
}

}  // namespace
}  // namespace gridcase::security

// Page tokens over the wire (mutual TLS, a real engine): a token a caller
// was given pages on for that caller and those filters only; another
// caller with the same reach, other filters, another case or the engine's
// own cursor are refused INVALID_ARGUMENT, for every paged call.
#include <set>

#include "gmock/gmock.h"
#include "tests/integration/access_fixture.h"

namespace gridcase::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kNotIssued[] = "not one this server issued to this caller for this request";

class PageTokenTest : public AccessTest {
 protected:
  grpc::Status List(const std::string& subject, const v1::ListCasesRequest& req,
                    v1::ListCasesResponse* out) {
    auto ctx = Context();
    return v1::CaseService::NewStub(ChannelAs(subject))->ListCases(ctx.get(), req, out);
  }
  grpc::Status Timeline(const std::string& subject, const v1::GetTimelineRequest& req,
                        v1::GetTimelineResponse* out) {
    auto ctx = Context();
    return v1::CaseService::NewStub(ChannelAs(subject))->GetTimeline(ctx.get(), req, out);
  }
  grpc::Status Access(const std::string& subject, const v1::ReadAccessRequest& req,
                      v1::ReadAccessResponse* out) {
    auto ctx = Context();
    return v1::AuditService::NewStub(ChannelAs(subject))->ReadAccess(ctx.get(), req, out);
  }
};

void ExpectNotIssued(const grpc::Status& st, const std::string& what) {
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << what;
  EXPECT_THAT(st.error_message(), HasSubstr(kNotIssued)) << what;
}

TEST_F(PageTokenTest, AListingsTokenPagesOnForItsCallerAndFiltersOnly) {
  const std::string sec = "gridcase:person:sec-c1";
  v1::ListCasesRequest req;
  req.set_area("d1-s1-c1");
  req.set_page_size(1);
  std::set<std::string> seen;
  std::string first_token;
  for (int page = 0; page < 10; ++page) {
    v1::ListCasesResponse resp;
    ASSERT_TRUE(List(sec, req, &resp).ok());
    for (const auto& c : resp.cases()) seen.insert(c.case_id());
    if (first_token.empty()) first_token = resp.next_page_token();
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  EXPECT_EQ(seen, (std::set<std::string>{CaseOf("d1-s1-c1-g1"), CaseOf("d1-s1-c1-g2")}));
  ASSERT_FALSE(first_token.empty());

  v1::ListCasesRequest replay;
  replay.set_area("d1-s1-c1");
  replay.set_page_token(first_token);
  v1::ListCasesResponse resp;
  ASSERT_TRUE(List(sec, replay, &resp).ok()) << "the same caller and filters page on";
  ASSERT_EQ(resp.cases_size(), 1);
  EXPECT_EQ(resp.cases(0).case_id(), CaseOf("d1-s1-c1-g2"));

  // The application reaches the same community; the token is not its own.
  ExpectNotIssued(List("gridcase:app:triage", replay, &resp), "another caller");
  v1::ListCasesRequest other = replay;
  other.set_area("d1-s1-c1-g2");
  ExpectNotIssued(List(sec, other, &resp), "a narrower area");
  other = replay;
  other.set_stage("isolation");
  ExpectNotIssued(List(sec, other, &resp), "another filter");
  other = replay;
  other.set_page_token("c" + CaseOf("d1-s1-c1-g1"));
  ExpectNotIssued(List(sec, other, &resp), "the engine's plain cursor");
}

TEST_F(PageTokenTest, ATimelinesTokenPagesOnThroughItsCaseOnly) {
  const std::string one = CaseOf("d1-s1-c1-g1");
  v1::Event more = Fever("second-reading", one, 38.2, clock_.NowMicros());
  more.set_grid_id("d1-s1-c1-g1");
  more.mutable_actor()->set_id(WorkerOf("d1-s1-c1-g1"));
  ASSERT_TRUE(SubmitSync(*engine_, Req(more)).ok());

  const std::string sec = "gridcase:person:sec-c1";
  v1::GetTimelineRequest req;
  req.set_case_id(one);
  req.set_page_size(1);
  v1::GetTimelineResponse first;
  ASSERT_TRUE(Timeline(sec, req, &first).ok());
  ASSERT_EQ(first.records_size(), 1);
  ASSERT_FALSE(first.next_page_token().empty());

  req.set_page_token(first.next_page_token());
  v1::GetTimelineResponse second;
  ASSERT_TRUE(Timeline(sec, req, &second).ok());
  ASSERT_GE(second.records_size(), 1);
  EXPECT_EQ(second.records(0).case_version(), first.records(0).case_version() + 1);

  ExpectNotIssued(Timeline("gridcase:app:triage", req, &second), "another caller");
  v1::GetTimelineRequest other = req;
  other.set_case_id(CaseOf("d1-s1-c1-g2"));
  ExpectNotIssued(Timeline(sec, other, &second), "another case");
  other = req;
  other.set_page_token("v1");
  ExpectNotIssued(Timeline(sec, other, &second), "the engine's plain cursor");
}

TEST_F(PageTokenTest, AnAccessLogTokenPagesOnForItsAuditorOnly) {
  // Reads to page through: each GetCase leaves one access record.
  for (const char* g : {"d1-s1-c1-g1", "d1-s1-c1-g2", "d1-s2-c1-g1"}) {
    v1::GetCaseRequest get;
    get.set_case_id(CaseOf(g));
    v1::CaseState state;
    auto ctx = Context();
    ASSERT_TRUE(v1::CaseService::NewStub(ChannelAs("gridcase:person:off-d1"))
                    ->GetCase(ctx.get(), get, &state)
                    .ok());
  }
  const std::string auditor = "gridcase:person:aud-1";
  v1::ReadAccessRequest req;
  req.set_caller("gridcase:person:off-d1");
  req.set_page_size(2);
  v1::ReadAccessResponse first;
  ASSERT_TRUE(Access(auditor, req, &first).ok());
  ASSERT_EQ(first.entries_size(), 2);
  ASSERT_FALSE(first.next_page_token().empty());

  req.set_page_token(first.next_page_token());
  v1::ReadAccessResponse second;
  ASSERT_TRUE(Access(auditor, req, &second).ok());
  ASSERT_GE(second.entries_size(), 1);
  EXPECT_GT(second.entries(0).record().position(), first.entries(1).record().position());

  ExpectNotIssued(Access("gridcase:person:dpo-1", req, &second), "another caller");
  v1::ReadAccessRequest other = req;
  other.set_caller("gridcase:person:sec-c1");
  ExpectNotIssued(Access(auditor, other, &second), "another caller asked about");
  other = req;
  other.set_page_token("1");
  ExpectNotIssued(Access(auditor, other, &second), "the access log's plain position");
}

}  // namespace
}  // namespace gridcase::testing

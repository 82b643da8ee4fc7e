// AdminService.ErasePerson over mutual TLS on a loopback port: only a
// privacy officer erases; bad requests are refused with nothing written;
// afterwards every read of the case's contents answers NOT_FOUND "erased at
// position P" to those who may see the case, and "does not exist" to those
// who may not; the case takes no more events; erasing again answers the
// first erasure; and the chain still verifies. A person of the directory
// is erased the same way.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/access_fixture.h"

namespace gridcase::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kGrid[] = "d1-s1-c1-g1";
constexpr char kReason[] = "the resident withdrew consent after moving away";
constexpr char kBasis[] = "PIPL art. 47(1)";

class ErasureServiceTest : public AccessTest {
 protected:
  grpc::Status Erase(const std::string& subject, const std::string& case_id,
                     const std::string& reason, const std::string& basis,
                     v1::ErasePersonResponse* response) {
    v1::ErasePersonRequest req;
    req.set_case_id(case_id);
    req.set_reason(reason);
    req.set_legal_basis(basis);
    auto ctx = Context();
    return v1::AdminService::NewStub(ChannelAs(subject))->ErasePerson(ctx.get(), req, response);
  }

  uint64_t RecordsWritten() const {
    uint64_t n = 0;
    for (const auto& p : engine_->Stats()) n += p.records;
    return n;
  }
};

TEST_F(ErasureServiceTest, OnlyAPrivacyOfficerErasesAndEveryReadThenSaysSo) {
  const std::string case_id = CaseOf(kGrid);
  v1::Event note = NoteEvent("note-1", case_id, "coughs at night, lives with grandmother");
  note.set_grid_id(kGrid);
  note.mutable_actor()->set_id("w-g1");
  ASSERT_TRUE(SubmitSync(*engine_, Req(note)).ok());

  // Before: the worker reads the note.
  {
    v1::GetTimelineRequest req;
    req.set_case_id(case_id);
    v1::GetTimelineResponse r;
    auto ctx = Context();
    ASSERT_TRUE(v1::CaseService::NewStub(ChannelAs("gridcase:person:w-g1"))
                    ->GetTimeline(ctx.get(), req, &r)
                    .ok());
    int notes = 0;
    for (const v1::Record& record : r.records()) {
      if (!record.event().has_note()) continue;
      ++notes;
      EXPECT_EQ(record.event().note().text(), "coughs at night, lives with grandmother");
      EXPECT_FALSE(record.has_sealed());  // opened for the reader
    }
    EXPECT_EQ(notes, 1);
  }
  // And as it stood: the audit view opens the sealed records too.
  {
    v1::GetCaseAsOfRequest req;
    req.set_case_id(case_id);
    req.mutable_known_at()->set_seconds(clock_.NowMicros() / 1'000'000 + 60);
    v1::GetCaseAsOfResponse view;
    auto ctx = Context();
    ASSERT_TRUE(v1::AuditService::NewStub(ChannelAs("gridcase:person:w-g1"))
                    ->GetCaseAsOf(ctx.get(), req, &view)
                    .ok());
    int notes = 0;
    for (const v1::Record& record : view.records()) {
      notes += record.event().note().text() == "coughs at night, lives with grandmother";
    }
    EXPECT_EQ(notes, 1);
  }

  // Everyone else is refused, and nothing is written.
  const uint64_t before = RecordsWritten();
  for (const char* subject :
       {"gridcase:person:w-g1", "gridcase:person:sec-c1", "gridcase:person:off-d1",
        "gridcase:app:triage", "gridcase:person:ops-1", "gridcase:person:aud-1"}) {
    v1::ErasePersonResponse r;
    const grpc::Status st = Erase(subject, case_id, kReason, kBasis, &r);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << subject;
  }
  // The privacy officer's bad requests too.
  const std::string officer = "gridcase:person:dpo-1";
  v1::ErasePersonResponse r;
  grpc::Status st = Erase(officer, case_id, "asked to", kBasis, &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("reason"));
  st = Erase(officer, case_id, kReason, "", &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("legal_basis"));
  st = Erase(officer, "case-that-never-was", kReason, kBasis, &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(RecordsWritten(), before);

  // The erasure.
  st = Erase(officer, case_id, kReason, kBasis, &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(r.duplicate());
  const uint64_t position = r.position();
  ASSERT_GT(position, 0u);
  const std::string erased = absl::StrCat("case ", case_id, " was erased at position ", position);

  // Again: the first erasure's answer.
  v1::ErasePersonResponse again;
  ASSERT_TRUE(Erase(officer, case_id, kReason, kBasis, &again).ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.position(), position);
  EXPECT_EQ(again.partition(), r.partition());

  // Reads of the case by those who may see it.
  auto worker = ChannelAs("gridcase:person:w-g1");
  {
    v1::GetCaseRequest req;
    req.set_case_id(case_id);
    v1::CaseState state;
    auto ctx = Context();
    st = v1::CaseService::NewStub(worker)->GetCase(ctx.get(), req, &state);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(st.error_message(), erased);
  }
  {
    v1::GetTimelineRequest req;
    req.set_case_id(case_id);
    v1::GetTimelineResponse timeline;
    auto ctx = Context();
    st = v1::CaseService::NewStub(worker)->GetTimeline(ctx.get(), req, &timeline);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(st.error_message(), erased);
  }
  {
    v1::GetCaseAsOfRequest req;
    req.set_case_id(case_id);
    req.mutable_known_at()->set_seconds(clock_.NowMicros() / 1'000'000 + 60);
    v1::GetCaseAsOfResponse view;
    auto ctx = Context();
    st = v1::AuditService::NewStub(worker)->GetCaseAsOf(ctx.get(), req, &view);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(st.error_message(), erased);
  }
  // A caller beyond the case's grid learns nothing, not even the erasure.
  {
    v1::GetCaseRequest req;
    req.set_case_id(case_id);
    v1::CaseState state;
    auto ctx = Context();
    st = v1::CaseService::NewStub(ChannelAs("gridcase:person:off-d2"))
             ->GetCase(ctx.get(), req, &state);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(st.error_message(), absl::StrCat("case ", case_id, " does not exist"));
  }
  // No more events.
  {
    v1::Event late = Fever("after-erasure", case_id, 37.9, clock_.NowMicros());
    late.set_grid_id(kGrid);
    late.mutable_actor()->set_id("w-g1");
    v1::SubmitResponse resp;
    auto ctx = Context();
    st = v1::EventService::NewStub(worker)->Submit(ctx.get(), Req(late), &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(st.error_message(), HasSubstr(erased));
  }
  // The auditor's verification: every chain still holds.
  {
    v1::VerifyLogRequest req;
    v1::VerifyLogResponse verified;
    auto ctx = Context();
    st = v1::AuditService::NewStub(ChannelAs("gridcase:person:aud-1"))
             ->VerifyLog(ctx.get(), req, &verified);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_TRUE(verified.intact());
  }
  // The other cases are untouched.
  {
    v1::GetCaseRequest req;
    req.set_case_id(CaseOf("d1-s1-c1-g2"));
    v1::CaseState state;
    auto ctx = Context();
    st = v1::CaseService::NewStub(ChannelAs("gridcase:person:sec-c1"))
             ->GetCase(ctx.get(), req, &state);
    EXPECT_TRUE(st.ok()) << st.error_message();
  }
}

// A person of the directory: erased by person_id, by the privacy officer
// alone; GetPerson then shows id, role and unit with the name gone and
// where it went; the person still holds their role.
TEST_F(ErasureServiceTest, APersonOfTheDirectoryIsErasedByTheOfficerAlone) {
  auto erase_person = [&](const std::string& subject, const std::string& person_id,
                          v1::ErasePersonResponse* response) {
    v1::ErasePersonRequest req;
    req.set_person_id(person_id);
    req.set_reason("the cadre returned to their unit and asked for erasure");
    req.set_legal_basis(kBasis);
    auto ctx = Context();
    return v1::AdminService::NewStub(ChannelAs(subject))->ErasePerson(ctx.get(), req, response);
  };
  auto get_person = [&](const std::string& person_id, v1::PersonView* view) {
    v1::GetPersonRequest req;
    req.set_person_id(person_id);
    auto ctx = Context();
    return v1::AdminService::NewStub(ChannelAs("gridcase:person:sec-c1"))
        ->GetPerson(ctx.get(), req, view);
  };
  v1::PersonView view;
  ASSERT_TRUE(get_person("k-g1", &view).ok());
  EXPECT_EQ(view.person().name(), "name of k-g1");
  EXPECT_EQ(view.erased_at(), 0u);

  const uint64_t before = RecordsWritten();
  v1::ErasePersonResponse r;
  for (const char* subject : {"gridcase:person:sec-c1", "gridcase:person:off-d1",
                              "gridcase:app:triage", "gridcase:person:ops-1"}) {
    EXPECT_EQ(erase_person(subject, "k-g1", &r).error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << subject;
  }
  const std::string officer = "gridcase:person:dpo-1";
  grpc::Status st = erase_person(officer, "nobody-at-all", &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "person nobody-at-all does not exist");
  {
    v1::ErasePersonRequest both;
    both.set_person_id("k-g1");
    both.set_case_id(CaseOf(kGrid));
    both.set_reason(kReason);
    both.set_legal_basis(kBasis);
    auto ctx = Context();
    st = v1::AdminService::NewStub(ChannelAs(officer))->ErasePerson(ctx.get(), both, &r);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(RecordsWritten(), before);

  st = erase_person(officer, "k-g1", &r);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(r.duplicate());
  v1::ErasePersonResponse again;
  ASSERT_TRUE(erase_person(officer, "k-g1", &again).ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.position(), r.position());

  ASSERT_TRUE(get_person("k-g1", &view).ok());
  EXPECT_EQ(view.person().name(), "");
  EXPECT_EQ(view.person().role(), v1::ROLE_CADRE);
  EXPECT_EQ(view.person().unit_id(), "d1-s1-c1-g1");
  EXPECT_EQ(view.erased_at(), r.position());
  ASSERT_TRUE(get_person("w-g1", &view).ok());
  EXPECT_EQ(view.person().name(), "name of w-g1");
}

}  // namespace
}  // namespace gridcase::testing

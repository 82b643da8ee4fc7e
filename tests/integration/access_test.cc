// Who may call what, over real loopback sockets with mutual TLS: every role
// (a certificate each) × every RPC of the gridcase.v1 services × a target
// in the caller's own unit, below it, in a sibling unit and in another
// district, plus a caller with no certificate, against a table of expected
// answers written here by hand. Also: actors bound to principals, and the
// refusals' wording.
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/common/clock.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/api/server.h"
#include "services/security/permissions.h"
#include "services/security/tls.h"
#include "services/security/token.h"
#include "tests/integration/access_fixture.h"
#include "tests/support/certs.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The expected answers. One row per RPC; one letter per caller, in the
// order of kCallers: s = within the caller's units only, e = everywhere,
// n = refused (PERMISSION_DENIED), whatever the target.
constexpr const char* kExpected[][2] = {
    {"EventService/Submit", "ssssssnnn"},
    {"EventService/SubmitStream", "ssssssnnn"},
    {"CaseService/GetCase", "ssssssnnn"},
    {"CaseService/GetTimeline", "ssssssnnn"},
    {"CaseService/ListCases", "ssssssnnn"},
    {"AdminService/DeployWorkflow", "nnnnnnenn"},
    {"AdminService/ListWorkflows", "eeeeeeeee"},
    {"AdminService/GetWorkflow", "eeeeeeeee"},
    {"AdminService/ImportDirectory", "nnnnnnenn"},
    {"AdminService/GetPerson", "ssssssnnn"},
    {"AdminService/GetUnit", "ssssssnnn"},
    {"AdminService/GetWorkload", "sssssnnnn"},
    {"AdminService/GetStaffingReport", "sssssnnnn"},
    {"AdminService/GetKafkaStatus", "nnnnnnenn"},
    {"AdminService/GetServerStats", "nnnnnnenn"},
    {"AdminService/ErasePerson", "nnnnnnnne"},
    {"AdminService/AcceptClock", "nnnnnnenn"},
    {"AdminService/Backup", "nnnnnnenn"},
    {"AuditService/ReadLog", "ssssssnnn"},
    {"AuditService/Checkpoint", "nnnnnnenn"},
    {"AuditService/VerifyLog", "nnnnnneee"},
    {"AuditService/GetCaseAsOf", "ssssssnnn"},
    // District officers: only the break-glass reads they were told of,
    // whatever they ask.
    {"AuditService/ReadAccess", "nnnnennee"},
};

// The callers, their certificates' subjects, and the units (each a grid's
// ancestor or the grid itself) of their four targets: own, below, sibling,
// other district.
struct Caller {
  const char* name;
  const char* subject;
  const char* targets[4];
};
constexpr Caller kCallers[] = {
    {"grid worker",
     "gridcase:person:w-g1",
     {"d1-s1-c1-g1", "d1-s1-c1-g1", "d1-s1-c1-g2", "d2-s1-c1-g1"}},
    {"cadre", "gridcase:person:k-g1", {"d1-s1-c1-g1", "d1-s1-c1-g1", "d1-s1-c1-g2", "d2-s1-c1-g1"}},
    {"community secretary",
     "gridcase:person:sec-c1",
     {"d1-s1-c1", "d1-s1-c1-g2", "d1-s1-c2", "d2-s1-c1"}},
    {"street officer", "gridcase:person:off-s1", {"d1-s1", "d1-s1-c2-g1", "d1-s2", "d2-s1"}},
    {"district officer", "gridcase:person:off-d1", {"d1", "d1-s2-c1-g1", "d2", "d2"}},
    {"application", "gridcase:app:triage", {"d1-s1-c1", "d1-s1-c1-g2", "d1-s1-c2", "d2-s1-c1"}},
    {"operator", "gridcase:person:ops-1", {"d1", "d1-s1-c1-g1", "d2", "d2-s1-c1-g1"}},
    {"auditor", "gridcase:person:aud-1", {"d1", "d1-s1-c1-g1", "d2", "d2-s1-c1-g1"}},
    {"privacy officer", "gridcase:person:dpo-1", {"d1", "d1-s1-c1-g1", "d2", "d2-s1-c1-g1"}},
};
constexpr const char* kTargetNames[] = {"own unit", "below", "sibling", "other district"};

// Single reads answer a target beyond reach as if it did not exist.
const std::set<std::string> kSingleReads = {"CaseService/GetCase",      "CaseService/GetTimeline",
                                            "AuditService/GetCaseAsOf", "AuditService/ReadLog",
                                            "AdminService/GetPerson",   "AdminService/GetUnit",
                                            "AdminService/GetWorkload"};

class AccessMatrixTest : public AccessTest {
 protected:
  // Calls `rpc` as `subject` on the target unit `unit`; the answer's code.
  grpc::StatusCode Call(const std::string& rpc, const std::string& subject,
                        const std::string& unit) {
    auto channel = ChannelAs(subject);
    const std::string grid = GridUnder(unit);
    const std::string me = IdOf(subject);
    auto ctx = Context();
    if (rpc == "EventService/Submit" || rpc == "EventService/SubmitStream") {
      v1::Event e =
          Fever(absl::StrCat("matrix-", ++submitted_), CaseOf(grid), 36.8, clock_.NowMicros());
      e.set_grid_id(grid);
      // The caller's own identity, claiming nothing more.
      e.mutable_actor()->set_id(me);
      e.mutable_actor()->clear_role();
      e.mutable_actor()->clear_kind();
      auto stub = v1::EventService::NewStub(channel);
      if (rpc == "EventService/Submit") {
        v1::SubmitResponse r;
        return stub->Submit(ctx.get(), Req(e), &r).error_code();
      }
      auto stream = stub->SubmitStream(ctx.get());
      v1::StreamSubmitRequest req;
      auto* one = req.add_submissions();
      one->set_request_id(1);
      *one->mutable_submit() = Req(e);
      stream->Write(req);
      stream->WritesDone();
      v1::StreamSubmitResponse answers;
      grpc::StatusCode answered = grpc::StatusCode::UNKNOWN;
      while (stream->Read(&answers)) {
        for (const auto& a : answers.answers()) {
          answered = a.has_accepted() ? grpc::StatusCode::OK
                                      : static_cast<grpc::StatusCode>(a.refused().code());
        }
      }
      const grpc::Status end = stream->Finish();
      return end.ok() ? answered : end.error_code();
    }
    if (rpc.rfind("CaseService/", 0) == 0) {
      auto stub = v1::CaseService::NewStub(channel);
      if (rpc == "CaseService/GetCase") {
        v1::GetCaseRequest req;
        req.set_case_id(CaseOf(grid));
        v1::CaseState r;
        return stub->GetCase(ctx.get(), req, &r).error_code();
      }
      if (rpc == "CaseService/GetTimeline") {
        v1::GetTimelineRequest req;
        req.set_case_id(CaseOf(grid));
        v1::GetTimelineResponse r;
        return stub->GetTimeline(ctx.get(), req, &r).error_code();
      }
      v1::ListCasesRequest req;
      req.set_area(unit);
      v1::ListCasesResponse r;
      return stub->ListCases(ctx.get(), req, &r).error_code();
    }
    if (rpc.rfind("AuditService/", 0) == 0) return CallAudit(rpc, channel, grid, ctx.get());
    return CallAdmin(rpc, channel, unit, grid, me, ctx.get());
  }

  grpc::StatusCode CallAudit(const std::string& rpc, std::shared_ptr<grpc::Channel> channel,
                             const std::string& grid, grpc::ClientContext* ctx) {
    auto stub = v1::AuditService::NewStub(channel);
    if (rpc == "AuditService/ReadLog") {
      v1::ReadLogRequest req;
      req.set_case_id(CaseOf(grid));
      auto reader = stub->ReadLog(ctx, req);
      v1::LogEntry entry;
      while (reader->Read(&entry)) {
      }
      return reader->Finish().error_code();
    }
    if (rpc == "AuditService/Checkpoint") {
      v1::CheckpointRequest req;
      req.set_name(absl::StrCat("matrix-", ++submitted_));
      v1::CheckpointResponse r;
      return stub->Checkpoint(ctx, req, &r).error_code();
    }
    if (rpc == "AuditService/VerifyLog") {
      v1::VerifyLogResponse r;
      return stub->VerifyLog(ctx, {}, &r).error_code();
    }
    if (rpc == "AuditService/ReadAccess") {
      v1::ReadAccessRequest req;
      req.set_case_id(CaseOf(grid));
      v1::ReadAccessResponse r;
      return stub->ReadAccess(ctx, req, &r).error_code();
    }
    v1::GetCaseAsOfRequest req;
    req.set_case_id(CaseOf(grid));
    req.set_position(1'000'000);
    v1::GetCaseAsOfResponse r;
    return stub->GetCaseAsOf(ctx, req, &r).error_code();
  }

  grpc::StatusCode CallAdmin(const std::string& rpc, std::shared_ptr<grpc::Channel> channel,
                             const std::string& unit, const std::string& grid,
                             const std::string& me, grpc::ClientContext* ctx) {
    auto stub = v1::AdminService::NewStub(channel);
    v1::Actor actor;
    actor.set_id(me);
    if (rpc == "AdminService/DeployWorkflow") {
      v1::DeployWorkflowRequest req;
      req.set_source(ReadFile(ShippedWorkflowDir() + "/help-request.textproto"));
      req.set_file_name("help-request.textproto");
      *req.mutable_actor() = actor;
      v1::DeployWorkflowResponse r;
      return stub->DeployWorkflow(ctx, req, &r).error_code();
    }
    if (rpc == "AdminService/ListWorkflows") {
      v1::ListWorkflowsResponse r;
      return stub->ListWorkflows(ctx, {}, &r).error_code();
    }
    if (rpc == "AdminService/GetWorkflow") {
      v1::GetWorkflowRequest req;
      req.set_name("help-request");
      v1::WorkflowDefinition r;
      return stub->GetWorkflow(ctx, req, &r).error_code();
    }
    if (rpc == "AdminService/ImportDirectory") {
      v1::ImportDirectoryRequest req;
      *req.add_entries() = Unit("d2", v1::UNIT_LEVEL_DISTRICT);
      req.set_import_id(absl::StrCat("matrix-", ++submitted_));
      *req.mutable_actor() = actor;
      v1::ImportDirectoryResponse r;
      return stub->ImportDirectory(ctx, req, &r).error_code();
    }
    if (rpc == "AdminService/GetPerson") {
      v1::GetPersonRequest req;
      req.set_person_id(WorkerOf(grid));
      v1::PersonView r;
      return stub->GetPerson(ctx, req, &r).error_code();
    }
    if (rpc == "AdminService/GetUnit") {
      v1::GetUnitRequest req;
      req.set_unit_id(unit);
      v1::UnitView r;
      return stub->GetUnit(ctx, req, &r).error_code();
    }
    if (rpc == "AdminService/GetWorkload") {
      v1::GetWorkloadRequest req;
      req.set_person_id(WorkerOf(grid));
      v1::Workload r;
      return stub->GetWorkload(ctx, req, &r).error_code();
    }
    if (rpc == "AdminService/GetStaffingReport") {
      v1::StaffingReportRequest req;
      req.set_area(unit);
      v1::StaffingReport r;
      return stub->GetStaffingReport(ctx, req, &r).error_code();
    }
    if (rpc == "AdminService/GetKafkaStatus") {
      v1::KafkaStatus r;
      return stub->GetKafkaStatus(ctx, {}, &r).error_code();
    }
    if (rpc == "AdminService/ErasePerson") {
      // A reason too short to be one: past the gate, refused before
      // anything is erased.
      v1::ErasePersonRequest req;
      req.set_case_id(CaseOf(grid));
      req.set_reason("because");
      req.set_legal_basis("matrix");
      v1::ErasePersonResponse r;
      return stub->ErasePerson(ctx, req, &r).error_code();
    }
    if (rpc == "AdminService/AcceptClock") {
      // No jump stands: past the gate, FAILED_PRECONDITION.
      v1::AcceptClockResponse r;
      return stub->AcceptClock(ctx, {}, &r).error_code();
    }
    if (rpc == "AdminService/Backup") {
      // A relative target: past the gate, INVALID_ARGUMENT before anything
      // is copied.
      v1::BackupRequest req;
      req.set_to("relative/backups");
      auto stream = stub->Backup(ctx, req);
      v1::BackupProgress p;
      while (stream->Read(&p)) {
      }
      return stream->Finish().error_code();
    }
    v1::ServerStats r;
    return stub->GetServerStats(ctx, {}, &r).error_code();
  }
};

bool PassedTheGate(grpc::StatusCode code) {
  return code != grpc::StatusCode::PERMISSION_DENIED && code != grpc::StatusCode::UNAUTHENTICATED &&
         code != grpc::StatusCode::NOT_FOUND && code != grpc::StatusCode::UNAVAILABLE;
}

TEST_F(AccessMatrixTest, EveryRoleEveryRpcEveryTargetAnswersAsTheTableSays) {
  std::map<std::string, std::string> expected;
  for (const auto& row : kExpected) expected[row[0]] = row[1];
  // Every method the services declare has a row here and in the server's
  // table: a new RPC cannot ship without deciding who may call it.
  std::vector<std::string> methods;
  // Every service of service.proto, so that a new one is covered too.
  const google::protobuf::FileDescriptor* file = v1::SubmitRequest::descriptor()->file();
  for (int i = 0; i < file->service_count(); ++i) {
    const google::protobuf::ServiceDescriptor* service = file->service(i);
    for (int m = 0; m < service->method_count(); ++m) {
      const std::string rpc = absl::StrCat(service->name(), "/", service->method(m)->name());
      methods.push_back(rpc);
      EXPECT_TRUE(expected.count(rpc)) << rpc << " has no row of expected answers";
      EXPECT_TRUE(security::GrantOf(security::Role::kOperator, absl::StrCat("/gridcase.v1.", rpc)))
          << rpc << " has no row in the permission table";
    }
  }
  ASSERT_EQ(methods.size(), std::size(kExpected));

  int allowed_wrongly = 0, refused_wrongly = 0, checked = 0;
  for (const std::string& rpc : methods) {
    for (size_t c = 0; c < std::size(kCallers); ++c) {
      const Caller& caller = kCallers[c];
      const char letter = expected[rpc][c];
      for (int t = 0; t < 4; ++t) {
        const grpc::StatusCode got = Call(rpc, caller.subject, caller.targets[t]);
        ++checked;
        const bool should_pass = letter == 'e' || (letter == 's' && t < 2);
        grpc::StatusCode refusal = grpc::StatusCode::PERMISSION_DENIED;
        if (letter == 's' && kSingleReads.count(rpc)) refusal = grpc::StatusCode::NOT_FOUND;
        const std::string where = absl::StrCat(rpc, " by ", caller.name, " on ", kTargetNames[t],
                                               " (", caller.targets[t], "): got code ", got);
        if (should_pass && !PassedTheGate(got)) {
          ++refused_wrongly;
          ADD_FAILURE() << where << ", expected to pass";
        } else if (!should_pass && got != refusal) {
          if (PassedTheGate(got)) ++allowed_wrongly;
          ADD_FAILURE() << where << ", expected " << refusal;
        }
      }
    }
    // A certificate naming nobody gridcase knows: UNAUTHENTICATED, always.
    EXPECT_EQ(Call(rpc, "gridcase:person:stranger", "d1"), grpc::StatusCode::UNAUTHENTICATED)
        << rpc;
  }
  EXPECT_EQ(allowed_wrongly, 0);
  EXPECT_EQ(refused_wrongly, 0);
  EXPECT_EQ(checked, static_cast<int>(methods.size() * std::size(kCallers) * 4));
}

class ActorBindingTest : public AccessTest {
 protected:
  // Submits a reading for `grid`'s case as `subject`, naming `actor`.
  grpc::Status SubmitAs(const std::string& subject, const v1::Actor& actor, const std::string& grid,
                        std::string* event_id = nullptr) {
    v1::Event e =
        Fever(absl::StrCat("bind-", ++submitted_), CaseOf(grid), 37.9, clock_.NowMicros());
    e.set_grid_id(grid);
    *e.mutable_actor() = actor;
    if (event_id != nullptr) *event_id = e.event_id();
    auto stub = v1::EventService::NewStub(ChannelAs(subject));
    auto ctx = Context();
    v1::SubmitResponse r;
    return stub->Submit(ctx.get(), Req(e), &r);
  }

  static v1::Actor Actor(const std::string& id, v1::ActorKind kind = v1::ACTOR_KIND_UNSPECIFIED,
                         const std::string& role = "") {
    v1::Actor a;
    a.set_id(id);
    a.set_kind(kind);
    a.set_role(role);
    return a;
  }

  uint64_t Versions(const std::string& grid) {
    auto state = engine_->GetCase(CaseOf(grid));
    EXPECT_TRUE(state.ok()) << state.status();
    return state.ok() ? state->version() : 0;
  }
};

TEST_F(ActorBindingTest, NoSpoofingVariantIsAccepted) {
  const std::string g1 = "d1-s1-c1-g1";
  const uint64_t before = Versions(g1);
  struct Spoof {
    const char* what;
    const char* subject;
    v1::Actor actor;
    const char* says;
  } spoofs[] = {
      {"another person's id", "gridcase:person:w-g1", Actor("k-g1"),
       "a person submits as themselves"},
      {"the engine's identity", "gridcase:person:w-g1", Actor("gridcase", v1::ACTOR_KIND_SYSTEM),
       "may not submit as actor \"gridcase\""},
      {"a claimed role", "gridcase:person:w-g1",
       Actor("w-g1", v1::ACTOR_KIND_PERSON, "district_officer"),
       "claims role \"district_officer\""},
      {"a person claiming to be an application", "gridcase:person:w-g1",
       Actor("w-g1", v1::ACTOR_KIND_APP), "is a person"},
      {"an application acting for a person without the right", "gridcase:app:lab", Actor("w-g1"),
       "not allowed to act for people"},
      {"an application acting for a person beyond its units", "gridcase:app:triage",
       Actor(WorkerOf("d2-s1-c1-g1")), "serves beyond unit d1-s1-c1"},
      {"an application acting for someone the directory does not know", "gridcase:app:triage",
       Actor("nobody"), "no person of the directory"},
      {"an application as another application", "gridcase:app:triage", Actor("lab"),
       "no person of the directory"},
      {"an application claiming to be a person", "gridcase:app:triage",
       Actor("triage", v1::ACTOR_KIND_PERSON), "of kind ACTOR_KIND_PERSON"},
  };
  int accepted = 0;
  for (const Spoof& s : spoofs) {
    SCOPED_TRACE(s.what);
    const grpc::Status st = SubmitAs(s.subject, s.actor, g1);
    if (st.ok()) ++accepted;
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr(s.says));
  }
  EXPECT_EQ(accepted, 0);
  EXPECT_EQ(Versions(g1), before) << "a refused submission wrote something";

  // Each refusal names both the caller and the actor it claimed.
  const grpc::Status named = SubmitAs("gridcase:person:w-g1", Actor("k-g1"), g1);
  EXPECT_THAT(named.error_message(),
              HasSubstr("person w-g1 (grid worker of unit d1-s1-c1-g1) may not submit as actor "
                        "\"k-g1\""));
}

TEST_F(ActorBindingTest, WhatIsAllowedIsAccepted) {
  const std::string g1 = "d1-s1-c1-g1";
  EXPECT_TRUE(SubmitAs("gridcase:person:w-g1", Actor("w-g1"), g1).ok());
  EXPECT_TRUE(
      SubmitAs("gridcase:person:w-g1", Actor("w-g1", v1::ACTOR_KIND_PERSON, "grid_worker"), g1)
          .ok());
  EXPECT_TRUE(SubmitAs("gridcase:app:triage", Actor("triage", v1::ACTOR_KIND_APP, "lab"), g1).ok());
  EXPECT_TRUE(SubmitAs("gridcase:app:triage", Actor(WorkerOf(g1)), g1).ok());
  EXPECT_TRUE(SubmitAs("gridcase:app:lab", Actor("lab"), "d1-s2-c1-g1").ok());
}

TEST_F(ActorBindingTest, BeyondItsAreaACallerIsToldItsOwnUnitNeverTheCasesGrid) {
  const std::string other = "d2-s1-c1-g1";
  const uint64_t before = Versions(other);
  const grpc::Status st = SubmitAs("gridcase:person:w-g1", Actor("w-g1"), other);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("unit d1-s1-c1-g1"));
  EXPECT_THAT(st.error_message(), Not(HasSubstr(other)));
  EXPECT_EQ(Versions(other), before);

  // A single read beyond reach answers exactly as a case that does not
  // exist.
  auto stub = v1::CaseService::NewStub(ChannelAs("gridcase:person:w-g1"));
  v1::GetCaseRequest beyond, absent;
  beyond.set_case_id(CaseOf(other));
  absent.set_case_id("case-that-never-was");
  v1::CaseState ignored;
  auto c1 = Context(), c2 = Context();
  const grpc::Status a = stub->GetCase(c1.get(), beyond, &ignored);
  const grpc::Status b = stub->GetCase(c2.get(), absent, &ignored);
  EXPECT_EQ(a.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(b.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(a.error_message(), absl::StrCat("case ", CaseOf(other), " does not exist"));
  EXPECT_EQ(b.error_message(), "case case-that-never-was does not exist");

  // A listing without an area covers the caller's unit only.
  auto lister = v1::CaseService::NewStub(ChannelAs("gridcase:person:sec-c1"));
  v1::ListCasesResponse listed;
  auto c3 = Context();
  ASSERT_TRUE(lister->ListCases(c3.get(), {}, &listed).ok());
  std::set<std::string> ids;
  for (const auto& c : listed.cases()) ids.insert(c.case_id());
  EXPECT_EQ(ids, (std::set<std::string>{CaseOf("d1-s1-c1-g1"), CaseOf("d1-s1-c1-g2")}));
}

TEST_F(ActorBindingTest, ACaseBeyondTheCallersUnitsCannotBeTouchedNorPulledIntoThem) {
  // The event names the caller's own grid, but the case stands in another
  // district: moving it into the caller's grid would be touching it.
  const std::string other = "d2-s1-c1-g1";
  const uint64_t before = Versions(other);
  v1::Event e = Fever("pull-1", CaseOf(other), 38.2, clock_.NowMicros());
  e.set_grid_id("d1-s1-c1-g1");
  e.mutable_actor()->set_id("w-g1");
  e.mutable_actor()->clear_role();
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "SubmitStream" : "Submit");
    auto stub = v1::EventService::NewStub(ChannelAs("gridcase:person:w-g1"));
    auto ctx = Context();
    grpc::Status st;
    if (!stream) {
      v1::SubmitResponse r;
      st = stub->Submit(ctx.get(), Req(e), &r);
    } else {
      auto call = stub->SubmitStream(ctx.get());
      v1::StreamSubmitRequest req;
      req.add_submissions()->set_request_id(7);
      *req.mutable_submissions(0)->mutable_submit() = Req(e);
      call->Write(req);
      call->WritesDone();
      v1::StreamSubmitResponse answers;
      while (call->Read(&answers)) {
        for (const auto& a : answers.answers()) {
          st = a.has_accepted() ? grpc::Status::OK
                                : grpc::Status(static_cast<grpc::StatusCode>(a.refused().code()),
                                               a.refused().message());
        }
      }
      EXPECT_TRUE(call->Finish().ok());
    }
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr("gridcase:person:w-g1"));
    EXPECT_THAT(st.error_message(), HasSubstr("d1-s1-c1-g1"));
    EXPECT_THAT(st.error_message(), Not(HasSubstr(other)));
  }
  EXPECT_EQ(Versions(other), before);
}

TEST_F(ActorBindingTest, EachRecordKeepsWhoSubmittedItWhateverTheClientClaims) {
  const std::string g1 = "d1-s1-c1-g1";
  // On behalf of a person: the actor is the person, the submitter the
  // application.
  std::string on_behalf, own;
  ASSERT_TRUE(SubmitAs("gridcase:app:triage", Actor(WorkerOf(g1)), g1, &on_behalf).ok());
  // A client that fills in the server's fields itself: replaced.
  v1::Event e = Fever("claims-1", CaseOf(g1), 37.1, clock_.NowMicros());
  e.set_grid_id(g1);
  *e.mutable_actor() = Actor("w-g1");
  v1::SubmitRequest forged = Req(e);
  forged.set_submitted_by("gridcase:person:off-d1");
  forged.add_submitter_units("*");
  auto stub = v1::EventService::NewStub(ChannelAs("gridcase:person:w-g1"));
  auto ctx = Context();
  v1::SubmitResponse r;
  ASSERT_TRUE(stub->Submit(ctx.get(), forged, &r).ok());

  std::map<std::string, std::string> by;
  v1::GetTimelineRequest req;
  req.set_case_id(CaseOf(g1));
  auto timeline = engine_->GetTimeline(req);
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  for (const auto& record : timeline->records()) {
    by[record.event().event_id()] = record.submitted_by();
  }
  EXPECT_EQ(by[on_behalf], "gridcase:app:triage");
  EXPECT_EQ(by["claims-1"], "gridcase:person:w-g1");
  // Inside the hashed bytes: the chain, which covers them, verifies.
  auto checks = engine_->audit().VerifyLog("");
  ASSERT_TRUE(checks.ok()) << checks.status();
  for (const auto& c : *checks) EXPECT_EQ(c.first_bad_position, 0u) << c.problem;
}

TEST_F(AccessTest, WhoIsCallingIsToldWhenUnknown) {
  auto call = [&](const std::string& subject) {
    auto stub = v1::CaseService::NewStub(ChannelAs(subject));
    v1::GetCaseRequest req;
    req.set_case_id(CaseOf("d1-s1-c1-g1"));
    v1::CaseState ignored;
    auto ctx = Context();
    return stub->GetCase(ctx.get(), req, &ignored);
  };
  const struct {
    const char* subject;
    const char* says;
  } cases[] = {
      {"gridcase:app:unknown", "application \"unknown\" is not in the principals file"},
      {"gridcase:person:nobody", "person \"nobody\" is neither in the principals file"},
      {"gridcase:robot:r2", "names neither gridcase:app:<id> nor gridcase:person:<id>"},
  };
  for (const auto& c : cases) {
    const grpc::Status st = call(c.subject);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << c.subject;
    EXPECT_THAT(st.error_message(), HasSubstr(c.says));
  }
  // A certificate that names no gridcase identity at all.
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca_.cert_pem();
  CertSpec spec;
  spec.common_name = "a laptop";
  spec.alt_names = "DNS:laptop.example";
  spec.extended_key_usage = "clientAuth";
  const KeyPair plain = ca_.Issue(spec);
  ssl.pem_private_key = plain.key;
  ssl.pem_cert_chain = plain.cert;
  auto stub =
      v1::CaseService::NewStub(grpc::CreateChannel(server_->address(), grpc::SslCredentials(ssl)));
  auto ctx = Context();
  v1::CaseState ignored;
  const grpc::Status st = stub->GetCase(ctx.get(), {}, &ignored);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), HasSubstr("names no gridcase identity"));
}

TEST(PermissionTableTest, TheDocumentedTableIsTheOneInCode) {
  const std::string doc = ReadFile(ShippedWorkflowDir() + "/../../docs/security.md");
  const std::string table = security::PermissionTableMarkdown();
  EXPECT_NE(doc.find(table), std::string::npos)
      << "docs/security.md does not hold the permission table; it is now:\n"
      << table;
}

// Bearer tokens as a single sign-on issues them: the console's way in.
class TokenTest : public AccessTest {
 protected:
  void Customize(security::ServerTlsOptions* tls) override {
    tls->require_client_cert = false;  // a caller may present a token instead
  }
  void Customize(security::GateOptions* access) override {
    WriteFileWithMode(dir_.Sub("sso.pem"), sso_.public_key_pem(), 0644);
    auto tokens = security::TokenVerifier::Parse(
        absl::StrCat(R"([{"issuer": "https://sso.test", "audience": "gridcase", "keys": {"k1": ")",
                     dir_.Sub("sso.pem"), R"("}}])"));
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    access->tokens = *tokens;
    access->now_s = [this] { return clock_.NowMicros() / 1'000'000; };
  }

  int64_t Now() const { return clock_.NowMicros() / 1'000'000; }

  std::string Claims(const std::string& sub, int64_t exp_in, const std::string& extra = "",
                     const std::string& iss = "https://sso.test",
                     const std::string& aud = "gridcase") const {
    return absl::StrCat(R"({"iss":")", iss, R"(","aud":")", aud, R"(","sub":")", sub, R"(","exp":)",
                        Now() + exp_in, extra, "}");
  }

  static constexpr char kHeader[] = R"({"alg":"ES256","kid":"k1","typ":"JWT"})";

  // GetCase of the case in grid g1 with `token` (and the certificate of
  // `subject`, when given).
  grpc::Status GetCaseWith(const std::string& token, const std::string& subject = "") {
    auto stub = v1::CaseService::NewStub(NewChannelAs(subject));
    auto ctx = Context();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    v1::GetCaseRequest req;
    req.set_case_id(CaseOf("d1-s1-c1-g1"));
    v1::CaseState state;
    return stub->GetCase(ctx.get(), req, &state);
  }

  TestIssuer sso_;
  TestIssuer stranger_;
};

TEST_F(TokenTest, AValidTokenNamesTheCallerAndTheTableStillApplies) {
  EXPECT_TRUE(GetCaseWith(sso_.Sign(kHeader, Claims("gridcase:person:w-g1", 600))).ok());
  EXPECT_TRUE(GetCaseWith(sso_.Sign(kHeader, Claims("sec-c1", 600))).ok());  // a bare person id
  // The worker of another district reads it as if it did not exist.
  const grpc::Status beyond = GetCaseWith(sso_.Sign(kHeader, Claims(WorkerOf("d2-s1-c1-g1"), 600)));
  EXPECT_EQ(beyond.error_code(), grpc::StatusCode::NOT_FOUND);
  // An operator's token does not open case contents.
  EXPECT_EQ(GetCaseWith(sso_.Sign(kHeader, Claims("ops-1", 600))).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(TokenTest, EveryBadTokenIsUnauthenticatedSayingWhy) {
  const std::string good = sso_.Sign(kHeader, Claims("w-g1", 600));
  std::string tampered = good;
  {
    // Claims swapped for a district officer's, the signature kept.
    const size_t a = tampered.find('.'), b = tampered.rfind('.');
    tampered = tampered.substr(0, a + 1) + Base64Url(Claims("off-d1", 600)) + tampered.substr(b);
  }
  const struct {
    const char* what;
    std::string token;
    const char* says;
  } cases[] = {
      {"expired", sso_.Sign(kHeader, Claims("w-g1", -3600)), "expired"},
      {"not yet valid",
       sso_.Sign(kHeader, Claims("w-g1", 7200, absl::StrCat(",\"nbf\":", Now() + 3600))),
       "not valid for another"},
      {"another issuer", sso_.Sign(kHeader, Claims("w-g1", 600, "", "https://evil.test")),
       "issuer https://evil.test is not trusted"},
      {"another audience", sso_.Sign(kHeader, Claims("w-g1", 600, "", "https://sso.test", "x")),
       "not for audience gridcase"},
      {"signed by another key", stranger_.Sign(kHeader, Claims("w-g1", 600)),
       "signature does not verify"},
      {"claims changed after signing", tampered, "signature does not verify"},
      {"alg none",
       Base64Url(R"({"alg":"none","kid":"k1"})") + "." + Base64Url(Claims("w-g1", 600)) + ".",
       "signs with ES256 only"},
      {"an unknown key", sso_.Sign(R"({"alg":"ES256","kid":"k9"})", Claims("w-g1", 600)),
       "has no key k9"},
      {"no subject", sso_.Sign(kHeader, Claims("", 600)), "names no subject"},
      {"no expiry",
       sso_.Sign(kHeader, R"({"iss":"https://sso.test","aud":"gridcase","sub":"w-g1"})"),
       "no \"exp\""},
      {"not a token", "hello", "not three base64url parts"},
      {"a person nobody knows", sso_.Sign(kHeader, Claims("nobody", 600)),
       "person \"nobody\" is neither"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const grpc::Status st = GetCaseWith(c.token);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr(c.says));
    // The refusal never echoes the token.
    if (c.token.size() > 20) {
      EXPECT_THAT(st.error_message(), Not(HasSubstr(c.token.substr(0, 20))));
    }
  }
  // A certificate and a token naming different callers.
  const grpc::Status mixed =
      GetCaseWith(sso_.Sign(kHeader, Claims("off-d1", 600)), "gridcase:person:w-g1");
  EXPECT_EQ(mixed.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(mixed.error_message(), HasSubstr("name different callers"));
  // Neither.
  const grpc::Status none = GetCaseWith("");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(none.error_message(),
              HasSubstr("no client certificate (mutual TLS) or bearer token"));
}

// Per-caller limits over the wire: over its limit a caller is told when
// to retry, and nothing is read; other callers go on.
class RateLimitTest : public AccessTest {
 protected:
  void Customize(security::GateOptions* access) override {
    access->clock = &clock_;
    access->limits.reads_per_s = 1;
    access->limits.burst_s = 3;
  }
};

TEST_F(RateLimitTest, ACallerOverItsLimitIsToldWhenToRetryAndOthersGoOn) {
  auto read = [&](const std::string& subject) {
    auto stub = v1::CaseService::NewStub(ChannelAs(subject));
    v1::GetCaseRequest req;
    req.set_case_id(CaseOf("d1-s1-c1-g1"));
    v1::CaseState state;
    auto ctx = Context();
    return stub->GetCase(ctx.get(), req, &state);
  };
  int served = 0;
  grpc::Status refused;
  for (int i = 0; i < 10 && refused.ok(); ++i) {
    const grpc::Status st = read("gridcase:person:w-g1");
    if (st.ok()) {
      ++served;
    } else {
      refused = st;
    }
  }
  // Three at once (the burst), then refused; a second or so of real time
  // may have bought one more.
  EXPECT_GE(served, 3);
  EXPECT_LE(served, 5);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("retry in"));
  EXPECT_TRUE(read("gridcase:person:sec-c1").ok());
}

class AppLimitTest : public ActorBindingTest {
 protected:
  void Customize(security::GateOptions* access) override {
    access->clock = &clock_;
    access->limits.submits_per_s = 1;
    access->limits.burst_s = 3;
    access->principals.applications["lab"].submits_per_s = 10;  // 30 at once
  }
};

TEST_F(AppLimitTest, AnApplicationWithALimitOfItsOwnIsHeldToItNotTheServers) {
  auto served = [&](const std::string& subject, const v1::Actor& actor, int tries) {
    int n = 0;
    for (int i = 0; i < tries; ++i) {
      const grpc::Status st = SubmitAs(subject, actor, "d1-s2-c1-g1");
      if (st.ok()) {
        ++n;
      } else {
        EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
      }
    }
    return n;
  };
  // The burst, and whatever the real seconds the calls take have earned.
  const int lab = served("gridcase:app:lab", Actor("lab"), 45);
  EXPECT_GE(lab, 30);
  EXPECT_LE(lab, 40);
  const int person = served("gridcase:person:w-g1-d1-s2-c1-g1", Actor(WorkerOf("d1-s2-c1-g1")), 10);
  EXPECT_GE(person, 3);
  EXPECT_LE(person, 5);
}

}  // namespace
}  // namespace gridcase::testing

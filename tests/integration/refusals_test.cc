// What the real server refuses from clients that mean harm, over gRPC on
// loopback: workflow definitions built to overflow its stacks, and clients
// that write as if they were gridcase itself. Each is refused with
// INVALID_ARGUMENT, nothing is written, and the server keeps serving.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/common/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/api/server.h"
#include "tests/integration/child_server.h"
#include "tests/integration/server_fixture.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::BaseEvent;
using ::gridcase::testing::Fever;
using ::gridcase::testing::NowUs;
using ::gridcase::testing::Req;
using ::testing::HasSubstr;

// A valid definition whose one rule has the guard `when` (escaped here).
std::string DefinitionWithGuard(const std::string& when) {
  std::string escaped;
  for (char c : when) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return "name: \"hostile\"\nversion: 1\nopens_on { event: \"note\" }\n"
         "initial_stage: \"open\"\n"
         "stages {\n  name: \"open\"\n  rules {\n    name: \"trap\"\n    on: \"fever_reading\"\n"
         "    when: \"" +
         escaped +
         "\"\n    then { move_to: \"done\" }\n  }\n}\n"
         "stages { name: \"done\" terminal: true }\n";
}

std::string Nested(int parens) {
  return std::string(parens, '(') + "true" + std::string(parens, ')');
}

// The server of server_test, with the admin service's stub too.
class RefusalsTest : public testing::ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    admin_ = v1::AdminService::NewStub(channel_);
  }

  static void Within10s(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }

  grpc::Status Deploy(const std::string& source, const v1::Actor& actor,
                      const std::string& file_name = "hostile.textproto") {
    v1::DeployWorkflowRequest req;
    req.set_source(source);
    req.set_file_name(file_name);
    *req.mutable_actor() = actor;
    v1::DeployWorkflowResponse resp;
    grpc::ClientContext ctx;
    Within10s(&ctx);
    return admin_->DeployWorkflow(&ctx, req, &resp);
  }

  // The server answers health checks and takes an event.
  void ExpectServing(const std::string& event_id) {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext ctx;
    Within10s(&ctx);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
    const grpc::Status st = Submit(Fever(event_id, "after-" + event_id, 36.6, NowUs()));
    EXPECT_TRUE(st.ok()) << st.error_message();
  }

  static v1::Actor Person() {
    v1::Actor a;
    a.set_id("secretary-chen");
    a.set_kind(v1::ACTOR_KIND_PERSON);
    return a;
  }

  std::unique_ptr<v1::AdminService::Stub> admin_;
};

TEST_F(RefusalsTest, HostileDefinitionsAreRefusedAndTheServerKeepsServing) {
  // 5,000 nested parentheses: a 10 KB definition.
  const std::string parens = DefinitionWithGuard(Nested(5000));
  ASSERT_GT(parens.size(), 10000u);
  grpc::Status st = Deploy(parens, Person());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(),
              HasSubstr("hostile.textproto:10: rule \"trap\": guard \"((((((((((((((((((((((((("
                        "(((((((((((((((((((((((((((((((((((((((((((((((((((((((... (10004 "
                        "bytes)\": column 1025: a guard is at most 1024 bytes"));
  ExpectServing("after-parens");

  // 300,000 negations.
  st = Deploy(DefinitionWithGuard(std::string(300000, '!') + "true"), Person());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("bytes; at most 65536 are accepted"));
  ExpectServing("after-negations");

  // One nesting too many, short enough to reach the parser.
  st = Deploy(DefinitionWithGuard(Nested(33)), Person());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(),
              HasSubstr("hostile.textproto:10: rule \"trap\": guard \"" + Nested(33) +
                        "\": column 33: more than 32 parentheses and negations nested"));
  ExpectServing("after-nesting");

  // Many rules with long, wrong guards: the refusal still fits a status.
  std::string many = DefinitionWithGuard("true");
  for (int i = 0; i < 50; ++i) {
    many += "stages { name: \"s" + std::to_string(i) + "\" rules { name: \"r" + std::to_string(i) +
            "\" on: \"note\" when: \"" + std::string(1000, '(') +
            "\" then { move_to: \"done\" } } }\n";
  }
  st = Deploy(many, Person());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("problems, the first 20 of them"));
  ExpectServing("after-many");

  // The file name is repeated in every problem: it is bounded too.
  st = Deploy(many, Person(), std::string(100000, 'f'));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_EQ(st.error_message(), "file_name: 100000 bytes, at most 256 allowed");
  ExpectServing("after-file-name");

  // A guard nested as deep as the limits allow is deployed, and decides.
  st = Deploy(DefinitionWithGuard(Nested(32)), Person());
  EXPECT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(Submit(testing::NoteEvent("deep-1", "deep", "opens", NowUs())).ok());
  ASSERT_TRUE(Submit(Fever("deep-2", "deep", 36.6, NowUs())).ok());
  auto deep = engine_->GetCase("deep");
  ASSERT_TRUE(deep.ok()) << deep.status();
  EXPECT_EQ(deep->workflow().name(), "hostile");
  EXPECT_EQ(deep->stage(), "done");
  v1::ListWorkflowsResponse listed;
  grpc::ClientContext ctx;
  Within10s(&ctx);
  ASSERT_TRUE(admin_->ListWorkflows(&ctx, {}, &listed).ok());
  int hostile = 0;
  for (const auto& w : listed.workflows()) hostile += w.name() == "hostile";
  EXPECT_EQ(hostile, 1);
}

TEST_F(RefusalsTest, NobodyCanSubmitAsTheEngine) {
  ASSERT_TRUE(Submit(Fever("open", "c", 36.6, NowUs())).ok());
  auto timeline_size = [this](const std::string& case_id) {
    auto page = engine_->GetTimeline([&] {
      v1::GetTimelineRequest r;
      r.set_case_id(case_id);
      r.set_page_size(1000);
      return r;
    }());
    return page.ok() ? page->records_size() : -1;
  };
  const int before = timeline_size("c");
  ASSERT_GT(before, 0);
  for (const std::string case_id : {"c", "new-case"}) {
    v1::Event posing = Fever("posing", case_id, 38.5, NowUs());
    posing.mutable_actor()->set_id("gridcase");
    posing.mutable_actor()->set_kind(v1::ACTOR_KIND_SYSTEM);
    posing.set_channel(v1::CHANNEL_SYSTEM);
    grpc::Status st = Submit(posing);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message(),
              "event.actor.kind: ACTOR_KIND_SYSTEM is reserved to gridcase itself");
    v1::Event changed = BaseEvent("changed", case_id, NowUs());
    changed.mutable_stage_changed()->set_to("closed");
    st = Submit(changed);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("event.stage_changed: is written by the engine"));
  }
  EXPECT_EQ(timeline_size("c"), before);
  EXPECT_EQ(engine_->GetCase("new-case").status().code(), absl::StatusCode::kNotFound);

  // Nor deploy or import as the engine.
  v1::Actor engine_actor;
  engine_actor.set_id("gridcase");
  engine_actor.set_kind(v1::ACTOR_KIND_SYSTEM);
  grpc::Status st = Deploy(DefinitionWithGuard("true"), engine_actor);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "actor.kind: ACTOR_KIND_SYSTEM is reserved to gridcase itself");
  engine_actor.set_kind(v1::ACTOR_KIND_PERSON);
  v1::ImportDirectoryRequest import;
  import.set_import_id("i1");
  *import.mutable_actor() = engine_actor;
  v1::ImportDirectoryResponse imported;
  grpc::ClientContext ctx;
  Within10s(&ctx);
  st = admin_->ImportDirectory(&ctx, import, &imported);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "actor.id: \"gridcase\" is reserved to gridcase itself");
  ExpectServing("after-posing");
}

// gridcased --workflows DIR with a hostile file: it refuses to start and
// says why, rather than dying of a stack overflow.
TEST(GridcasedWorkflowsTest, AHostileDefinitionStopsTheStartWithItsReason) {
  testing::TempDir dir;
  const std::string workflows = dir.Sub("workflows");
  std::filesystem::create_directories(workflows);
  std::ofstream(workflows + "/hostile.textproto") << DefinitionWithGuard(Nested(5000));
  const testing::ProgramRun run = testing::RunProgram(
      GRIDCASED_PATH,
      {"--data-dir", dir.Sub("data"), "--listen", "127.0.0.1:0", "--workflows", workflows}, "",
      dir.path());
  // -1: killed by a signal (a stack overflow is SIGSEGV).
  EXPECT_GT(run.exit_code, 0) << run.out << run.err;
  const std::string said = run.out + run.err;
  EXPECT_THAT(said, HasSubstr("hostile.textproto:10: rule \"trap\": guard"));
  EXPECT_THAT(said, HasSubstr("column 1025: a guard is at most 1024 bytes"));
}

}  // namespace
}  // namespace gridcase

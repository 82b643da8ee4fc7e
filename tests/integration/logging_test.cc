// The server's log as JSON lines, and what it must never hold.
//
// The formatter: every line one JSON object with the stable fields (time,
// level, component, message), whatever the message holds (quotes,
// newlines, backslashes, bytes that are not UTF-8).
//
// A real gridcased with --log-format json at the most talkative level,
// fed through gRPC with names, phone numbers and free text marked with a
// token: accepted, refused by validation, refused by the workflow, and
// sent as bytes that are not UTF-8. Afterwards every line of its log is
// one JSON object with those fields, and the token appears in none.
#include "services/logging/logging.h"

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/common/clock.h"
#include "gmock/gmock.h"
#include "gridcase/v1/service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/integration/child_server.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::gridcase::testing::NoteEvent;
using ::gridcase::testing::Req;
using ::gridcase::testing::Screening;
using ::testing::HasSubstr;

std::chrono::system_clock::time_point In10s() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

// Checks one line is one object with exactly the stable fields; returns it.
nlohmann::json ParseLine(const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(j.is_object()) << line;
  if (!j.is_object()) return j;
  EXPECT_EQ(j.size(), 4u) << line;
  for (const char* field : {"time", "level", "component", "message"}) {
    EXPECT_TRUE(j.contains(field) && j[field].is_string()) << field << " in " << line;
  }
  if (j.contains("time") && j["time"].is_string()) {
    const std::string time = j["time"];
    EXPECT_EQ(time.size(), 24u) << time;  // 2026-12-07T18:23:21.123Z
    EXPECT_EQ(time.back(), 'Z') << time;
  }
  return j;
}

TEST(JsonLogTest, EveryMessageIsOneLineOfOneObject) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(std::make_unique<logging::JsonFormatter>());
  spdlog::logger logger("kafka", sink);
  logger.set_level(spdlog::level::trace);
  const std::vector<std::string> messages = {"plain",
                                             "a \"quoted\" word",
                                             "two\nlines",
                                             "back\\slash\ttab",
                                             "网格员 上报",
                                             std::string("not utf-8: \xff\xfe end"),
                                             std::string("nul \0 inside", 12)};
  for (const std::string& m : messages) logger.warn("{}", m);
  logger.flush();
  const std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), messages.size()) << out.str();
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json j = ParseLine(lines[i]);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["level"], "warning");
    EXPECT_EQ(j["component"], "kafka");
    if (i != 5) {
      EXPECT_EQ(j["message"].get<std::string>(), messages[i]);
    } else {
      EXPECT_EQ(j["message"].get<std::string>(), "not utf-8: \xEF\xBF\xBD\xEF\xBF\xBD end");
    }
  }
}

TEST(JsonLogTest, FormatAndLevelAreCheckedByName) {
  logging::Format format = logging::Format::kText;
  EXPECT_TRUE(logging::ParseFormat("json", &format).ok());
  EXPECT_EQ(format, logging::Format::kJson);
  const absl::Status bad = logging::ParseFormat("xml", &format);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("expected text or json"));
  EXPECT_EQ(logging::Configure(logging::Format::kText, "loud").code(),
            absl::StatusCode::kInvalidArgument);
}

constexpr char kToken[] = "PRIVATE-7Q";

TEST(JsonLogTest, NamesAndFreeTextNeverReachTheServersLog) {
  testing::TempDir dir;
  testing::ChildServer server(
      GRIDCASED_PATH, {"--development", "--data-dir", dir.Sub("data"), "--listen", "127.0.0.1:0",
                       "--log-format", "json", "--log-level", "trace", "--partitions", "2",
                       "--no-huge-pages", "--workflows", testing::ShippedWorkflowDir()});
  ASSERT_NE(server.port(), 0) << server.output();
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  auto events = v1::EventService::NewStub(channel);
  auto admin = v1::AdminService::NewStub(channel);
  auto submit = [&](const v1::Event& e) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In10s());
    v1::SubmitResponse resp;
    const grpc::Status st = events->Submit(&ctx, Req(e), &resp);
    if (!st.ok()) std::cerr << e.event_id() << ": " << st.error_message() << "\n";
    return st.error_code();
  };
  const int64_t now = SystemClock().NowMicros();
  const std::string text = absl::StrCat("张三 ", kToken, " 13800000000, 发热三天");

  v1::Event screening = Screening("s1", "resident-1", v1::CATEGORY_FEVER, now);
  screening.mutable_screening_check()->set_notes(text);
  screening.mutable_screening_check()->set_household_id(absl::StrCat("hh-", kToken));
  EXPECT_EQ(submit(screening), grpc::StatusCode::OK);
  EXPECT_EQ(submit(NoteEvent("n1", "resident-1", text, now)), grpc::StatusCode::OK);
  v1::Event clue = testing::BaseEvent("c1", "clue-1", now);
  clue.mutable_clue_report()->set_description(text);
  clue.mutable_clue_report()->set_reported_by(text);
  submit(clue);  // opens a case or is refused by the workflows; either way
  // Refused by validation: a note far too long, and an empty required one
  // beside personal text.
  EXPECT_EQ(submit(NoteEvent("n2", "resident-1", std::string(70000, 'x') + text, now)),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Refused by the case: the same id again with other text.
  EXPECT_EQ(submit(NoteEvent("n1", "resident-1", text + " again", now)),
            grpc::StatusCode::ALREADY_EXISTS);
  // Bytes that are not UTF-8 in a personal field: protobuf refuses them
  // while parsing, and says so in the log.
  EXPECT_EQ(submit(NoteEvent("n3", "resident-1", text + "\xff", now)),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A directory import naming a person, with a phone number and a reason.
  v1::ImportDirectoryRequest import;
  import.set_import_id("log-test");
  import.mutable_actor()->set_id("op-1");
  import.mutable_actor()->set_kind(v1::ACTOR_KIND_PERSON);
  auto* person = import.add_entries()->mutable_person();
  person->set_person_id("worker-x");
  person->set_name(text);
  person->set_phone(text);
  person->set_role(v1::ROLE_GRID_WORKER);
  person->set_unit_id("no-such-grid");  // refused: the unit does not exist
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(In10s());
    v1::ImportDirectoryResponse resp;
    EXPECT_FALSE(admin->ImportDirectory(&ctx, import, &resp).ok());
  }

  server.KillAndWait(SIGTERM);
  const std::string log = server.output();
  size_t lines = 0;
  bool saw_protobuf = false;
  const std::vector<std::string> log_lines = absl::StrSplit(log, '\n', absl::SkipEmpty());
  for (const std::string& line : log_lines) {
    ++lines;
    const nlohmann::json j = ParseLine(line);
    if (j.is_object() && j.contains("component") && j["component"] == "protobuf") {
      saw_protobuf = true;
    }
    EXPECT_FALSE(absl::StrContains(line, kToken)) << line;
    EXPECT_FALSE(absl::StrContains(line, "13800000000")) << line;
  }
  EXPECT_GE(lines, 5u) << log;
  EXPECT_THAT(log, HasSubstr("stopped cleanly"));
  // The refusal of bytes that are not UTF-8 reached the log, naming the
  // field only: the check above looked at a log that had the chance.
  EXPECT_TRUE(saw_protobuf) << log;
}

}  // namespace
}  // namespace gridcase

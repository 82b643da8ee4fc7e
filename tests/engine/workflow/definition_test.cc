#include "engine/workflow/definition.h"

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gridcase::workflow {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadShipped(const std::string& name) {
  std::ifstream in(std::string(SOURCE_DIR) + "/deploy/workflows/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(DefinitionTest, TheShippedWorkflowsAreValid) {
  // The current version of each, and version 1 that it follows.
  for (const auto& [file, version] : std::vector<std::pair<std::string, uint32_t>>{
           {"epidemic-case.textproto", 2},
           {"epidemic-case.v1.textproto", 1},
           {"help-request.textproto", 2},
           {"help-request.v1.textproto", 1}}) {
    const std::string source = ReadShipped(file);
    ASSERT_FALSE(source.empty()) << file;
    auto def = Definition::Parse(source, file);
    ASSERT_TRUE(def.ok()) << def.status().message();
    EXPECT_EQ((*def)->version(), version) << file;
  }
  auto epidemic = Definition::Parse(ReadShipped("epidemic-case.textproto"), "e");
  ASSERT_TRUE(epidemic.ok());
  for (const char* stage : {"screening", "isolation", "testing", "treatment", "observation",
                            "closed"}) {
    EXPECT_NE((*epidemic)->stage(stage), nullptr) << stage;
  }
  EXPECT_TRUE((*epidemic)->stage("closed")->terminal);
}

// A small valid definition; tests break one thing at a time.
constexpr char kValid[] = R"pb(name: "t"
version: 1
opens_on { event: "fever_reading" }
initial_stage: "open"
escalation_ladder: ["grid_worker", "cadre"]
counters { name: "high" on: "fever_reading" when: "fever_reading.celsius >= 37.3" window: "24h" }
stages {
  name: "open"
  on_enter { set_deadline { name: "check" after: "1d" } }
  rules {
    name: "hot"
    on: "fever_reading"
    when: "count(\"high\") >= 2"
    then { escalate {} }
    then { move_to: "done" }
  }
  rules {
    name: "late"
    on: "deadline:check"
    then { escalate {} }
  }
}
stages { name: "done" terminal: true }
)pb";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::string Problems(const std::string& source) {
  auto def = Definition::Parse(source, "t.textproto");
  EXPECT_FALSE(def.ok()) << "accepted:\n" << source;
  return def.ok() ? "" : std::string(def.status().message());
}

TEST(DefinitionTest, TheSmallDefinitionIsValid) {
  auto def = Definition::Parse(kValid, "t.textproto");
  ASSERT_TRUE(def.ok()) << def.status().message();
}

TEST(DefinitionTest, SyntaxErrorsHaveLineAndColumn) {
  EXPECT_THAT(Problems(Replace(kValid, "version: 1", "version: one")),
              HasSubstr("t.textproto:2:10:"));
  EXPECT_THAT(Problems(Replace(kValid, "initial_stage", "first_stage")),
              HasSubstr("t.textproto:4:12: Message type \"gridcase.v1.WorkflowDefinition\" has no field named \"first_stage\""));
}

TEST(DefinitionTest, UnknownEventTypes) {
  EXPECT_THAT(Problems(Replace(kValid, "on: \"fever_reading\"\n    when",
                               "on: \"fever_readings\"\n    when")),
              HasSubstr("t.textproto:12: rule \"hot\": \"fever_readings\" is not an event type"));
  EXPECT_THAT(Problems(Replace(kValid, "opens_on { event: \"fever_reading\" }",
                               "opens_on { event: \"stage_changed\" }")),
              HasSubstr("t.textproto:3: opener \"stage_changed\": \"stage_changed\" is not an "
                        "event type"));
}

TEST(DefinitionTest, UnknownFieldPathsAndTypeMismatches) {
  EXPECT_THAT(Problems(Replace(kValid, "fever_reading.celsius >= 37.3", "fever_reading.temp >= 37.3")),
              HasSubstr("t.textproto:6: counter \"high\": guard \"fever_reading.temp >= 37.3\": "
                        "column 15: \"temp\" is not a field of gridcase.v1.FeverReading"));
  EXPECT_THAT(Problems(Replace(kValid, "count(\\\"high\\\") >= 2", "fever_reading.location >= 2")),
              HasSubstr("t.textproto:13: rule \"hot\": guard \"fever_reading.location >= 2\": "
                        "column 24: type mismatch: a string compared with a number"));
}

TEST(DefinitionTest, UnreachableStagesAndStagesWithoutAWayOut) {
  const std::string extra = std::string(kValid) + "stages { name: \"limbo\" }\n";
  const std::string problems = Problems(extra);
  EXPECT_THAT(problems, HasSubstr("t.textproto:24: stage \"limbo\" is unreachable"));
  EXPECT_THAT(problems, HasSubstr("t.textproto:24: stage \"limbo\" is not terminal, but no rule "
                                  "moves a case out of it"));
  EXPECT_THAT(Problems(Replace(kValid, "then { move_to: \"done\" }", "then { move_to: \"gone\" }")),
              HasSubstr("move_to names no stage: \"gone\""));
  EXPECT_THAT(Problems(Replace(kValid, "terminal: true", "")), HasSubstr("no stage is terminal"));
}

TEST(DefinitionTest, DuplicateNames) {
  EXPECT_THAT(Problems(Replace(kValid, "name: \"late\"", "name: \"hot\"")),
              HasSubstr("t.textproto:18: duplicate rule name \"hot\""));
  EXPECT_THAT(Problems(Replace(kValid, "name: \"done\"", "name: \"open\"")),
              HasSubstr("duplicate stage name \"open\""));
}

TEST(DefinitionTest, ADeadlineWithoutAHandler) {
  const std::string problems = Problems(Replace(kValid, "on: \"deadline:check\"", "on: \"deadline:chek\""));
  EXPECT_THAT(problems, HasSubstr("t.textproto:9: deadline \"check\" has no handler"));
  EXPECT_THAT(problems, HasSubstr("t.textproto:19: rule \"late\": handles deadline \"chek\", which "
                                  "no action sets"));
}

TEST(DefinitionTest, ActionsAreChecked) {
  EXPECT_THAT(Problems(Replace(kValid, "then { escalate {} }\n    then { move_to",
                               "then { escalate { to_role: \"mayor\" } }\n    then { move_to")),
              HasSubstr("escalate to \"mayor\", which is not a rung"));
  EXPECT_THAT(Problems(Replace(kValid, "on_enter { set_deadline { name: \"check\" after: \"1d\" } }",
                               "on_enter { move_to: \"done\" }")),
              HasSubstr("move_to is not allowed in on_enter"));
  EXPECT_THAT(Problems(Replace(kValid, "after: \"1d\"", "after: \"1 day\"")),
              HasSubstr("is not a duration"));
}

TEST(DefinitionTest, ForbiddingAnEventARuleReactsToIsAContradiction) {
  EXPECT_THAT(Problems(Replace(kValid, "  name: \"open\"\n", "  name: \"open\"\n  forbid: \"fever_reading\"\n")),
              HasSubstr("reacts to fever_reading, which stage \"open\" forbids"));
}

TEST(DefinitionTest, EveryProblemIsReportedNotJustTheFirst) {
  std::string bad = Replace(kValid, "name: \"t\"", "name: \"T T\"");
  bad = Replace(bad, "initial_stage: \"open\"", "initial_stage: \"start\"");
  const std::string problems = Problems(bad);
  EXPECT_THAT(problems, HasSubstr("has 2 problems"));
  EXPECT_THAT(problems, HasSubstr("t.textproto:1: name must be"));
  EXPECT_THAT(problems, HasSubstr("t.textproto:4: initial_stage \"start\" names no stage"));
}

}  // namespace
}  // namespace gridcase::workflow

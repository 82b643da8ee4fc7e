#include "engine/workflow/definition.h"

#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "engine/workflow/logic.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "tests/support/raw_partition.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

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
  for (const auto& [file, version] :
       std::vector<std::pair<std::string, uint32_t>>{{"epidemic-case.textproto", 2},
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
  for (const char* stage :
       {"screening", "isolation", "testing", "treatment", "observation", "closed"}) {
    EXPECT_NE((*epidemic)->stage(stage), nullptr) << stage;
  }
  EXPECT_TRUE((*epidemic)->stage("closed")->terminal);
}

// A small valid definition; tests break one thing at a time.
// The definition as written, not as clang-format would lay it out.
// clang-format off
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
// clang-format on

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
              HasSubstr("t.textproto:4:12: Message type \"gridcase.v1.WorkflowDefinition\" has no "
                        "field named \"first_stage\""));
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
  EXPECT_THAT(
      Problems(Replace(kValid, "fever_reading.celsius >= 37.3", "fever_reading.temp >= 37.3")),
      HasSubstr("t.textproto:6: counter \"high\": guard \"fever_reading.temp >= 37.3\": "
                "column 15: \"temp\" is not a field of gridcase.v1.FeverReading"));
  EXPECT_THAT(
      Problems(Replace(kValid, "count(\\\"high\\\") >= 2", "fever_reading.measured_by >= 2")),
      HasSubstr("t.textproto:13: rule \"hot\": guard \"fever_reading.measured_by >= 2\": "
                "column 27: type mismatch: a string compared with a number"));
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
  const std::string problems =
      Problems(Replace(kValid, "on: \"deadline:check\"", "on: \"deadline:chek\""));
  EXPECT_THAT(problems, HasSubstr("t.textproto:9: deadline \"check\" has no handler"));
  EXPECT_THAT(problems, HasSubstr("t.textproto:19: rule \"late\": handles deadline \"chek\", which "
                                  "no action sets"));
}

TEST(DefinitionTest, ActionsAreChecked) {
  EXPECT_THAT(Problems(Replace(kValid, "then { escalate {} }\n    then { move_to",
                               "then { escalate { to_role: \"mayor\" } }\n    then { move_to")),
              HasSubstr("escalate to \"mayor\", which is not a rung"));
  EXPECT_THAT(
      Problems(Replace(kValid, "on_enter { set_deadline { name: \"check\" after: \"1d\" } }",
                       "on_enter { move_to: \"done\" }")),
      HasSubstr("move_to is not allowed in on_enter"));
  EXPECT_THAT(Problems(Replace(kValid, "after: \"1d\"", "after: \"1 day\"")),
              HasSubstr("is not a duration"));
}

TEST(DefinitionTest, ForbiddingAnEventARuleReactsToIsAContradiction) {
  EXPECT_THAT(Problems(Replace(kValid, "  name: \"open\"\n",
                               "  name: \"open\"\n  forbid: \"fever_reading\"\n")),
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

// kValid with the guard of rule "hot" (line 13) replaced by `guard`,
// escaped for the textproto string.
std::string WithHotGuard(const std::string& guard) {
  std::string escaped;
  for (char c : guard) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return Replace(kValid, "count(\\\"high\\\") >= 2", escaped);
}

// The definitions that crashed the server with a stack overflow, before
// guards had limits.
TEST(DefinitionLimitsTest, TheDefinitionsThatOverflowedTheStackAreRefused) {
  // 5,000 nested parentheses: a 10 KB definition, refused by the guard's length.
  const std::string parens = WithHotGuard(std::string(5000, '(') + "true" + std::string(5000, ')'));
  ASSERT_GT(parens.size(), 10000u);
  ASSERT_LT(parens.size(), kDefinitionBytesMax);
  EXPECT_THAT(Problems(parens),
              HasSubstr("t.textproto:13: rule \"hot\": guard \"((((((((((((((((((((((((((((((((("
                        "(((((((((((((((((((((((((((((((((((((((((((((((... (10004 bytes)\": "
                        "column 1025: a guard is at most 1024 bytes; this one is 10004"));
  // 300,000 negations: refused by the definition's size, before parsing.
  const std::string negations = WithHotGuard(std::string(300000, '!') + "true");
  EXPECT_THAT(Problems(negations),
              HasSubstr("workflow definition t.textproto is " + std::to_string(negations.size()) +
                        " bytes; at most 65536 are accepted"));
}

TEST(DefinitionLimitsTest, ADefinitionIsAcceptedUpToItsSizeLimit) {
  const std::string valid(kValid);
  const std::string comment =
      "# " + std::string(kDefinitionBytesMax - valid.size() - 3, 'x') + "\n";
  const std::string full = valid + comment;
  ASSERT_EQ(full.size(), kDefinitionBytesMax);
  auto def = Definition::Parse(full, "t.textproto");
  EXPECT_TRUE(def.ok()) << def.status();
  EXPECT_THAT(Problems(full + " "), HasSubstr("is 65537 bytes; at most 65536 are accepted"));
}

TEST(DefinitionLimitsTest, GuardsBeyondTheirLimitsAreNamedWithTheirLineAndColumn) {
  const std::string deep =
      std::string(kGuardNestingMax + 1, '(') + "true" + std::string(kGuardNestingMax + 1, ')');
  EXPECT_THAT(Problems(WithHotGuard(deep)),
              HasSubstr("t.textproto:13: rule \"hot\": guard \"" + deep +
                        "\": column 33: more than 32 parentheses and negations nested"));
  EXPECT_THAT(Problems(Replace(kValid, "opens_on { event: \"fever_reading\" }",
                               "opens_on { event: \"fever_reading\" when: \"" +
                                   std::string(kGuardNestingMax + 1, '!') + "true\" }")),
              HasSubstr("t.textproto:3: opener \"fever_reading\": guard \"" +
                        std::string(kGuardNestingMax + 1, '!') +
                        "true\": column 33: more than 32 parentheses and negations"));
  std::string wide = "fever_reading.celsius in [1";
  for (int i = 0; i < kGuardNodesMax; ++i) wide += ",1";
  wide += "]";
  EXPECT_THAT(Problems(Replace(kValid, "fever_reading.celsius >= 37.3", wide)),
              HasSubstr("t.textproto:6: counter \"high\": guard \"fever_reading.celsius in "
                        "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,... (540 bytes)\": "
                        "column 535: more than 256 values and operators in one guard"));
}

// A long guard is quoted cut, between characters.
TEST(DefinitionLimitsTest, AQuotedGuardIsCutBetweenCharacters) {
  std::string words;
  for (int i = 0; i < 30; ++i) words += "体温";  // 3 bytes a character
  const std::string problems = Problems(WithHotGuard("\"" + words + "\" == 1"));
  std::string shown;
  for (int i = 0; i < 13; ++i) shown += "体温";  // 79 bytes with the quote
  EXPECT_THAT(problems, HasSubstr("guard \"\"" + shown + "... (187 bytes)\": column"));
}

// A refusal travels as a gRPC status: however many problems a definition
// has, the message lists a bounded number of them.
TEST(DefinitionLimitsTest, TheProblemsListedAreBounded) {
  std::string many = kValid;
  for (int i = 0; i < 30; ++i) many += "opens_on { event: \"fever_readin\" }\n";
  const std::string problems = Problems(many);
  EXPECT_THAT(problems, HasSubstr("has 30 problems, the first 20 of them:\n"));
  EXPECT_EQ(std::count(problems.begin(), problems.end(), '\n'), 20);
}

// protobuf's text parser recurses once per nested message and has no bound
// of its own (kDefinitionNestingMax sets one): the schema must stay shallower
// than that bound, and not recursive.
TEST(DefinitionLimitsTest, TheSchemaNestsLessDeeplyThanTheTextParserMayRecurse) {
  std::function<int(const google::protobuf::Descriptor*, std::set<const void*>&)> depth =
      [&](const google::protobuf::Descriptor* d, std::set<const void*>& path) {
        EXPECT_TRUE(path.insert(d).second) << d->full_name() << " is recursive";
        int deepest = 0;
        for (int i = 0; i < d->field_count(); ++i) {
          const auto* m = d->field(i)->message_type();
          if (m != nullptr && !path.count(m)) deepest = std::max(deepest, depth(m, path));
        }
        path.erase(d);
        return deepest + 1;
      };
  std::set<const void*> path;
  const int schema = depth(v1::WorkflowDefinition::descriptor(), path);
  EXPECT_EQ(schema, 5);  // definition, stage, rule, action, task
  EXPECT_LT(schema, kDefinitionNestingMax);
}

TEST(DefinitionLimitsTest, FromProtoHasTheSameGuardLimits) {
  auto def = Definition::Parse(kValid, "t.textproto");
  ASSERT_TRUE(def.ok()) << def.status();
  v1::WorkflowDefinition proto = (*def)->proto();
  proto.mutable_stages(0)->mutable_rules(0)->set_when(std::string(300000, '!') + "true");
  auto refused = Definition::FromProto(proto);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("rule \"hot\": guard \"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
                        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!... (300004 bytes)\": column 1025: a guard "
                        "is at most 1024 bytes"));
}

// Definitions in the log were checked when they were written; one changed
// on disk since (or written before guards had limits) stops the engine
// from opening, with the reason, rather than crashing it.
TEST(DefinitionLimitsTest, AStoredDefinitionBeyondTheLimitsIsRefusedAtOpen) {
  gridcase::testing::TempDir dir;
  EngineOptions options;
  options.data_dir = dir.Sub("data");
  options.partitions = 1;
  const SystemClock clock;
  {
    auto engine = Engine::Open(options, &clock);
    ASSERT_TRUE(engine.ok()) << engine.status();
    ASSERT_TRUE(gridcase::testing::DeploySync(**engine, kValid, "t.textproto").ok());
  }
  {
    gridcase::testing::RawPartition raw(options.data_dir + "/partition-000");
    gridcase::testing::RewriteConsistently(raw, 1, raw.LastPosition(), [](v1::Record* r) {
      ASSERT_TRUE(r->event().has_workflow_deployed());
      r->mutable_event()
          ->mutable_workflow_deployed()
          ->mutable_definition()
          ->mutable_stages(0)
          ->mutable_rules(0)
          ->set_when(std::string(5000, '(') + "true" + std::string(5000, ')'));
    });
  }
  auto engine = Engine::Open(options, &clock);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(engine.status().message(), HasSubstr("stored workflow t v1 does not validate"));
  EXPECT_THAT(engine.status().message(),
              HasSubstr("rule \"hot\": guard \"((((((((((((((((((((((((((((((((((((((((((((((((("
                        "(((((((((((((((((((((((((((((((... (10004 bytes)\": column 1025"));
}

}  // namespace
}  // namespace gridcase::workflow

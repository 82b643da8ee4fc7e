// What the fuzz targets (tests/fuzz) found, each fixed: one test per
// finding, failing without its fix. The input that found it is kept in the
// target's corpus (tests/fuzz/corpus/NAME/).
#include <string>
#include <vector>

#include "engine/domain/directory.h"
#include "engine/domain/validate.h"
#include "engine/workflow/definition.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kNowUs = 1582401600LL * 1000000;

// directory_fuzz: the copy an import is checked against lost who serves
// each unit and who is marked unavailable, so it answered "nobody" where
// the directory it copied named people.
TEST(FuzzRegressionTest, ADirectorysCloneAnswersAsTheDirectory) {
  Directory directory;
  for (const auto& entry : testing::ExampleDirectory()) {
    ASSERT_TRUE(directory.Check(entry).ok());
    directory.Apply(entry, kNowUs);
  }
  v1::DirectoryEntry away;
  away.mutable_availability()->set_person_id("worker-li");
  away.mutable_availability()->set_availability(v1::AVAILABILITY_UNAVAILABLE);
  ASSERT_TRUE(directory.Check(away).ok());
  directory.Apply(away, kNowUs);

  const auto clone = directory.Clone();
  auto ids = [](const std::vector<Person>& people) {
    std::vector<std::string> out;
    for (const Person& p : people) out.push_back(p.id);
    return out;
  };
  EXPECT_THAT(ids(clone->PeopleOf("jiangan-07-03")), ElementsAre("cadre-zhang", "worker-li"));
  EXPECT_EQ(clone->Resolve(v1::ROLE_GRID_WORKER, "jiangan-07-03", kNowUs),
            directory.Resolve(v1::ROLE_GRID_WORKER, "jiangan-07-03", kNowUs));
  EXPECT_EQ(clone->Resolve(v1::ROLE_CADRE, "jiangan-07-04", kNowUs), "cadre-wang");
  EXPECT_THAT(ids(clone->UnavailablePeople(kNowUs)), ElementsAre("worker-li"));
}

// definition_fuzz: the text format takes any bytes in a string, so a
// definition whose task title was not UTF-8 was deployed; its tasks copied
// the title into derived records, and neither those records nor the
// deployment's parsed back (protobuf refuses such a string field).
TEST(FuzzRegressionTest, ADefinitionWithAStringThatIsNotUtf8IsRefused) {
  auto source = [](const std::string& title) {
    return "name: \"w\"\nversion: 1\nopens_on { event: \"note\" }\ninitial_stage: \"open\"\n"
           "stages {\n  name: \"open\"\n  rules {\n    name: \"r\"\n    on: \"note\"\n"
           "    then { open_task { name: \"t\" role: \"grid_worker\" title: \"" +
           title +
           "\" } }\n    then { move_to: \"done\" }\n  }\n}\n"
           "stages { name: \"done\" terminal: true }\n";
  };
  ASSERT_TRUE(workflow::Definition::Parse(source("Deliver the medicine"), "w.textproto").ok());
  auto refused = workflow::Definition::Parse(source("Deliver the medi\\235\\226"), "w.textproto");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("w.textproto:10: stages[0].rules[0].then[0].open_task.title is not valid "
                        "UTF-8"));

  v1::WorkflowDefinition stored = (*workflow::Definition::Parse(source("ok"), "w"))->proto();
  stored.mutable_stages(0)->mutable_rules(0)->mutable_then(0)->mutable_open_task()->set_title(
      "\xed\xa0\x80");  // a surrogate, which UTF-8 has no place for
  EXPECT_EQ(workflow::Definition::FromProto(stored).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// definition_fuzz: each problem quoted what it was about whole (a name, a
// rung, a string protobuf's parser stopped at), so a refusal could pass the
// 8 KiB of metadata a gRPC client takes and reach it as RESOURCE_EXHAUSTED
// instead of the reason (docs/workflows.md, "Limits").
TEST(FuzzRegressionTest, ARefusalFitsTheMetadataAClientTakes) {
  const std::string rung(3000, 'r');
  const std::string file(256, 'f');
  std::string source =
      "name: \"w\" version: 1 opens_on { event: \"note\" } initial_stage: \"x\"\n"
      "stages { name: \"x\" terminal: true }\nescalation_ladder: [";
  for (int i = 0; i < 4; ++i) source += (i ? ", \"" : "\"") + rung + "\"";
  source += "]\n";
  auto refused = workflow::Definition::Parse(source, file);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(refused.status().message().size(), 8u * 1024) << refused.status().message().size();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("has 3 problems"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("escalation ladder rung \"rrr"));

  auto unparsed = workflow::Definition::Parse("name: 1 \"" + std::string(20000, 's') + "\"", file);
  ASSERT_EQ(unparsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(unparsed.status().message().size(), 8u * 1024) << unparsed.status().message().size();
  EXPECT_THAT(std::string(unparsed.status().message()), HasSubstr("does not parse"));
}

// UTF-8 as protobuf reads it: a check by lead and continuation bytes alone
// let through what protobuf refuses.
TEST(FuzzRegressionTest, Utf8IsCheckedAsProtobufReadsIt) {
  EXPECT_TRUE(IsValidUtf8("Jiang'an \xe6\xb1\x9f\xe5\xb2\xb8 \xf0\x9f\x98\xb7"));
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));          // an overlong NUL
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // an overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe6\xb1"));          // cut short
}

}  // namespace
}  // namespace gridcase

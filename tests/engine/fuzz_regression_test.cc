// What the fuzz targets (tests/fuzz) found, each fixed: one test per
// finding, failing without its fix. The input that found it is kept in the
// target's corpus (tests/fuzz/corpus/NAME/).
#include <string>
#include <vector>

#include "engine/access/access_log.h"
#include "engine/common/clock.h"
#include "engine/domain/directory.h"
#include "engine/domain/validate.h"
#include "engine/workflow/definition.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"
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

// directory_fuzz: an ImportDirectoryRequest (bytes any admin client
// sends) with an availability starting in the year 31 million overflowed
// converting it to microseconds; it is refused like any other bad entry.
TEST(FuzzRegressionTest, AnAvailabilityOutsideTheYears1To9999IsRefused) {
  Directory directory;
  for (const auto& entry : testing::ExampleDirectory()) directory.Apply(entry, kNowUs);
  v1::DirectoryEntry away;
  away.mutable_availability()->set_person_id("worker-li");
  away.mutable_availability()->set_availability(v1::AVAILABILITY_UNAVAILABLE);
  away.mutable_availability()->mutable_from()->set_seconds(1582300000);
  away.mutable_availability()->mutable_until()->set_seconds(1582500000);
  EXPECT_TRUE(directory.Check(away).ok());
  away.mutable_availability()->mutable_from()->set_seconds(1000000000000000);
  away.mutable_availability()->mutable_until()->set_seconds(1000000000000001);
  EXPECT_EQ(directory.Check(away).code(), absl::StatusCode::kInvalidArgument);
  away.mutable_availability()->mutable_from()->set_seconds(1582300000);
  away.mutable_availability()->mutable_until()->set_nanos(-1);
  EXPECT_EQ(directory.Check(away).code(), absl::StatusCode::kInvalidArgument);
}

// The same overflow, seen reading the code after the finding above: the
// access log's query took its from and to as sent.
TEST(FuzzRegressionTest, AnAccessQueryOutsideTheYears1To9999IsRefused) {
  testing::TempDir dir;
  FakeClock clock(kNowUs);
  auto log = AccessLog::Open(dir.Sub("access"), nullptr, &clock);
  ASSERT_TRUE(log.ok()) << log.status();
  v1::AccessRecord read;
  read.set_caller("gridcase:person:worker-li");
  read.set_call("CaseService/GetCase");
  read.add_case_ids("guard-wang");
  ASSERT_TRUE((*log)->AppendAndWait(read).ok());
  v1::ReadAccessRequest query;
  query.mutable_from()->set_seconds(1582300000);
  auto listed = (*log)->Read(query);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->entries_size(), 1);
  query.mutable_to()->set_seconds(-1000000000000000);
  EXPECT_EQ((*log)->Read(query).status().code(), absl::StatusCode::kInvalidArgument);
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

// The gridcase CLI against a real gridcased, as a person would use it,
// including the README's walk-through files.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/common/file_modes.h"
#include "engine/engine.h"
#include "engine/storage/chain.h"
#include "engine/storage/data_dir.h"
#include "engine/storage/wal_scan.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/child_server.h"
#include "tests/support/certs.h"
#include "tests/support/damage.h"
#include "tests/support/raw_partition.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::testing::HasSubstr;

using CliRun = testing::ProgramRun;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--development",
                                  "--data-dir",
                                  dir_.Sub("data"),
                                  "--listen",
                                  "127.0.0.1:0",
                                  "--workflows",
                                  testing::ShippedWorkflowDir()};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = std::make_unique<testing::ChildServer>(GRIDCASED_PATH, args);
    ASSERT_NE(server_->port(), 0) << server_->output();
  }

  // Stops the server as an operator would (SIGTERM: drain, final signature).
  void StopServer() {
    const int status = server_->KillAndWait(SIGTERM);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server_->output();
  }

  // The directory of the partition holding `case_id`.
  std::string PartitionDirOf(const std::string& case_id) {
    auto count = ReadPartitionCount(dir_.Sub("data"));
    EXPECT_TRUE(count.ok()) << count.status();
    return PartitionDir(dir_.Sub("data"), static_cast<uint32_t>(Fnv1a64(case_id) % *count));
  }

  // Runs the CLI against the server with `args`; `input` becomes its stdin.
  CliRun Cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--server", server_->address()});
    return testing::RunProgram(GRIDCASE_CLI_PATH, args, input, dir_.path());
  }

  // Runs the CLI until its output holds `expected`, for what the server
  // does on its own once it has answered (deadlines already due fire after
  // the write that set them); gives up after 10 s with the last run.
  CliRun CliUntil(const std::vector<std::string>& args, const std::string& expected) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    CliRun r = Cli(args);
    while (r.out.find(expected) == std::string::npos &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      r = Cli(args);
    }
    return r;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ChildServer> server_;
};

const std::string kExamples = std::string(SOURCE_DIR) + "/deploy/examples/";

TEST_F(CliTest, TheReadmeWalkThrough) {
  EXPECT_EQ(Cli({"health"}).out, "SERVING\n");

  CliRun r = Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("4 accepted (0 duplicates), 0 refused"));

  // The second reading at or above 37.3 °C within 24 h escalated the case
  // to the community secretary; the story is from February 2020, so the
  // daily check and the re-test it set for the next day were long past and
  // fired at once, each a rung higher.
  r = CliUntil({"case", "get", "resident-0222-017"}, "\"version\": \"20\"");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"category\": \"CATEGORY_FEVER\""));
  EXPECT_THAT(r.out, HasSubstr("\"escalationRole\": \"district_officer\""));
  EXPECT_THAT(r.out, HasSubstr("\"stage\": \"isolation\""));
  r = Cli({"case", "timeline", "resident-0222-017", "--table"});
  EXPECT_THAT(r.out, HasSubstr("to_role=community_secretary"));
  EXPECT_THAT(r.out, HasSubstr("deadline=retest due_at=2020-02-23T12:03:00Z "
                               "rule=second-high-reading  already past due by"));
  EXPECT_THAT(r.out, HasSubstr("after its due time)"));

  r = Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("4 accepted (4 duplicates)"));

  r = Cli({"submit", "--lines", "-f", kExamples + "security-guard-next-day.jsonl", "--table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The README shows these numbers.
  EXPECT_THAT(r.out, HasSubstr("4     accepted  resident-0222-017  26       28        "
                               "guard-0223-result"));
  r = CliUntil({"case", "list", "--category", "fever", "--grid", "jiangan-07-03", "--table"},
               "cadre-zhang  30");
  EXPECT_THAT(r.out, HasSubstr("resident-0222-017  isolation  fever     jiangan-07-03  "
                               "cadre-zhang  30"));
  r = Cli({"case", "list", "--stage", "isolation", "--grid", "jiangan-07-03", "--table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("resident-0222-017  isolation"));

  r = Cli({"case", "timeline", "resident-0222-017", "--table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("37.9 °C at compound gate"));
  EXPECT_THAT(r.out, HasSubstr("outcome=TEST_OUTCOME_NEGATIVE"));
}

TEST_F(CliTest, WorkflowCommands) {
  CliRun r = Cli({"workflow", "list", "--table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("epidemic-case  1"));
  EXPECT_THAT(r.out, HasSubstr("epidemic-case  2"));
  EXPECT_THAT(r.out, HasSubstr("help-request   2"));

  r = Cli({"workflow", "get", "epidemic-case", "--table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("initial_stage: \"screening\""));

  r = Cli({"workflow", "deploy", "-"},
          "name: \"x\"\nversion: 1\nopens_on { event: \"fever_readin\" }\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("stdin:3: opener \"fever_readin\""));

  r = Cli({"workflow", "deploy", testing::ShippedWorkflowDir() + "/help-request.textproto"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"duplicate\": true"));
}

TEST_F(CliTest, TheDemoShowsTheDecisions) {
  CliRun r = Cli({"demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("== The security guard's four readings =="));
  EXPECT_THAT(r.out, HasSubstr("↳ escalated"));
  EXPECT_THAT(r.out, HasSubstr("Now: stage isolation, category CATEGORY_FEVER, held by the "
                               "community_secretary rung"));
  EXPECT_THAT(r.out, HasSubstr("Now: stage delivered"));
  EXPECT_THAT(r.out, HasSubstr("Now: stage observation, category CATEGORY_CONFIRMED"));
}

TEST_F(CliTest, DirectoryImportAndQueries) {
  CliRun r = Cli({"directory", "import", kExamples + "directory.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("14 new, 0 already in the directory"));
  r = Cli({"directory", "import", kExamples + "directory.jsonl"});
  EXPECT_THAT(r.err, HasSubstr("0 new, 14 already in the directory"));

  r = Cli({"directory", "unit", "jiangan-07-03", "--table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("cadre-zhang  Zhang  cadre        worker-li    yes"));
  r = Cli({"directory", "person", "secretary-chen"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"role\": \"ROLE_COMMUNITY_SECRETARY\""));

  r = Cli(
      {"directory", "import", "-"},
      "{\"unit\": {\"unitId\": \"g-1\", \"level\": \"UNIT_LEVEL_GRID\", \"parentId\": \"x\"}}\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("line 1: unit g-1: parent x does not exist"));
  r = Cli({"directory", "import", "-"}, "{\"unit\": \n");
  EXPECT_EQ(r.exit_code, 2);

  // With the directory, the guard's escalation names the secretary; the
  // deadlines of Feb 23, 2020 that fire at once take it on up to the
  // district's officer.
  ASSERT_EQ(Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"}).exit_code, 0);
  r = CliUntil({"case", "get", "resident-0222-017"}, "\"assignee\": \"officer-xu\"");
  EXPECT_THAT(r.out, HasSubstr("\"assignee\": \"officer-xu\""));
  r = Cli({"case", "timeline", "resident-0222-017", "--table"});
  EXPECT_THAT(r.out, HasSubstr("to_role=community_secretary"));
  EXPECT_THAT(r.out, HasSubstr("to_person=secretary-chen"));
}

TEST_F(CliTest, AuditVerifySaysTheLogIsIntact) {
  ASSERT_EQ(Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"}).exit_code, 0);
  CliRun r = Cli({"audit", "verify", "--table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("intact"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("record ")));

  // As it had happened by 20:02 on Feb 22 (Beijing): two of the four readings.
  r = Cli({"audit", "case", "resident-0222-017", "--happened-by", "2020-02-22T20:01:30+08:00"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"feverReadings\": 2"));
  r = Cli({"audit", "case", "resident-0222-017"});
  EXPECT_EQ(r.exit_code, 2);
}

// The submissions column of the "all" row of `gridcase stats --table`.
long TotalSubmissions(const std::string& table) {
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string name;
    long submissions = -1;
    if (fields >> name >> submissions && name == "all") return submissions;
  }
  return -1;
}

TEST_F(CliTest, StatsShowWhatThePartitionsWroteAndHowLongItTook) {
  CliRun before = Cli({"stats", "--table"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_THAT(before.out, HasSubstr("since the server started"));
  EXPECT_THAT(before.out, HasSubstr("WRITE_P99"));
  const long at_start = TotalSubmissions(before.out);
  ASSERT_GE(at_start, 0) << before.out;  // the shipped workflows' deployments

  // Readings taken now (the CLI dates them): nothing falls due meanwhile,
  // so the server's submissions are exactly these.
  std::string events;
  for (int i = 0; i < 4; ++i) {
    events += "{\"caseId\":\"stats-" + std::to_string(i) +
              "\",\"actor\":{\"id\":\"worker-li\"},\"feverReading\":{\"celsius\":36.6}}\n";
  }
  const long lines = 4;
  ASSERT_EQ(Cli({"submit", "--lines"}, events).exit_code, 0);
  CliRun after = Cli({"stats", "--table"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(TotalSubmissions(after.out) - at_start, lines) << after.out;
  EXPECT_THAT(after.out, HasSubstr("server CPU: "));

  CliRun json = Cli({"stats"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"cpuMicros\""));
  EXPECT_THAT(json.out, HasSubstr("\"answered\""));

  CliRun watched = Cli({"stats", "--table", "--interval", "0.1"});
  ASSERT_EQ(watched.exit_code, 0) << watched.err;
  EXPECT_THAT(watched.out, HasSubstr("over 0.1 s"));
  EXPECT_THAT(watched.out, HasSubstr("cores busy"));
  EXPECT_EQ(TotalSubmissions(watched.out), 0) << watched.out;  // nothing submitted meanwhile

  EXPECT_EQ(Cli({"stats", "--interval", "-1"}).exit_code, 2);
}

TEST_F(CliTest, SubmitFromStdinFillsIdAndTime) {
  CliRun r = Cli({"submit"},
                 R"({"caseId":"c1","actor":{"id":"worker-li"},"feverReading":{"celsius":36.6}})");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"eventId\": \"cli-"));
  EXPECT_THAT(r.out, HasSubstr("\"caseVersion\": \"1\""));
}

TEST_F(CliTest, ExitCodesSayWhatWentWrong) {
  CliRun r =
      Cli({"submit", R"({"caseId":"c1","actor":{"id":"w"},"feverReading":{"celsius":377}})"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("error: INVALID_ARGUMENT: event.fever_reading.celsius"));

  r = Cli({"submit", R"({"caseId": "c1", "feverReading": )"});
  EXPECT_EQ(r.exit_code, 2);

  r = Cli({"case", "get", "nobody"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("error: NOT_FOUND"));

  ASSERT_EQ(Cli({"submit", R"({"caseId":"c2","actor":{"id":"w"},"feverReading":{"celsius":36.6}})"})
                .exit_code,
            0);
  r = Cli({"submit", "--expected-version", "0",
           R"({"caseId":"c2","actor":{"id":"w"},"feverReading":{"celsius":36.7}})"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("current version: 3"));  // the reading and 2 derived

  server_->KillAndWait(SIGKILL);
  r = Cli({"--timeout", "2", "case", "get", "c2"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST_F(CliTest, ACaseIsErasedFromTheCommandLineAndReadsThenSaySo) {
  ASSERT_EQ(Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"}).exit_code, 0);
  const std::string reason = "the resident withdrew consent after recovery";
  CliRun r = Cli({"case", "erase", "resident-0222-017", "--reason", "asked", "--legal-basis",
                  "PIPL art. 47(1)"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT: reason: 5 characters; 20 to 500 required"));
  r = Cli({"case", "erase", "resident-0222-017", "--reason", reason});
  EXPECT_EQ(r.exit_code, 2);  // --legal-basis is required
  ASSERT_EQ(Cli({"case", "get", "resident-0222-017"}).exit_code, 0);

  r = Cli({"case", "erase", "resident-0222-017", "--reason", reason, "--legal-basis",
           "PIPL art. 47(1)", "--table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("case resident-0222-017 is erased at partition "));
  std::string position = r.out.substr(r.out.rfind(' ') + 1);
  position.pop_back();  // the newline
  r = Cli({"case", "erase", "resident-0222-017", "--reason", reason, "--legal-basis",
           "PIPL art. 47(1)"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"duplicate\": true"));
  EXPECT_THAT(r.out, HasSubstr("\"position\": \"" + position + "\""));

  const std::string erased = "NOT_FOUND: case resident-0222-017 was erased at position " + position;
  r = Cli({"case", "get", "resident-0222-017"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(erased));
  r = Cli({"case", "timeline", "resident-0222-017"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(erased));
  // The log keeps every record, and verifies.
  r = Cli({"audit", "verify"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // Checkpoints leave the keys out unless asked.
  r = Cli({"audit", "checkpoint", "plain"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("data") + "/checkpoints/plain/keys"));
  r = Cli({"audit", "checkpoint", "keyed", "--include-keys"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"keys\": true"));
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("data") + "/checkpoints/keyed/keys/subjects"));
}

// A person of the directory erased from the command line; and the
// offline conversion commands on a checkpoint (a log sealed already: its
// records keep their bytes, its chain starts from an origin naming the
// old head, and the old chain re-derives).
TEST_F(CliTest, APersonIsErasedAndACopyConvertedFromTheCommandLine) {
  ASSERT_EQ(Cli({"directory", "import", kExamples + "directory.jsonl"}).exit_code, 0);
  ASSERT_EQ(Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"}).exit_code, 0);
  CliRun r = Cli({"directory", "erase", "worker-li", "--reason",
                  "the worker left the service and asked for erasure", "--legal-basis",
                  "PIPL art. 47(1)", "--table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("person worker-li is erased at partition "));
  std::string position = r.out.substr(r.out.rfind(' ') + 1);
  position.pop_back();  // the newline
  r = Cli({"directory", "person", "worker-li"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"erasedAt\": \"" + position + "\""));
  EXPECT_THAT(r.out, HasSubstr("\"name\": \"\""));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("\"Li\"")));
  r = Cli({"directory", "erase", "nobody", "--reason",
           "the worker left the service and asked for erasure", "--legal-basis", "PIPL"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND: person nobody does not exist"));

  ASSERT_EQ(Cli({"audit", "checkpoint", "copy", "--include-keys"}).exit_code, 0);
  const std::string key = dir_.Sub("data") + "/keys/master.key";
  const std::string from = dir_.Sub("data") + "/checkpoints/copy";
  const std::string to = dir_.Sub("converted");
  r = Cli({"storage", "seal", "--from", from, "--to", to, "--master-key", key});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"result\": \"converted\""));
  EXPECT_THAT(r.out, HasSubstr("\"recordsSealed\": 0"));  // sealed already
  EXPECT_THAT(r.err, HasSubstr("done: "));
  r = Cli({"storage", "verify-conversion", "--data-dir", to, "--master-key", key});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"result\": \"verified\""));
  EXPECT_THAT(r.out, HasSubstr("\"oldChainRederived\": true"));
  r = Cli({"storage", "seal", "--from", from, "--to", to, "--master-key", key});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("exists: convert into a directory that does not exist yet"));
  r = Cli({"storage", "seal", "--from", from, "--to", dir_.Sub("other")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no --master-key given"));
}

TEST_F(CliTest, KafkaStatusSaysWhenTheServerRunsWithoutKafka) {
  CliRun r = Cli({"kafka", "status"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("FAILED_PRECONDITION: this server runs without Kafka"));
}

TEST_F(CliTest, AuditLogCheckpointAndRebuild) {
  ASSERT_EQ(Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"}).exit_code, 0);
  CliRun r = Cli({"audit", "log", "--case", "resident-0222-017"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    EXPECT_THAT(line, HasSubstr("\"caseVersion\":\"" + std::to_string(n) + "\""));
    EXPECT_THAT(line, HasSubstr("\"prevHash\":"));
  }
  EXPECT_GE(n, 4);  // four readings and what they led to
  r = Cli({"audit", "log", "--type", "fever_reading"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("4 records"));
  r = Cli({"audit", "log", "--type", "temperature"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT: event_types: temperature"));

  r = Cli({"audit", "checkpoint", "cp1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string checkpoint = dir_.Sub("data") + "/checkpoints/cp1";
  EXPECT_THAT(r.out, HasSubstr(checkpoint));
  r = Cli({"audit", "rebuild", "--data-dir", checkpoint, "--into", dir_.Sub("rebuilt")});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"result\": \"identical\""));
  EXPECT_THAT(r.out, HasSubstr("\"recordsPerSecond\""));
  EXPECT_THAT(r.err, HasSubstr("comparing: "));
  // Never over something: the scratch directory must be empty.
  r = Cli({"audit", "rebuild", "--data-dir", checkpoint, "--into", dir_.Sub("rebuilt")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("is not empty"));
}

TEST_F(CliTest, AuditVerifyNamesTheRecordChangedWhileTheServerWasStopped) {
  ASSERT_EQ(Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"}).exit_code, 0);
  StopServer();
  uint64_t first = 0;  // the guard's first record
  {
    // One byte of it, in the partition's RocksDB.
    testing::RawPartition raw(PartitionDirOf("resident-0222-017"));
    for (uint64_t p = 1; first == 0 && p <= raw.LastPosition(); ++p) {
      StoredRecord stored;
      v1::Record record;
      const std::string value = raw.Get(p);
      ASSERT_TRUE(DecodeStoredRecord(value, &stored).ok());
      ASSERT_TRUE(record.ParseFromString(std::string(stored.record_bytes)));
      if (record.event().case_id() == "resident-0222-017") first = p;
    }
    ASSERT_NE(first, 0u);
    std::string value = raw.Get(first);
    value[value.size() / 3] ^= 0x01;
    raw.Put(first, value);
  }
  StartServer();
  CliRun r = Cli({"audit", "verify"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"firstBadPosition\": \"" + std::to_string(first) + "\""));
  EXPECT_THAT(r.out, HasSubstr("its bytes do not match its hash"));
  EXPECT_THAT(r.err, HasSubstr("the log has been altered"));
}

TEST_F(CliTest, AuditVerifyWithThePublicKeyCatchesAConsistentRewrite) {
  StopServer();
  // The key SetUp's server signed with (the default), named explicitly.
  const std::string key = dir_.Sub("data/keys/heads.key");
  StartServer({"--signing-key", key});
  ASSERT_EQ(Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"}).exit_code, 0);
  StopServer();  // signs the heads once more on the way down
  {
    testing::RawPartition raw(PartitionDirOf("resident-0222-017"));
    testing::RewriteConsistently(raw, 2, raw.LastPosition(), [](v1::Record* record) {
      record->mutable_event()->mutable_actor()->set_id("someone-else");
    });
  }
  StartServer({"--signing-key", key});
  CliRun r = Cli({"audit", "verify"});
  EXPECT_EQ(r.exit_code, 0) << "the chain alone cannot tell: " << r.out;
  r = Cli({"audit", "verify", "--public-key", key + ".pub", "--table"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("rewritten"));
}

TEST_F(CliTest, HeadsAreSignedByDefaultWithAKeyOnlyTheServersUserMayRead) {
  // SetUp's server was started without --signing-key.
  ASSERT_EQ(Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"}).exit_code, 0);
  StopServer();  // signs the heads once more on the way down
  const std::string key = dir_.Sub("data/keys/heads.key");
  EXPECT_TRUE(CheckFileExposure(key, Exposure::kOwnerOnly, "key").ok());
  EXPECT_TRUE(CheckFileExposure(dir_.Sub("data/keys"), Exposure::kOwnerOnly, "keys").ok());
  {
    testing::RawPartition raw(PartitionDirOf("resident-0222-017"));
    testing::RewriteConsistently(raw, 2, raw.LastPosition(), [](v1::Record* record) {
      record->mutable_event()->mutable_actor()->set_id("someone-else");
    });
  }
  StartServer();
  CliRun r = Cli({"audit", "verify", "--public-key", key + ".pub", "--table"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("rewritten"));
}

TEST_F(CliTest, AfterAChangeOfSigningKeyEveryKeyUsedVerifiesItsHeads) {
  ASSERT_EQ(Cli({"submit", "--lines", "-f", kExamples + "security-guard.jsonl"}).exit_code, 0);
  StopServer();  // heads signed with the default key
  const std::string first = dir_.Sub("data/keys/heads.key.pub");
  const std::string moved = dir_.Sub("new-head.key");
  StartServer({"--signing-key", moved});
  ASSERT_EQ(Cli({"submit", "--lines", "-f", kExamples + "security-guard-next-day.jsonl"}).exit_code,
            0);
  StopServer();  // and now with the new one
  StartServer({"--signing-key", moved});
  CliRun one = Cli({"audit", "verify", "--public-key", first, "--table"});
  EXPECT_EQ(one.exit_code, 1) << one.out;
  EXPECT_THAT(one.out, HasSubstr("does not verify"));
  CliRun both =
      Cli({"audit", "verify", "--public-key", first, "--public-key", moved + ".pub", "--table"});
  EXPECT_EQ(both.exit_code, 0) << both.out << both.err;
}

TEST_F(CliTest, NoSigningIsSaidAtTheStartAndLeavesNoKey) {
  StopServer();
  const std::string data = dir_.Sub("unsigned");
  testing::ChildServer server(GRIDCASED_PATH, {"--development", "--data-dir", data, "--listen",
                                               "127.0.0.1:0", "--no-signing"});
  ASSERT_NE(server.port(), 0) << server.output();
  const int status = server.KillAndWait(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server.output();
  EXPECT_THAT(server.output(), HasSubstr("--no-signing: chain heads are not signed"));
  EXPECT_FALSE(std::filesystem::exists(data + "/keys/heads.key"));

  testing::ChildServer both(GRIDCASED_PATH,
                            {"--development", "--data-dir", data, "--listen", "127.0.0.1:0",
                             "--no-signing", "--signing-key", dir_.Sub("k")});
  EXPECT_EQ(both.port(), 0);
  const int refused = both.KillAndWait(SIGTERM);
  EXPECT_TRUE(WIFEXITED(refused) && WEXITSTATUS(refused) == 1) << both.output();
  EXPECT_THAT(both.output(), HasSubstr("contradict"));
}

// The master key that wraps residents' keys: made owner-only by default,
// refused when loose, malformed or not the store's, and never shown.
TEST_F(CliTest, TheMasterKeyIsTheOwnersAloneRefusedWhenWrongAndNeverShown) {
  StopServer();
  const std::string made_key = dir_.Sub("data") + "/keys/master.key";
  struct stat st {};
  ASSERT_EQ(::stat(made_key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string made = testing::ReadFile(made_key);
  made.pop_back();  // the newline
  ASSERT_EQ(made.size(), 64u);
  EXPECT_EQ(server_->output().find(made), std::string::npos);

  // Starts gridcased on data directory `data` with `key`, and stops it:
  // 0 when it served and stopped cleanly, 100 + its exit code when it
  // refused to start; its output in `said`.
  auto start = [&](const std::string& data, const std::string& key, std::string* said) {
    testing::ChildServer server(GRIDCASED_PATH, {"--development", "--data-dir", data, "--listen",
                                                 "127.0.0.1:0", "--master-key", key});
    const bool served = server.port() != 0;
    const int status = server.KillAndWait(SIGTERM);
    *said = server.output();
    if (!WIFEXITED(status)) return -1;
    return served ? WEXITSTATUS(status) : 100 + WEXITSTATUS(status);
  };
  const std::string own = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const std::string other = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
  const std::string key = dir_.Sub("master.key");
  testing::WriteFileWithMode(key, own + "\n", 0644);
  std::string said;
  EXPECT_EQ(start(dir_.Sub("d1"), key, &said), 101);
  EXPECT_THAT(said, HasSubstr("master key " + key));
  EXPECT_THAT(said, HasSubstr("0644"));
  EXPECT_EQ(said.find(own), std::string::npos);

  testing::WriteFileWithMode(key, "not a key at all\n", 0600);
  EXPECT_EQ(start(dir_.Sub("d1"), key, &said), 101);
  EXPECT_THAT(said, HasSubstr("expected 64 hexadecimal digits"));
  EXPECT_EQ(said.find("not a key"), std::string::npos);

  testing::WriteFileWithMode(key, own + "\n", 0600);
  EXPECT_EQ(start(dir_.Sub("d1"), key, &said), 0) << said;
  EXPECT_EQ(said.find(own), std::string::npos);
  testing::WriteFileWithMode(key, other + "\n", 0600);
  EXPECT_EQ(start(dir_.Sub("d1"), key, &said), 101);
  EXPECT_THAT(said, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_EQ(said.find(own), std::string::npos);
  EXPECT_EQ(said.find(other), std::string::npos);
}

TEST_F(CliTest, ADamagedLogStopsTheServerUntilTheLossIsAccepted) {
  for (int i = 0; i < 12; ++i) {
    const std::string reading =
        absl::StrCat(R"({"eventId":"r)", i, R"(","caseId":"c7","actor":{"id":"w"},)",
                     R"("feverReading":{"celsius":36.6}})");
    ASSERT_EQ(Cli({"submit", reading}).exit_code, 0);
  }
  StopServer();
  // One byte of a record in the middle of the case's partition's log.
  const std::string partition = PartitionDirOf("c7");
  const std::string log = testing::LogWithRecords(partition);
  auto scan = ScanWalFile(log);
  ASSERT_TRUE(scan.ok() && !scan->damaged && scan->records.size() >= 12);
  testing::XorByte(log, scan->records[scan->records.size() / 2].begin() + 10, 0x7f);

  const std::vector<std::string> args{"--development", "--data-dir", dir_.Sub("data"), "--listen",
                                      "127.0.0.1:0"};
  CliRun server = testing::RunProgram(GRIDCASED_PATH, args, "", dir_.path());
  EXPECT_EQ(server.exit_code, 1);
  const std::string partition_no = partition.substr(partition.size() - 3);
  const int number = std::stoi(partition_no);
  EXPECT_THAT(server.out + server.err, HasSubstr(absl::StrCat("partition ", number, " (", partition,
                                                              ") has lost acknowledged writes")));
  EXPECT_THAT(server.out + server.err,
              HasSubstr(absl::StrCat("gridcase storage accept-loss --data-dir ", dir_.Sub("data"),
                                     " --partition ", number)));

  CliRun accepted = testing::RunProgram(GRIDCASE_CLI_PATH,
                                        {"storage", "accept-loss", "--data-dir", dir_.Sub("data"),
                                         "--partition", std::to_string(number)},
                                        "", dir_.path());
  ASSERT_EQ(accepted.exit_code, 0) << accepted.err;
  EXPECT_THAT(accepted.out, HasSubstr(dir_.Sub("data") + "/lost/partition-" + partition_no));
  StartServer();
  EXPECT_EQ(Cli({"health"}).out, "SERVING\n");
}

}  // namespace
}  // namespace gridcase

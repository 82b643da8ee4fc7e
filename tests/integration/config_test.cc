// gridcased's configuration as an operator meets it: `--check-config FILE`
// names every problem of a file (unknown keys, values of the wrong type,
// values out of range, files that are missing or do not load) and exits 1,
// or says the file is sound and exits 0; the shipped example is sound; a
// misspelt key stops the start instead of being ignored; and the
// effective configuration is logged at start with secrets redacted.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/child_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// Where a program's input and output go.
std::string Scratch(const testing::TempDir& dir) {
  std::filesystem::create_directories(dir.Sub("run"));
  return dir.Sub("run");
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ConfigTest, CheckConfigNamesEveryWrongKeyAndValue) {
  testing::TempDir dir;
  const std::string file = Write(dir.Sub("bad.toml"),
                                 "listen = \"127.0.0.1:0\"\n"
                                 "lisen = \"127.0.0.1:7070\"\n"  // a typo
                                 "partitions = \"many\"\n"
                                 "queue-capacity = -5\n");
  const testing::ProgramRun run =
      testing::RunProgram(GRIDCASED_PATH, {"--check-config", file}, "", Scratch(dir));
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr(file + ": lisen: not a gridcased option"));
  EXPECT_THAT(run.err, HasSubstr(file + ": partitions: "));
  EXPECT_THAT(run.err, HasSubstr(file + ": queue-capacity: "));
  EXPECT_THAT(run.out, Not(HasSubstr("sound")));
}

TEST(ConfigTest, CheckConfigNamesEveryUnsoundSetting) {
  testing::TempDir dir;
  const std::string file = Write(dir.Sub("unsound.toml"),
                                 "listen = \"127.0.0.1\"\n"
                                 "http-listen = \"host:http\"\n"
                                 "log-format = \"xml\"\n"
                                 "tls-key = \"" +
                                     dir.Sub("missing.key") +
                                     "\"\n"
                                     "workflows = \"" +
                                     dir.Sub("no-workflows") +
                                     "\"\n"
                                     "scrub-mib-per-s = -1\n"
                                     "kafka-brokers = \"127.0.0.1:9\"\n"
                                     "kafka-feed-format = \"avro\"\n"
                                     "kafka-property = [\"no-equals-sign\"]\n");
  const testing::ProgramRun run =
      testing::RunProgram(GRIDCASED_PATH, {"--check-config", file}, "", Scratch(dir));
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  for (const char* key :
       {"listen: 127.0.0.1 is not HOST:PORT",
        "http-listen: ", "log-format: ", "tls-key: given without tls-cert",
        "tls-key: " /* missing */, "workflows: cannot read directory",
        "scrub-mib-per-s: ", "kafka-feed-format: avro", "kafka-ingest-as: ", "kafka-property: "}) {
    EXPECT_THAT(run.err, HasSubstr(file + ": " + key)) << run.err;
  }
  EXPECT_THAT(run.err, HasSubstr("missing.key does not exist"));
}

TEST(ConfigTest, TheShippedExampleIsSound) {
  testing::TempDir dir;
  // The example names the workflows where a site installs them.
  const std::string example = ReadAll(std::string(SOURCE_DIR) + "/deploy/gridcased.toml");
  ASSERT_THAT(example, HasSubstr("/etc/gridcase/workflows"));
  const std::string file = Write(
      dir.Sub("gridcased.toml"),
      absl::StrReplaceAll(example, {{"/etc/gridcase/workflows", testing::ShippedWorkflowDir()}}));
  const testing::ProgramRun run =
      testing::RunProgram(GRIDCASED_PATH, {"--check-config", file}, "", Scratch(dir));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr(file + ": sound"));
}

TEST(ConfigTest, AMisspeltKeyStopsTheStart) {
  testing::TempDir dir;
  const std::string file =
      Write(dir.Sub("typo.toml"), "listen = \"127.0.0.1:0\"\ndata-dir = \"" + dir.Sub("data") +
                                      "\"\ndevelopment = true\nhttp-lisen = \"9464\"\n");
  const testing::ProgramRun run =
      testing::RunProgram(GRIDCASED_PATH, {"--config", file}, "", Scratch(dir));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.out + run.err, HasSubstr("http-lisen"));
  EXPECT_THAT(run.out + run.err, Not(HasSubstr("listening on")));
}

TEST(ConfigTest, TheEffectiveConfigurationIsLoggedWithSecretsRedacted) {
  testing::TempDir dir;
  testing::ChildServer server(
      GRIDCASED_PATH, {"--development", "--data-dir", dir.Sub("data"), "--listen", "127.0.0.1:0",
                       "--kafka-property", "sasl.password=hunter2-secret", "--kafka-property",
                       "security.protocol=SASL_SSL", "--queue-capacity", "777"});
  ASSERT_NE(server.port(), 0) << server.output();
  server.KillAndWait(SIGTERM);
  const std::string log = server.output();
  EXPECT_THAT(log, HasSubstr("configuration: "));
  EXPECT_THAT(log, HasSubstr("queue-capacity=777"));
  EXPECT_THAT(log, HasSubstr("huge-pages=true"));  // a default, not given
  EXPECT_THAT(log, HasSubstr("sasl.password=(redacted)"));
  EXPECT_THAT(log, HasSubstr("security.protocol=SASL_SSL"));
  EXPECT_THAT(log, Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace gridcase

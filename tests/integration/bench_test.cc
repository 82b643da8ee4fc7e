// gridcase-bench as a person runs it: against a real gridcased on a
// loopback port, with its baselines, and against a server that refuses
// what it sends. The figures themselves are not checked (the machine is
// shared); that every part of the report is there and says what happened
// is.
#include <sys/wait.h>

#include <cstdlib>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/child_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/workflows.h"

namespace gridcase {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class BenchTest : public ::testing::Test {
 protected:
  void StartServer(bool with_workflows) {
    std::vector<std::string> args{"--development", "--data-dir", dir_.Sub("data"), "--listen",
                                  "127.0.0.1:0"};
    if (with_workflows) {
      args.insert(args.end(), {"--workflows", testing::ShippedWorkflowDir()});
    }
    server_ = std::make_unique<testing::ChildServer>(GRIDCASED_PATH, args);
    ASSERT_NE(server_->port(), 0) << server_->output();
  }

  // A server with the shipped workflows and the directory of a city of
  // `grids` grids, written by the bench and imported by the CLI as a
  // person would; returns what the two said on standard error.
  std::string StartCity(int grids) {
    StartServer(/*with_workflows=*/true);
    if (HasFailure()) return "";
    const std::string directory = dir_.Sub("wuhan.jsonl");
    testing::ProgramRun r =
        Bench({"directory", "--grids", std::to_string(grids), "--out", directory});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string said = r.err;
    r = testing::RunProgram(GRIDCASE_CLI_PATH,
                            {"--server", server_->address(), "directory", "import", directory}, "",
                            dir_.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return said + r.err;
  }

  testing::ProgramRun Bench(std::vector<std::string> args) {
    return testing::RunProgram(GRIDCASE_BENCH_PATH, args, "", dir_.path());
  }

  // The acknowledged rate on the results line that starts with `label`.
  static double RateOf(const std::string& out, const std::string& label,
                       const std::string& duration) {
    std::smatch m;
    const std::regex line("\\n  " + label +
                          " +([0-9]+) /s over ([0-9.]+) s   ack p50 +[0-9.]+ ms  p99 +[0-9.]+ ms");
    if (!std::regex_search(out, m, line)) return -1;
    // The window measured is exactly the one asked for (--duration),
    // however late the bench's own thread woke.
    EXPECT_EQ(m[2].str(), duration) << label;
    return std::atof(m[1].str().c_str());
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ChildServer> server_;
};

TEST_F(BenchTest, AShortDayReportsBothModesBesideTheirBaselines) {
  const std::string said = StartCity(26);
  ASSERT_FALSE(HasFailure()) << said;
  EXPECT_THAT(said, HasSubstr("112 directory entries for 26 grids"));
  EXPECT_THAT(said, HasSubstr("112 new"));

  testing::ProgramRun r =
      Bench({"--server", server_->address(), "--grids", "26", "--residents-per-grid", "10",
             "--duration", "1", "--warmup", "0.5", "--in-flight", "32", "--raw-dir", dir_.Sub(""),
             "--raw-seconds", "0.5", "--seed", "11"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // Progress, a line a second per phase.
  for (const char* phase : {"gridcase unary", "gridcase stream", "echo unary", "echo stream"}) {
    EXPECT_TRUE(std::regex_search(
        r.err, std::regex(std::string("  ") + phase + " +[0-9]+\\.[0-9] s +[0-9]+ acked/s  p99 ")))
        << phase << "\n"
        << r.err;
  }
  // Results: every phase acknowledged something and had no errors.
  for (const char* label : {"gridcase unary", "echo unary", "gridcase stream", "echo stream"}) {
    EXPECT_GT(RateOf(r.out, label, "1.00"), 0) << label << "\n" << r.out;
  }
  EXPECT_THAT(r.out, Not(HasSubstr("x NOT_FOUND")));
  const std::regex clean("errors: none");
  EXPECT_EQ(std::distance(std::sregex_iterator(r.out.begin(), r.out.end(), clean),
                          std::sregex_iterator()),
            4)
      << r.out;
  // The ratios, and what the server said it did.
  EXPECT_TRUE(std::regex_search(r.out, std::regex("ratio unary +[0-9.]+ x echo"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("ratio stream +[0-9.]+ x echo"))) << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("raw rocksdb +[0-9]+ /s   \\(4 databases, synced groups of [0-9]+ x "
                        "[0-9]+ bytes")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("ratio stream +[0-9.]+ x raw"))) << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("server: +[1-9][0-9]* submissions in [1-9][0-9]* synced groups")))
      << r.out;
  EXPECT_THAT(r.out, HasSubstr("server CPU:"));
  EXPECT_THAT(r.out, HasSubstr("server latency:"));

  r = Bench({"timeline", "--server", server_->address(), "--events", "50", "--reads", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The first event opens the case and its workflow derives records of
  // its own; the notes after it derive none.
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("timeline of a case with 5[0-9] records \\(one page\\), 20 reads: p50")))
      << r.out;
}

// An open-loop rate is held in both modes: the server keeps up with a few
// hundred a second, so what is acknowledged is what was asked for.
TEST_F(BenchTest, AnOpenLoopRateIsHeld) {
  const std::string said = StartCity(13);
  ASSERT_FALSE(HasFailure()) << said;
  const testing::ProgramRun r =
      Bench({"--server", server_->address(), "--grids", "13", "--rate", "400", "--duration", "3",
             "--warmup", "0.5", "--no-baselines"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(", 400 submissions/s, 3 s after 0.5 s warm-up"));
  // Three seconds, so that a stall of a shared machine near an edge of the
  // window moves the count by a few percent, not the bounds' fifth.
  for (const char* label : {"gridcase unary", "gridcase stream"}) {
    const double rate = RateOf(r.out, label, "3.00");
    EXPECT_GE(rate, 320) << label << "\n" << r.out;
    EXPECT_LE(rate, 480) << label << "\n" << r.out;
  }
}

// Without workflows every submission is refused: the run says how many, by
// status and with the first message, and exits 1 rather than pass for a
// measurement.
TEST_F(BenchTest, RefusedSubmissionsAreCountedByStatusAndFailTheRun) {
  StartServer(/*with_workflows=*/false);
  testing::ProgramRun r =
      Bench({"--server", server_->address(), "--mode", "stream", "--grids", "5", "--duration",
             "0.5", "--warmup", "0", "--in-flight", "8", "--no-baselines"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(
      r.out,
      std::regex(
          "0 /s over 0\\.50 s .* errors: [1-9][0-9]* x NOT_FOUND \\(the first: \"[^\"]+\"\\)")))
      << r.out;
  EXPECT_TRUE(std::regex_search(
      r.err, std::regex("error: the gridcase stream phase had [1-9][0-9]* failed submissions; "
                        "measured: [1-9][0-9]* x NOT_FOUND")))
      << r.err;
}

// The micro-benchmarks and the deadline bench run in process: each must
// still run to its end and report (not how fast: that is theirs to say).
TEST_F(BenchTest, EveryMicroBenchmarkRunsAndReports) {
  testing::ProgramRun r =
      testing::RunProgram(GRIDCASE_MICRO_BENCH_PATH, {"--benchmark_list_tests"}, "", dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> names;
  std::istringstream lines(r.out);
  for (std::string name; std::getline(lines, name);) names.push_back(name);
  // The fold of one event, key encoding and guard evaluation among them.
  EXPECT_THAT(names, ::testing::IsSupersetOf({"BM_ApplyOneRecord", "BM_EncodeKeys",
                                              "BM_GuardEvaluate", "BM_Timeline1000/0"}));
  r = testing::RunProgram(GRIDCASE_MICRO_BENCH_PATH, {"--benchmark_min_time=0.001"}, "",
                          dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& name : names) {
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex("\\n" + std::regex_replace(name, std::regex("/"), "\\/") +
                          " +[0-9.]+ (ns|us|ms) +[0-9.]+ (ns|us|ms) +[1-9][0-9]*")))
        << name << "\n"
        << r.out;
  }
}

TEST_F(BenchTest, TheDeadlineBenchHoldsBurstsAndFires) {
  testing::ProgramRun r = testing::RunProgram(
      GRIDCASE_DEADLINE_BENCH_PATH,
      {"--hold", "2000", "--burst", "500", "--lateness-cases", "10", "--dir", dir_.Sub("dl")}, "",
      dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("hold: [0-9]+ pending deadlines \\(2000 cases")))
      << r.out;
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex("burst: 500 deadlines due at once drained in [0-9.]+ s")))
      << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("lateness: 10 deadlines fired by the scheduler under load .*p50 "
                        "[0-9.]+ ms, p99 [0-9.]+ ms")))
      << r.out;
}

TEST_F(BenchTest, BadArgumentsAndAnAbsentServerHaveTheirOwnExitCodes) {
  testing::ProgramRun r = Bench({"--duration", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--duration"));
  r = Bench({"--mode", "both-ways"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--mode: unary, stream or both"));
  r = Bench({"--server", "127.0.0.1:1", "--duration", "1"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("cannot reach gridcased at 127.0.0.1:1"));
  r = Bench({"timeline", "--server", "127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("cannot reach gridcased at 127.0.0.1:1"));
  r = Bench({"timeline", "--reads", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--reads"));
}

}  // namespace
}  // namespace gridcase

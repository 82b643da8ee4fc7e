// The seeded simulation (tests/support/simulation.h): the real engine driven
// by one thread through seeded submissions, ingest messages, deployments,
// directory changes, clock moves, deadline rounds, power cuts and disk
// faults, checked against a reference model after every step that changes
// something, after every restart and at the end.
//
// GRIDCASE_SIM_SEEDS seeds of GRIDCASE_SIM_STEPS steps each. The default
// run makes 250 seeds of 40 steps, about a minute on two cores; the soak
// build (label soak) 100,000, and compares a rebuild from the log after
// every power cut too (GRIDCASE_SIM_REBUILD_AFTER_CUTS). 1,000 seeds:
// GRIDCASE_SIM_SEEDS=1000. At run time:
//   GRIDCASE_SIM_SEED=N    replays seed N alone (what a failure prints)
//   GRIDCASE_SIM_SEEDS=N   runs N seeds, from GRIDCASE_SIM_FIRST (default 1),
//                          so a long run can be made in parts
//   GRIDCASE_SIM_STEPS=N   steps per seed
//   GRIDCASE_SIM_REBUILD_AFTER_CUTS=1  a rebuild compared after every cut
//   GRIDCASE_SIM_HEADS=1   prints each seed's chain heads (to compare runs)
//   GRIDCASE_SIM_JOBS=N    seeds run side by side (default 2), each on a
//                          driver thread of its own
#include "tests/support/simulation.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

#ifndef GRIDCASE_SIM_SEEDS
#define GRIDCASE_SIM_SEEDS 250
#endif
#ifndef GRIDCASE_SIM_STEPS
#define GRIDCASE_SIM_STEPS 40
#endif
#ifndef GRIDCASE_SIM_REBUILD_AFTER_CUTS
#define GRIDCASE_SIM_REBUILD_AFTER_CUTS 0
#endif

namespace gridcase {
namespace {

using testing::RunSimulation;
using testing::Sabotage;
using testing::SimulationOptions;
using testing::SimulationResult;
using testing::SimulationStats;

uint64_t EnvNumber(const char* name, uint64_t otherwise) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return otherwise;
  return std::strtoull(v, nullptr, 10);
}

class SimulationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const absl::Status st = testing::PrepareSimulationTemplate(dir_->Sub("template"));
    ASSERT_TRUE(st.ok()) << st;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // Runs one seed in a fresh directory (removed afterwards).
  static SimulationResult Run(uint64_t seed, int steps, Sabotage sabotage = Sabotage::kNone,
                              const std::string& template_dir = "") {
    testing::TempDir work;
    SimulationOptions options;
    options.seed = seed;
    options.steps = steps;
    options.template_dir = template_dir.empty() ? dir_->Sub("template") : template_dir;
    options.work_dir = work.Sub("run");
    options.sabotage = sabotage;
    options.rebuild_after_cuts =
        EnvNumber("GRIDCASE_SIM_REBUILD_AFTER_CUTS", GRIDCASE_SIM_REBUILD_AFTER_CUTS) != 0;
    return RunSimulation(options);
  }

  static testing::TempDir* dir_;
};

testing::TempDir* SimulationTest::dir_ = nullptr;

TEST_F(SimulationTest, SeedsPass) {
  const int steps = static_cast<int>(EnvNumber("GRIDCASE_SIM_STEPS", GRIDCASE_SIM_STEPS));
  uint64_t first = std::max<uint64_t>(1, EnvNumber("GRIDCASE_SIM_FIRST", 1));
  uint64_t count = EnvNumber("GRIDCASE_SIM_SEEDS", GRIDCASE_SIM_SEEDS);
  if (const uint64_t only = EnvNumber("GRIDCASE_SIM_SEED", 0); only != 0) {
    first = only;
    count = 1;
  }
  // Seeds are independent: each runs on one driver thread of its own, in
  // its own directory, and GRIDCASE_SIM_JOBS of them side by side.
  const uint64_t jobs = std::max<uint64_t>(1, EnvNumber("GRIDCASE_SIM_JOBS", 2));
  const bool print_heads = EnvNumber("GRIDCASE_SIM_HEADS", 0) != 0;
  const auto start = std::chrono::steady_clock::now();
  std::mutex mu;
  SimulationStats total;
  uint64_t passed = 0;
  std::map<uint64_t, std::string> failures;  // by seed
  std::atomic<uint64_t> next{first};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (uint64_t j = 0; j < std::min(jobs, count); ++j) {
    workers.emplace_back([&] {
      for (uint64_t seed = next++; seed < first + count && !stop; seed = next++) {
        const SimulationResult r = Run(seed, steps);
        std::lock_guard lock(mu);
        if (print_heads) {
          std::cout << "seed " << seed << " heads " << absl::StrJoin(r.heads, " ") << "\n";
        }
        total.Add(r.stats);
        if (r.ok()) {
          ++passed;
        } else {
          failures[seed] = r.failure;
          stop = true;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::cout << "simulation: " << passed << " of " << count << " seeds passed (from seed " << first
            << ", " << steps << " steps each, " << jobs << " at a time) in " << took.count()
            << " s\n"
            << total.ToString() << "\n";
  if (!failures.empty()) {
    ADD_FAILURE() << failures.begin()->second;
    return;
  }
  // The runs did what they are for: nothing here is vacuous.
  if (count >= 50 && passed == count) {
    EXPECT_GT(total.accepted, 0u);
    EXPECT_GT(total.duplicates, 0u);
    EXPECT_GT(total.conflicts, 0u);
    EXPECT_GT(total.invalid, 0u);
    EXPECT_GT(total.fired, 0u);
    EXPECT_GT(total.handovers, 0u);
    EXPECT_GT(total.deployments, 0u);
    EXPECT_GT(total.imports, 0u);
    EXPECT_GT(total.ingested, 0u);
    EXPECT_GT(total.dead_letters, 0u);
    EXPECT_GT(total.jumps_accepted, 0u);
    EXPECT_GT(total.unavailable, 0u);
    EXPECT_GT(total.cuts, 0u);
    EXPECT_GT(total.uncertain_lost, 0u);
    EXPECT_GT(total.uncertain_kept, 0u);
    EXPECT_GT(total.faults_injected, 0u);
    EXPECT_GE(total.rebuilds, count);
  }
}

// The same seed, twice, each from a template made afresh: the same chain
// heads. Two other seeds end elsewhere.
TEST_F(SimulationTest, ASeedReplaysToTheSameChainHeads) {
  const int steps = static_cast<int>(EnvNumber("GRIDCASE_SIM_STEPS", GRIDCASE_SIM_STEPS));
  std::vector<std::string> heads;
  for (uint64_t seed : {3u, 17u, 29u}) {
    testing::TempDir fresh;
    ASSERT_TRUE(testing::PrepareSimulationTemplate(fresh.Sub("template")).ok());
    const SimulationResult a = Run(seed, steps);
    const SimulationResult b = Run(seed, steps, Sabotage::kNone, fresh.Sub("template"));
    ASSERT_TRUE(a.ok()) << a.failure;
    ASSERT_TRUE(b.ok()) << b.failure;
    ASSERT_EQ(a.heads.size(), 2u);
    EXPECT_EQ(a.heads, b.heads) << "seed " << seed << " ran to other chain heads";
    heads.push_back(a.heads[0] + " " + a.heads[1]);
  }
  EXPECT_NE(heads[0], heads[1]);
  EXPECT_NE(heads[1], heads[2]);
}

// Negative controls: each deliberate mistake must be caught, with the seed
// and the step in the failure.

TEST_F(SimulationTest, NegativeControlUnsyncedWritesAreCaught) {
  for (uint64_t seed : {5u, 6u, 7u}) {
    const SimulationResult r = Run(seed, 12, Sabotage::kUnsyncedDisk);
    ASSERT_FALSE(r.ok()) << "seed " << seed << ": a disk that syncs nothing went unnoticed";
    EXPECT_TRUE(absl::StrContains(r.failure, absl::StrCat("seed ", seed, ", step "))) << r.failure;
    EXPECT_TRUE(absl::StrContains(r.failure, "GRIDCASE_SIM_SEED=")) << r.failure;
    EXPECT_GE(r.stats.cuts, 1u);
    std::cout << "caught: " << r.failure.substr(0, r.failure.find('\n')) << "\n";
  }
}

TEST_F(SimulationTest, NegativeControlAModelWithLateDeadlinesIsCaught) {
  uint64_t caught = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const SimulationResult r = Run(seed, GRIDCASE_SIM_STEPS, Sabotage::kModelDeadlinesLate);
    if (!r.ok()) {
      ++caught;
      EXPECT_TRUE(absl::StrContains(r.failure, "deadline")) << r.failure;
      std::cout << "caught: " << r.failure.substr(0, r.failure.find('\n')) << "\n";
    }
  }
  EXPECT_EQ(caught, 5u) << "a model a day late on every deadline went unnoticed";
}

TEST_F(SimulationTest, NegativeControlAModelMissingAnAcknowledgementIsCaught) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const SimulationResult r = Run(seed, GRIDCASE_SIM_STEPS, Sabotage::kModelForgetsAnAck);
    ASSERT_FALSE(r.ok()) << "seed " << seed << ": a forgotten acknowledgement went unnoticed";
    EXPECT_TRUE(absl::StrContains(r.failure, "model does not")) << r.failure;
    std::cout << "caught: " << r.failure.substr(0, r.failure.find('\n')) << "\n";
  }
}

}  // namespace
}  // namespace gridcase

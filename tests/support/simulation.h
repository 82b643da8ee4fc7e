// A seeded simulation of the engine, driven by one thread.
//
// The driver opens the real engine (two partitions, the clock guard, the
// shipped workflows, the example directory) on a file system that can lose
// power (power_cut_fs.h) over one that injects disk faults (fault_fs.h),
// with a FakeClock it moves itself. From one seed it makes a sequence of
// steps, each an operation it waits on before the next: submissions (new
// cases, events of existing ones, duplicates, event ids reused with other
// content, expected versions right and wrong, input the engine must
// refuse), Kafka ingest messages decoded and decided in process, workflow
// deployments, directory imports (people, absences now and announced),
// clock moves (time passing, steps back, forward jumps the guard must
// refuse until accepted or undone), scheduler rounds (due deadlines fired,
// hand-overs of people who became unavailable), flushes and compactions,
// restarts, power cuts falling inside an operation, and disk faults.
//
// Beside the engine it keeps a reference model: each case as the fold of
// its acknowledged submissions through the case logic (its records, and
// the state they lead to), the workflow registry and the directory as the
// fold of acknowledged deployments and imports, the clock guard's state,
// the ingest's decided offsets and dead letters. Outcomes the engine must
// give (refusals and their codes, duplicates answered as the original,
// which deadlines fire and which cases move) are predicted from the model
// and compared. After every restart and at the end: every acknowledged
// event is in its case's timeline exactly once, at the position it was
// acknowledged with; every case's records and state equal the model's;
// every record of every partition belongs to a case the model knows, at
// dense positions with recorded times that never go back; each deadline
// fired exactly once, never before its due time; every chain verifies;
// and, at the end, a rebuild from the log equals the live state.
//
// An operation cut short by a power cut or a disk fault is uncertain: the
// engine may or may not have made it durable. After the restart the
// driver finds out which (never both, never half of one submission) and
// folds it, or not, into the model.
#ifndef GRIDCASE_TESTS_SUPPORT_SIMULATION_H_
#define GRIDCASE_TESTS_SUPPORT_SIMULATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace gridcase::testing {

// Deliberate mistakes, for negative controls: a run with one of these must
// fail.
enum class Sabotage {
  kNone,
  // From the first step on, syncs succeed but make nothing durable, and a
  // power cut comes at the tenth step.
  kUnsyncedDisk,
  // The model takes every deadline to fall due a day after it does.
  kModelDeadlinesLate,
  // The model forgets the first submission the engine acknowledges.
  kModelForgetsAnAck,
};

struct SimulationOptions {
  uint64_t seed = 1;
  int steps = 60;
  // A data directory made by PrepareSimulationTemplate(); each run starts
  // from a copy of it.
  std::string template_dir;
  // Missing or empty: the run's data, its scratch space and its rebuild.
  std::string work_dir;
  Sabotage sabotage = Sabotage::kNone;
  // Compare the live state with a rebuild from the log at the end; and
  // after every power cut, what the disk holds before the engine opens it.
  bool rebuild = true;
  bool rebuild_after_cuts = false;
};

// What a run did, for the figures.
struct SimulationStats {
  uint64_t runs = 0;
  uint64_t steps = 0;
  uint64_t submissions = 0;  // client submissions, ingest messages included
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t refused = 0;      // decided refusals, each as the model predicted
  uint64_t conflicts = 0;    // of which: expected version wrong
  uint64_t invalid = 0;      // of which: input refused by validation
  uint64_t unavailable = 0;  // refused while the clock stood jumped
  uint64_t ingested = 0;     // ingest messages decided
  uint64_t dead_letters = 0;
  uint64_t deployments = 0;
  uint64_t imports = 0;
  uint64_t handovers = 0;  // holder_replaced records
  uint64_t fired = 0;      // deadline_expired records
  uint64_t clock_moves = 0;
  uint64_t steps_back = 0;
  uint64_t jumps = 0;
  uint64_t jumps_accepted = 0;
  uint64_t cuts = 0;
  uint64_t faults_armed = 0;
  uint64_t faults_injected = 0;
  uint64_t restarts = 0;        // every reopen: after a cut, a fault or a clean stop
  uint64_t rebuilds = 0;        // rebuilds from the log compared with the live state
  uint64_t uncertain_kept = 0;  // operations cut short found durable after all
  uint64_t uncertain_lost = 0;  // ... found not durable
  uint64_t records = 0;         // in the log at the end

  void Add(const SimulationStats& other);
  std::string ToString() const;
};

struct SimulationResult {
  // Empty when every check held; else "seed S, step N (...): what failed",
  // with the steps that led there.
  std::string failure;
  // Each partition's chain head at the end: "position:hash".
  std::vector<std::string> heads;
  SimulationStats stats;
  bool ok() const { return failure.empty(); }
};

// Makes the data directory every run starts from, in `dir` (missing or
// empty): two partitions with the shipped workflows and the simulation's
// own deployed, and the example directory imported.
absl::Status PrepareSimulationTemplate(const std::string& dir);

SimulationResult RunSimulation(const SimulationOptions& options);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_SUPPORT_SIMULATION_H_

// The background scrub: re-reads every partition at a limited rate, so that
// damage to data at rest (a flipped bit in a table file, a record whose
// hash no longer links) is found while a good backup still exists, not when
// someone finally reads that case. A pass checks, partition by partition,
// every block checksum of every live table file and the whole hash chain
// of the log (chain.h); what it finds goes into the partition's stats
// (ScrubStats), and to `on_problem` for the log. It only reports: a
// partition keeps serving, since most of it is still right, and the
// operator decides (docs/operations.md, "Scrub found damage").
//
// The rate is a budget of bytes per second over the whole pass, kept by
// waiting between files and records (RocksDB's own rate limiter would
// throttle flushes and compactions too). Time is the injected Clock's
// monotonic reading; the waiting itself is injected, so tests run a
// paced pass without sleeping.
#ifndef GRIDCASE_ENGINE_AUDIT_SCRUBBER_H_
#define GRIDCASE_ENGINE_AUDIT_SCRUBBER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"
#include "engine/common/monotonic_wait.h"
#include "engine/partition/partition_set.h"

namespace gridcase {

struct ScrubOptions {
  // Time from the end of one pass to the start of the next; 0: no
  // background scrub (ScrubPass() still runs one when called).
  int64_t every_us = 0;
  // Bytes read per second, at most, averaged over the pass; 0: unlimited.
  uint64_t bytes_per_s = 16 << 20;
  // Told each problem found (a sentence naming partition, file or
  // position; nothing personal). May be empty.
  std::function<void(const std::string& problem)> on_problem;
};

// One partition's scrub, as stats report it.
struct ScrubStats {
  uint64_t passes = 0;                // finished
  uint64_t passes_with_problems = 0;  // of those
  int64_t last_finished_us = 0;       // wall clock; 0: none yet
  uint64_t records = 0;               // chain links checked in the last pass
  uint64_t table_files = 0;           // table files read whole in the last pass
  uint64_t bytes = 0;                 // read in the last pass
  std::string problem;                // what the last pass found; empty: nothing
  bool running = false;               // a pass is reading this partition now
  uint64_t running_bytes = 0;         // read so far by that pass
};

class Scrubber {
 public:
  // Waits `how_long` (on the monotonic clock) unless told to stop first;
  // false when stopping.
  using Wait = std::function<bool(std::chrono::microseconds how_long)>;

  // `partitions` and `clock` must outlive the scrubber. `wait` empty: a
  // real wait, cut short by Stop().
  Scrubber(const PartitionSet* partitions, const Clock* clock, ScrubOptions options,
           Wait wait = nullptr);
  ~Scrubber();
  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  // Starts the background passes, if every_us is set: the first an hour
  // from now (or every_us, if shorter), then every_us after each one ends.
  void Start();
  // Stops them; a pass under way ends at its next step, unreported.
  void Stop();

  // One whole pass over every partition, paced, on the caller's thread
  // (after any pass under way on another). False when stopped before the
  // end.
  bool ScrubPass();

  ScrubStats stats(PartitionId partition) const;

 private:
  bool ScrubPartition(uint32_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pass_mu_);
  // Charges `bytes` more to the pass and waits as long as the budget asks.
  bool Pace(uint64_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pass_mu_);
  bool WaitOrStop(std::chrono::microseconds how_long);

  const PartitionSet* const partitions_;
  const Clock* const clock_;
  const ScrubOptions options_;
  const Wait wait_;

  // Held for a whole pass: one at a time.
  absl::Mutex pass_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // The pass under way: its start on the monotonic clock and bytes so far.
  int64_t pass_started_us_ ABSL_GUARDED_BY(pass_mu_) = 0;
  uint64_t pass_bytes_ ABSL_GUARDED_BY(pass_mu_) = 0;

  mutable absl::Mutex mu_;
  std::vector<ScrubStats> stats_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  MonotonicWaiter waiter_;
  std::thread thread_;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_AUDIT_SCRUBBER_H_

// Deadlines over the partitions: each partition keeps its pending
// deadlines as timer rows (store.h); these fire them when due, each
// through its case's sequencer.
//
// Thread-safety: every method may be called from any thread.
#ifndef GRIDCASE_ENGINE_TIMERS_DEADLINE_TIMERS_H_
#define GRIDCASE_ENGINE_TIMERS_DEADLINE_TIMERS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"
#include "engine/common/clock_guard.h"
#include "engine/common/latency_histogram.h"
#include "engine/partition/partition_set.h"

namespace gridcase {

// What the timers have fired since the engine opened.
struct DeadlineStats {
  uint64_t fired = 0;  // deadline_expired records written
  // Per deadline fired: from its due time to its record's recorded time.
  LatencyHistogram delay;
};

class DeadlineTimers {
 public:
  using Listener = std::function<void(int64_t due_us)>;
  // Installs the listener of deadlines set where commits are observed (the
  // engine's commit listener calls it for every deadline set, once
  // durable, from a sequencer thread).
  using ListenerSlot = std::function<void(Listener)>;
  // `partitions`, `clock` and `guard` (null: none) must outlive this. With
  // a guard, now is its reading, and nothing fires while it refuses.
  DeadlineTimers(PartitionSet* partitions, const Clock* clock, ListenerSlot slot,
                 ClockGuard* guard = nullptr)
      : partitions_(partitions), clock_(clock), guard_(guard), slot_(std::move(slot)) {}

  // Called (from a sequencer thread; keep it short) with the due time of
  // every deadline set, once durable. The scheduler uses it to wake early.
  // nullptr removes it.
  void SetDeadlineListener(Listener listener) { slot_(std::move(listener)); }

  // Fires every pending deadline due at the clock's now (at most `limit`),
  // in due order, each through its case's sequencer as a deadline_expired
  // record, and waits until they are durable. A deadline fires at most
  // once: the record removes it, in the same write, and its id is an
  // idempotency key. Returns how many fired. A partition whose queue is
  // full, or which takes no writes now (Sequencer::refusing_writes()),
  // leaves its deadlines for a later round; so does every partition while
  // the wall clock stands jumped forward: it would fire them early.
  absl::StatusOr<size_t> FireDueDeadlines(size_t limit = 512);
  // The due time of the earliest pending deadline, if any.
  absl::StatusOr<std::optional<int64_t>> NextDeadlineDueUs() const;
  // How many pending deadlines are due at the clock's now, counting at most
  // `limit` (a round fires at most 512 at a time).
  absl::StatusOr<size_t> CountDue(size_t limit) const;
  DeadlineStats stats() const;

 private:
  PartitionSet* const partitions_;
  const Clock* const clock_;
  ClockGuard* const guard_;
  const ListenerSlot slot_;
  mutable absl::Mutex stats_mu_;
  DeadlineStats stats_ ABSL_GUARDED_BY(stats_mu_);
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_TIMERS_DEADLINE_TIMERS_H_

// Who holds what, over the partitions: the directory (imported as records
// of the "~directory" case), the hand-over of what people hold once they
// become unavailable, and the supervisors' reports.
//
// Thread-safety: every method may be called from any thread; imports run
// one at a time, and so do hand-on rounds.
#ifndef GRIDCASE_ENGINE_STAFFING_STAFFING_H_
#define GRIDCASE_ENGINE_STAFFING_STAFFING_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/common/clock.h"
#include "engine/domain/directory.h"
#include "engine/domain/validate.h"
#include "engine/partition/partition_set.h"
#include "engine/privacy/sealer.h"
#include "gridcase/v1/service.pb.h"

namespace gridcase {

class Staffing {
 public:
  // `partitions`, `directory` and `clock` must outlive this. The sequencers
  // must be started before anything is imported or handed on.
  Staffing(PartitionSet* partitions, Directory* directory, const Clock* clock,
           const ValidationLimits& limits)
      : partitions_(partitions), directory_(directory), clock_(clock), limits_(limits) {}

  // Applies every directory record stored, in log order, opened with
  // `sealer` (nullptr: a store that seals nothing); a person's record whose
  // key was destroyed by their erasure is applied without its personal
  // fields. At open, before the sequencers start.
  absl::Status LoadDirectory(const privacy::RecordSealer* sealer);

  // ImportDirectory checks every entry (in order, each against the
  // directory plus the entries before it) and writes nothing unless all
  // are sound; then it appends them, in order, to the "~directory" case and
  // waits until they are durable. `import_id` names one batch (e.g. a hash
  // of the file): sent again, at any time and by anyone, its entries are
  // duplicates and no directory record is written (entries added at its
  // end are written, at the first sending's moment and under its author).
  struct ImportResult {
    size_t written = 0;  // new directory records
    size_t moved = 0;    // cases whose holder was replaced (see ReassignHolder)
  };
  // After the entries are durable, every person they make unavailable now
  // hands on what they hold (ReassignHolder), also when the import was
  // sent before: whatever such a person took on since is handed on too.
  absl::StatusOr<ImportResult> ImportDirectory(const std::vector<v1::DirectoryEntry>& entries,
                                               const std::string& import_id,
                                               const v1::Actor& actor);

  // Moves every open case and task `person` holds to its successor
  // (successor.h: the paired partner, else the least-loaded available
  // worker of the grid, else up the ladder), one holder_replaced record per
  // case. The moves of each partition are written in one WriteBatch.
  // Returns how many cases moved.
  absl::StatusOr<size_t> ReassignHolder(const std::string& person, const std::string& reason);
  // Hands on what is held by people whose announced unavailability has
  // begun since the last call (imports handle those unavailable at once);
  // the first call after the engine opens sweeps everyone unavailable, so
  // moves cut short by a crash are completed. The deadline scheduler calls
  // it every round. Returns cases moved.
  absl::StatusOr<size_t> HandOnFromNewlyUnavailable();

  // Cases handed from one holder to another since the engine opened (by
  // imports, by the rounds' hand-on and by ReassignHolder's other callers).
  uint64_t handed_over() const { return handed_over_.load(std::memory_order_relaxed); }

  const Directory& directory() const { return *directory_; }
  // What `person` holds now.
  absl::StatusOr<v1::Workload> Workload(const std::string& person) const;
  // Grids without an available worker and cases held by unavailable people,
  // under `area` (empty: everywhere).
  absl::StatusOr<v1::StaffingReport> StaffingReport(const std::string& area) const;

 private:
  struct HeldCase {
    std::string case_id;
    std::string grid_id;
  };
  // When the import `import_id` is already recorded, its moment and author
  // (left unchanged otherwise), so that sending it again is a duplicate.
  absl::Status ImportAsRecorded(const std::string& import_id, int64_t* moment_us,
                                v1::Actor* actor) const;
  // The cases `person` holds, by partition, each partition's in case order.
  absl::Status HeldBy(const std::string& person, std::vector<std::vector<HeldCase>>* out) const;
  // How many cases each of `people` holds, over every partition.
  absl::Status LoadsOf(const std::vector<std::string>& people,
                       std::map<std::string, size_t>* out) const;

  PartitionSet* const partitions_;
  Directory* const directory_;
  const Clock* const clock_;
  const ValidationLimits limits_;
  absl::Mutex import_mu_;                 // one directory import at a time
  std::atomic<uint64_t> handed_over_{0};  // cases moved by ReassignHolder
  absl::Mutex handoff_mu_;
  int64_t handoff_checked_us_ ABSL_GUARDED_BY(handoff_mu_) = 0;
};

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_STAFFING_STAFFING_H_

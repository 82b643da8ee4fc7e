// Replays one partition's log into an empty store, as a rebuild does: the
// log copied as it is, and every row derived from it made again by the
// same functions the live write path uses (derived_rows.h), the case
// states folded again by the case logic's appliers.
#ifndef GRIDCASE_ENGINE_AUDIT_PARTITION_REPLAY_H_
#define GRIDCASE_ENGINE_AUDIT_PARTITION_REPLAY_H_

#include <atomic>
#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/domain/case_logic.h"
#include "engine/storage/store.h"

namespace gridcase {

struct ReplayCounts {
  uint64_t records = 0;
  uint64_t cases = 0;
};

// Replays `src`'s log into the empty `dst`, adding to `*replayed` as it
// goes (for progress). FAILED_PRECONDITION when a record was written by a
// newer build (its record version has no appliers here).
absl::StatusOr<ReplayCounts> ReplayPartition(const PartitionStore& src, PartitionStore* dst,
                                             const CaseLogic& logic,
                                             std::atomic<uint64_t>* replayed);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_AUDIT_PARTITION_REPLAY_H_

// Folding every case of a partition again from its records, in place.
//
// A case state is derived data: the fold of the case's records through
// the appliers (workflow/appliers.cc). When the appliers of a build keep
// more than an earlier build's did (storage format 3: counters and facts
// by occurred time), a partition written by the earlier build holds states
// its own log no longer implies. Opening it for writing folds every case
// again before the format is recorded (Engine::Open), so that what the
// server decides next, and what an audit rebuild finds, is the fold of the
// log under this build's code.
#ifndef GRIDCASE_ENGINE_AUDIT_REFOLD_H_
#define GRIDCASE_ENGINE_AUDIT_REFOLD_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/domain/case_logic.h"
#include "engine/storage/store.h"

namespace gridcase {

// Walks `store`'s log in position order and rewrites each case's state as
// `logic` folds it, a window of records at a time, then makes it durable.
// Nothing else may write `store` meanwhile. Stopping half way (a crash)
// leaves some states folded again and some not; running it again from the
// start is correct, since each case is folded from its first record.
// Returns the number of cases folded. DATA_LOSS for a gap or an
// unparsable record in the log.
absl::StatusOr<uint64_t> RefoldCases(PartitionStore* store, const CaseLogic& logic);

}  // namespace gridcase

#endif  // GRIDCASE_ENGINE_AUDIT_REFOLD_H_
